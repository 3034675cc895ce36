#!/bin/sh
# Idempotent CouchDB initialisation for Apache OpenWhisk.
#
# Creates what the controller, invoker and scheduler expect to find in CouchDB
# (databases, component users, database permissions, design documents and the
# built-in `guest` / `whisk.system` subjects). Safe to run any number of times:
# it only creates or updates, it never deletes or recreates a database or a
# document. All input comes from environment variables (see README.md) so no
# secret ever appears on a command line; curl reads the admin credentials from
# a private config file and request bodies from stdin.
#
# Requirements: a POSIX sh (dash, busybox ash, bash), curl and sed, plus the
# usual base utilities (date, sleep, rm; mktemp and cksum are used if present).

set -eu
umask 077

log() { printf 'couchdb init: %s\n' "$*"; }
fail() {
    printf 'couchdb init: FAILED: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

# require VAR: fail unless VAR is set and not empty
require() {
    eval "_val=\${$1:-}"
    [ -n "$_val" ] || fail "step 'configuration': environment variable $1 is required"
}

# no_control VAR: reject values with control characters (they cannot be sent verbatim)
no_control() {
    eval "_val=\${$1:-}"
    case $_val in
        *[[:cntrl:]]*) fail "step 'configuration': $1 must not contain control characters" ;;
    esac
}

# valid_name VAR: a CouchDB user name that is safe in a URL path
valid_name() {
    eval "_val=\${$1:-}"
    case $_val in
        '' | _* | *[!A-Za-z0-9._@-]*)
            fail "step 'configuration': $1 must be non-empty, use only A-Z a-z 0-9 . _ @ - and not start with _" ;;
    esac
}

for _var in COUCHDB_URL COUCHDB_ADMIN_USER COUCHDB_ADMIN_PASSWORD \
    CONTROLLER_DB_USER CONTROLLER_DB_PASSWORD INVOKER_DB_USER INVOKER_DB_PASSWORD \
    GUEST_AUTH SYSTEM_AUTH; do
    require "$_var"
    no_control "$_var"
done
SCHEDULER_DB_USER=${SCHEDULER_DB_USER:-}
SCHEDULER_DB_PASSWORD=${SCHEDULER_DB_PASSWORD:-}
no_control SCHEDULER_DB_USER
no_control SCHEDULER_DB_PASSWORD
if [ -n "$SCHEDULER_DB_USER" ] && [ -z "$SCHEDULER_DB_PASSWORD" ]; then
    fail "step 'configuration': SCHEDULER_DB_PASSWORD is required when SCHEDULER_DB_USER is set"
fi
if [ -z "$SCHEDULER_DB_USER" ] && [ -n "$SCHEDULER_DB_PASSWORD" ]; then
    fail "step 'configuration': SCHEDULER_DB_USER is required when SCHEDULER_DB_PASSWORD is set"
fi

case $COUCHDB_URL in
    http://* | https://*) ;;
    *) fail "step 'configuration': COUCHDB_URL must start with http:// or https://" ;;
esac
case $COUCHDB_URL in
    *@*) fail "step 'configuration': COUCHDB_URL must not contain credentials; use COUCHDB_ADMIN_USER/COUCHDB_ADMIN_PASSWORD" ;;
esac
BASE=${COUCHDB_URL%/}

case $COUCHDB_ADMIN_USER in
    *:*) fail "step 'configuration': COUCHDB_ADMIN_USER must not contain ':'" ;;
esac
valid_name CONTROLLER_DB_USER
valid_name INVOKER_DB_USER
[ -z "$SCHEDULER_DB_USER" ] || valid_name SCHEDULER_DB_USER

# The same user name may serve several components, but then with one password.
check_shared() {
    if [ "$1" = "$3" ] && [ "$2" != "$4" ]; then
        fail "step 'configuration': user $1 is given two different passwords"
    fi
}
check_shared "$CONTROLLER_DB_USER" "$CONTROLLER_DB_PASSWORD" "$INVOKER_DB_USER" "$INVOKER_DB_PASSWORD"
check_shared "$CONTROLLER_DB_USER" "$CONTROLLER_DB_PASSWORD" "$SCHEDULER_DB_USER" "$SCHEDULER_DB_PASSWORD"
check_shared "$INVOKER_DB_USER" "$INVOKER_DB_PASSWORD" "$SCHEDULER_DB_USER" "$SCHEDULER_DB_PASSWORD"

if [ -z "${DB_PREFIX+set}" ]; then
    fail "step 'configuration': environment variable DB_PREFIX is required (e.g. whisk_)"
fi
case $DB_PREFIX in
    '') ;;
    [a-z]*) case $DB_PREFIX in *[!a-z0-9_-]*) fail "step 'configuration': DB_PREFIX may only use a-z 0-9 _ -" ;; esac ;;
    *) fail "step 'configuration': DB_PREFIX must start with a lower-case letter" ;;
esac
DB_SUBJECTS=${DB_PREFIX}subjects
DB_WHISKS=${DB_PREFIX}whisks
DB_ACTIVATIONS=${DB_PREFIX}activations

INIT_TIMEOUT_SECONDS=${INIT_TIMEOUT_SECONDS:-300}
case $INIT_TIMEOUT_SECONDS in
    '' | *[!0-9]*) fail "step 'configuration': INIT_TIMEOUT_SECONDS must be a whole number of seconds" ;;
esac

case $0 in
    */*) _self_dir=${0%/*} ;;
    *) _self_dir=. ;;
esac
DESIGN_DIR=${DESIGN_DIR:-$_self_dir}
[ -d "$DESIGN_DIR" ] || fail "step 'configuration': DESIGN_DIR '$DESIGN_DIR' is not a directory"

# Design documents to install: <target>__<design doc name>.json, where target is
# subjects, whisks, activations or all (= the three of them).
DESIGN_DOCS="
subjects__subjects.v2.0.0.json
subjects__namespaceThrottlings.json
whisks__whisks.v2.1.0.json
activations__whisks.v2.1.0.json
activations__whisks-filters.v2.1.1.json
activations__activations.json
activations__logCleanup.json
all__snapshotFilters.json
"

# split_auth VAR PREFIX: split `uuid:key` from VAR into ${PREFIX}_UUID and ${PREFIX}_KEY
split_auth() {
    eval "_val=\${$1}"
    case $_val in
        ?*:?*) ;;
        *) fail "step 'configuration': $1 must have the form uuid:key" ;;
    esac
    eval "${2}_UUID=\${_val%%:*}"
    eval "${2}_KEY=\${_val#*:}"
}
split_auth GUEST_AUTH GUEST
split_auth SYSTEM_AUTH SYSTEM
if [ "$GUEST_UUID" = "$SYSTEM_UUID" ]; then
    fail "step 'configuration': GUEST_AUTH and SYSTEM_AUTH must use different uuids"
fi

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

# The request helpers (req, why, expect, fetch_rev, json_escape) and the private work directory.
_lib=$_self_dir/http.sh
[ -r "$_lib" ] || _lib=$DESIGN_DIR/http.sh
[ -r "$_lib" ] || fail "step 'configuration': http.sh not found next to init.sh or in DESIGN_DIR '$DESIGN_DIR'"
# shellcheck source=http.sh
. "$_lib"

# rev_field: `"_rev":"<REV>",` when REV is set, empty otherwise
rev_field() { [ -z "$REV" ] || printf '"_rev":"%s",' "$REV"; }

# create_db STEP NAME: PUT /NAME, existing database (412) is fine
create_db() {
    _status=$(req PUT "/$2")
    expect "$1" "$_status" 201 202 412
    if [ "$_status" = 412 ]; then log "$1: exists"; else log "$1: created"; fi
}

# ---------------------------------------------------------------------------
# 1. Wait for CouchDB
# ---------------------------------------------------------------------------

STEP="wait for CouchDB"
_deadline=$(($(date +%s) + INIT_TIMEOUT_SECONDS))
while :; do
    _status=$(req GET /_up --max-time 5)
    case $_status in
        200) break ;;
        401 | 403) fail "step '$STEP': admin credentials rejected, HTTP status $_status$(why)" ;;
    esac
    if [ "$(date +%s)" -ge "$_deadline" ]; then
        fail "step '$STEP': CouchDB at $BASE not up within ${INIT_TIMEOUT_SECONDS}s, last HTTP status $_status$(why)"
    fi
    sleep 1
done
log "$STEP: up"

# ---------------------------------------------------------------------------
# 2. System databases and query server setting
# ---------------------------------------------------------------------------

for _db in _users _replicator _global_changes; do
    create_db "system database $_db" "$_db"
done

STEP="set query_server_config/reduce_limit"
_status=$(printf '"false"' | req PUT /_node/_local/_config/query_server_config/reduce_limit --data-binary @-)
expect "$STEP" "$_status" 200
log "$STEP: false"

# CouchDB 3 cut the default to 8 MB, below what one activation (its logs up to the 10 MB log
# limit, plus its result) can need; this is CouchDB 2's default.
STEP="set couchdb/max_document_size"
_status=$(printf '"4294967296"' | req PUT /_node/_local/_config/couchdb/max_document_size --data-binary @-)
expect "$STEP" "$_status" 200
log "$STEP: 4294967296"

# ---------------------------------------------------------------------------
# 3. OpenWhisk databases
# ---------------------------------------------------------------------------

for _db in "$DB_SUBJECTS" "$DB_WHISKS" "$DB_ACTIVATIONS"; do
    create_db "database $_db" "$_db"
done

# ---------------------------------------------------------------------------
# 4. Component users (created, or updated so that a new password takes effect)
# ---------------------------------------------------------------------------

MEMBERS=  # member names as JSON list items: "a","b"
_seen=' ' # user names already handled, space separated
upsert_user() {
    _name=$1
    _pass=$2
    STEP="user $_name"
    if [ "$_name" = "$COUCHDB_ADMIN_USER" ]; then
        log "$STEP: is the admin user, skipped"
        return 0
    fi
    case $_seen in
        *" $_name "*)
            log "$STEP: already handled"
            return 0 ;;
    esac
    _id="org.couchdb.user:$_name"
    fetch_rev "$STEP" "/_users/$_id"
    _status=$(printf '{"_id":"%s",%s"name":"%s","type":"user","roles":[],"password":"%s"}' \
        "$_id" "$(rev_field)" "$_name" "$(json_escape "$_pass")" |
        req PUT "/_users/$_id" --data-binary @-)
    expect "$STEP" "$_status" 201 202
    if [ -n "$REV" ]; then log "$STEP: updated"; else log "$STEP: created"; fi
    _seen="$_seen$_name "
    MEMBERS="$MEMBERS${MEMBERS:+,}\"$_name\""
}

upsert_user "$CONTROLLER_DB_USER" "$CONTROLLER_DB_PASSWORD"
upsert_user "$INVOKER_DB_USER" "$INVOKER_DB_PASSWORD"
if [ -n "$SCHEDULER_DB_USER" ]; then
    upsert_user "$SCHEDULER_DB_USER" "$SCHEDULER_DB_PASSWORD"
else
    log "user (scheduler): not configured, skipped"
fi

# ---------------------------------------------------------------------------
# 5. Database permissions: the component users are members of all three databases
# ---------------------------------------------------------------------------

# With no member at all CouchDB would treat a database as public; keep it admin-only instead.
if [ -n "$MEMBERS" ]; then _member_roles=; else _member_roles='"_admin"'; fi
for _db in "$DB_SUBJECTS" "$DB_WHISKS" "$DB_ACTIVATIONS"; do
    STEP="security $_db"
    _status=$(printf '{"admins":{"names":[],"roles":[]},"members":{"names":[%s],"roles":[%s]}}' \
        "$MEMBERS" "$_member_roles" | req PUT "/$_db/_security" --data-binary @-)
    expect "$STEP" "$_status" 200 201
    log "$STEP: members set"
done

# ---------------------------------------------------------------------------
# 6. Design documents (views and filters the components query)
# ---------------------------------------------------------------------------

# digest FILE: content fingerprint stored in the design doc so that an unchanged
# document is not rewritten. Uses the first checksum tool that works; prints
# nothing when none does (the document is then always rewritten, which is safe).
digest() {
    for _tool in sha256sum md5sum cksum; do
        _out=$("$_tool" <"$1" 2>/dev/null) || continue
        _out=$(printf '%s\n' "$_out" | sed -n '1{s/[[:space:]]*-*$//;s/^[[:space:]]*//;s/[[:space:]][[:space:]]*/-/g;p;}')
        case $_out in
            '' | *[!0-9a-f-]*) continue ;;
        esac
        printf '%s-%s' "$_tool" "$_out"
        return 0
    done
}

install_ddoc() {
    _db=$1
    _file=$2
    _path=$DESIGN_DIR/$_file
    STEP="design doc $_file"
    [ -r "$_path" ] || fail "step '$STEP': $_path not found or not readable"
    _id=$(sed -n 's/^[[:space:]]*"_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$_path")
    _want=${_file#*__}
    _want=_design/${_want%.json}
    [ "$_id" = "$_want" ] || fail "step '$STEP': expected _id \"$_want\" on its own line in $_path"
    _first=$(sed -n '1s/^[[:space:]]*//p' "$_path")
    case $_first in
        '{'*) ;;
        *) fail "step '$STEP': $_path must start with '{' on its first line" ;;
    esac
    STEP="design doc $_db/$_id"
    _sum=$(digest "$_path")
    fetch_rev "$STEP" "/$_db/$_id"
    if [ -n "$REV" ] && [ -n "$_sum" ]; then
        _stored=$(sed -n 's/.*"init_digest"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$RESP" | sed -n 1p)
        if [ "$_stored" = "$_sum" ]; then
            log "$STEP: unchanged"
            return 0
        fi
    fi
    _extra=$(rev_field)
    [ -z "$_sum" ] || _extra="$_extra\"init_digest\":\"$_sum\","
    _status=$(sed "1s/^\\([[:space:]]*\\){/\\1{$_extra/" "$_path" | req PUT "/$_db/$_id" --data-binary @-)
    expect "$STEP" "$_status" 201 202
    if [ -n "$REV" ]; then log "$STEP: updated"; else log "$STEP: created"; fi
}

for _file in $DESIGN_DOCS; do
    case $_file in
        subjects__*) install_ddoc "$DB_SUBJECTS" "$_file" ;;
        whisks__*) install_ddoc "$DB_WHISKS" "$_file" ;;
        activations__*) install_ddoc "$DB_ACTIVATIONS" "$_file" ;;
        all__*)
            install_ddoc "$DB_SUBJECTS" "$_file"
            install_ddoc "$DB_WHISKS" "$_file"
            install_ddoc "$DB_ACTIVATIONS" "$_file"
            ;;
        *) fail "step 'design docs': no target database for $_file" ;;
    esac
done

# ---------------------------------------------------------------------------
# 7. Built-in subjects (their API keys)
# ---------------------------------------------------------------------------

upsert_subject() {
    _subject=$1
    STEP="subject $_subject"
    fetch_rev "$STEP" "/$DB_SUBJECTS/$_subject"
    _doc=$(printf '{"_id":"%s",%s"subject":"%s","namespaces":[{"name":"%s","uuid":"%s","key":"%s"}]}' \
        "$_subject" "$(rev_field)" "$_subject" "$_subject" "$(json_escape "$2")" "$(json_escape "$3")")
    put_doc "$STEP" "/$DB_SUBJECTS/$_subject" "$_doc"
}

upsert_subject guest "$GUEST_UUID" "$GUEST_KEY"
upsert_subject whisk.system "$SYSTEM_UUID" "$SYSTEM_KEY"

log "done"
