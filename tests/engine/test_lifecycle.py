"""The dev-shaped stack's whole lifecycle through the real engine, in order, on one stack.

From empty to running and healthy; an empty preview right after; catalogued changes, each with
the exact steps the real providers plan, applied, and followed by an empty preview; data that
survives every change, a destroy and a fresh `up`; a failing init step that gates its dependents
and runs again once fixed; a store that never becomes healthy; no generated secret in plaintext;
and the policy pack inside a real preview. The tests share one stack and run in file order.
"""

from __future__ import annotations

import copy
import json
import os
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.changes import CATALOG_NEXT, CHANGES, RUN, C, Change
from tests.engine.conftest import PROJECTS
from tests.engine.harness import Project

STACK_FILE = Path(__file__).resolve().parent / "Pulumi.e2e.yaml"
BASE_IMAGE = "owtest/debian-base:bookworm"
MARKER = ".engine-tier-marker"

#: The long-running containers of the dev shape.
CONTAINERS = ("ow-couchdb", "ow-zookeeper", "ow-kafka", "ow-controller", "ow-invoker0", "ow-edge",
              "ow-redis", "ow-apigateway", "ow-user-events", "ow-prometheus", "ow-grafana")
#: Its one-shot steps.
STEPS = ("ow-couchdb-init", "ow-couchdb-tenants", "ow-kafka-scram-users", "ow-catalog")
VOLUMES = ("ow-couchdb-data", "ow-zookeeper-data", "ow-zookeeper-datalog", "ow-kafka-kraft-data",
           "ow-redis-data", "ow-prometheus-data", "ow-grafana-data")
#: The live configs' volumes (the edge's nginx.conf, Prometheus's targets).
CONFIG_VOLUMES = ("ow-edge-config", "ow-prometheus-config")
EDGE_URL = "https://172.17.0.1"
GATEWAY_MANAGEMENT = "http://172.17.0.1:9000"
#: Keys seen in earlier tests, for the ones after (the tests share one stack, in file order).
SEEN: dict[str, str] = {}
DOC = {"_id": "engine-tier-doc", "kept": True}


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def states() -> dict[str, tuple[str, str]]:
    """Container name -> (status, health) of every `ow-` container."""
    names = docker("ps", "-a", "--filter", "name=^ow-", "--format", "{{.Names}}").split()
    out = {}
    for name in names:
        status, health = docker("inspect", "-f", "{{.State.Status}} {{if .State.Health}}"
                                "{{.State.Health.Status}}{{else}}none{{end}}", name).split()
        out[name] = (status, health)
    return out


#: What every long-running container settles to: healthy, or running for the edge (no health check).
SETTLED = {name: ("running", "none" if name == "ow-edge" else "healthy") for name in CONTAINERS}


def settled(timeout_s: float = 150) -> dict[str, tuple[str, str]]:
    """The long-running containers' states once all are settled, or as they are at the timeout
    (controllers and invokers are not waited for by `up`: their health turns while they join)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = {n: s for n, s in states().items() if n in CONTAINERS}
        if now == SETTLED or time.monotonic() > deadline:
            return now
        time.sleep(2)


def container_env(name: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in json.loads(docker("inspect", "-f", "{{json .Config.Env}}",
                                                            name)))


def couch(method: str, path: str, body: dict | None = None) -> dict[str, Any]:
    """A request to the CouchDB stand-in with its admin credentials (read from the container)."""
    env = container_env("ow-couchdb")
    auth = f"{env['COUCHDB_USER']}:{env['COUCHDB_PASSWORD']}"
    args = ["exec", "ow-couchdb", "curl", "-sS", "-u", auth, "-X", method,
            f"http://127.0.0.1:5984{path}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    return json.loads(docker(*args))


def marker(volume: str, *, write: bool = False) -> bool:
    """Write, or check, the marker file in a data volume."""
    script = f"echo kept > /v/{MARKER}" if write else f"test -f /v/{MARKER}"
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{volume}:/v", BASE_IMAGE, "sh", "-c",
                           script], capture_output=True, text=True)
    return proc.returncode == 0


def assert_data_kept() -> None:
    assert {v: marker(v) for v in VOLUMES} == dict.fromkeys(VOLUMES, True)
    assert couch("GET", f"/engine_tier/{DOC['_id']}")["kept"] is True


@pytest.fixture(scope="module")
def stack(engine_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    if states():
        pytest.fail(f"engine tier: containers {sorted(states())} exist already: the tier uses the "
                    f"dev stack's names and ports, so it cannot run beside a dev stack or an "
                    f"earlier run's leftovers (python -m tests.engine.cleanup removes the latter)",
                    pytrace=False)
    config = yaml.safe_load(STACK_FILE.read_text())["config"]
    # A second installer image for the "upgrade the catalog" change: another image ID.
    subprocess.run(["docker", "build", "-q", "-t", CATALOG_NEXT, "-"], check=True,
                   capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"},
                   input=f"FROM {config['openwhisk:catalog']['image']}\nLABEL owtest.next=1\n")
    project = Project.create(tmp_path_factory.mktemp("engine"), engine_bin, config)
    PROJECTS.append(project)
    try:
        yield project
    finally:
        project.run("destroy", "--yes", "--skip-preview", check=False)
        for name in (*CONTAINERS, *STEPS):
            docker("rm", "-f", name, check=False)
        docker("rmi", CATALOG_NEXT, check=False)
        for volume in (*VOLUMES, *CONFIG_VOLUMES):
            docker("volume", "rm", "-f", volume, check=False)


def test_up_from_empty(stack: Project) -> None:
    stack.up()
    assert settled() == SETTLED
    for step in ("ow-couchdb-init", "ow-couchdb-tenants", "ow-catalog"):
        assert states()[step] == ("exited", "none"), step
        assert docker("inspect", "-f", "{{.State.ExitCode}}", step) == "0", step
    # The real init script ran against the CouchDB stand-in: databases, design documents, subjects.
    dbs = couch("GET", "/_all_dbs")
    assert {"whisk_subjects", "whisk_whisks", "whisk_activations"} <= set(dbs)
    guest = couch("GET", "/whisk_subjects/guest")
    assert guest["subject"] == "guest"
    outputs = stack.outputs()
    assert sorted(outputs) == ["apiHost", "couchdbAdmin", "edgeCertificate", "endpoints", "grafana",
                               "guestAuth", "images", "namespaces", "quorumMembers", "systemAuth",
                               "topology", "wskInsecure", "wskprops"]
    assert outputs["grafana"] == "[secret]"
    assert outputs["namespaces"] == "[secret]"
    assert outputs["quorumMembers"] == ["kafka-e2e", "zookeeper-e2e"] and outputs["couchdbAdmin"] == "[secret]"
    assert (outputs["apiHost"], outputs["wskInsecure"]) == ("https://172.17.0.1", True)
    assert outputs["guestAuth"] == "[secret]" and outputs["wskprops"] == "[secret]"
    SEEN["edge certificate"] = outputs["edgeCertificate"]
    secret = stack.outputs(secrets=True)
    assert secret["guestAuth"] == f"{guest['namespaces'][0]['uuid']}:{guest['namespaces'][0]['key']}"
    assert f"AUTH={secret['guestAuth']}" in secret["wskprops"]
    # The operators' CouchDB login is the running CouchDB's.
    env = container_env("ow-couchdb")
    assert secret["couchdbAdmin"] == {"url": "http://172.17.0.1:5984",
                                      "username": env["COUCHDB_USER"],
                                      "password": env["COUCHDB_PASSWORD"]}


def test_an_immediate_preview_is_empty(stack: Project) -> None:
    stack.expect_no_changes()


def test_a_refresh_loses_nothing_and_changes_nothing(stack: Project) -> None:
    before = stack.urns()
    stack.run("refresh", "--yes", "--skip-preview")
    assert stack.urns() == before
    stack.expect_no_changes()


def test_data_is_written(stack: Project) -> None:
    assert couch("PUT", "/engine_tier").get("ok") is True
    assert couch("PUT", f"/engine_tier/{DOC['_id']}", DOC).get("ok") is True
    assert all(marker(v, write=True) for v in VOLUMES)
    assert_data_kept()


def ow(method: str, path: str, key: str, body: Any = None, base: str = EDGE_URL) -> tuple[int, Any]:
    """A request through the real nginx edge (or `base`): (HTTP status, JSON or text body)."""
    args = ["curl", "-sk", "-o", "-", "-w", "\n%{http_code}", "-X", method, f"{base}{path}"]
    if key:
        args += ["-u", key]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60).stdout
    text, _, status = out.rpartition("\n")
    try:
        return int(status), json.loads(text)
    except ValueError:
        return int(status), text


def test_the_catalog_is_installed_and_a_guest_invokes_its_echo(stack: Project) -> None:
    secret = stack.outputs(secrets=True)
    # The project's installer ran in the prebuilt stand-in image: public packages of whisk.system
    # that every namespace may use, and route management with the gateway's management URL.
    status, echo = ow("POST", "/api/v1/namespaces/whisk.system/actions/utils/echo"
                      "?blocking=true&result=true", secret["guestAuth"], {"payload": "hi"})
    assert (status, echo) == (200, {"payload": "hi"})
    status, apimgmt = ow("GET", "/api/v1/namespaces/whisk.system/packages/apimgmt",
                         secret["systemAuth"])
    assert status == 200 and apimgmt["publish"] is False
    assert {p["key"]: p["value"] for p in apimgmt["parameters"]}["gwUrlV2"] == \
        "http://172.17.0.1:9000/v2"
    logs = docker("logs", "ow-catalog")
    assert logs.splitlines()[-1].startswith("catalog install: ") and "FAILED" not in logs


def test_a_namespace_key_works_and_carries_its_limits(stack: Project) -> None:
    team = stack.outputs(secrets=True)["namespaces"]["team-alpha"]
    assert f"AUTH={team['auth']}\nNAMESPACE=team-alpha\n" in team["wskprops"]
    assert ow("GET", "/api/v1/namespaces/_", team["auth"]) == (200, ["team-alpha"])
    assert couch("GET", "/whisk_subjects/team-alpha%2Flimits")["invocationsPerMinute"] == 100
    SEEN["team-alpha"] = team["auth"]


def get_json(url: str, auth: str | None = None) -> tuple[int, Any]:
    args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", url] + (["-u", auth] if auth else [])
    text, _, status = subprocess.run(args, capture_output=True, text=True, timeout=30) \
        .stdout.rpartition("\n")
    try:
        return int(status), json.loads(text)
    except ValueError:
        return int(status), text


def test_prometheus_scrapes_every_planned_target_and_grafana_serves_the_dashboards(
        stack: Project) -> None:
    # The real Prometheus, with the plan's targets: every one answers /metrics (the stand-ins
    # serve it only when the plan turned Kamon's Prometheus reporter on).
    wanted = {("prometheus", "http://127.0.0.1:9090/metrics"),
              ("controller", "http://172.17.0.1:10001/metrics"),
              ("invoker", "http://172.17.0.1:12001/metrics"),
              ("user-events", "http://172.17.0.1:9095/metrics")}
    deadline = time.monotonic() + 90
    while True:
        status, body = get_json("http://172.17.0.1:9090/api/v1/targets")
        assert status == 200, body
        active = {(t["labels"]["job"], t["scrapeUrl"]): t["health"]
                  for t in body["data"]["activeTargets"]}
        if set(active) == wanted and set(active.values()) == {"up"} or \
                time.monotonic() > deadline:
            break
        time.sleep(3)
    assert active == dict.fromkeys(wanted, "up"), active
    print(f"\nmonitoring: {len(active)} of {len(wanted)} planned targets scraped and up")
    assert "openwhisk_action_activations_total" in get_json("http://172.17.0.1:9095/metrics")[1]

    # Grafana: the generated login (only from the file the plan wrote), the provisioned
    # datasource reaching Prometheus, the dashboards of its image.
    login = stack.outputs(secrets=True)["grafana"]
    assert login["url"] == "http://172.17.0.1:3000" and login["username"] == "admin"
    auth = f"admin:{login['password']}"
    assert get_json(f"{login['url']}/api/search", "admin:admin")[0] == 401
    status, found = get_json(f"{login['url']}/api/search", auth)
    assert status == 200 and len(found) >= 1, found
    status, sources = get_json(f"{login['url']}/api/datasources", auth)
    assert [(d["name"], d["url"], d["isDefault"]) for d in sources] == [
        ("Prometheus", "http://172.17.0.1:9090", True)]
    assert get_json(f"{login['url']}/api/datasources/uid/{sources[0]['uid']}/health", auth) == (
        200, {"status": "OK", "message": "Successfully queried the Prometheus API."})
    env = container_env("ow-grafana")
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/secrets/admin_password"
    assert login["password"] not in json.dumps(env)
    SEEN["grafana password"] = login["password"]


def test_the_edge_routes_api_gateway_paths_to_the_gateway(stack: Project) -> None:
    doc = {"basePath": "/hello", "paths": {"/ping": {"get": {
        "x-openwhisk": {"url": "http://172.17.0.1:10001/ping"}}}}}
    status, stored = ow("POST", "/v2/team-alpha/apis", "", {"apidoc": doc}, base=GATEWAY_MANAGEMENT)
    assert status in (200, 201), stored
    # Through the edge: /api/<namespace>/... goes to the gateway (which keeps the route in Redis),
    # /api/v1 stays with the controllers.
    assert ow("GET", "/api/team-alpha/hello/ping", "") == (200, "pong")
    assert ow("GET", "/api/v1", "")[0] == 200
    assert ow("DELETE", "/v2/team-alpha/apis?basePath=/hello", "", base=GATEWAY_MANAGEMENT)[0] == 200
    assert ow("GET", "/api/team-alpha/hello/ping", "")[0] == 404


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.name)
def test_change(stack: Project, change: Change) -> None:
    config = copy.deepcopy(stack.read_config())
    change.apply(config)
    stack.write_config(config)
    assert stack.preview_steps() == change.steps
    converges(stack)


def test_the_rotated_edge_key_serves_a_new_certificate(stack: Project) -> None:
    # The "rotate the edge certificate key" change ran: a new key, so a new certificate, which
    # the edge serves (the "API port" change moved it: apiHost says where).
    outputs = stack.outputs()
    new, edge = outputs["edgeCertificate"], outputs["apiHost"]
    assert new != SEEN["edge certificate"]
    host, _, port = edge.removeprefix("https://").partition(":")
    served = ssl.get_server_certificate((host, int(port or 443)))
    assert x509_der(served) == x509_der(new)


def x509_der(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")


def test_the_rotated_grafana_password_replaces_the_old_one_on_the_same_database(
        stack: Project) -> None:
    login = stack.outputs(secrets=True)["grafana"]
    assert login["password"] != SEEN["grafana password"]
    assert get_json(f"{login['url']}/api/search", f"admin:{login['password']}")[0] == 200
    assert get_json(f"{login['url']}/api/search", f"admin:{SEEN['grafana password']}")[0] == 401
    db = json.loads(docker("exec", "ow-grafana", "cat", "/var/lib/grafana/grafana.db"))
    assert db["starts"] >= 2  # the database on the retained volume, not a new one


def test_a_rotated_namespace_key_replaces_the_old_one(stack: Project) -> None:
    # The "rotate a namespace key" change ran: only the new key works. (The "API port" change
    # moved the edge: apiHost says where.)
    outputs = stack.outputs(secrets=True)
    team, edge = outputs["namespaces"]["team-alpha"], outputs["apiHost"]
    assert team["auth"] != SEEN["team-alpha"]
    assert ow("GET", "/api/v1/namespaces/_", team["auth"], base=edge) == (200, ["team-alpha"])
    assert ow("GET", "/api/v1/namespaces/_", SEEN["team-alpha"], base=edge)[0] == 401


def test_a_removed_namespace_is_blocked_and_keeps_its_entities(stack: Project) -> None:
    outputs = stack.outputs(secrets=True)
    beta, edge = outputs["namespaces"]["team-beta"]["auth"], outputs["apiHost"]
    action = {"exec": {"kind": "nodejs:default", "code": "function main(a) { return a; }"}}
    assert ow("PUT", "/api/v1/namespaces/_/actions/kept", beta, action, base=edge)[0] == 200
    config = copy.deepcopy(stack.read_config())
    config["openwhisk:namespaces"] = [n for n in config["openwhisk:namespaces"]
                                      if n["name"] != "team-beta"]
    stack.write_config(config)
    converges(stack)
    assert ow("GET", "/api/v1/namespaces/_", beta, base=edge)[0] == 401
    assert couch("GET", "/whisk_subjects/team-beta")["blocked"] is True
    assert couch("GET", "/whisk_whisks/team-beta%2Fkept")["name"] == "kept"
    assert "team-beta" not in stack.outputs(secrets=True)["namespaces"]


def test_no_generated_secret_is_in_plaintext(stack: Project) -> None:
    secret = stack.outputs(secrets=True)
    values = [secret["guestAuth"], secret["systemAuth"], secret["namespaces"]["team-alpha"]["auth"]]
    values += [v.split(":", 1)[1] for v in values]
    values.append(container_env("ow-couchdb")["COUCHDB_PASSWORD"])
    values.append(container_env("ow-apigateway")["REDIS_PASS"])
    values.append(secret["grafana"]["password"])
    assert len(values) == 9 and all(len(v) >= 16 for v in values)
    texts = {"stack export": stack.export()} | {
        " ".join(r.args[:2]) + f" #{i}": r.output for i, r in enumerate(stack.log)
        if "--show-secrets" not in r.args}
    leaks = sorted(f"{where}: {v[:4]}..." for where, text in texts.items() for v in values if v in text)
    assert leaks == []


def test_no_secret_in_labels_commands_or_any_command_line(stack: Project) -> None:
    """Secrets reach containers through the environment (where the image reads them there;
    `docker inspect` shows it, unavoidably) or files, never through a label, a container's
    command, or the command line of any process on the host (one-shot steps and the commands
    Pulumi runs included, as far as they are running now)."""
    secret = stack.outputs(secrets=True)
    values = {secret["guestAuth"], secret["systemAuth"], secret["namespaces"]["team-alpha"]["auth"]}
    values |= {v.split(":", 1)[1] for v in set(values)}
    values.add(secret["grafana"]["password"])
    names = [*CONTAINERS, *STEPS]
    for name in names:
        values |= {v for k, v in container_env(name).items()
                   if re.search(r"PASS|SECRET|AUTH|TOKEN|COOKIE", k) and len(v) >= 16}
    for name in ("ow-controller", "ow-invoker0"):  # the JVM components' secrets file
        text = docker("exec", name, "cat", "/openwhisk-pulumi/secrets.conf")
        values |= {v for v in re.findall(r'password[^"]*"([^"\\]{16,})', text)}
    assert len(values) >= 10
    shown = json.loads(docker("inspect", *names))
    places = {f"{c['Name']} {part}": json.dumps(c["Config"].get(part)) + json.dumps(c.get("Args"))
              for c in shown for part in ("Labels", "Cmd", "Entrypoint")}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            places[f"process {pid}"] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                errors="replace")
        except OSError:
            continue
    leaks = sorted(f"{where}: {v[:4]}..." for where, text in places.items() for v in values
                   if v in text)
    print(f"\nsecrets: {len(leaks)} of {len(values)} secret values found in the labels and "
          f"commands of {len(names)} containers and the command lines of "
          f"{sum(w.startswith('process') for w in places)} processes")
    assert leaks == []


def test_every_container_and_every_action_container_has_a_bounded_log(stack: Project) -> None:
    ours = [n for n in docker("ps", "-a", "--format", "{{.Names}}").split() if n.startswith("ow-")]
    configs = {n: json.loads(docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", n))
               for n in ours}
    assert len(ours) >= 10 and configs == {
        n: {"Type": "json-file", "Config": {"max-file": "3", "max-size": "50m"}} for n in ours}
    # Action containers live for one activation here; the invoker logs what Docker holds for
    # each one it started (the verification's and the tests' actions).
    logs = subprocess.run(["docker", "logs", "ow-invoker0"], capture_output=True, text=True)
    actions = re.findall(r"action container \S+: LogConfig (\{.*\})", logs.stdout + logs.stderr)
    assert actions and {json.dumps(json.loads(a), sort_keys=True) for a in actions} == {
        json.dumps({"Config": {"max-file": "2", "max-size": "100m"}, "Type": "json-file"},
                   sort_keys=True)}


def test_policy_pack_passes_in_a_real_preview(stack: Project) -> None:
    result = stack.run("preview", "--policy-pack", "policy")
    assert "Policy Violations" not in result.output


def test_policy_pack_fails_a_mutable_tag(stack: Project) -> None:
    config = copy.deepcopy(stack.read_config())
    saved = copy.deepcopy(config)
    config["openwhisk:images"]["nginx"] = "owtest/nginx:latest"
    config["openwhisk:version"]["allow_mutable_tags"] = True
    stack.write_config(config)
    try:
        result = stack.run("preview", "--policy-pack", "policy", check=False)
    finally:
        stack.write_config(saved)
    assert result.code != 0
    assert re.search(r"no-mutable-image-tags.*owtest/nginx:latest", result.output, re.S), \
        result.output[-2000:]


def test_destroy_keeps_the_data_and_a_fresh_up_uses_it(stack: Project) -> None:
    stack.destroy()
    assert states() == {}
    assert {v: marker(v) for v in VOLUMES} == dict.fromkeys(VOLUMES, True)
    stack.up()
    assert_data_kept()


@contextmanager
def switched_on(volume: str, name: str) -> Iterator[None]:
    """A stand-in's test switch, a file in its data volume, present for the `with` block."""
    def run(script: str) -> None:
        subprocess.run(["docker", "run", "--rm", "-v", f"{volume}:/v", BASE_IMAGE, "sh", "-c",
                        script], check=True)
    run(f"touch /v/{name}")
    try:
        yield
    finally:
        run(f"rm -f /v/{name}")


def converges(stack: Project) -> None:
    """`pulumi up` succeeds, leaves nothing to change, and everything settles with its data."""
    stack.up()
    stack.expect_no_changes()
    assert settled() == SETTLED
    assert_data_kept()


def test_a_failing_init_step_gates_its_dependents_and_runs_again_once_fixed(stack: Project) -> None:
    stack.destroy()
    # The CouchDB stand-in refuses writes while this file is in its data volume.
    with switched_on("ow-couchdb-data", ".standin-refuse-writes"):
        failed = stack.up(check=False)
        assert failed.code != 0
        assert re.search(r"couchdb init: FAILED: .*writes refused", failed.output), failed.output[-3000:]
        # Nothing that needs the initialised database was created; only CouchDB, the step and
        # what does not need it: stores, and user-events, which needs only Kafka (as many as the
        # engine started before the step failed).
        created = set(states())
        assert {"ow-couchdb", "ow-couchdb-init"} <= created <= {
            "ow-couchdb", "ow-couchdb-init", "ow-zookeeper", "ow-kafka", "ow-kafka-scram-users",
            "ow-redis", "ow-apigateway", "ow-user-events"}, created
        # The failed step is not recorded: the next preview runs it again.
        assert stack.preview_steps()[f"{RUN}::couchdb-init-e2e-run"] == "create"
    converges(stack)


def test_a_store_that_never_becomes_healthy_fails_and_is_not_accepted(stack: Project) -> None:
    # The Kafka stand-in does not listen while this file is in its data volume.
    with switched_on("ow-kafka-kraft-data", ".standin-unhealthy"):
        urn = next(r["urn"] for r in json.loads(stack.export())["deployment"]["resources"]
                   if r["urn"].endswith(f"{C}::kafka-e2e"))
        failed = stack.up("--replace", urn, check=False)
        assert failed.code != 0
        assert "failed to be in healthy state" in failed.output, failed.output[-3000:]
        # The next preview replaces it again instead of accepting it.
        assert stack.preview_steps()[f"{C}::kafka-e2e"] == "replace"
    converges(stack)
