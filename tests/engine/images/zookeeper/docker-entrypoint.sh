#!/bin/bash
# Reads the same environment as the upstream zookeeper:3.5 image and, like it, writes
# $ZOO_CONF_DIR/zoo.cfg only when the file does not exist yet and $ZOO_DATA_DIR/myid only when
# missing; then runs the command as the zookeeper user (uid 1000) when started as root.
set -euo pipefail

: "${ZOO_CONF_DIR:=/conf}" "${ZOO_DATA_DIR:=/data}" "${ZOO_DATA_LOG_DIR:=/datalog}" "${ZOO_LOG_DIR:=/logs}"
: "${ZOO_TICK_TIME:=2000}" "${ZOO_INIT_LIMIT:=5}" "${ZOO_SYNC_LIMIT:=2}"
: "${ZOO_AUTOPURGE_PURGEINTERVAL:=0}" "${ZOO_AUTOPURGE_SNAPRETAINCOUNT:=3}"
: "${ZOO_MAX_CLIENT_CNXNS:=60}" "${ZOO_STANDALONE_ENABLED:=true}" "${ZOO_ADMINSERVER_ENABLED:=true}"
: "${ZOO_4LW_COMMANDS_WHITELIST:=srvr}" "${ZOO_MY_ID:=1}"
export ZOOCFGDIR=$ZOO_CONF_DIR ZOO_LOG_DIR

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$ZOO_CONF_DIR" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
    chown -R zookeeper:zookeeper "$ZOO_CONF_DIR" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
fi

if [ ! -f "$ZOO_CONF_DIR/zoo.cfg" ]; then
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
        # One `server.N=host:peer:election;client` entry per word of ZOO_SERVERS.
        for entry in ${ZOO_SERVERS:-server.1=localhost:2888:3888;2181}; do
            echo "$entry"
        done
        echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
        for item in ${ZOO_CFG_EXTRA:-}; do
            echo "$item"
        done
    } >"$ZOO_CONF_DIR/zoo.cfg"
fi
[ -f "$ZOO_DATA_DIR/myid" ] || echo "$ZOO_MY_ID" >"$ZOO_DATA_DIR/myid"
[ "$(id -u)" != 0 ] || chown zookeeper:zookeeper "$ZOO_CONF_DIR/zoo.cfg" "$ZOO_DATA_DIR/myid"

if [ "$(id -u)" = 0 ] && [ "${1:-}" = zkServer.sh ]; then
    exec setpriv --reuid=zookeeper --regid=zookeeper --init-groups "$@"
fi
exec "$@"
