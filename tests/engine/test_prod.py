"""The prod-shaped stack through the real engine, on four hosts reached only over SSH.

Hosts are network namespaces (tests/engine/hosts.py), each with its own sshd (key login, host key
pinned through `hosts[].ssh_host_key`) and dockerd: three core hosts and one invoker host, the
registry deployed on core-1 (its build host) and scheduler mode. The Docker provider and the
command provider reach them only over SSH; only core-1 holds the upstream images (loaded as a
machine image would hold them), so every other host can only get its images from the registry,
by digest. The tests share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import config
import planner
from tests.engine import hosts as H
from tests.changes import set_key
from tests.engine.conftest import PROJECTS
from tests.engine.harness import Project
from tests.engine.images.build import STACK_IMAGES

TAG, NEXT_TAG, THIRD_TAG = "1fae641", "7538ced", "4fac03a"
ROLES = {
    "core-1": ["couchdb", "zookeeper", "kafka", "etcd", "controller", "scheduler", "registry"],
    "core-2": ["zookeeper", "kafka", "etcd", "controller", "scheduler", "edge", "elasticsearch"],
    "core-3": ["zookeeper", "kafka", "etcd", "controller", "scheduler", "elasticsearch"],
    "invoker-1": ["invoker"],
}
#: A fifth host, added to the stack by a change (an invoker host).
SPARE = "invoker-2"
UPSTREAM = sorted({*(v for k, v in STACK_IMAGES.items() if k.startswith("images.")),
                   STACK_IMAGES["registry.image"], STACK_IMAGES["catalog.image"],
                   STACK_IMAGES["monitoring.grafana_image"],
                   *(f"owtest/{c}:{t}" for c in ("controller", "invoker", "scheduler", "user-events")
                     for t in (TAG, NEXT_TAG, THIRD_TAG)),
                   "owtest/action-nodejs-v20:standin", "owtest/action-python-v3.11:standin"})
#: Runtime kinds added to the first deploy's manifest, as at a site that offers many language
#: versions: each image is a tag of the stand-in nodejs runtime, so the build host mirrors, and the
#: invoker host pulls, 2 + WIDE runtime images at once (item 4: >= 20 operations on one host).
WIDE = 22
WIDE_IMAGES = [f"owtest/action-nodejs-v{100 + i}:standin" for i in range(WIDE)]
#: Another ZooKeeper image (the stand-in plus a label, so another image ID), for a change that
#: replaces every ZooKeeper member: deployed quorum members roll one at a time.
ZK_NEXT = f"{STACK_IMAGES['images.zookeeper']}-roll"
#: The same for ElasticSearch: a change that replaces both nodes.
ES_NEXT = f"{STACK_IMAGES['images.elasticsearch']}-roll"
SSH_DIR = Path.home() / ".ssh"
WORKDIR_PREFIX = "owt-prod-"


def host_entry(h: H.TestHost, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": h.name, "id": h.index + 1, "address": h.address, "ssh_host_key": h.host_key,
            "roles": roles, **extra}


def wide_manifest(dest: Path) -> Path:
    """The stand-in manifest plus a nodejs kind for each of WIDE_IMAGES."""
    manifest = json.loads(Path(str(STACK_IMAGES["runtimes.manifest"])).read_text())
    nodejs = manifest["runtimes"]["nodejs"]
    for i, ref in enumerate(WIDE_IMAGES):
        name, tag = ref.split("/", 1)[1].split(":")
        nodejs.append({**nodejs[0], "kind": f"nodejs:{100 + i}", "default": False,
                       "image": {"prefix": "owtest", "name": name, "tag": tag}})
    dest.write_text(json.dumps(manifest, indent=2))
    return dest


def stack_config(hosts: list[H.TestHost], manifest: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path, value in STACK_IMAGES.items():
        key, _, field = path.partition(".")
        values.setdefault(f"openwhisk:{key}", {})[field] = value
    values["openwhisk:version"]["tag"] = TAG
    values["openwhisk:registry"] |= {"mode": "deploy"}
    values["openwhisk:runtimes"]["manifest"] = str(manifest)
    values["openwhisk:monitoring"]["enabled"] = True
    return {
        "pulumi:disable-default-providers": ["docker", "kubernetes", "command"],
        **values,
        "openwhisk:ssh": {"user": "root", "sudo": False},
        "openwhisk:hosts": [
            host_entry(h, ROLES[h.name], **({"invoker_ids": [0]} if h.name == "invoker-1" else {}))
            for h in hosts if h.name in ROLES],
        "openwhisk:controller": {"seed_count": 2},
        "openwhisk:activation_store": {"backend": "elasticsearch"},
        "openwhisk:verify": {"timeout_s": 180},
    }


def plan_of(project: Project) -> planner.model.Plan:
    raw = {k.split(":", 1)[1]: v for k, v in project.read_config().items()
           if k.startswith("openwhisk:")}
    return planner.plan(config.parse(raw, base_dir=project.dir,
                                     secret_keys=frozenset({"ssh_private_key"})))


def on(host: H.TestHost, *args: str, check: bool = True) -> str:
    """The docker CLI against a host's daemon (its socket: inspection only, not the product)."""
    proc = subprocess.run(["docker", "-H", host.socket, *args], capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host.name}: docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def states(host: H.TestHost) -> dict[str, tuple[str, str]]:
    """Container name -> (status, health) on a host."""
    fmt = ("{{.Name}} {{.State.Status}} "
           "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}")
    ids = on(host, "ps", "-aq").split()
    out = {}
    for line in (on(host, "inspect", "-f", fmt, *ids).splitlines() if ids else []):
        name, status, health = line.split()
        out[name.lstrip("/")] = (status, health)
    return out


def expected_states(plan, host: str) -> dict[str, tuple[str, str]]:
    return {c.name: ("exited", "none") if c.one_shot else
            ("running", "healthy" if c.health else "none")
            for c in plan.containers() if c.host == host}


def settled(hosts, plan, timeout_s: float = 180) -> dict[str, dict[str, tuple[str, str]]]:
    """Every host's container states once they match the plan, or as they are at the timeout."""
    want = {h.name: expected_states(plan, h.name) for h in hosts}
    deadline = time.monotonic() + timeout_s
    while True:
        now = {h.name: states(h) for h in hosts}
        if now == want or time.monotonic() > deadline:
            return now
        time.sleep(2)


def step_events(events: Path) -> dict[str, list[float]]:
    """URN -> timestamps of its step's events (start, end, failure) in `pulumi up --event-log`,
    for resources that changed, without the stack and the components."""
    marks: dict[str, list[float]] = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
            if kind in event:
                meta = event[kind]["metadata"]
                if meta["op"] != "same" and not meta["type"].startswith(("pulumi:", "openwhisk:")):
                    marks.setdefault(meta["urn"], []).append(event["timestamp"])
    return marks


def concurrency(events: Path) -> dict[str, int]:
    """Most steps in flight at once on each host's resources, from `pulumi up --event-log`."""
    spans = step_events(events)
    out: dict[str, int] = {}
    for host in (*ROLES, SPARE):
        marks = []
        for urn, times in spans.items():
            name = urn.rsplit("::", 1)[-1]
            if (name.endswith(f"-{host}") or name.startswith(f"{host}-")
                    or (host == "core-1" and name.startswith("mirror-"))) and len(times) == 2:
                marks += [(times[0], 1), (times[1], -1)]
        level = peak = 0
        for _, step in sorted(marks, key=lambda m: (m[0], m[1])):
            level += step
            peak = max(peak, level)
        out[host] = peak
    return out


def step_spans(events: Path, names: list[str]) -> dict[str, tuple[float, float]]:
    """Resource name -> (start, end) of its step (a replacement: its first to its last event)."""
    return {urn.rsplit("::", 1)[-1]: (min(times), max(times))
            for urn, times in step_events(events).items() if urn.rsplit("::", 1)[-1] in names}


@pytest.fixture(scope="module")
def fleet(host_tools: None, engine_bin: Path) -> Iterator[tuple[list[H.TestHost], Path]]:
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    made_ssh_dir = not SSH_DIR.exists()
    SSH_DIR.mkdir(mode=0o700, exist_ok=True)  # the multiplexed Docker connection's ControlPath
    hosts = H.create_hosts([*ROLES, SPARE], workdir=workdir)
    for ref in WIDE_IMAGES:
        subprocess.run(["docker", "tag", "owtest/action-nodejs-v20:standin", ref], check=True)
    for ref, base in ((ZK_NEXT, "images.zookeeper"), (ES_NEXT, "images.elasticsearch")):
        subprocess.run(["docker", "build", "-q", "-t", ref, "-"], check=True, capture_output=True,
                       input=f"FROM {STACK_IMAGES[base]}\nLABEL owtest.roll=1\n",
                       text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    try:
        H.load_images(hosts[0], [*UPSTREAM, *WIDE_IMAGES, ZK_NEXT, ES_NEXT])
        yield hosts, workdir
    finally:
        if os.environ.get("OW_ENGINE_KEEP_HOSTS"):  # for debugging: tests/engine/hosts.py
            print(f"\nkept the test hosts: {workdir}")
            return
        env = H.ssh_env(workdir)
        for h in hosts:  # the Docker connection's master processes
            subprocess.run(["ssh", "-o", f"ControlPath={SSH_DIR}/openwhisk-%C", "-O", "exit",
                            h.address], env=env, capture_output=True, timeout=30)
        H.destroy_hosts(hosts, workdir)
        subprocess.run(["docker", "rmi", *WIDE_IMAGES, ZK_NEXT, ES_NEXT], capture_output=True)
        shutil.rmtree(f"/etc/docker/certs.d/{hosts[0].address}:5000", ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        if made_ssh_dir:
            shutil.rmtree(SSH_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def prod(fleet, engine_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    hosts, workdir = fleet
    config = stack_config(hosts, wide_manifest(workdir / "manifest-wide.json"))
    project = Project.create(tmp_path_factory.mktemp("prod"), engine_bin, config,
                             stack="prod-e2e", path=[workdir / "bin"])
    project.set_secret("ssh_private_key", (workdir / "id_ed25519").read_text())
    PROJECTS.append(project)
    return project


def test_first_up_from_empty_over_ssh(prod: Project, fleet, tmp_path: Path):
    hosts = fleet[0][:len(ROLES)]
    events = tmp_path / "events.jsonl"
    prod.up("--parallel", "32", "--event-log", str(events))
    plan = plan_of(prod)
    now = settled(hosts, plan)
    assert now == {h.name: expected_states(plan, h.name) for h in hosts}
    # Only core-1 had images; every other host pulled each one from the registry, by digest.
    images = prod.outputs()["images"]
    registry = f"{hosts[0].address}:5000"
    for h in hosts[1:]:
        have = set(on(h, "image", "ls", "--digests", "--format",
                      "{{.Repository}}@{{.Digest}}").split())
        needed = {images[k] for s in plan.services for k in s.pulls().get(h.name, ())}
        assert needed <= have, (h.name, needed - have)
        assert {r.split("@")[0] for r in have} == {r.split("@")[0] for r in needed} | {
            "openwhisk-pulumi/in-use"}, h.name
        assert all(r.startswith(f"{registry}/") and "@sha256:" in r for r in needed)
    # The registry serves TLS under the CA the program generated, and only with credentials.
    ca = Path(f"/etc/docker/certs.d/{registry}/ca.crt")
    probe = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            str(ca), f"https://{registry}/v2/_catalog"],
                           capture_output=True, text=True, timeout=30)
    assert probe.stdout == "401", probe
    # Item 4: at least 20 operations at once on one host, over ssh, with sshd's default limits
    # (no MaxStartups or MaxSessions in the hosts' sshd_config).
    peaks = concurrency(events)
    workdir = fleet[1]
    logs = {h.name: (workdir / h.name / "sshd.log").read_text() for h in hosts}
    print(f"steps in flight at once, per host: {peaks}")
    print("ssh connections accepted / dropped past MaxStartups, per host: " + ", ".join(
        f"{n} {log.count('Accepted publickey')}/{log.count('past MaxStartups')}"
        for n, log in logs.items()))
    # The build host runs the registry and mirrors every image into it: 2 + WIDE mirror commands
    # and its containers at once (the invoker host's pulls follow the mirrors one by one).
    assert peaks["core-1"] >= 20, peaks
    for h in hosts:
        sshd = (workdir / h.name / "sshd_config").read_text()
        assert "MaxStartups" not in sshd and "MaxSessions" not in sshd


def test_a_second_up_runs_no_step(prod: Project):
    prod.expect_no_changes()
    out = prod.up().output
    assert "unchanged" in out and not any(w in out for w in (" created", " updated", " replaced"))


def test_refresh_loses_no_resource(prod: Project):
    before = prod.urns()
    prod.run("refresh", "--yes", "--skip-preview")
    assert prod.urns() == before
    prod.expect_no_changes()


# -- etcd's logins --------------------------------------------------------------------------------


def etcd_answer(url: str, body: dict[str, Any]) -> str:
    """etcd's JSON gateway's answer to a request with no login, whatever its status."""
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.read().decode()
    except urllib.error.HTTPError as err:
        return err.read().decode()


def test_etcd_lets_in_only_its_users_and_a_second_auth_run_changes_nothing(prod: Project, fleet):
    """The etcd-auth step turned authentication on: no login reads nothing; the members' health
    login may read nothing either, yet they are healthy (test_first_up_from_empty_over_ssh); the
    components' login works, or the schedulers could not register and no activation would have
    passed the post-deploy verification."""
    hosts = {h.name: h for h in fleet[0]}
    plan = plan_of(prod)
    members = [c for c in plan.containers() if c.service == "etcd"]
    assert len(members) == 3
    for m in members:
        url = f"http://{hosts[m.host].address}:2379/v3/kv/range"
        assert "etcdserver: user name is empty" in etcd_answer(url, {"key": "d2hpc2sv"}), m.key
        proc = subprocess.run(["docker", "-H", hosts[m.host].socket, "exec", m.name, "etcdctl", "get",
                               "--prefix", "--keys-only", "whisk/"], capture_output=True, text=True,
                              timeout=60)
        assert (proc.returncode, proc.stdout) == (1, ""), proc
        assert "etcdserver: permission denied" in proc.stderr, proc.stderr
    [step] = [c for c in plan.containers() if c.service == "etcd-auth"]
    first = on(hosts[step.host], "logs", step.name)
    assert first.splitlines()[-1] == "etcd-auth: authentication: enabled", first
    again = on(hosts[step.host], "start", "-a", step.name)
    assert again.splitlines() == [
        "etcd-auth: role openwhisk: unchanged",
        "etcd-auth: user root: password unchanged", "etcd-auth: user root: role root unchanged",
        "etcd-auth: user openwhisk: password unchanged",
        "etcd-auth: user openwhisk: role openwhisk unchanged",
        "etcd-auth: user health: unchanged", "etcd-auth: authentication: already enabled"]
    # The passwords: in the step's and members' environment (they read them there), in the
    # components' secrets file, and nowhere else: no label, container command or command line.
    env = {c.name: dict(e.split("=", 1) for e in json.loads(on(hosts[c.host], "inspect", c.name))[0]
                        ["Config"]["Env"]) for c in [step, members[0]]}
    values = {env[step.name][k] for k in ("ETCD_ROOT_PASSWORD", "ETCD_OPENWHISK_PASSWORD",
                                          "ETCD_HEALTH_PASSWORD")}
    assert env[members[0].name]["ETCDCTL_USER"] == f"health:{env[step.name]['ETCD_HEALTH_PASSWORD']}"
    scheduler = next(c for c in plan.containers() if c.service == "scheduler")
    conf = on(hosts[scheduler.host], "exec", scheduler.name, "cat", "/openwhisk-pulumi/secrets.conf")
    assert f'whisk.etcd.password = "{env[step.name]["ETCD_OPENWHISK_PASSWORD"]}"' in conf.splitlines()
    assert len(values) == 3 and all(len(v) >= 16 for v in values)
    assert shown_anywhere(plan, hosts, values, ("etcd", "etcd-auth", "controller", "scheduler",
                                                "invoker")) == []


def shown_anywhere(plan, hosts: dict[str, H.TestHost], values: set[str],
                   services: tuple[str, ...]) -> list[str]:
    """Where any of `values` shows in the labels, command or entrypoint of the services'
    containers, or in any process's command line on this machine (every test host's)."""
    places = {}
    for c in plan.containers():
        if c.service in services and c.host in hosts:
            [shown] = json.loads(on(hosts[c.host], "inspect", c.name))
            places[c.key] = json.dumps([shown["Config"].get(p) for p in ("Labels", "Cmd", "Entrypoint")]
                                       + [shown.get("Args"), shown["Config"].get("Healthcheck")])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            places[f"process {pid}"] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
    return sorted(f"{where}: {v[:4]}..." for where, text in places.items() for v in values if v in text)


def es_answer(url: str, login: tuple[str, str] | None) -> tuple[int, str]:
    """ElasticSearch's HTTP status and body for a GET, with `login` sent as basic authentication."""
    request = urllib.request.Request(url)
    if login is not None:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode() + f" WWW-Authenticate: {err.headers.get('WWW-Authenticate')}"


def test_elasticsearch_lets_in_only_its_users_and_its_nodes_speak_tls(prod: Project, fleet):
    """#12 item 2: ElasticSearch's security is on with generated logins: the components' user
    reaches the activation indices only, the health checks' user only the cluster's health, and
    `elastic` nobody; the transport port speaks TLS with the stack's certificate."""
    hosts = {h.name: h for h in fleet[0]}
    plan = plan_of(prod)
    node, *others = [c for c in plan.containers() if c.service == "elasticsearch"]
    assert len(others) == 1
    base = f"http://{hosts[node.host].address}:9200"
    login = on(hosts[node.host], "exec", node.name, "cat",
               "/usr/share/elasticsearch/config/health-login.curl")
    health = tuple(re.fullmatch(r'user = "(health):(\w+)"\n?', login).groups())
    controller = next(c for c in plan.containers() if c.service == "controller")
    conf = on(hosts[controller.host], "exec", controller.name, "cat", "/openwhisk-pulumi/secrets.conf")
    [password] = [line.split(" = ", 1)[1].strip('"') for line in conf.splitlines()
                  if line.startswith("whisk.activation-store.elasticsearch.password = ")]
    openwhisk = ("openwhisk", password)
    assert health[0] == "health" and len(health[1]) >= 16 and len(password) >= 16
    status, body = es_answer(f"{base}/_cluster/health", None)
    assert status == 401 and "missing authentication credentials" in body, body
    assert 'Basic realm="security"' in body
    for login in (("elastic", ""), ("elastic", "changeme"), ("openwhisk", health[1]),
                  ("health", password)):
        assert es_answer(f"{base}/_cluster/health", login)[0] == 401, login
    assert es_answer(f"{base}/_cluster/health", health)[0] == 200
    assert es_answer(f"{base}/openwhisk-guest/_search", health)[0] == 403
    assert es_answer(f"{base}/_cluster/health", openwhisk)[0] == 403
    # The post-deploy check invoked an action as guest: its activation is in guest's index, which
    # the components' user reads.
    status, body = es_answer(f"{base}/openwhisk-guest/_search", openwhisk)
    assert status == 200 and json.loads(body)["hits"]["total"] >= 1, body
    assert es_answer(f"{base}/other-index/_search", openwhisk)[0] == 403
    logs = on(hosts[node.host], "logs", node.name)
    assert "transport: TLS with a client certificate works (checked against this node)" in logs, logs
    # A plain connection to the transport port is refused by TLS.
    with socket.create_connection((hosts[node.host].address, 9300), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            first = raw.recv(100)[:1]
        except ConnectionResetError:
            first = b""
        assert first in (b"", b"\x15")  # closed or reset, or a TLS alert record
    # The other node reached this one over TLS with the shared certificate.
    peer = on(hosts[others[0].host], "logs", others[0].name)
    assert f"transport: TLS connection to {hosts[node.host].address}:9300 established" in peer, peer
    assert shown_anywhere(plan, hosts, {password, health[1]},
                          ("elasticsearch", "controller", "scheduler", "invoker")) == []
    env = json.loads(on(hosts[node.host], "inspect", node.name))[0]["Config"]["Env"]
    assert [e.split("=", 1)[0] for e in env if password in e or health[1] in e] == []


def test_elasticsearch_nodes_from_before_security_restart_together_then_roll(prod: Project,
                                                                            tmp_path: Path):
    """Runbook-upgrade F: a stack whose last deployment listed its nodes without the epoch
    `security` (as earlier versions of this program did) replaces them together; after that, a
    change replaces them one at a time again. The older deployment is made by editing the
    `quorumMembers` output in the state, which is all the next run reads of it."""
    nodes = ["elasticsearch-core-2", "elasticsearch-core-3"]
    state = json.loads(prod.export())
    [stack] = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack"]
    members = stack["outputs"]["quorumMembers"]
    assert [m for m in members if m.startswith("elasticsearch-")] == [f"{n}@security" for n in nodes]
    stack["outputs"]["quorumMembers"] = [m.split("@")[0] for m in members]
    imported = tmp_path / "state.json"
    imported.write_text(json.dumps(state))
    prod.run("stack", "import", "--file", str(imported))

    def replace_nodes(image: str, events: Path) -> dict[str, tuple[float, float]]:
        cfg = prod.read_config()
        cfg["openwhisk:images"]["elasticsearch"] = image
        prod.write_config(cfg)
        prod.up("--event-log", str(events))
        return step_spans(events, nodes)
    together = replace_nodes(ES_NEXT, tmp_path / "together.jsonl")
    assert together[nodes[1]][0] < together[nodes[0]][1], together  # overlapping replacements
    assert [m for m in prod.outputs()["quorumMembers"] if m.startswith("elasticsearch-")] == \
        [f"{n}@security" for n in nodes]
    rolled = replace_nodes(STACK_IMAGES["images.elasticsearch"], tmp_path / "rolled.jsonl")
    assert rolled[nodes[0]][1] <= rolled[nodes[1]][0], rolled  # one after the other
    prod.expect_no_changes()


# -- the action network ---------------------------------------------------------------------------


def targets(plan, hosts: list[H.TestHost]) -> set[tuple[str, int]]:
    """Every port the plan publishes, at its host's address, and each host's sshd."""
    address = {h.name: h.address for h in hosts}
    return {(address[c.host], p.published) for c in plan.containers() if c.host in address
            for p in c.ports} | {(h.address, 22) for h in hosts}


def reachable(host: H.TestHost, image: str, network: str,
              wanted: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """The (address, port)s a container on `network` of `host` can open a TCP connection to."""
    script = "".join(f"(nc -z -w 3 {a} {p} && echo {a}:{p}) & " for a, p in sorted(wanted))
    out = on(host, "run", "--rm", "--network", network, "--entrypoint", "sh", image, "-c",
             script + "wait")
    return {(a, int(p)) for a, p in (line.rsplit(":", 1) for line in out.split())}


def isolation(prod: Project, hosts: list[H.TestHost]) -> tuple[set, set, set, set]:
    """(what an action on invoker-1 reaches, what it should, what a container on the host's own
    network reaches, every target), after printing the counts."""
    plan = plan_of(prod)
    address = {h.name: h.address for h in hosts}
    inv = next(h for h in hosts if h.name == "invoker-1")
    invoker = next(c for c in plan.containers() if c.service == "invoker" and c.host == inv.name)
    edge = next(c for c in plan.containers() if c.service == "edge")
    gateway = next(c for c in plan.containers() if c.service == "apigateway")
    image = on(inv, "inspect", "-f", "{{.Image}}", invoker.name)
    ip = on(inv, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", invoker.name)
    everything = targets(plan, hosts)
    # The invoker's own container, on the host's bridge, at its internal port too.
    internal = everything | {(ip, p.container) for p in invoker.ports}
    api = {(address[edge.host], 443), *((address[gateway.host], p.published)
                                        for p in gateway.ports if p.name == "management")}
    from_actions = reachable(inv, image, "ow-actions", internal)
    from_host = reachable(inv, image, "bridge", everything)
    print(f"\nisolation: {len(from_actions - api)} of {len(internal - api)} internal ports "
          f"reachable from the action network; the API and the gateway's management port "
          f"({len(from_actions & api)} of {len(api)}) reachable; "
          f"{len(from_host)} of {len(everything)} reachable from the host's own network")
    return from_actions, api, from_host, everything


def test_actions_reach_the_api_and_no_internal_port(prod: Project, fleet):
    from_actions, api, from_host, everything = isolation(prod, fleet[0][:len(ROLES)])
    assert from_actions == api
    # From the host's own network every port answers, except ZooKeeper's quorum port 2888, which
    # only the leader listens on (the health checks and verification show the components reach
    # what they need).
    assert {t for t in everything if t[1] != 2888} <= from_host


def test_a_registry_password_rotation_previews_the_real_diff(prod: Project):
    cfg = prod.read_config()
    cfg["openwhisk:rotate"] = {"registry_password": 1}
    prod.write_config(cfg)
    # Only what the new password really changes: nothing in a Docker provider's configuration
    # is unknown, so no Docker resource shows up as a possible update.
    assert prod.preview_steps() == {
        "random:index/randomPassword:RandomPassword::registry_password": "replace",
        "docker:index/container:Container::registry-core-1": "replace",
        **{f"command:remote:Command::{h}-registry-docker-login": "update" for h in ROLES},
        "command:local:Command::verify-check": "replace",
    }
    prod.up()
    prod.expect_no_changes()


# -- changes without an outage ---------------------------------------------------------------------


class Prober(threading.Thread):
    """Sends `GET /ping` and `GET /standin/joined` (answered 200 by a controller stand-in only once
    it reached its peers) through the edge every 100 ms, and records every failure."""

    PATHS = ("/ping", "/standin/joined")

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base, self.sent, self.failures = base, 0, []
        self.halt = threading.Event()
        self.tls = ssl.create_default_context()
        self.tls.check_hostname, self.tls.verify_mode = False, ssl.CERT_NONE  # self-signed edge

    def run(self) -> None:
        while not self.halt.is_set():
            for path in self.PATHS:
                self.sent += 1
                try:
                    with urllib.request.urlopen(self.base + path, timeout=5, context=self.tls) as r:
                        if r.status != 200:
                            self.failures.append((time.strftime("%T"), path, r.status))
                except (urllib.error.URLError, OSError) as err:
                    self.failures.append((time.strftime("%T"), path, str(err)))
            self.halt.wait(0.1)

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


def _config_only(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any], list], None]:
    return lambda config, _hosts: edit(config)


def _hosts_cfg(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["openwhisk:hosts"]


ROLLING = [
    ("bump the OpenWhisk tag", lambda c, _h: c["openwhisk:version"].update(tag=NEXT_TAG)),
    ("seed_count", _config_only(set_key("controller.seed_count", 3))),
    ("limits", _config_only(set_key("limits.invokes_per_minute", 120))),
    ("controller extra_env",
     _config_only(set_key("controller.extra_env",
                          {"CONFIG_whisk_loadbalancer_timeoutFactor": "3"}))),
    ("runtime manifest edit", _config_only(set_key("runtimes.manifest", str(
        Path(str(STACK_IMAGES["runtimes.manifest"])).with_name("manifest-stemcells.json"))))),
    ("enable Kafka SASL", _config_only(set_key("kafka.sasl", {"mechanism": "SCRAM-SHA-512"}))),
    ("ZooKeeper image", _config_only(set_key("images.zookeeper", ZK_NEXT))),
    ("add a Kafka broker",
     lambda c, _h: next(h for h in _hosts_cfg(c) if h["name"] == "invoker-1")["roles"].append("kafka")),
    ("add an invoker host", lambda c, hosts: _hosts_cfg(c).append(host_entry(
        next(h for h in hosts if h.name == SPARE), ["invoker"], invoker_ids=[1]))),
    # The edge learns of the new controller by reloading its config in place, once the
    # controller is up: the edge container itself stays (checked below).
    ("add a controller",
     lambda c, _h: next(h for h in _hosts_cfg(c) if h["name"] == "invoker-1")["roles"].append(
         "controller")),
]
def scraped(edge: H.TestHost, url: str, timeout_s: float = 90) -> str | None:
    """The health Prometheus (on the edge host) reports for the target `url`, once it is up or
    at the timeout; None if Prometheus does not have it."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = json.loads(on(edge, "exec", "ow-prometheus", "wget", "-qO-",
                             "http://127.0.0.1:9090/api/v1/targets"))
        health = {t["scrapeUrl"]: t["health"] for t in body["data"]["activeTargets"]}.get(url)
        if health == "up" or time.monotonic() > deadline:
            return health
        time.sleep(3)


#: Change -> (seconds of its `pulumi up`, requests sent), for the summary at the end.
DURATIONS: dict[str, tuple[float, int]] = {}


@pytest.mark.parametrize("name,change", ROLLING, ids=[n for n, _ in ROLLING])
def test_a_change_rolls_without_a_failed_request(prod: Project, fleet, name, change,
                                                 tmp_path: Path):
    hosts = fleet[0]
    cfg = prod.read_config()
    change(cfg, hosts)
    prod.write_config(cfg)
    edge = next(h for h in hosts if h.name == "core-2")
    edge_id = on(edge, "inspect", "-f", "{{.Id}}", "ow-edge")
    prometheus_id = on(edge, "inspect", "-f", "{{.Id}}", "ow-prometheus")
    prober = Prober(prod.outputs()["apiHost"])
    prober.start()
    time.sleep(1)
    events = tmp_path / "events.jsonl"
    try:
        result = prod.up("--event-log", str(events))
    finally:
        time.sleep(1)
        prober.stop()
    DURATIONS[name] = (result.seconds, prober.sent)
    print(f"\n{name}: pulumi up {result.seconds:.0f} s, {prober.sent} requests, "
          f"{len(prober.failures)} failed")
    assert prober.failures == []
    assert prober.sent > 5 * result.seconds  # the prober ran the whole time
    if name == "add a controller":  # reloaded in place, and it routes to the new controller
        assert on(edge, "inspect", "-f", "{{.Id}}", "ow-edge") == edge_id
        new = next(h for h in hosts if h.name == "invoker-1")
        conf = on(edge, "exec", "ow-edge", "cat", "/etc/nginx/ow/nginx.conf")
        assert f"server {new.address}:10001 " in conf
    if name in ("add an invoker host", "add a controller"):
        # Prometheus scrapes the new instance, from the plan alone, and was reloaded in place.
        assert on(edge, "inspect", "-f", "{{.Id}}", "ow-prometheus") == prometheus_id
        new = next(h for h in hosts if h.name == (SPARE if name == "add an invoker host"
                                                    else "invoker-1"))
        port = 12001 + 1 if name == "add an invoker host" else 10001
        wanted = f"http://{new.address}:{port}/metrics"
        assert scraped(edge, wanted) == "up", wanted
    if name == "ZooKeeper image":  # the deployed members were replaced one after the other
        members = [f"zookeeper-core-{i}" for i in (1, 2, 3)]
        spans = step_spans(events, members)
        assert all(spans[a][1] <= spans[b][0] for a, b in zip(members, members[1:])), spans
    prod.expect_no_changes()


def test_after_a_second_bump_hosts_keep_the_running_and_the_previous_image_only(prod: Project, fleet):
    hosts = {h.name: h for h in fleet[0]}
    before = prod.outputs()["images"]  # NEXT_TAG's, after the first bump
    cfg = prod.read_config()
    cfg["openwhisk:version"]["tag"] = THIRD_TAG
    prod.write_config(cfg)
    prod.up()
    after = prod.outputs()["images"]
    for host, key in (("core-2", "controller"), ("core-3", "scheduler"), ("invoker-1", "invoker")):
        repo = after[key].split("@")[0]
        have = set(on(hosts[host], "image", "ls", "--digests", "--format",
                      "{{.Repository}}@{{.Digest}}", repo).split())
        # The first tag's image is gone; the one in use and the one before it (rollback) stay.
        assert have == {after[key], before[key]}, (host, key)
        marks = {on(hosts[host], "image", "inspect", "--format", "{{.Id}}",
                    f"openwhisk-pulumi/in-use:{key}-{which}") for which in ("current", "previous")}
        ids = {on(hosts[host], "image", "inspect", "--format", "{{.Id}}", ref)
               for ref in (after[key], before[key])}
        assert marks == ids, (host, key)
    prod.expect_no_changes()


# -- faults ----------------------------------------------------------------------------------------


def stored(hosts: list[H.TestHost], plan) -> dict[str, Any]:
    """What the stores hold: each host's volumes and, per CouchDB database, its document ids."""
    couchdb = next(c.name for c in plan.containers() if c.service == "couchdb" and not c.one_shot)
    script = ("import json, pathlib\nfor f in sorted(pathlib.Path('/opt/couchdb/data')"
              ".glob('*.couch.json')):\n    d = json.loads(f.read_text())\n"
              "    print(d['name'], *sorted(d['docs']))")
    docs = on(hosts[0], "exec", couchdb, "python3", "-c", script)
    return {"volumes": {h.name: sorted(on(h, "volume", "ls", "-q").split()) for h in hosts},
            "couchdb": {line.split()[0]: line.split()[1:] for line in docs.splitlines()}}


def errors_of(output: str) -> list[str]:
    """The errors of a failed `pulumi up` (stderr: each an `error: ` line and the indented lines
    after it), without the closing "update failed"."""
    errors: list[str] = []
    for line in output.splitlines():
        if line.startswith("error: "):
            errors.append(line)
        elif errors and line.startswith(("\t", " ")):
            errors[-1] += "\n" + line
    return [e for e in errors if e != "error: update failed"]


def assert_kept(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every volume is still there, and every CouchDB document (`stored`)."""
    assert after["volumes"] == before["volumes"]
    assert all(set(ids) <= set(after["couchdb"][db]) for db, ids in before["couchdb"].items())


def test_a_host_lost_mid_update_fails_naming_it_then_a_plain_up_converges(prod: Project, fleet,
                                                                          tmp_path: Path):
    hosts, workdir = fleet
    invoker = next(h for h in hosts if h.name == "invoker-1")
    plan = plan_of(prod)
    before = stored(hosts, plan)
    cfg = prod.read_config()
    set_key("controller.extra_env", {"CONFIG_whisk_loadbalancer_timeoutFactor": "4"})(cfg)
    set_key("invoker.extra_env", {"CONFIG_logback_log_level": "INFO"})(cfg)
    prod.write_config(cfg)
    events = tmp_path / "events.jsonl"
    link = ["ip", "-n", H.BRIDGE_NS, "link", "set", f"v-{invoker.name}"]
    results: list = []
    update = threading.Thread(target=lambda: results.append(
        prod.up("--event-log", str(events), check=False)))
    update.start()
    try:
        deadline = time.monotonic() + 300
        while not (events.exists() and "resourcePreEvent" in events.read_text()):
            assert time.monotonic() < deadline and update.is_alive(), "no step started"
            time.sleep(0.2)
        subprocess.run([*link, "down"], check=True)
        update.join(900)
    finally:
        subprocess.run([*link, "up"], check=True)
    failed = results[0]
    errors = errors_of(failed.output)
    print(f"\nfailed after {failed.seconds:.0f} s:\n" + "\n".join(errors))
    assert failed.code != 0 and errors
    # Only resources on the lost host failed (here the invoker container, `invoker-0`), and the
    # errors name the host by its configured address, and no other host.
    failing = set(re.findall(r"urn:pulumi:\S+::([^\s:]+):", "\n".join(errors)))
    on_host = {c.key for c in plan.containers() if c.host == invoker.name}
    assert failing and all(n in on_host or n.startswith(f"{invoker.name}-") for n in failing), \
        failing
    assert all(invoker.address in e for e in errors), errors
    assert not any(h.address in e for h in hosts if h != invoker for e in errors), errors
    prod.up()
    prod.expect_no_changes()
    assert settled(hosts, plan) == {h.name: expected_states(plan, h.name) for h in hosts}
    assert_kept(before, stored(hosts, plan))


def test_a_killed_controller_is_restarted_and_the_next_preview_is_empty(prod: Project, fleet):
    hosts = {h.name: h for h in fleet[0]}
    plan = plan_of(prod)
    before = stored(list(hosts.values()), plan)
    name = next(c.name for c in plan.containers()
                if c.service == "controller" and c.host == "core-2" and not c.one_shot)
    fmt = "{{.State.Pid}} {{.RestartCount}}"
    pid, restarts = on(hosts["core-2"], "inspect", "-f", fmt, name).split()
    os.kill(int(pid), 9)  # the JVM dies (as on an OOM kill); `docker kill` would count as a stop
    deadline = time.monotonic() + 180
    while True:
        state = on(hosts["core-2"], "inspect", "-f", f"{fmt} {{{{.State.Health.Status}}}}", name)
        if state.split()[1:] == [str(int(restarts) + 1), "healthy"]:
            break
        assert time.monotonic() < deadline, state
        time.sleep(1)
    prod.expect_no_changes()
    prod.run("preview", "--refresh", "--expect-no-changes")  # the container as it is now, too
    assert_kept(before, stored(list(hosts.values()), plan))


def firewall_of(host: H.TestHost) -> str:
    """The host's filter rules of the action network (its chains and the jumps to them)."""
    rules = subprocess.run(["ip", "netns", "exec", host.netns, "iptables", "-S"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return "\n".join(r for r in rules if "OW-ACTIONS" in r)


def test_the_action_firewall_survives_a_daemon_restart(prod: Project, fleet):
    hosts, workdir = fleet
    inv = next(h for h in hosts if h.name == "invoker-1")
    before = firewall_of(inv)
    assert "-A DOCKER-USER -j OW-ACTIONS" in before and "-A OW-ACTIONS-IN -j DROP" in before
    H.restart_dockerd(inv, workdir)
    plan = plan_of(prod)
    assert settled([inv], plan) == {inv.name: expected_states(plan, inv.name)}
    assert firewall_of(inv) == before
    from_actions, api, _, _ = isolation(prod, hosts[:len(ROLES)])
    assert from_actions == api
    prod.expect_no_changes()


def test_a_replaced_action_network_step_leaves_the_firewall_in_place(prod: Project, fleet):
    """A replacement (a new host key replaces every step of the host) removes the old step's
    network and rules before the new step makes them, not after."""
    inv = next(h for h in fleet[0] if h.name == "invoker-1")
    before = firewall_of(inv)
    [urn] = [u for u in prod.urns() if u.endswith(f"::{inv.name}-action-network")]
    prod.up("--replace", urn)
    assert firewall_of(inv) == before
    assert on(inv, "network", "ls", "-q", "--filter", "name=ow-actions") != ""
    prod.expect_no_changes()


def test_the_action_network_leaves_with_the_invoker_role(prod: Project, fleet):
    hosts = fleet[0]
    spare = next(h for h in hosts if h.name == SPARE)
    assert firewall_of(spare) and on(spare, "network", "ls", "-q", "--filter", "name=ow-actions")
    cfg = prod.read_config()
    cfg["openwhisk:hosts"] = [h for h in cfg["openwhisk:hosts"] if h["name"] != SPARE]
    prod.write_config(cfg)
    prod.up()
    assert firewall_of(spare) == ""
    assert on(spare, "network", "ls", "-q", "--filter", "name=ow-actions") == ""
    # invoker-1's firewall no longer lists the spare host's address.
    assert spare.address not in firewall_of(next(h for h in hosts if h.name == "invoker-1"))
    prod.expect_no_changes()
