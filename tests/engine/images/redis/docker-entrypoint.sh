#!/bin/sh
# The upstream redis image's entrypoint behaviour, with Debian's setpriv instead of gosu.
set -e
# `docker run owtest/redis:7-debian --appendonly yes` or `... /path/redis.conf`: run redis-server with it
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
# started as root: own the data directory, then drop to the redis user (uid 999)
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
# files Redis creates are private unless the caller asked for another umask
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi
exec "$@"
