// Stand-in route management action (tests only): stores params.apidoc in the gateway.
var common = require('./common.js');

function main(params) {
    if (!params.apidoc) return Promise.reject({ error: 'apidoc is required' });
    return common.gateway('POST', common.apisUrl(params), { apidoc: params.apidoc });
}
exports.main = main;
