// Stand-in route management helpers (tests only): calls the API gateway's /v2 API.
var http = require('http');

function gateway(method, url, body) {
    return new Promise(function (resolve, reject) {
        var data = body === undefined ? null : JSON.stringify(body);
        var req = http.request(url, { method: method, headers: { 'Content-Type': 'application/json' } },
            function (res) {
                var chunks = [];
                res.on('data', function (c) { chunks.push(c); });
                res.on('end', function () {
                    var text = Buffer.concat(chunks).toString();
                    var parsed = text ? JSON.parse(text) : {};
                    res.statusCode < 300 ? resolve(parsed) : reject({ statusCode: res.statusCode, error: parsed });
                });
            });
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
    });
}

function apisUrl(params) {
    return params.gwUrlV2.replace(/\/$/, '') + '/' + encodeURIComponent(params.__ow_user || params.namespace || '_') + '/apis';
}

module.exports = { gateway: gateway, apisUrl: apisUrl };
