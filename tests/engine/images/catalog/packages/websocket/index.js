// Stand-in catalog action (tests only): checks its parameters, sends nothing.
function main(params) {
    if (!params.uri || params.payload === undefined) {
        return { error: 'uri and payload are required' };
    }
    return { uri: params.uri, payload: params.payload, sent: false };
}
exports.main = main;
