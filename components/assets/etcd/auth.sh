#!/bin/sh
# etcd authentication for Apache OpenWhisk, through etcd's v3 JSON gateway (etcd 3.4 and 3.5).
#
# Makes sure that:
# - the user `root` exists with ETCD_ROOT_PASSWORD and has the role `root`;
# - the role `openwhisk` may read and write every key, and the user `openwhisk` (the one the
#   controllers, invokers and schedulers log in as) has it, with ETCD_OPENWHISK_PASSWORD;
# - the user `health` exists with ETCD_HEALTH_PASSWORD and no role: the members' health checks
#   (`etcdctl endpoint health`) log in as it; a denied read counts as healthy there;
# - authentication is enabled.
# Changes only what differs: a user whose password already works is left alone, so a second run
# changes nothing (every change to users or roles invalidates the tokens the components hold).
# Passwords come from the environment and go to curl on stdin or in a private config file, never
# on a command line.
#
# Environment: ETCD_URL (one member's client URL), ETCD_ROOT_PASSWORD, ETCD_OPENWHISK_PASSWORD,
# ETCD_HEALTH_PASSWORD, ETCD_AUTH_TIMEOUT_SECONDS (default 300: how long to wait for etcd).
# Requirements: a POSIX sh, curl, sed, grep.

set -eu
umask 077

log() { printf 'etcd-auth: %s\n' "$*"; }
fail() {
    printf 'etcd-auth: FAILED: %s\n' "$*" >&2
    exit 1
}

for _var in ETCD_URL ETCD_ROOT_PASSWORD ETCD_OPENWHISK_PASSWORD ETCD_HEALTH_PASSWORD; do
    eval "_val=\${$_var:-}"
    [ -n "$_val" ] || fail "step 'configuration': environment variable $_var is required"
done
TIMEOUT=${ETCD_AUTH_TIMEOUT_SECONDS:-300}
case $TIMEOUT in '' | *[!0-9]*) fail "step 'configuration': ETCD_AUTH_TIMEOUT_SECONDS must be a whole number" ;; esac
BASE=${ETCD_URL%/}

WORK=$(mktemp -d) || fail "step 'configuration': cannot create a private temporary directory"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
RESP=$WORK/response
CURLERR=$WORK/curl.err
HEADERS=$WORK/headers.cfg
: >"$HEADERS"

# json_escape VALUE: escape backslashes and double quotes for a JSON string
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

# call PATH BODY: POST BODY (from stdin) to the gateway; the answer -> $RESP; prints the HTTP
# status (000 = no answer). The root token, once there is one, travels in the curl config file.
call() {
    : >"$RESP"
    _status=$(printf '%s' "$2" | curl -q -sS -K "$HEADERS" -X POST \
        -H 'Content-Type: application/json' --connect-timeout 10 --max-time 60 \
        -o "$RESP" -w '%{http_code}' --data-binary @- --url "$BASE$1" 2>"$CURLERR") || true
    printf '%s' "${_status:-000}"
}

# answered TEXT: whether the last answer contains TEXT (etcd's error messages are stable strings)
answered() { grep -q -- "$1" "$RESP" 2>/dev/null; }

# why: the last answer's error, secret-free, for messages
why() {
    _msg=$(sed -n 's/.*"error"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$RESP" 2>/dev/null | sed -n 1p) || true
    _curl=$(sed -n 1p "$CURLERR" 2>/dev/null) || true
    [ -z "$_msg" ] || printf ' (%s)' "$_msg"
    [ -z "$_curl" ] || printf ' (%s)' "$_curl"
}

# must STEP PATH BODY: the call must succeed. With authentication on, any change to users or
# roles makes every token older than it invalid, the root token too: log in again.
must() {
    _status=$(call "$2" "$3")
    [ "$_status" = 200 ] || fail "step '$1': etcd answered HTTP $_status$(why)"
    [ "$ENABLED" = no ] || root_token
}

# login USER PASSWORD: prints `ok` (the password works; the token is in $RESP), `disabled`
# (authentication is off) or `denied`; fails on anything else
login() {
    _status=$(call /v3/auth/authenticate "{\"name\":\"$1\",\"password\":\"$(json_escape "$2")\"}")
    if [ "$_status" = 200 ]; then
        echo ok
    elif answered 'authentication is not enabled'; then
        echo disabled
    elif answered 'invalid user ID or password' || answered 'authentication failed'; then
        echo denied
    else
        fail "step 'login $1': etcd answered HTTP $_status$(why)"
    fi
}

# Wait for etcd to answer at all.
_deadline=$(( $(date +%s) + TIMEOUT ))
while [ "$(call /v3/auth/authenticate '{"name":"root","password":"-"}')" = 000 ]; do
    [ "$(date +%s)" -lt "$_deadline" ] || fail "step 'connect': no answer from $BASE within ${TIMEOUT}s$(why)"
    sleep 2
done

# root_token: log in as root and send its token from now on; sets ENABLED (yes or no)
root_token() {
    : >"$HEADERS"
    case $(login root "$ETCD_ROOT_PASSWORD") in
        ok)
            ENABLED=yes
            _token=$(sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$RESP")
            [ -n "$_token" ] || fail "step 'login root': no token in etcd's answer"
            printf 'header = "Authorization: %s"\n' "$_token" >"$HEADERS"
            ;;
        disabled) ENABLED=no ;;
        denied) fail "step 'login root': authentication is enabled and root's password is not the generated one; set it back with 'etcdctl user passwd root' (see the README's troubleshooting)" ;;
        *) fail "step 'login root': no usable answer from etcd$(why)" ;;
    esac
}
ENABLED=no
root_token

# user NAME PASSWORD ROLE: the user exists with PASSWORD and has ROLE (none when empty)
user() {
    # Whether the password already logs in (with authentication off, nothing can tell).
    _works=no
    [ "$ENABLED" = no ] || [ "$(login "$1" "$2")" != ok ] || _works=yes
    if [ "$_works" = yes ] && [ -z "$3" ]; then
        log "user $1: unchanged"
        return 0
    fi
    _pw=$(json_escape "$2")
    _status=$(call /v3/auth/user/get "{\"name\":\"$1\"}")
    if [ "$_status" = 200 ]; then
        _roles=$(sed -n 's/.*"roles"[[:space:]]*:[[:space:]]*\[\([^]]*\)\].*/\1/p' "$RESP")
        if [ "$_works" = no ]; then
            must "password of $1" /v3/auth/user/changepw "{\"name\":\"$1\",\"password\":\"$_pw\"}"
            log "user $1: password set"
        else
            log "user $1: password unchanged"
        fi
    elif answered 'user name not found'; then
        _roles=
        must "add user $1" /v3/auth/user/add "{\"name\":\"$1\",\"password\":\"$_pw\"}"
        log "user $1: created"
    else
        fail "step 'user $1': etcd answered HTTP $_status$(why)"
    fi
    if [ -n "$3" ]; then
        case $_roles in
            *"\"$3\""*) log "user $1: role $3 unchanged" ;;
            *) must "grant $3 to $1" /v3/auth/user/grant "{\"user\":\"$1\",\"role\":\"$3\"}"
               log "user $1: role $3 granted" ;;
        esac
    fi
}

# The role `openwhisk`: read and write from the lowest key (NUL, base64 AA==) to the end.
_status=$(call /v3/auth/role/get '{"role":"openwhisk"}')
if [ "$_status" = 200 ] && answered 'READWRITE' && answered 'AA=='; then
    log "role openwhisk: unchanged"
else
    if [ "$_status" != 200 ]; then
        answered 'role name not found' || fail "step 'role openwhisk': etcd answered HTTP $_status$(why)"
        must "add role openwhisk" /v3/auth/role/add '{"name":"openwhisk"}'
    fi
    must "grant to role openwhisk" /v3/auth/role/grant \
        '{"name":"openwhisk","perm":{"permType":"READWRITE","key":"AA==","range_end":"AA=="}}'
    log "role openwhisk: read and write on every key"
fi

user root "$ETCD_ROOT_PASSWORD" root
user openwhisk "$ETCD_OPENWHISK_PASSWORD" openwhisk
user health "$ETCD_HEALTH_PASSWORD" ""

if [ "$ENABLED" = yes ]; then
    log "authentication: already enabled"
else
    must "enable authentication" /v3/auth/enable '{}'
    log "authentication: enabled"
fi
