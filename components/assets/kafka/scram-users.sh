#!/bin/sh
# Stores the SCRAM credentials of the Kafka users in ZooKeeper, before any broker starts.
#
# Brokers using SCRAM look users up in ZooKeeper, their own inter-broker user included, so the
# credentials must exist before the first broker authenticates to another. Running this again
# just sets the same users again (with a fresh salt), so it is safe on every deployment and it
# is how a rotated password takes effect.
#
# Input comes from the environment only (passwords never appear in the container's command):
#   ZOOKEEPER_CONNECT  host:port[,host:port...] of the ZooKeeper ensemble
#   SCRAM_MECHANISM    SCRAM-SHA-256 or SCRAM-SHA-512
#   ADMIN_USER, ADMIN_PASSWORD    the brokers' own user
#   CLIENT_USER, CLIENT_PASSWORD  the OpenWhisk components' user
#   ATTEMPTS (default 10), RETRY_SECONDS (default 6)  retries while ZooKeeper settles
# Passwords must not contain ',', '[', ']' or '=' (kafka-configs.sh parses them); generated ones
# are letters and digits.

set -eu

log() { printf 'kafka scram users: %s\n' "$*"; }
fail() {
    printf 'kafka scram users: FAILED: %s\n' "$*" >&2
    exit 1
}

for var in ZOOKEEPER_CONNECT SCRAM_MECHANISM ADMIN_USER ADMIN_PASSWORD CLIENT_USER CLIENT_PASSWORD; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || fail "environment variable $var is required"
done
case $SCRAM_MECHANISM in
    SCRAM-SHA-256 | SCRAM-SHA-512) ;;
    *) fail "SCRAM_MECHANISM must be SCRAM-SHA-256 or SCRAM-SHA-512" ;;
esac
for var in ADMIN_PASSWORD CLIENT_PASSWORD; do
    eval "value=\$$var"
    case $value in
        *[],=[]*) fail "$var must not contain ',', '[', ']' or '='" ;;
    esac
done

attempts=${ATTEMPTS:-10}
pause=${RETRY_SECONDS:-6}

# set_user NAME PASSWORD: create or overwrite the user's credential for SCRAM_MECHANISM
set_user() {
    n=1
    while :; do
        if kafka-configs.sh --zookeeper "$ZOOKEEPER_CONNECT" --alter \
            --add-config "$SCRAM_MECHANISM=[password=$2]" \
            --entity-type users --entity-name "$1"; then
            log "$SCRAM_MECHANISM credential of '$1' set"
            return 0
        fi
        [ "$n" -lt "$attempts" ] || fail "could not set the credential of '$1' after $n attempts"
        log "attempt $n for '$1' failed; retrying in ${pause}s"
        n=$((n + 1))
        sleep "$pause"
    done
}

set_user "$ADMIN_USER" "$ADMIN_PASSWORD"
set_user "$CLIENT_USER" "$CLIENT_PASSWORD"
log "done"
