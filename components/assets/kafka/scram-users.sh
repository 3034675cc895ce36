#!/bin/sh
# Sets the SCRAM credential of the OpenWhisk components' Kafka user, through the brokers.
#
# In KRaft mode SCRAM credentials live in the cluster's metadata, which only a running cluster
# can change: the step runs once the brokers are up, logged in as the brokers' own user with
# PLAIN (the JAAS file's user table, which needs no metadata). Running it again sets the same
# credential again (with a fresh salt), so it is safe on every deployment and it is how a
# rotated password takes effect.
#
# Input comes from the environment only; the passwords go to files readable only by this
# process, never to a command line:
#   BOOTSTRAP_SERVERS  host:port[,host:port...] of brokers
#   SCRAM_MECHANISM    SCRAM-SHA-256 or SCRAM-SHA-512
#   ADMIN_USER, ADMIN_PASSWORD    the brokers' own user (PLAIN)
#   CLIENT_USER, CLIENT_PASSWORD  the OpenWhisk components' user
#   ATTEMPTS (default 10), RETRY_SECONDS (default 6)  retries while the brokers settle
#   KAFKA_CONFIGS (default /opt/kafka/bin/kafka-configs.sh)
# Passwords must not contain ',', '[', ']', '=', '"' or '\' (kafka-configs.sh and the JAAS line
# parse them); generated ones are letters and digits.

set -eu

log() { printf 'kafka scram users: %s\n' "$*"; }
fail() {
    printf 'kafka scram users: FAILED: %s\n' "$*" >&2
    exit 1
}

for var in BOOTSTRAP_SERVERS SCRAM_MECHANISM ADMIN_USER ADMIN_PASSWORD CLIENT_USER CLIENT_PASSWORD; do
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
        *[],=[\"\\]*) fail "$var must not contain ',', '[', ']', '=', '\"' or '\\'" ;;
    esac
done

attempts=${ATTEMPTS:-10}
pause=${RETRY_SECONDS:-6}
tool=${KAFKA_CONFIGS:-/opt/kafka/bin/kafka-configs.sh}

umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/admin.properties" <<END
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$ADMIN_USER" password="$ADMIN_PASSWORD";
END
printf '%s=[password=%s]\n' "$SCRAM_MECHANISM" "$CLIENT_PASSWORD" >"$dir/credential.properties"

n=1
while :; do
    if "$tool" --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$dir/admin.properties" \
        --alter --add-config-file "$dir/credential.properties" \
        --entity-type users --entity-name "$CLIENT_USER"; then
        log "$SCRAM_MECHANISM credential of '$CLIENT_USER' set"
        break
    fi
    [ "$n" -lt "$attempts" ] || fail "could not set the credential of '$CLIENT_USER' after $n attempts"
    log "attempt $n failed; retrying in ${pause}s"
    n=$((n + 1))
    sleep "$pause"
done
log "done"
