// Stand-in catalog action (tests only): joins `lines` with newlines.
function main(params) {
    var lines = params.lines || [];
    return { lines: lines, payload: lines.join('\n') };
}
