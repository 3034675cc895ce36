// Stand-in route management action (tests only): lists the namespace's APIs.
var common = require('./common.js');

function main(params) {
    var url = common.apisUrl(params) + (params.basepath ? '?basePath=' + encodeURIComponent(params.basepath) : '');
    return common.gateway('GET', url).then(function (apis) { return { apis: apis }; });
}
exports.main = main;
