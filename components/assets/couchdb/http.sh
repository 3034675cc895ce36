# Shared by init.sh and the tenants step (components/assets/tenants/tenants.sh), which source it
# after defining fail() and log() and setting BASE, COUCHDB_ADMIN_USER and COUCHDB_ADMIN_PASSWORD: a private
# work directory, the admin credentials in a curl config file only this user can read, and the
# request helpers. POSIX sh, curl and sed.

if _work=$(mktemp -d 2>/dev/null); then
    WORK=$_work
else
    WORK=${TMPDIR:-/tmp}/couchdb-step.$$
    mkdir -m 700 "$WORK" || fail "step 'configuration': cannot create a private temporary directory"
fi
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CURLCFG=$WORK/curl.cfg
RESP=$WORK/response
CURLERR=$WORK/curl.err

# json_escape VALUE: escape backslashes and double quotes for a JSON (or curl config) string
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

# The admin credentials go into a file only this user can read; curl reads it with -K.
printf 'user = "%s:%s"\n' "$(json_escape "$COUCHDB_ADMIN_USER")" "$(json_escape "$COUCHDB_ADMIN_PASSWORD")" >"$CURLCFG"

# req METHOD PATH [extra curl args]: response body -> $RESP, prints the HTTP status (000 = no response).
# Pass a request body on stdin together with `--data-binary @-`.
req() {
    _method=$1
    _path=$2
    shift 2
    : >"$RESP"
    _status=$(curl -q -sS -K "$CURLCFG" -X "$_method" \
        -H 'Accept: application/json' -H 'Content-Type: application/json' -H 'Expect:' \
        --connect-timeout 10 --max-time 60 -o "$RESP" -w '%{http_code}' "$@" \
        --url "$BASE$_path" 2>"$CURLERR") || true
    printf '%s' "${_status:-000}"
}

# why: short, secret-free explanation of the last response for error messages
why() {
    _err=$(sed -n 's/.*"error"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$RESP" 2>/dev/null | sed -n 1p) || true
    _reason=$(sed -n 's/.*"reason"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$RESP" 2>/dev/null | sed -n 1p) || true
    _curl=$(sed -n 1p "$CURLERR" 2>/dev/null) || true
    [ -z "$_err$_reason" ] || printf ' (%s: %s)' "$_err" "$_reason"
    [ -z "$_curl" ] || printf ' (%s)' "$_curl"
}

# expect STEP STATUS ALLOWED...: fail unless STATUS is one of ALLOWED
expect() {
    _step=$1
    _got=$2
    shift 2
    for _ok in "$@"; do
        if [ "$_got" = "$_ok" ]; then return 0; fi
    done
    fail "step '$_step': unexpected HTTP status $_got$(why)"
}

# fetch_rev STEP PATH: GET a document; sets REV (empty when the document does not exist)
fetch_rev() {
    _status=$(req GET "$2")
    expect "$1" "$_status" 200 404
    REV=
    if [ "$_status" = 200 ]; then
        REV=$(sed -n 's/^[[:space:]]*{[[:space:]]*"_id"[[:space:]]*:[[:space:]]*"[^"]*"[[:space:]]*,[[:space:]]*"_rev"[[:space:]]*:[[:space:]]*"\([0-9][0-9]*-[0-9a-zA-Z]*\)".*/\1/p' "$RESP" | sed -n 1p)
        [ -n "$REV" ] || fail "step '$1': could not read _rev of the existing document"
    fi
}

# put_doc STEP PATH DOC: PUT DOC (with the _rev fetch_rev read, if any) at PATH, unless the
# document fetch_rev just read is exactly DOC; logs created, updated or unchanged with log()
put_doc() {
    if [ -n "$REV" ] && [ "$(sed '' "$RESP")" = "$3" ]; then
        log "$1: unchanged"
        return 0
    fi
    _status=$(printf '%s' "$3" | req PUT "$2" --data-binary @-)
    expect "$1" "$_status" 201 202
    if [ -n "$REV" ]; then log "$1: updated"; else log "$1: created"; fi
}
