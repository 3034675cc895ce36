#!/bin/sh
# Entry point with the upstream image's interface: ./init.sh 0
exec python3 /standin/user_events.py "$@"
