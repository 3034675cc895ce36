#!/bin/sh
# Like the upstream image: started as root, give the data directory to couchdb (5984) and drop to it.
set -eu
if [ "$(id -u)" = 0 ]; then
    [ "$(stat -c %u /opt/couchdb/data)" = 5984 ] || chown -R 5984:5984 /opt/couchdb/data
    exec setpriv --reuid=5984 --regid=5984 --init-groups "$@"
fi
exec "$@"
