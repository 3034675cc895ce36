// Stand-in catalog action (tests only).
function main(params) {
    return { payload: 'Hello, ' + (params.name || 'stranger') + '!' };
}
