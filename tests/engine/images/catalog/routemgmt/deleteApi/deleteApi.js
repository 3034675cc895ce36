// Stand-in route management action (tests only): deletes the API at params.basepath.
var common = require('./common.js');

function main(params) {
    if (!params.basepath) return Promise.reject({ error: 'basepath is required' });
    return common.gateway('DELETE', common.apisUrl(params) + '?basePath=' + encodeURIComponent(params.basepath));
}
exports.main = main;
