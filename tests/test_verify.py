"""components/assets/verify.py against a fake controller and edge on 127.0.0.1, with tiny timeouts."""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.fake_openwhisk import ACTION_ERROR, FakeOpenWhisk

SCRIPT = ROOT / "components" / "assets" / "verify.py"
_spec = importlib.util.spec_from_file_location("verify_script", SCRIPT)
verify = importlib.util.module_from_spec(_spec)
sys.modules["verify_script"] = verify  # dataclasses look their module up while it executes
_spec.loader.exec_module(verify)

AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:s3cretGuestKeyValue0123456789"
HELLO = "/api/v1/namespaces/_/actions/openwhisk-verify-hello"
INVOKE_HINT = ("check that the invoker hosts have the nodejs runtime image (docker images | grep "
               "action-nodejs) and the invoker logs (docker logs ow-invoker0 on 10.0.0.21)")


def env(ow_url: str, *, controllers: list[str] | None = None, timeout: str = "5",
        **over: str) -> dict[str, str]:
    out = {
        "OW_VERIFY_API_HOST": ow_url,
        "OW_VERIFY_AUTH": AUTH,
        "OW_VERIFY_CONTROLLERS": json.dumps([
            {"url": url, "host": "10.0.0.11", "container": "ow-controller"}
            for url in (controllers or [ow_url])]),
        "OW_VERIFY_EDGE": json.dumps({"host": "10.0.0.11", "container": "ow-edge"}),
        "OW_VERIFY_INSECURE": "true",
        "OW_VERIFY_INVOKERS": json.dumps({"invoker0": {"host": "10.0.0.21",
                                                       "container": "ow-invoker0"}}),
        "OW_VERIFY_TIMEOUT_S": timeout,
    }
    return out | over


def run(environ: dict[str, str], **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = verify.main(environ, out, err, **kwargs)
    text = out.getvalue() + err.getvalue()
    assert AUTH not in text and AUTH.split(":")[1] not in text
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def ow():
    with FakeOpenWhisk(AUTH) as fake:
        yield fake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_success_creates_invokes_checks_and_deletes(ow):
    code, out, err = run(env(ow.url))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"verify: controller {ow.url} answers pong",
        f"verify: controller {ow.url} sees invokers up: invoker0/0",
        f"verify: action openwhisk-verify-hello created through {ow.url}",
        'verify: action openwhisk-verify-hello returned {"greeting": "hello openwhisk"}',
        "verify: action openwhisk-verify-hello deleted",
        f"verify: OpenWhisk at {ow.url} works",
    ]
    assert ow.requests == [("GET", "/ping"), ("GET", "/invokers"), ("PUT", HELLO),
                           ("POST", HELLO), ("DELETE", HELLO)]
    assert ow.actions == {}


def test_waits_for_an_invoker_to_come_up(ow):
    ow.invoker_states = [{}, {"invoker0/0": "unhealthy"}, {"invoker0/0": "up"}]
    code, out, _ = run(env(ow.url), sleep=lambda s: None)
    assert code == 0
    assert [r for r in ow.requests if r[1] == "/invokers"] == [("GET", "/invokers")] * 3


def test_action_that_already_exists_is_updated(ow):
    ow.actions["openwhisk-verify-hello"] = {"exec": {"kind": "nodejs:default", "code": "old"}}
    assert run(env(ow.url))[0] == 0


def test_no_healthy_invoker_times_out_with_the_map_seen(ow):
    ow.invoker_states = [{"invoker0/0": "unhealthy"}]
    started = time.monotonic()
    code, out, err = run(env(ow.url, timeout="0.3"))
    assert time.monotonic() - started < 3
    assert code == 1
    assert err == (
        f'verify: FAILED: no invoker is up after 0.3 s: GET {ow.url}/invokers reports '
        '{"invoker0/0": "unhealthy"}; check the invoker logs (docker logs ow-invoker0 on '
        "10.0.0.21), that the nodejs runtime images are pulled on the invoker hosts (docker images | "
        "grep action-nodejs), and the controller logs (docker logs ow-controller on 10.0.0.11)\n")
    assert ("PUT", HELLO) not in ow.requests


def test_every_controller_must_see_an_invoker(ow):
    with FakeOpenWhisk(AUTH) as other:
        other.invoker_states = [{}]
        code, _, err = run(env(ow.url, controllers=[ow.url, other.url], timeout="0.2"))
    assert code == 1
    assert err.startswith(f"verify: FAILED: no invoker is up after 0.2 s: GET {other.url}/invokers "
                          "reports {}; check the invoker logs (docker logs ow-invoker0 on 10.0.0.21)")


def test_failed_invocation_names_the_invokers_and_still_deletes(ow):
    ow.invoke = "fail"
    code, out, err = run(env(ow.url))
    assert code == 1
    assert err == (f'verify: FAILED: invoking openwhisk-verify-hello failed: HTTP 502 {{"error": '
                   f'"{ACTION_ERROR}"}}; {INVOKE_HINT}\n')
    assert ow.requests[-1] == ("DELETE", HELLO) and ow.actions == {}
    assert "deleted" not in out


def test_wrong_result_is_a_failure(ow):
    ow.invoke = "wrong"
    code, _, err = run(env(ow.url))
    assert code == 1
    assert err == ('verify: FAILED: invoking openwhisk-verify-hello returned {"greeting": "hi"} '
                   f'instead of {{"greeting": "hello openwhisk"}}; {INVOKE_HINT}\n')


def test_invoke_answered_202_waits_for_the_activation(ow):
    ow.invoke = "accepted"
    code, out, _ = run(env(ow.url))
    assert code == 0
    assert ("GET", "/api/v1/namespaces/_/activations/act-1") in ow.requests


def test_rejected_guest_key_points_at_the_init_step(ow):
    code, _, err = run(env(ow.url, OW_VERIFY_AUTH="23bc46b1-71f6-4ed5-8c54-816aa4f8c502:wrongKeyValue0"))
    assert code == 1
    assert err == (
        'verify: FAILED: the edge rejected the guest key (HTTP 401 {"error": "The supplied '
        'authentication is invalid.", "code": "x"}); check the output of the CouchDB init step '
        "(docker logs ow-couchdb-init on the couchdb host) and the controller logs (docker logs "
        "ow-controller on 10.0.0.11)\n")
    assert "wrongKeyValue0" not in err


def test_unreachable_controller_times_out_naming_it():
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(env(url, timeout="0.2"))
    assert code == 1
    assert err.startswith(f"verify: FAILED: controller {url} did not answer GET /ping with pong "
                          f"within 0.2 s (last: ")
    assert err.endswith(f"); check docker logs ow-controller on 10.0.0.11, and that this machine "
                        f"can reach {url}\n")


def test_failure_messages_never_show_the_key():
    assert verify._redact(f"echo {AUTH} and {AUTH.split(':')[1]}", AUTH) == \
        "echo <guest key> and <guest key>"


def test_backoff_doubles_up_to_the_cap_and_stops_at_the_deadline():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s
    settings = verify.Settings.from_env(env("http://x", timeout="30"))
    check = verify.Check(settings, io.StringIO(), clock=lambda: now[0], sleep=sleep)
    assert check.until(lambda: None) is None
    assert slept == [0.5, 1, 2, 4, 8, 10, 4.5]


def test_malformed_environment_exits_2_without_echoing_values():
    code, _, err = run({**env("http://x"), "OW_VERIFY_CONTROLLERS": "[]"})
    assert (code, err) == (2, 'verify: bad input from the Pulumi program: OW_VERIFY_CONTROLLERS: '
                              'expected a non-empty list of {"url", "host", "container"}\n')
    code, _, err = run({k: v for k, v in env("http://x").items() if k != "OW_VERIFY_AUTH"})
    assert (code, err) == (2, "verify: bad input from the Pulumi program: OW_VERIFY_AUTH is not set\n")


def test_runs_as_a_script_with_the_standard_library_only(ow):
    # -S: no site-packages, so an import beyond the standard library would fail here.
    proc = subprocess.run([sys.executable, "-S", "components/assets/verify.py"], cwd=ROOT,
                          env=env(ow.url), capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines()[-1] == f"verify: OpenWhisk at {ow.url} works"
