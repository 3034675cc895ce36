// Stand-in catalog action (tests only): returns its parameters.
function main(params) {
    return params;
}
