#!/bin/sh
# As in registry:2: a config file or a registry subcommand as the first argument runs the registry.
set -e
case ${1:-} in
    *.yaml | *.yml) set -- registry serve "$@" ;;
    serve | garbage-collect | help | -*) set -- registry "$@" ;;
esac
exec "$@"
