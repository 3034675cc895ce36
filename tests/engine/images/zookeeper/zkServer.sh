#!/bin/bash
# zkServer.sh start-foreground|status for Debian's ZooKeeper with the config in $ZOOCFGDIR/zoo.cfg.
#   start-foreground  run the server in the foreground (the container's main process)
#   status            ask the local server with the `srvr` four-letter word (it must be whitelisted,
#                     as in ZOO_4LW_COMMANDS_WHITELIST) and print its Mode; exit 1 when it does not
#                     answer, like the upstream script.
set -uo pipefail
ZOOCFGDIR=${ZOOCFGDIR:-/conf}
ZOOCFG=$ZOOCFGDIR/zoo.cfg

client_port() {
    local port myid
    port=$(sed -n 's/^clientPort=\([0-9]*\).*/\1/p' "$ZOOCFG" | tail -n 1)
    if [ -z "$port" ]; then
        # The `;port` (or `;host:port`) suffix of this server's own entry.
        myid=$(cat "$(sed -n 's/^dataDir=//p' "$ZOOCFG" | tail -n 1)/myid" 2>/dev/null || echo 1)
        port=$(sed -n "s/^server\.$myid=[^;]*;\(.*:\)\{0,1\}\([0-9]*\)$/\2/p" "$ZOOCFG" | tail -n 1)
    fi
    echo "${port:-2181}"
}

case ${1:-} in
    start-foreground)
        # Logs go to the console through slf4j-simple (Debian's libslf4j-java).
        exec java -Dzookeeper.log.dir="${ZOO_LOG_DIR:-/logs}" \
            -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.logFile=System.out \
            ${JVMFLAGS:--Xmx512m} \
            -cp "$ZOOCFGDIR:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar" \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOOCFG"
        ;;
    status)
        port=$(client_port)
        echo "Using config: $ZOOCFG"
        echo "Client port found: $port. Client address: localhost."
        answer=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'srvr' >&3 && timeout 5 cat <&3) || answer=
        mode=$(printf '%s\n' "$answer" | sed -n 's/^Mode: //p')
        if [ -z "$mode" ]; then
            echo "Error contacting service. It is probably not running." >&2
            exit 1
        fi
        echo "Mode: $mode"
        ;;
    *)
        echo "Usage: $0 {start-foreground|status}" >&2
        exit 2
        ;;
esac
