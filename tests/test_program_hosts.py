"""Whole-program tests for verification and ssh-reached, prepared hosts (real __main__.py, mocks)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import SECRET_SIG, load_stack_file, run_program, unwrap

CONTAINER = "docker:index/container:Container"
LOCAL = "command:local:Command"
REMOTE = "command:remote:Command"
IMAGE = "docker:index/remoteImage:RemoteImage"

SSH_STACK = {
    "openwhisk:version": {"tag": "ef725a6"},
    "openwhisk:hosts": [
        {"name": "core", "address": "10.0.0.11", "id": 0,
         "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge", "elasticsearch"]},
        {"name": "inv", "address": "10.0.0.21", "id": 1, "roles": ["invoker"]},
    ],
    "openwhisk:activation_store": {"backend": "elasticsearch"},
    "openwhisk:ssh": {"user": "ops", "options": ["StrictHostKeyChecking=yes"]},
    "openwhisk:storage": {"data_dir": "/srv/openwhisk"},
}
SSH_SECRETS = {"openwhisk:ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-key-body\n"}


def deps(run, typ: str, name: str) -> list[str]:
    return sorted(d.split("::")[-1] for d in run.monitor.opts(typ, name)["dependencies"])


def plain_strings(value: Any) -> list[str]:
    """Every string in a recorded input that is not inside a secret envelope."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG):
            return []
        return [s for v in value.values() for s in plain_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in plain_strings(v)]
    return [value] if isinstance(value, str) else []


def test_dev_stack_verifies_after_every_container():
    run = run_program(*load_stack_file("dev"), stack="dev")
    # Every container (the init step: its command, which ran it to completion), plus the
    # generators of the guest key it reads from its environment.
    containers = sorted(f"{r['name']}-run" if r["inputs"].get("start") is False else r["name"]
                        for r in run.mocks.of_type(CONTAINER))
    assert len(containers) == 11 and {"couchdb-init-dev-run", "couchdb-tenants-dev-run",
                                      "catalog-dev-run"} <= set(containers)
    check = run.mocks.named("verify-check", LOCAL)["inputs"]
    assert deps(run, LOCAL, "verify-check") == sorted([*containers, "guest_auth-key", "guest_auth-uuid"])
    assert check["triggers"] == [f"{name}-id" for name in containers]
    env, secret = unwrap(check["environment"])
    assert secret is True
    assert env["OW_VERIFY_AUTH"] == "uuid-guest_auth-uuid:pw-guest_auth-key"
    assert {k: v for k, v in env.items() if k != "OW_VERIFY_AUTH"} == {
        "OW_VERIFY_API_HOST": "https://172.17.0.1",
        "OW_VERIFY_CONTROLLERS": json.dumps([{"url": "http://172.17.0.1:10001",
                                              "host": "172.17.0.1", "container": "ow-controller"}]),
        "OW_VERIFY_EDGE": json.dumps({"host": "172.17.0.1", "container": "ow-edge"}),
        "OW_VERIFY_INSECURE": "true",
        "OW_VERIFY_INVOKERS": json.dumps({"invoker0": {"host": "172.17.0.1",
                                                       "container": "ow-invoker0"}}),
        "OW_VERIFY_TIMEOUT_S": "600",
    }
    assert check["create"] == "python3 components/assets/verify.py"


def test_verification_can_be_switched_off():
    plain, secret = load_stack_file("dev")
    run = run_program({**plain, "openwhisk:verify": {"enabled": False}}, secret, stack="dev")
    assert not [r for r in run.mocks.resources if "Verification" in r["type"] or
                r["name"].startswith("verify")]


def test_dev_stack_keeps_the_local_socket_and_prepares_only_the_action_network_locally():
    run = run_program(*load_stack_file("dev"), stack="dev")
    assert run.mocks.named("dev-docker", "pulumi:providers:docker")["inputs"] == {
        "host": "unix:///var/run/docker.sock"}
    assert [r["name"] for r in run.mocks.of_type("openwhisk:components:HostPrep")] == ["dev"]
    step = run.mocks.named("dev-action-network", "command:local:Command")["inputs"]
    assert (step["create"] == step["update"], step["delete"].startswith("set -u\n")) == (True, True)
    assert not run.mocks.of_type(REMOTE)


def test_ssh_stack_reaches_each_host_over_ssh():
    run = run_program(SSH_STACK, SSH_SECRETS, stack="prod")
    providers = {r["name"]: r["inputs"] for r in run.mocks.of_type("pulumi:providers:docker")}
    assert {k: v["host"] for k, v in providers.items()} == {
        "core-docker": "ssh://ops@10.0.0.11:22", "inv-docker": "ssh://ops@10.0.0.21:22"}
    for inputs in providers.values():
        assert json.loads(inputs["sshOpts"]) == [
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "22",
            "-o", "StrictHostKeyChecking=yes", "-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/openwhisk-%C", "-o", "ControlPersist=60", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]


def test_ssh_stack_prepares_hosts_with_the_secret_key_before_pulls_and_containers():
    run = run_program(SSH_STACK, SSH_SECRETS, stack="prod")
    steps = {r["name"]: r["inputs"] for r in run.mocks.of_type(REMOTE)}
    # Host preparation, the CouchDB init, tenants and catalog steps, the installer image's build
    # (no registry: on the host that runs it) and the image pulls, on the host over the same ssh.
    pulls = sorted(n for n in steps if n.endswith("-pull"))
    assert sorted(steps) == sorted(["core-data-dirs", "core-vm-max-map-count", "inv-action-network",
                                    "couchdb-init-core-run", "couchdb-tenants-core-run",
                                    "catalog-core-run", "core-catalog-build", "edge-core-config",
                                    *pulls])
    # The edge's config is written through the pulled nginx image, before the edge starts.
    assert "--entrypoint sh -v ow-edge-config:/live sha256:" in steps["edge-core-config"]["create"]
    assert steps["edge-core-config"]["update"] == steps["edge-core-config"]["create"]
    assert steps["core-catalog-build"]["create"].startswith(
        "set -eu\nif ! docker image inspect openwhisk-pulumi/catalog:1.0.0-")
    assert pulls == [
        *(f"core-{k}-pull" for k in ("apigateway", "controller", "couchdb", "elasticsearch",
                                     "kafka", "nginx", "redis", "zookeeper")),
        "inv-invoker-pull",
        *(f"inv-runtime-openwhisk-{r}-pull" for r in (
            "action-nodejs-v18", "action-nodejs-v20", "action-python-v3.10",
            "action-python-v3.11", "dockerskeleton"))]
    assert steps["couchdb-init-core-run"]["create"] == \
        "docker start --attach couchdb-init-core-id"
    for name, inputs in steps.items():
        connection, secret = unwrap(inputs["connection"])
        assert secret is True
        address = "10.0.0.21" if name.startswith("inv-") else "10.0.0.11"
        assert (connection["host"], connection["port"], connection["user"]) == (address, 22, "ops")
        assert connection["privateKey"] == SSH_SECRETS["openwhisk:ssh_private_key"]
    assert [r["name"] for r in run.mocks.of_type(LOCAL)] == ["verify-check"]  # nothing local on ssh hosts
    prep = ["core-command", "core-data-dirs", "core-vm-max-map-count"]
    # ElasticSearch also waits for its secrets: the users file hashes the passwords, and the
    # transport TLS files.
    assert deps(run, CONTAINER, "elasticsearch-core") == sorted([
        "core-elasticsearch-pull", *prep, "elasticsearch_ca_cert", "elasticsearch_health_password",
        "elasticsearch_password", "elasticsearch_transport_cert", "elasticsearch_transport_key"])
    assert set(prep) <= set(deps(run, REMOTE, "core-couchdb-pull"))
    # The invoker host has nothing to prepare, so its containers wait only for their real inputs.
    assert not set(deps(run, CONTAINER, "invoker-0")) & set(prep)
    assert not run.mocks.of_type("docker:index/volume:Volume")


def test_no_secret_reaches_any_plain_input():
    run = run_program(SSH_STACK, SSH_SECRETS, stack="prod")
    leaks = [(r["name"], s) for r in run.mocks.resources for s in plain_strings(r["inputs"])
             if "secret-key-body" in s or "pw-" in s or "uuid-" in s]
    assert leaks == []


def test_quorum_members_roll_one_at_a_time_once_deployed():
    plain, secret = load_stack_file("prod")
    first = run_program(plain, secret, stack="prod")
    members = first.exports["quorumMembers"]
    assert members == ["elasticsearch-core-3@security", *(f"{s}-core-{i}" for s in ("etcd", "kafka", "zookeeper")
                                                  for i in (1, 2, 3))]

    keys = [m.split("@")[0] for m in members]

    def chain(run) -> dict[str, list[str]]:
        return {m: [d for d in deps(run, CONTAINER, m) if d.rsplit("-", 2)[0] == m.rsplit("-", 2)[0]
                    and d != m] for m in keys}
    # A first deploy starts the members together: a lone member never reaches its quorum.
    assert chain(first) == dict.fromkeys(keys, [])
    # Once they run, an update replaces them one at a time, each healthy before the next.
    again = run_program(plain, secret, stack="prod", deployed={"quorumMembers": members})
    assert chain(again) == {
        "elasticsearch-core-3": [], "etcd-core-1": [], "etcd-core-2": ["etcd-core-1"], "etcd-core-3": ["etcd-core-2"],
        "kafka-core-1": [], "kafka-core-2": ["kafka-core-1"], "kafka-core-3": ["kafka-core-2"],
        "zookeeper-core-1": [], "zookeeper-core-2": ["zookeeper-core-1"],
        "zookeeper-core-3": ["zookeeper-core-2"]}
    assert all(c["inputs"]["wait"] for c in again.mocks.of_type(CONTAINER)
               if c["name"] in keys)


def test_elasticsearch_nodes_from_before_security_restart_together_then_roll():
    """Nodes with and without transport TLS cannot talk: the ids of the last deployment's nodes
    lack the epoch `security`, so none counts as deployed and they restart together; once they
    carry it, they roll one at a time."""
    plain, secret = load_stack_file("prod")
    for h in plain["openwhisk:hosts"]:
        if h["name"] in ("core-1", "core-2"):
            h["roles"].append("elasticsearch")
    nodes = ["elasticsearch-core-1", "elasticsearch-core-2", "elasticsearch-core-3"]

    def chain(deployed: list[str]) -> dict[str, list[str]]:
        run = run_program(plain, secret, stack="prod", deployed={"quorumMembers": deployed})
        assert [m for m in run.exports["quorumMembers"] if m.startswith("elasticsearch")] == \
            [f"{n}@security" for n in nodes]
        return {n: [d for d in deps(run, CONTAINER, n) if d in nodes] for n in nodes}
    assert chain(nodes) == dict.fromkeys(nodes, [])
    assert chain([f"{n}@security" for n in nodes]) == {
        "elasticsearch-core-1": [], "elasticsearch-core-2": ["elasticsearch-core-1"],
        "elasticsearch-core-3": ["elasticsearch-core-2"]}
