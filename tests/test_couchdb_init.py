"""Runs components/assets/couchdb/init.sh against an in-memory fake CouchDB (tests/fake_couchdb.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_couchdb import FakeCouchDB  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "components" / "assets" / "couchdb"
SCRIPT = ASSETS / "init.sh"

SH = shutil.which("sh")
CURL = shutil.which("curl")
SED = shutil.which("sed")
BUSYBOX = shutil.which("busybox")

pytestmark = pytest.mark.skipif(
    SH is None or CURL is None, reason="init.sh needs a POSIX sh and curl on PATH"
)

# Distinctive secrets, with characters that need escaping in JSON and in curl's config syntax.
ADMIN_USER = "couch_admin"
ADMIN_PASSWORD = 'Adm1n "pw" \\ $HOME `x` s3cr3t'
CONTROLLER_PASSWORD = 'ctrl-pw-"q"-\\-91f2'
INVOKER_PASSWORD = "invk-pw-5a7c9e"
SCHEDULER_PASSWORD = "sched-pw-0d3b6f"
GUEST_UUID, GUEST_KEY = "2f0c8a3e-1d4b-4c55-9e61-7a9d0b1c2e3f", "GuestKey0123456789abcdefGHIJ"
SYSTEM_UUID, SYSTEM_KEY = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "SystemKey987654321zyxwvuTSRQ"
SECRETS = [ADMIN_PASSWORD, CONTROLLER_PASSWORD, INVOKER_PASSWORD, SCHEDULER_PASSWORD, GUEST_KEY, SYSTEM_KEY]

CONTROLLER, INVOKER, SCHEDULER = "whisk_controller0", "whisk_invoker0", "whisk_scheduler0"
SUBJECTS, WHISKS, ACTIVATIONS = "whisk_subjects", "whisk_whisks", "whisk_activations"

# Design docs the OpenWhisk components (and upstream's db tools) query: db -> ddoc -> view -> reduce.
EXPECTED_VIEWS: dict[str, dict[str, dict[str, str | None]]] = {
    SUBJECTS: {
        "_design/subjects.v2.0.0": {"identities": None},
        "_design/namespaceThrottlings": {"blockedNamespaces": "_sum"},
        "_design/snapshotFilters": {},
    },
    WHISKS: {
        "_design/whisks.v2.1.0": {
            "actions": "_count",
            "packages": "_count",
            "packages-public": "_count",
            "rules": "_count",
            "triggers": "_count",
        },
        "_design/snapshotFilters": {},
    },
    ACTIVATIONS: {
        "_design/whisks.v2.1.0": {"activations": "_count"},
        "_design/whisks-filters.v2.1.1": {"activations": "_count"},
        "_design/activations": {"byDate": None},
        "_design/logCleanup": {"byDateWithLogs": None},
        "_design/snapshotFilters": {},
    },
}
FILE_FOR = {  # (db, ddoc id) -> asset file
    (SUBJECTS, "_design/subjects.v2.0.0"): "subjects__subjects.v2.0.0.json",
    (SUBJECTS, "_design/namespaceThrottlings"): "subjects__namespaceThrottlings.json",
    (SUBJECTS, "_design/snapshotFilters"): "all__snapshotFilters.json",
    (WHISKS, "_design/whisks.v2.1.0"): "whisks__whisks.v2.1.0.json",
    (WHISKS, "_design/snapshotFilters"): "all__snapshotFilters.json",
    (ACTIVATIONS, "_design/whisks.v2.1.0"): "activations__whisks.v2.1.0.json",
    (ACTIVATIONS, "_design/whisks-filters.v2.1.1"): "activations__whisks-filters.v2.1.1.json",
    (ACTIVATIONS, "_design/activations"): "activations__activations.json",
    (ACTIVATIONS, "_design/logCleanup"): "activations__logCleanup.json",
    (ACTIVATIONS, "_design/snapshotFilters"): "all__snapshotFilters.json",
}

SEEDED_ACTION = {
    "_id": "guest/hello",
    "namespace": "guest",
    "name": "hello",
    "exec": {"kind": "nodejs:20", "code": "function main() { return {}; }", "binary": False},
    "version": "0.0.1",
    "updated": 1700000000000,
}


def base_env(url: str, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COUCHDB_URL": url,
        "COUCHDB_ADMIN_USER": ADMIN_USER,
        "COUCHDB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DB_PREFIX": "whisk_",
        "CONTROLLER_DB_USER": CONTROLLER,
        "CONTROLLER_DB_PASSWORD": CONTROLLER_PASSWORD,
        "INVOKER_DB_USER": INVOKER,
        "INVOKER_DB_PASSWORD": INVOKER_PASSWORD,
        "SCHEDULER_DB_USER": SCHEDULER,
        "SCHEDULER_DB_PASSWORD": SCHEDULER_PASSWORD,
        "GUEST_AUTH": f"{GUEST_UUID}:{GUEST_KEY}",
        "SYSTEM_AUTH": f"{SYSTEM_UUID}:{SYSTEM_KEY}",
        "INIT_TIMEOUT_SECONDS": "10",
    }
    env.update(overrides)
    return env


def run_init(env: dict[str, str], shell: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = (shell or [SH]) + [str(SCRIPT)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd="/")


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret leaked into the output"


def strip_meta(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("_id", "_rev", "init_digest")}


def load_asset(name: str) -> dict[str, Any]:
    return json.loads((ASSETS / name).read_text())


@pytest.fixture()
def couch():
    with FakeCouchDB(ADMIN_USER, ADMIN_PASSWORD) as fake:
        yield fake


@pytest.fixture()
def argv_logging_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose curl and sed log their command lines, to prove no secret is ever an argument."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "argv.log"
    for tool, real in (("curl", CURL), ("sed", SED)):
        if real is None:
            continue
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", log


def assert_initialised(couch: FakeCouchDB, members: list[str]) -> None:
    """The exact state one successful run must leave behind."""
    assert set(couch.databases) == {"_users", "_replicator", "_global_changes", SUBJECTS, WHISKS, ACTIVATIONS}
    assert couch.config == {("query_server_config", "reduce_limit"): "false",
                            ("couchdb", "max_document_size"): "4294967296"}

    users = couch.databases["_users"]
    assert set(users) == {f"org.couchdb.user:{name}" for name in members}
    passwords = {CONTROLLER: CONTROLLER_PASSWORD, INVOKER: INVOKER_PASSWORD, SCHEDULER: SCHEDULER_PASSWORD}
    for name in members:
        user = users[f"org.couchdb.user:{name}"]
        assert (user["name"], user["type"], user["roles"]) == (name, "user", [])
        assert couch.check_password(name, passwords[name])

    for db in (SUBJECTS, WHISKS, ACTIVATIONS):
        assert couch.security[db] == {
            "admins": {"names": [], "roles": []},
            "members": {"names": members, "roles": []},
        }
        ddocs = {docid: doc for docid, doc in couch.databases[db].items() if docid.startswith("_design/")}
        assert set(ddocs) == set(EXPECTED_VIEWS[db]), db
        for docid, doc in ddocs.items():
            asset = load_asset(FILE_FOR[(db, docid)])
            assert asset["_id"] == docid
            assert strip_meta(doc) == strip_meta(asset), (db, docid)
            assert doc["language"] == "javascript"
            views = doc.get("views", {})
            assert {v: views[v].get("reduce") for v in views} == EXPECTED_VIEWS[db][docid], (db, docid)
        assert list(ddocs["_design/snapshotFilters"]["filters"]) == ["withoutDeletedAndDesignDocuments"]

    subjects = couch.databases[SUBJECTS]
    assert set(subjects) - set(EXPECTED_VIEWS[SUBJECTS]) == {"guest", "whisk.system"}
    for subject, uuid, key in (("guest", GUEST_UUID, GUEST_KEY), ("whisk.system", SYSTEM_UUID, SYSTEM_KEY)):
        assert strip_meta(subjects[subject]) == {
            "subject": subject,
            "namespaces": [{"name": subject, "uuid": uuid, "key": key}],
        }


SHELLS = [pytest.param([SH], id="sh")]
if BUSYBOX:
    SHELLS.append(pytest.param([BUSYBOX, "sh"], id="busybox-sh"))


@pytest.mark.parametrize("shell", SHELLS)
def test_first_run_creates_exact_state(couch: FakeCouchDB, shell: list[str]) -> None:
    result = run_init(base_env(couch.url), shell)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[-1] == "couchdb init: done"
    assert all(line.startswith("couchdb init: ") for line in lines)
    assert_initialised(couch, [CONTROLLER, INVOKER, SCHEDULER])
    assert {method for method, _ in couch.requests} <= {"GET", "PUT"}
    assert_no_secrets(result.stdout, result.stderr)


def test_rerun_is_idempotent_and_keeps_existing_data(couch: FakeCouchDB, argv_logging_path) -> None:
    path, argv_log = argv_logging_path
    # Data that exists before initialisation: an action, and an outdated design doc.
    couch.databases[WHISKS] = {}
    action_rev = couch.seed(WHISKS, SEEDED_ACTION)
    old_ddoc_rev = couch.seed(ACTIVATIONS, {"_id": "_design/activations", "language": "javascript", "views": {}})

    env = base_env(couch.url, PATH=path)
    first = run_init(env)
    assert first.returncode == 0, first.stderr
    assert "couchdb init: database whisk_whisks: exists" in first.stdout
    assert "couchdb init: design doc whisk_activations/_design/activations: updated" in first.stdout
    updated = couch.doc(ACTIVATIONS, "_design/activations")
    assert updated["_rev"].startswith("2-") and updated["_rev"] != old_ddoc_rev
    state_after_first = json.loads(json.dumps(couch.databases))
    requests_before_second = len(couch.requests)

    second = run_init(env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == "couchdb init: done"

    assert not [r for r in couch.requests if r[0] not in ("GET", "PUT")], "only GET and PUT are allowed"
    seeded = couch.doc(WHISKS, SEEDED_ACTION["_id"])
    assert seeded == {**SEEDED_ACTION, "_rev": action_rev}
    assert set(couch.databases[WHISKS]) == {SEEDED_ACTION["_id"], *EXPECTED_VIEWS[WHISKS]}
    assert_initialised(couch, [CONTROLLER, INVOKER, SCHEDULER])

    # The second run rewrites only the user documents (their passwords cannot be compared).
    second_puts = [p for m, p in couch.requests[requests_before_second:] if m == "PUT"]
    doc_puts = [p for p in second_puts if p.count("/") >= 2 and not p.endswith("/_security") and not p.startswith("/_node/")]
    assert sorted(doc_puts) == sorted(f"/_users/org.couchdb.user:{n}" for n in (CONTROLLER, INVOKER, SCHEDULER))
    for db in (SUBJECTS, WHISKS, ACTIVATIONS):
        assert couch.databases[db] == state_after_first[db], db
    assert "unchanged" in second.stdout

    assert_no_secrets(first.stdout, first.stderr, second.stdout, second.stderr)
    argv = argv_log.read_text()
    assert "curl " in argv and "sed " in argv
    assert_no_secrets(argv)


def test_rotated_secrets_update_user_and_subject_docs(couch: FakeCouchDB) -> None:
    assert run_init(base_env(couch.url)).returncode == 0
    user_id = f"org.couchdb.user:{CONTROLLER}"
    rev_before = couch.doc("_users", user_id)["_rev"]

    new_password, new_key = "rotated-ctrl-pw-77aa", "RotatedGuestKey000111222333"
    SECRETS.extend([new_password, new_key])
    try:
        result = run_init(
            base_env(couch.url, CONTROLLER_DB_PASSWORD=new_password, GUEST_AUTH=f"{GUEST_UUID}:{new_key}")
        )
        assert result.returncode == 0, result.stderr
        assert_no_secrets(result.stdout, result.stderr)
    finally:
        del SECRETS[-2:]

    assert couch.check_password(CONTROLLER, new_password)
    assert not couch.check_password(CONTROLLER, CONTROLLER_PASSWORD)
    assert couch.doc("_users", user_id)["_rev"].split("-")[0] == str(int(rev_before.split("-")[0]) + 1)
    assert couch.check_password(INVOKER, INVOKER_PASSWORD)
    guest = couch.doc(SUBJECTS, "guest")
    assert guest["_rev"].startswith("2-")
    assert guest["namespaces"] == [{"name": "guest", "uuid": GUEST_UUID, "key": new_key}]
    assert "couchdb init: subject guest: updated" in result.stdout
    assert "couchdb init: subject whisk.system: unchanged" in result.stdout


def test_wrong_admin_password_fails_and_names_the_step(couch: FakeCouchDB) -> None:
    result = run_init(base_env(couch.url, COUCHDB_ADMIN_PASSWORD="not-the-admin-password"))
    assert result.returncode != 0
    assert "FAILED: step 'wait for CouchDB': admin credentials rejected, HTTP status 401" in result.stderr
    assert "couchdb init: done" not in result.stdout
    assert couch.databases == {} and couch.security == {}
    assert_no_secrets(result.stdout, result.stderr)
    assert "not-the-admin-password" not in result.stdout + result.stderr


def test_scheduler_user_is_optional(couch: FakeCouchDB) -> None:
    result = run_init(base_env(couch.url, SCHEDULER_DB_USER="", SCHEDULER_DB_PASSWORD=""))
    assert result.returncode == 0, result.stderr
    assert "couchdb init: user (scheduler): not configured, skipped" in result.stdout
    assert_initialised(couch, [CONTROLLER, INVOKER])


def test_unreachable_couchdb_times_out_with_step_name() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_init(base_env(f"http://127.0.0.1:{port}", INIT_TIMEOUT_SECONDS="0"))
    assert result.returncode != 0
    assert "FAILED: step 'wait for CouchDB': CouchDB at" in result.stderr
    assert "not up within 0s" in result.stderr
    assert_no_secrets(result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CONTROLLER_DB_PASSWORD": ""}, "environment variable CONTROLLER_DB_PASSWORD is required"),
        ({"SCHEDULER_DB_PASSWORD": ""}, "SCHEDULER_DB_PASSWORD is required when SCHEDULER_DB_USER is set"),
        ({"GUEST_AUTH": "no-colon"}, "GUEST_AUTH must have the form uuid:key"),
        ({"COUCHDB_URL": "http://u:p@127.0.0.1:1"}, "COUCHDB_URL must not contain credentials"),
        ({"DB_PREFIX": "Whisk_"}, "DB_PREFIX must start with a lower-case letter"),
        ({"INVOKER_DB_USER": CONTROLLER}, f"user {CONTROLLER} is given two different passwords"),
    ],
)
def test_bad_configuration_is_rejected_before_any_request(
    couch: FakeCouchDB, overrides: dict[str, str], message: str
) -> None:
    result = run_init(base_env(couch.url, **overrides))
    assert result.returncode != 0
    assert f"couchdb init: FAILED: step 'configuration': {message}" in result.stderr
    assert couch.requests == []
    assert_no_secrets(result.stdout, result.stderr)


def test_asset_folder_holds_exactly_the_installed_design_docs() -> None:
    assert {p.name for p in ASSETS.glob("*.json")} == set(FILE_FOR.values())
    script = SCRIPT.read_text()
    for name in set(FILE_FOR.values()):
        assert name in script
        doc = load_asset(name)
        assert doc["_id"] == "_design/" + name.split("__", 1)[1][: -len(".json")]


# --- view semantics -----------------------------------------------------------------------------
# Runs the map/filter functions in node against sample documents and checks the exact rows.

NODE = shutil.which("node")

_NODE_HARNESS = r"""
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(({src, doc, filter}) => {
  const rows = [];
  const fn = new Function('emit', 'return (' + src + ')')((k, v) => rows.push([k, v === undefined ? null : v]));
  try {
    const r = fn(doc, {});
    return filter ? !!r : JSON.parse(JSON.stringify(rows));
  } catch (e) {
    return filter ? 'error' : [];  // CouchDB keeps no rows of a document whose map function throws
  }
});
process.stdout.write(JSON.stringify(out));
"""


def _view(file: str, view: str) -> str:
    return load_asset(file)["views"][view]["map"]


def _summary(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


ACTIVATION = {
    "_id": "guest/6c1f",
    "_rev": "1-aa",
    "activationId": "6c1f",
    "namespace": "guest",
    "name": "hello",
    "version": "0.0.1",
    "publish": False,
    "start": 100,
    "end": 130,
    "cause": "c1",
    "response": {"statusCode": 0, "result": {}},
    "annotations": [{"key": "path", "value": "guest/pkg/hello"}, {"key": "kind", "value": "nodejs:20"}],
    "logs": ["line"],
}
ACTIVATION_ROW = _summary(
    namespace="guest", name="hello", version="0.0.1", publish=False, activationId="6c1f",
    annotations=ACTIVATION["annotations"], start=100, end=130, duration=30, cause="c1", statusCode=0,
)
ACTION = {"namespace": "guest/pkg", "name": "a", "version": "0.0.2", "publish": True, "annotations": [],
          "limits": {"timeout": 60000}, "exec": {"kind": "nodejs:20", "code": "x"}, "updated": 7}
ACTION_ROW = {"namespace": "guest/pkg", "name": "a", "version": "0.0.2", "publish": True, "annotations": [],
              "limits": {"timeout": 60000}, "exec": {"binary": False}, "updated": 7}
PKG = {"namespace": "guest", "name": "p", "version": "0.0.1", "publish": True, "annotations": [], "updated": 9}
PKG_ROW = {**PKG}
TRIGGER = {"namespace": "guest", "name": "t", "version": "0.0.1", "publish": False, "annotations": [],
           "parameters": [], "limits": {}, "updated": 3}
TRIGGER_ROW = {k: v for k, v in TRIGGER.items() if k not in ("parameters", "limits")}

VIEW_CASES: list[tuple[str, Any, Any]] = [
    # identities: two rows per namespace, keyed by name and by (uuid, key); blocked subjects vanish
    (_view("subjects__subjects.v2.0.0.json", "identities"),
     {"_id": "alice", "subject": "alice", "namespaces": [{"name": "alice", "uuid": "u1", "key": "k1"}]},
     [[["alice"], {"_id": "alice/limits", "namespace": "alice", "uuid": "u1", "key": "k1"}],
      [["u1", "k1"], {"_id": "alice/limits", "namespace": "alice", "uuid": "u1", "key": "k1"}]]),
    (_view("subjects__subjects.v2.0.0.json", "identities"),
     {"_id": "bob", "subject": "bob", "blocked": True, "namespaces": [{"name": "bob", "uuid": "u", "key": "k"}]}, []),
    # blockedNamespaces: zeroed limits documents and blocked subjects
    (_view("subjects__namespaceThrottlings.json", "blockedNamespaces"),
     {"_id": "carol/limits", "invocationsPerMinute": 0}, [["carol", 1]]),
    (_view("subjects__namespaceThrottlings.json", "blockedNamespaces"),
     {"_id": "carol/limits", "concurrentInvocations": 10}, []),
    (_view("subjects__namespaceThrottlings.json", "blockedNamespaces"),
     {"_id": "dave", "subject": "dave", "blocked": True, "namespaces": [{"name": "dave"}, {"name": "dave2"}]},
     [["dave", 1], ["dave2", 1]]),
    # entities
    (_view("whisks__whisks.v2.1.0.json", "actions"), ACTION,
     [[["guest/pkg", 7], ACTION_ROW], [["guest", 7], ACTION_ROW]]),
    (_view("whisks__whisks.v2.1.0.json", "actions"), {**PKG, "binding": {}}, []),
    (_view("whisks__whisks.v2.1.0.json", "packages"), {**PKG, "binding": {}},
     [[["guest", 9], {**PKG_ROW, "binding": False}]]),
    (_view("whisks__whisks.v2.1.0.json", "packages"), {**PKG, "binding": {"namespace": "x", "name": "y"}},
     [[["guest", 9], {**PKG_ROW, "binding": {"namespace": "x", "name": "y"}}]]),
    (_view("whisks__whisks.v2.1.0.json", "packages-public"), {**PKG, "binding": {}},
     [[["guest", 9], {**PKG_ROW, "binding": False}]]),
    (_view("whisks__whisks.v2.1.0.json", "packages-public"), {**PKG, "binding": {"namespace": "x", "name": "y"}}, []),
    (_view("whisks__whisks.v2.1.0.json", "packages-public"), {**PKG, "publish": False, "binding": {}}, []),
    (_view("whisks__whisks.v2.1.0.json", "rules"),
     {"namespace": "guest/sub", "name": "r", "trigger": {"name": "t"}, "action": {"name": "a"}, "updated": 5},
     [[["guest/sub", 5], 1], [["guest", 5], 1]]),
    (_view("whisks__whisks.v2.1.0.json", "triggers"), TRIGGER, [[["guest", 3], TRIGGER_ROW]]),
    (_view("whisks__whisks.v2.1.0.json", "triggers"), ACTION, []),
    # activations
    (_view("activations__whisks.v2.1.0.json", "activations"), ACTIVATION, [[["guest", 100], ACTIVATION_ROW]]),
    (_view("activations__whisks.v2.1.0.json", "activations"), {**ACTIVATION, "end": 0},
     [[["guest", 100], {k: v for k, v in ACTIVATION_ROW.items() if k not in ("end", "duration", "statusCode")}]]),
    (_view("activations__whisks-filters.v2.1.1.json", "activations"), ACTIVATION,
     [[["guest/pkg/hello", 100], ACTIVATION_ROW]]),
    (_view("activations__whisks-filters.v2.1.1.json", "activations"),
     {**ACTIVATION, "annotations": [{"key": "path", "value": "guest/hello"}, {"key": "binding", "value": "guest/bnd"}]},
     [[["guest/bnd/hello", 100],
       {**ACTIVATION_ROW, "annotations": [{"key": "path", "value": "guest/hello"},
                                          {"key": "binding", "value": "guest/bnd"}]}]]),
    (_view("activations__whisks-filters.v2.1.1.json", "activations"),
     {**ACTIVATION, "annotations": [{"key": "path", "value": "guest/hello"}]},
     [[["guest/hello", 100], {**ACTIVATION_ROW, "annotations": [{"key": "path", "value": "guest/hello"}]}]]),
    (_view("activations__activations.json", "byDate"), ACTIVATION, [[100, ["guest/6c1f", "1-aa"]]]),
    (_view("activations__logCleanup.json", "byDateWithLogs"), ACTIVATION, [[100, "guest/6c1f"]]),
    (_view("activations__logCleanup.json", "byDateWithLogs"),
     {**ACTIVATION, "annotations": [{"key": "kind", "value": "sequence"}]}, []),
    (_view("activations__logCleanup.json", "byDateWithLogs"), {**ACTIVATION, "logs": []}, []),
]
_FILTER = load_asset("all__snapshotFilters.json")["filters"]["withoutDeletedAndDesignDocuments"]
FILTER_CASES = [
    ({"_id": "guest/hello"}, True),
    ({"_id": "_design/whisks.v2.1.0"}, False),
    ({"_id": "guest/gone", "_deleted": True}, False),
]


@pytest.mark.skipif(NODE is None, reason="node is needed to execute the JavaScript view functions")
def test_view_functions_emit_the_rows_openwhisk_reads() -> None:
    cases = [{"src": src, "doc": doc} for src, doc, _ in VIEW_CASES]
    cases += [{"src": _FILTER, "doc": doc, "filter": True} for doc, _ in FILTER_CASES]
    proc = subprocess.run([NODE, "-e", _NODE_HARNESS], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=30, check=True)
    results = json.loads(proc.stdout)
    expected = [rows for _, _, rows in VIEW_CASES] + [keep for _, keep in FILTER_CASES]
    for index, (got, want) in enumerate(zip(results, expected, strict=True)):
        assert got == want, f"case {index}"


def test_design_dir_can_point_elsewhere(couch: FakeCouchDB, tmp_path: Path) -> None:
    lone_script = tmp_path / "init.sh"
    shutil.copy(SCRIPT, lone_script)
    cmd = [SH, str(lone_script)]

    missing = subprocess.run(cmd, env=base_env(couch.url), capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
    assert missing.stderr == (f"couchdb init: FAILED: step 'configuration': http.sh not found next "
                              f"to init.sh or in DESIGN_DIR '{tmp_path}'\n")
    shutil.copy(ASSETS / "http.sh", tmp_path / "http.sh")
    missing = subprocess.run(cmd, env=base_env(couch.url), capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
    assert "FAILED: step 'design doc subjects__subjects.v2.0.0.json'" in missing.stderr
    assert "not found or not readable" in missing.stderr
    (tmp_path / "http.sh").unlink()

    found = subprocess.run(cmd, env=base_env(couch.url, DESIGN_DIR=str(ASSETS)), capture_output=True, text=True,
                           timeout=60)
    assert found.returncode == 0, found.stderr
    assert_initialised(couch, [CONTROLLER, INVOKER, SCHEDULER])
