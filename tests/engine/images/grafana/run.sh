#!/bin/sh
# Entry point with the upstream image's name (/run.sh); the stand-in resolves GF_*__FILE itself.
exec python3 /standin/grafana.py "$@"
