"""Runs components/assets/etcd/auth.sh against an in-memory etcd auth store (tests/fake_etcd.py).
The engine tier runs the same step against a real etcd (tests/engine/test_prod.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_etcd import FakeEtcd  # noqa: E402

import config  # noqa: E402
import planner  # noqa: E402
from planner.model import Health, Secret  # noqa: E402
from tests.test_planner import cluster, env, stack  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "components" / "assets" / "etcd" / "auth.sh"
SH, CURL = shutil.which("sh"), shutil.which("curl")
TOOLS = {t: shutil.which(t) for t in ("curl", "sed", "grep")}

pytestmark = pytest.mark.skipif(SH is None or CURL is None, reason="auth.sh needs a POSIX sh and curl")

# Distinctive passwords, one with characters JSON needs escaped.
ROOT, OPENWHISK, HEALTH = 'r00t-"pw"-\\-4c1e', "ow-pw-7f3a9b", "health-pw-2d8e5c"
SECRETS = (ROOT, OPENWHISK, HEALTH)
PERM = {"permType": "READWRITE", "key": "AA==", "range_end": "AA=="}


@pytest.fixture()
def etcd():
    with FakeEtcd() as fake:
        yield fake


@pytest.fixture()
def path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose curl, sed and grep log their command lines."""
    bindir, log = tmp_path / "bin", tmp_path / "argv.log"
    bindir.mkdir()
    for tool, real in TOOLS.items():
        if real is not None:
            (bindir / tool).write_text(f'#!/bin/sh\nprintf "%s\\n" "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
            (bindir / tool).chmod(0o755)
    return f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", log


def run(etcd: FakeEtcd, path: str, **over: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "ETCD_URL": etcd.url + "/", "ETCD_ROOT_PASSWORD": ROOT,
           "ETCD_OPENWHISK_PASSWORD": OPENWHISK, "ETCD_HEALTH_PASSWORD": HEALTH,
           "ETCD_AUTH_TIMEOUT_SECONDS": "5"} | over
    return subprocess.run([SH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def assert_secure(etcd: FakeEtcd, openwhisk: str = OPENWHISK) -> None:
    assert etcd.enabled
    assert etcd.users == {"root": {"password": ROOT, "roles": ["root"]},
                          "openwhisk": {"password": openwhisk, "roles": ["openwhisk"]},
                          "health": {"password": HEALTH, "roles": []}}
    assert etcd.roles == {"openwhisk": [PERM]}


def test_first_run_creates_the_users_and_role_then_enables_authentication(etcd, path) -> None:
    result = run(etcd, path[0])
    assert result.returncode == 0, result.stderr
    assert_secure(etcd)
    assert etcd.changes == ["role/add", "role/grant", "user/add", "user/grant", "user/add",
                            "user/grant", "user/add", "enable"]
    assert result.stdout.splitlines() == [
        "etcd-auth: role openwhisk: read and write on every key",
        "etcd-auth: user root: created", "etcd-auth: user root: role root granted",
        "etcd-auth: user openwhisk: created", "etcd-auth: user openwhisk: role openwhisk granted",
        "etcd-auth: user health: created", "etcd-auth: authentication: enabled"]
    argv = path[1].read_text()
    assert "curl " in argv and "sed " in argv and "grep " in argv
    for secret in SECRETS:
        assert secret not in argv + result.stdout + result.stderr


def test_second_run_changes_nothing_so_no_token_is_invalidated(etcd, path) -> None:
    assert run(etcd, path[0]).returncode == 0
    revision, changes = etcd.revision, list(etcd.changes)
    result = run(etcd, path[0])
    assert result.returncode == 0, result.stderr
    assert (etcd.revision, etcd.changes) == (revision, changes)
    assert result.stdout.splitlines() == [
        "etcd-auth: role openwhisk: unchanged",
        "etcd-auth: user root: password unchanged", "etcd-auth: user root: role root unchanged",
        "etcd-auth: user openwhisk: password unchanged",
        "etcd-auth: user openwhisk: role openwhisk unchanged",
        "etcd-auth: user health: unchanged", "etcd-auth: authentication: already enabled"]


def test_a_new_component_password_is_set_and_root_logs_in_again_after_the_change(etcd, path) -> None:
    assert run(etcd, path[0]).returncode == 0
    changes = len(etcd.changes)
    result = run(etcd, path[0], ETCD_OPENWHISK_PASSWORD="ow-pw-rotated")
    assert result.returncode == 0, result.stderr
    assert etcd.changes[changes:] == ["user/changepw"]
    assert "etcd-auth: user openwhisk: password set" in result.stdout.splitlines()
    assert_secure(etcd, openwhisk="ow-pw-rotated")


def test_users_made_before_authentication_get_the_generated_passwords(etcd, path) -> None:
    etcd.users["openwhisk"] = {"password": "someone-elses", "roles": []}
    result = run(etcd, path[0])
    assert result.returncode == 0, result.stderr
    assert_secure(etcd)
    assert "etcd-auth: user openwhisk: password set" in result.stdout.splitlines()


def test_a_root_password_that_does_not_match_fails_and_changes_nothing(etcd, path) -> None:
    assert run(etcd, path[0]).returncode == 0
    changes = list(etcd.changes)
    result = run(etcd, path[0], ETCD_ROOT_PASSWORD="not-the-one")
    assert result.returncode == 1
    assert result.stderr == (
        "etcd-auth: FAILED: step 'login root': authentication is enabled and root's password is "
        "not the generated one; set it back with 'etcdctl user passwd root' (see the README's "
        "troubleshooting)\n")
    assert etcd.changes == changes


def test_no_answer_fails_after_the_timeout_naming_the_url(path) -> None:
    with FakeEtcd() as gone:
        url = gone.url
    env = {"PATH": path[0], "ETCD_URL": url, "ETCD_ROOT_PASSWORD": ROOT,
           "ETCD_OPENWHISK_PASSWORD": OPENWHISK, "ETCD_HEALTH_PASSWORD": HEALTH,
           "ETCD_AUTH_TIMEOUT_SECONDS": "1"}
    result = subprocess.run([SH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"etcd-auth: FAILED: step 'connect': no answer from {url} within 1s (curl: (7)")


@pytest.mark.parametrize("missing", ["ETCD_URL", "ETCD_ROOT_PASSWORD", "ETCD_OPENWHISK_PASSWORD",
                                     "ETCD_HEALTH_PASSWORD"])
def test_a_missing_variable_is_named(etcd, path, missing) -> None:
    result = run(etcd, path[0], **{missing: ""})
    assert (result.returncode, result.stderr) == (
        1, f"etcd-auth: FAILED: step 'configuration': environment variable {missing} is required\n")
    assert etcd.changes == []


# -- the plan --------------------------------------------------------------------------------------

def _containers(p) -> dict:
    return {c.key: c for c in p.containers()}


def test_members_log_their_health_checks_in_as_the_health_user() -> None:
    got = _containers(planner.plan(cluster()))
    for name in ("core-a", "core-b", "core-c"):
        member = got[f"etcd-{name}"]
        assert member.env == (("ETCDCTL_USER", Secret("health:${etcd_health_password}")),)
        assert member.health == Health(("CMD", "etcdctl", "endpoint", "health"), wait=True)


def test_the_step_runs_on_the_couchdb_host_after_every_member_and_before_the_components() -> None:
    p = planner.plan(cluster())
    got = _containers(p)
    step = got["etcd-auth-core-a"]
    assert (step.service, step.host, step.name, step.image, step.one_shot) == (
        "etcd-auth", "core-a", "ow-etcd-auth", "couchdb", True)
    assert step.entrypoint == ("/bin/sh", "/ow-etcd/auth.sh")
    assert [(f.path, f.content) for f in step.files] == [("/ow-etcd/auth.sh", SCRIPT.read_text())]
    assert dict(step.env) == {
        "ETCD_URL": "http://10.0.0.11:2379",
        "ETCD_ROOT_PASSWORD": Secret("${etcd_root_password}"),
        "ETCD_OPENWHISK_PASSWORD": Secret("${etcd_password}"),
        "ETCD_HEALTH_PASSWORD": Secret("${etcd_health_password}")}
    assert step.depends_on == ("etcd-core-a", "etcd-core-b", "etcd-core-c")
    for key in ("controller-core-a", "scheduler-core-c"):
        assert "etcd-auth-core-a" in got[key].depends_on
        assert not [d for d in got[key].depends_on if d.startswith("etcd-core")]
    for key in ("controller-core-b", "scheduler-core-a", "invoker-0"):
        assert (env(p, key)["CONFIG_whisk_etcd_username"], env(p, key)["CONFIG_whisk_etcd_password"]) \
            == ("openwhisk", Secret("${etcd_password}"))
        assert "CONFIG_whisk_etcd_password" not in got[key].env_dict()  # in the secrets file


def test_classic_mode_has_no_etcd_secrets_and_no_step() -> None:
    p = planner.plan(stack())
    assert not [s for s in p.secrets if s.name.startswith("etcd")]
    assert not [c for c in p.containers() if c.service.startswith("etcd")]


def test_the_component_password_rotates_and_the_others_do_not() -> None:
    generations = {s.name: s.generation for s in planner.plan(cluster(rotate={"etcd_password": 2})).secrets}
    assert {k: v for k, v in generations.items() if k.startswith("etcd")} == {
        "etcd_root_password": 0, "etcd_password": 2, "etcd_health_password": 0}
    assert [k for k in config.ROTATABLE if k.startswith("etcd")] == ["etcd_password"]
