"""Runs components/assets/tenants/tenants.sh against the fake CouchDB (tests/fake_couchdb.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_couchdb import FakeCouchDB  # noqa: E402

import config  # noqa: E402
from planner import tenants  # noqa: E402

SCRIPT = tenants.SCRIPT
ADMIN, PASSWORD = "whisk_admin", 'adm "pw" \\ x'
SUBJECTS = "whisk_subjects"
KEY_A = "1b2c3d4e-0000-4000-8000-00000000000a:KeyOfTeamA0123456789abcdefGHIJKLMNOPQ"
KEY_B = "1b2c3d4e-0000-4000-8000-00000000000b:KeyOfTeamB0123456789abcdefGHIJKLMNOPQ"
KEY_A2 = "1b2c3d4e-0000-4000-8000-0000000000a2:RotatedKeyOfTeamA456789abcdefGHIJKLMN"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="tenants.sh needs curl")


@pytest.fixture()
def couch():
    with FakeCouchDB(ADMIN, PASSWORD) as c:
        c.databases[SUBJECTS] = {}
        yield c


def run(couch: FakeCouchDB, tmp: Path, namespaces: dict[str, tuple[str, dict]],
        password: str = PASSWORD) -> subprocess.CompletedProcess:
    """Writes the files the plan gives the step, then runs it like its container does."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy(tenants.HTTP_LIB, tmp / "http.sh")
    for name, (key, limits) in namespaces.items():
        (tmp / f"{name}.auth").write_text(key)
        (tmp / f"{name}.limits").write_text(tenants.limits_document(limits))
    env = {"PATH": os.environ["PATH"], "COUCHDB_URL": couch.url, "COUCHDB_ADMIN_USER": ADMIN,
           "COUCHDB_ADMIN_PASSWORD": password, "DB_PREFIX": "whisk_",
           "NAMESPACES": " ".join(namespaces), "TENANTS_DIR": str(tmp),
           "TENANTS_TIMEOUT_SECONDS": "3"}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def docs(couch: FakeCouchDB) -> dict[str, dict]:
    return {k: {f: v for f, v in d.items() if f != "_rev"} for k, d in couch.databases[SUBJECTS].items()}


def writes(couch: FakeCouchDB) -> list[str]:
    return [p for m, p in couch.requests if m == "PUT"]


def subject(name: str, key: str, **extra) -> dict:
    uuid, secret = key.split(":")
    return {"_id": name, **extra, "subject": name,
            "namespaces": [{"name": name, "uuid": uuid, "key": secret}]}


def test_first_run_creates_each_subject_its_limits_and_the_record(couch, tmp_path):
    limits = config.NamespaceLimits(invocations_per_minute=600, allowed_kinds=("nodejs:20",),
                                    store_activations=False).document()
    done = run(couch, tmp_path / "t", {"team-a": (KEY_A, limits), "team.b": (KEY_B, {})})
    assert done.returncode == 0, done.stderr
    assert docs(couch) == {
        "team-a": subject("team-a", KEY_A),
        "team-a/limits": {"_id": "team-a/limits", "allowedKinds": ["nodejs:20"],
                          "invocationsPerMinute": 600, "storeActivations": False},
        "team.b": subject("team.b", KEY_B),
        "team.b/limits": {"_id": "team.b/limits"},
        "openwhisk-pulumi:namespaces": {"_id": "openwhisk-pulumi:namespaces", "names": "team-a team.b"},
    }
    assert done.stdout.splitlines() == [
        "tenants: namespace team-a subject: created", "tenants: namespace team-a limits: created",
        "tenants: namespace team.b subject: created", "tenants: namespace team.b limits: created",
        "tenants: record: created", "tenants: done: team-a team.b configured"]
    for secret in (KEY_A.split(":")[1], KEY_B.split(":")[1], PASSWORD):
        assert secret not in done.stdout + done.stderr


def test_a_second_run_writes_nothing(couch, tmp_path):
    spec = {"team-a": (KEY_A, {"firesPerMinute": 5}), "team.b": (KEY_B, {})}
    assert run(couch, tmp_path / "t", spec).returncode == 0
    before = json.dumps(couch.databases[SUBJECTS], sort_keys=True)
    couch.requests.clear()
    done = run(couch, tmp_path / "t", spec)
    assert done.returncode == 0, done.stderr
    assert writes(couch) == []
    assert json.dumps(couch.databases[SUBJECTS], sort_keys=True) == before
    assert [line for line in done.stdout.splitlines() if not line.endswith(": unchanged")] == [
        "tenants: done: team-a team.b configured"]


def test_changed_limits_and_a_rotated_key_write_exactly_their_document(couch, tmp_path):
    assert run(couch, tmp_path / "t", {"team-a": (KEY_A, {}), "team.b": (KEY_B, {})}).returncode == 0
    couch.requests.clear()
    done = run(couch, tmp_path / "t", {"team-a": (KEY_A2, {}), "team.b": (KEY_B, {"firesPerMinute": 9})})
    assert done.returncode == 0, done.stderr
    assert writes(couch) == [f"/{SUBJECTS}/team-a", f"/{SUBJECTS}/team.b/limits"]
    assert docs(couch)["team-a"] == subject("team-a", KEY_A2)
    assert docs(couch)["team.b/limits"] == {"_id": "team.b/limits", "firesPerMinute": 9}


def test_a_removed_namespace_is_blocked_and_kept_and_adding_it_back_unblocks_it(couch, tmp_path):
    assert run(couch, tmp_path / "t", {"team-a": (KEY_A, {"firesPerMinute": 5}),
                                       "team.b": (KEY_B, {})}).returncode == 0
    couch.requests.clear()
    done = run(couch, tmp_path / "t", {"team.b": (KEY_B, {})})
    assert done.returncode == 0, done.stderr
    assert writes(couch) == [f"/{SUBJECTS}/team-a"]
    assert docs(couch)["team-a"] == subject("team-a", KEY_A, blocked=True)
    assert docs(couch)["team-a/limits"] == {"_id": "team-a/limits", "firesPerMinute": 5}
    assert "tenants: removed namespace team-a: blocked (its key no longer works; its actions, " \
           "packages, rules and triggers are kept)" in done.stdout.splitlines()
    # Still listed: the record names every namespace the step ever created.
    assert docs(couch)["openwhisk-pulumi:namespaces"]["names"] == "team-a team.b"
    couch.requests.clear()
    assert run(couch, tmp_path / "t", {"team.b": (KEY_B, {})}).returncode == 0
    assert writes(couch) == []
    done = run(couch, tmp_path / "t", {"team-a": (KEY_A2, {}), "team.b": (KEY_B, {})})
    assert done.returncode == 0, done.stderr
    assert docs(couch)["team-a"] == subject("team-a", KEY_A2)
    # With no namespace left, every one of them is blocked.
    assert run(couch, tmp_path / "t", {}).returncode == 0
    assert [n for n, d in docs(couch).items() if d.get("blocked")] == ["team-a", "team.b"]


def test_a_subject_the_step_did_not_create_is_never_overwritten(couch, tmp_path):
    couch.seed(SUBJECTS, subject("team-a", KEY_B))
    done = run(couch, tmp_path / "t", {"team-a": (KEY_A, {})})
    assert done.returncode == 1
    assert done.stderr == ("tenants: FAILED: step 'namespace team-a': subject 'team-a' already "
                           "exists and was not created by this stack; delete it (wskadmin user "
                           "delete team-a) or choose another name\n")
    assert writes(couch) == [] and docs(couch)["team-a"] == subject("team-a", KEY_B)


def test_rejected_admin_credentials_fail_naming_the_step(couch, tmp_path):
    done = run(couch, tmp_path / "t", {"team-a": (KEY_A, {})}, password="wrong")
    assert done.returncode == 1
    assert done.stderr == ("tenants: FAILED: step 'wait for whisk_subjects': admin credentials "
                           "rejected, HTTP 401 (unauthorized: Name or password is incorrect.)\n")
    assert writes(couch) == []
