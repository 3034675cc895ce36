#!/bin/sh
# Tenants for Apache OpenWhisk: one subject per configured namespace, with its key and limits.
#
# Runs after the CouchDB init step, in the CouchDB image, against the subjects database:
# - each namespace in NAMESPACES gets the subject document `<name>` (its key from the file
#   $TENANTS_DIR/<name>.auth, `uuid:key`) and the limits document `<name>/limits` (its fields
#   from $TENANTS_DIR/<name>.limits, one compact JSON object on one line, `{}` for none);
# - a namespace this step created before (the record document below) that is no longer in
#   NAMESPACES is blocked: its subject gets `"blocked":true`, so its key stops working (the
#   identities view skips blocked subjects); none of its entities is touched;
# - a subject that exists but was not created by this step is never overwritten.
# Creates or updates only what differs, so a second run changes nothing. Secrets come from files
# and the environment, never the command line; curl reads the admin credentials from a private
# config file and request bodies from stdin.
#
# Environment: COUCHDB_URL, COUCHDB_ADMIN_USER, COUCHDB_ADMIN_PASSWORD, DB_PREFIX, NAMESPACES
# (space separated, may be empty), TENANTS_DIR, TENANTS_TIMEOUT_SECONDS (default 300).
# Requirements: a POSIX sh, curl, sed, grep, tr; http.sh (components/assets/couchdb) in TENANTS_DIR.

set -eu
umask 077

log() { printf 'tenants: %s\n' "$*"; }
fail() {
    printf 'tenants: FAILED: %s\n' "$*" >&2
    exit 1
}

for _var in COUCHDB_URL COUCHDB_ADMIN_USER COUCHDB_ADMIN_PASSWORD TENANTS_DIR; do
    eval "_val=\${$_var:-}"
    [ -n "$_val" ] || fail "step 'configuration': environment variable $_var is required"
done
[ -n "${DB_PREFIX+set}" ] || fail "step 'configuration': environment variable DB_PREFIX is required"
NAMESPACES=${NAMESPACES:-}
TIMEOUT=${TENANTS_TIMEOUT_SECONDS:-300}
case $TIMEOUT in '' | *[!0-9]*) fail "step 'configuration': TENANTS_TIMEOUT_SECONDS must be a whole number" ;; esac
for _ns in $NAMESPACES; do
    case $_ns in
        *[!A-Za-z0-9_.@-]* | [!A-Za-z0-9]*) fail "step 'configuration': namespace name '$_ns' is not valid" ;;
    esac
done
BASE=${COUCHDB_URL%/}
DB=${DB_PREFIX}subjects
RECORD=openwhisk-pulumi:namespaces

# The request helpers (req, why, expect, fetch_rev, json_escape) and the private work directory, shared
# with the CouchDB init step.
# shellcheck source=../couchdb/http.sh
. "$TENANTS_DIR/http.sh"

# get STEP ID: the document (id already URL-safe) into $RESP; sets REV (empty: no document)
get() { fetch_rev "$1" "/$DB/$2"; }

# put STEP ID FIELDS: upsert `{"_id":ID[,"_rev":REV][,FIELDS]}` unless the stored document is
# exactly that
put() {
    _doc=$(printf '{"_id":"%s"' "$(printf '%s' "$2" | sed 's|%2F|/|g')")
    [ -z "$REV" ] || _doc=$(printf '%s,"_rev":"%s"' "$_doc" "$REV")
    [ -z "$3" ] || _doc="$_doc,$3"
    put_doc "$1" "/$DB/$2" "$_doc}"
}

# 1. CouchDB up and the subjects database there (the init step creates it)
_deadline=$(($(date +%s) + TIMEOUT))
while :; do
    _status=$(req GET "/$DB" --max-time 5)
    case $_status in
        200) break ;;
        401 | 403) fail "step 'wait for $DB': admin credentials rejected, HTTP $_status$(why)" ;;
    esac
    [ "$(date +%s)" -lt "$_deadline" ] ||
        fail "step 'wait for $DB': not there within ${TIMEOUT}s, last HTTP $_status$(why)"
    sleep 1
done

# 2. What this step created before
get "record" "$RECORD"
PREVIOUS=
if [ -n "$REV" ]; then
    PREVIOUS=$(sed -n 's/.*"names":"\([^"]*\)".*/\1/p' "$RESP")
fi
RECORD_REV=$REV
case " $PREVIOUS " in *" guest "* | *" whisk.system "*) fail "step 'record': lists a built-in subject" ;; esac

# 3. Each namespace: subject (key) and limits
for _ns in $NAMESPACES; do
    STEP="namespace $_ns"
    _auth=$(sed -n 1p "$TENANTS_DIR/$_ns.auth" 2>/dev/null) || fail "step '$STEP': $TENANTS_DIR/$_ns.auth not readable"
    case $_auth in
        ?*:?*) ;;
        *) fail "step '$STEP': the key in $TENANTS_DIR/$_ns.auth must have the form uuid:key" ;;
    esac
    [ -r "$TENANTS_DIR/$_ns.limits" ] || fail "step '$STEP': $TENANTS_DIR/$_ns.limits not readable"
    get "$STEP" "$_ns"
    if [ -n "$REV" ]; then
        case " $PREVIOUS " in
            *" $_ns "*) ;;
            *) fail "step '$STEP': subject '$_ns' already exists and was not created by this stack; delete it (wskadmin user delete $_ns) or choose another name" ;;
        esac
    fi
    put "$STEP subject" "$_ns" "$(printf '"subject":"%s","namespaces":[{"name":"%s","uuid":"%s","key":"%s"}]' \
        "$_ns" "$_ns" "$(json_escape "${_auth%%:*}")" "$(json_escape "${_auth#*:}")")"
    get "$STEP limits" "$_ns%2Flimits"
    put "$STEP limits" "$_ns%2Flimits" "$(tr -d '\n' <"$TENANTS_DIR/$_ns.limits" | sed -e 's/^{//' -e 's/}$//')"
done

# 4. Namespaces removed from the config: block their subjects, keep everything else
for _ns in $PREVIOUS; do
    case " $NAMESPACES " in *" $_ns "*) continue ;; esac
    STEP="removed namespace $_ns"
    get "$STEP" "$_ns"
    if [ -z "$REV" ]; then
        log "$STEP: no subject, nothing to block"
        continue
    fi
    if grep -q '"blocked":true' "$RESP"; then
        log "$STEP: blocked"
        continue
    fi
    sed 's/^\({"_id":"[^"]*","_rev":"[^"]*",\)/\1"blocked":true,/' "$RESP" >"$WORK/blocked"
    _status=$(req PUT "/$DB/$_ns" --data-binary @"$WORK/blocked")
    expect "$STEP" "$_status" 201 202
    log "$STEP: blocked (its key no longer works; its actions, packages, rules and triggers are kept)"
done

# 5. The record: every namespace created so far and not yet deleted by hand (blocked ones stay
# listed, so that adding a blocked name back unblocks it)
_names=
for _ns in $PREVIOUS $NAMESPACES; do
    case " $_names " in *" $_ns "*) ;; *) _names="$_names${_names:+ }$_ns" ;; esac
done
REV=$RECORD_REV
get "record" "$RECORD"
put "record" "$RECORD" "$(printf '"names":"%s"' "$_names")"
log "done: ${NAMESPACES:-no namespaces} configured"
