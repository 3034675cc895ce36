"""Component tests for reaching and preparing hosts (HostPrep, ssh on DockerHost) and Verification."""

from __future__ import annotations

from dataclasses import replace

import json

import pulumi

from components import (
    DockerHost, DockerHostArgs, DockerService, DockerServiceArgs, HostPrep, HostPrepArgs,
    Verification, VerificationArgs,
)
from planner.model import (
    Container, HostPlan, Mount, PrepStep, Secret, Service, SshTarget, VerifyPlan,
)
from tests.conftest import SECRET_SIG, run_pulumi, unwrap

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
REMOTE = "command:remote:Command"
LOCAL = "command:local:Command"
PREP = "openwhisk:components:HostPrep"

SSH = SshTarget("ops", "10.0.0.5", 2222, Secret.of("ssh_private_key"))
OPTS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222", "-o", "ProxyJump=bastion")
STEPS = (PrepStep("vm-max-map-count", "set -eu\necho one\n"),
         PrepStep("data-dirs", "set -eu\necho two\n"),
         PrepStep("login", "set -eu\ncat >/dev/null\n", stdin=Secret("pw=${registry_password}")))
SSH_HOST = HostPlan("h1", "10.0.0.5", "ssh://ops@10.0.0.5:2222", ssh=SSH, ssh_opts=OPTS,
                    prep=STEPS)
LOCAL_HOST = HostPlan("dev", "172.17.0.1", "unix:///var/run/docker.sock",
                      prep=STEPS[:2])
IMAGES = {"kafka": "wurstmeister/kafka:2.13-2.7.0"}
SECRETS = {"ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "registry_password": "r3g"}


def secrets() -> dict[str, pulumi.Output[str]]:
    return {k: pulumi.Output.secret(v) for k, v in SECRETS.items()}


def deps(run, typ: str, name: str) -> list[str]:
    return sorted(d.split("::")[-1] for d in run.monitor.opts(typ, name)["dependencies"])


def test_host_prep_over_ssh_uses_the_secret_key_and_runs_steps_in_order():
    run = run_pulumi(lambda: HostPrep("h1", HostPrepArgs(host=SSH_HOST, secrets=secrets())))
    commands = {r["name"]: r["inputs"] for r in run.mocks.of_type(REMOTE)}
    assert list(commands) == ["h1-vm-max-map-count", "h1-data-dirs", "h1-login"]
    assert not run.mocks.of_type(LOCAL)
    for name, step in zip(commands, STEPS):
        inputs = commands[name]
        connection, secret = unwrap(inputs["connection"])
        assert secret is True
        assert {k: connection[k] for k in ("host", "port", "user", "privateKey")} == {
            "host": "10.0.0.5", "port": 2222, "user": "ops", "privateKey": SECRETS["ssh_private_key"]}
        # A changed script is an update that runs it again; nothing is replaced or run on delete.
        assert (inputs["create"], inputs["update"]) == (step.script, step.script)
        assert "triggers" not in inputs and "delete" not in inputs
    assert "stdin" not in commands["h1-vm-max-map-count"]
    assert unwrap(commands["h1-login"]["stdin"]) == ("pw=r3g", True)
    assert deps(run, REMOTE, "h1-vm-max-map-count") == []
    assert deps(run, REMOTE, "h1-data-dirs") == ["h1-vm-max-map-count"]
    assert deps(run, REMOTE, "h1-login") == ["h1-data-dirs"]
    for name in commands:
        opts = run.monitor.opts(REMOTE, name)
        assert opts["provider"].split("::")[2:4] == [
            f"{PREP}$pulumi:providers:command", "h1-command"]
        assert opts["parent"].endswith(f"{PREP}::h1")


def test_host_prep_of_a_local_host_runs_local_commands():
    run = run_pulumi(lambda: HostPrep("dev", HostPrepArgs(host=LOCAL_HOST, secrets=secrets())))
    assert not run.mocks.of_type(REMOTE)
    assert {r["name"]: r["inputs"] for r in run.mocks.of_type(LOCAL)} == {
        "dev-vm-max-map-count": {"create": STEPS[0].script, "update": STEPS[0].script},
        "dev-data-dirs": {"create": STEPS[1].script, "update": STEPS[1].script},
    }


def test_docker_host_over_ssh_gets_the_planned_ssh_options():
    run = run_pulumi(lambda: DockerHost("h1", DockerHostArgs(host=SSH_HOST)))
    provider = run.mocks.named("h1-docker", "pulumi:providers:docker")["inputs"]
    assert provider["host"] == "ssh://ops@10.0.0.5:2222"
    # Provider inputs arrive as JSON strings on the wire.
    assert json.loads(provider["sshOpts"]) == list(OPTS)
    assert SECRETS["ssh_private_key"] not in json.dumps(run.mocks.resources)


def test_docker_host_on_the_local_socket_has_no_ssh_options():
    run = run_pulumi(lambda: DockerHost("dev", DockerHostArgs(host=LOCAL_HOST)))
    assert run.mocks.named("dev-docker", "pulumi:providers:docker")["inputs"] == {
        "host": "unix:///var/run/docker.sock"}


KAFKA = Service("kafka", (
    Container(key="kafka-h1", service="kafka", host="h1", name="ow-kafka", image="kafka",
              mounts=(Mount("/kafka", host_path="/srv/ow/ow-kafka-data"),)),
    Container(key="kafka-init-h1", service="kafka", host="h1", name="ow-kafka-init", image="kafka",
              one_shot=True, depends_on=("kafka-h1",)),
))


def test_image_pulls_and_containers_wait_for_the_host_prep():
    def declare():
        values = secrets()
        prep = HostPrep("h1", HostPrepArgs(host=SSH_HOST, secrets=values))
        host = DockerHost("h1", DockerHostArgs(host=SSH_HOST, ready=prep))
        DockerService("kafka", DockerServiceArgs(service=KAFKA, hosts={"h1": host}, images=IMAGES,
                                                 secrets=values, after={}))
    run = run_pulumi(declare)
    steps = ["h1-command", "h1-data-dirs", "h1-login", "h1-vm-max-map-count"]  # all of HostPrep
    # An ssh host pulls with a command on the host (no login here: no registry).
    assert deps(run, REMOTE, "h1-kafka-pull") == steps
    assert deps(run, CONTAINER, "kafka-h1") == sorted(["h1-kafka-pull", *steps])
    assert deps(run, CONTAINER, "kafka-init-h1") == sorted(["h1-kafka-pull", "kafka-h1", *steps])
    assert run.mocks.named("kafka-h1", CONTAINER)["inputs"]["volumes"] == [
        {"containerPath": "/kafka", "hostPath": "/srv/ow/ow-kafka-data"}]


def test_without_prep_nothing_extra_is_waited_for():
    def declare():
        host = DockerHost("h1", DockerHostArgs(host=SSH_HOST))
        DockerService("kafka", DockerServiceArgs(service=KAFKA, hosts={"h1": host}, images=IMAGES,
                                                 secrets=secrets(), after={}))
    run = run_pulumi(declare)
    assert deps(run, REMOTE, "h1-kafka-pull") == []
    assert deps(run, CONTAINER, "kafka-h1") == ["h1-kafka-pull"]


VERIFY = VerifyPlan("python3 components/assets/verify.py", (
    ("OW_VERIFY_API_HOST", "https://10.0.0.5"),
    ("OW_VERIFY_AUTH", Secret.of("guest_auth")),
    ("OW_VERIFY_TIMEOUT_S", "600"),
))


def test_verification_runs_after_every_container_with_the_key_as_a_secret():
    def declare():
        values = secrets() | {"guest_auth": pulumi.Output.secret("uuid:key")}
        host = DockerHost("h1", DockerHostArgs(host=SSH_HOST))
        svc = DockerService("kafka", DockerServiceArgs(service=KAFKA, hosts={"h1": host}, images=IMAGES,
                                                       secrets=values, after={}))
        Verification("verify", VerificationArgs(plan=VERIFY, secrets=values, containers=svc.ready))
    run = run_pulumi(declare)
    check = run.mocks.named("verify-check", LOCAL)["inputs"]
    assert (check["create"], check["update"]) == ("python3 components/assets/verify.py",) * 2
    assert "dir" not in check and "delete" not in check
    env, secret = unwrap(check["environment"])
    assert secret is True
    assert env == {"OW_VERIFY_API_HOST": "https://10.0.0.5", "OW_VERIFY_AUTH": "uuid:key",
                   "OW_VERIFY_TIMEOUT_S": "600"}
    # Replacing any container changes its ID (a one-shot step's: its command's), which replaces
    # this command: the check runs again.
    assert check["triggers"] == ["kafka-h1-id", "kafka-init-h1-run-id"]
    assert deps(run, LOCAL, "verify-check") == ["kafka-h1", "kafka-init-h1-run"]
    opts = run.monitor.opts(LOCAL, "verify-check")
    assert opts["provider"].split("::")[3] == "verify-command"
    assert opts["parent"].endswith("openwhisk:components:Verification::verify")


def test_verification_environment_is_secret_only_because_of_the_key():
    plain = VerifyPlan("python3 components/assets/verify.py", (("OW_VERIFY_TIMEOUT_S", "60"),))
    run = run_pulumi(lambda: Verification("verify", VerificationArgs(
        plan=plain, secrets={}, containers={})))
    env = run.mocks.named("verify-check", LOCAL)["inputs"]["environment"]
    assert env == {"OW_VERIFY_TIMEOUT_S": "60"} and SECRET_SIG not in env


def test_host_prep_pins_the_host_key_when_planned():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQb7ojdtGMRnTmYzIr0ZoUAEAONBgNpgy+f6MN5VKc2"
    pinned = HostPlan("h1", "10.0.0.5", "ssh://ops@10.0.0.5:2222", ssh=replace(SSH, host_key=key),
                      prep=SSH_HOST.prep)
    run = run_pulumi(lambda: HostPrep("h1", HostPrepArgs(host=pinned, secrets=secrets())))
    for r in run.mocks.of_type(REMOTE):
        assert unwrap(r["inputs"]["connection"])[0]["hostKey"] == key
    unpinned = run_pulumi(lambda: HostPrep("h1", HostPrepArgs(host=SSH_HOST, secrets=secrets())))
    assert all("hostKey" not in unwrap(r["inputs"]["connection"])[0]
               for r in unpinned.mocks.of_type(REMOTE))


def test_a_step_with_a_delete_script_is_removed_before_its_replacement_is_made():
    """A replaced step (a new host key changes every step's connection) must not run the old
    step's delete after the new one installed: that would undo the install."""
    firewall = PrepStep("action-network", "set -eu\necho up\n", delete="set -eu\necho down\n")
    host = HostPlan("h1", "10.0.0.5", "ssh://ops@10.0.0.5:2222", ssh=SSH, ssh_opts=OPTS,
                    prep=(STEPS[0], firewall))
    run = run_pulumi(lambda: HostPrep("h1", HostPrepArgs(host=host, secrets=secrets())))
    assert run.mocks.named("h1-action-network", REMOTE)["inputs"]["delete"] == firewall.delete
    assert {n: run.monitor.opts(REMOTE, n)["delete_before_replace"]
            for n in ("h1-vm-max-map-count", "h1-action-network")} == {
        "h1-vm-max-map-count": False, "h1-action-network": True}
