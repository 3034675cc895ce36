"""Component tests for reaching hosts: ssh on DockerHost."""

from __future__ import annotations

import json

from components import DockerHost, DockerHostArgs
from planner.model import HostPlan, Secret, SshTarget
from tests.conftest import run_pulumi

SSH = SshTarget("ops", "10.0.0.5", 2222, Secret.of("ssh_private_key"))
OPTS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222", "-o", "ProxyJump=bastion")
SSH_HOST = HostPlan("h1", "10.0.0.5", "ssh://ops@10.0.0.5:2222", ("kafka",), ssh=SSH, ssh_opts=OPTS)
LOCAL_HOST = HostPlan("dev", "172.17.0.1", "unix:///var/run/docker.sock", ("kafka",))
IMAGES = {"kafka": "wurstmeister/kafka:2.13-2.7.0"}


def test_docker_host_over_ssh_gets_the_planned_ssh_options():
    run = run_pulumi(lambda: DockerHost("h1", DockerHostArgs(host=SSH_HOST, images=IMAGES)))
    provider = run.mocks.named("h1-docker", "pulumi:providers:docker")["inputs"]
    assert provider["host"] == "ssh://ops@10.0.0.5:2222"
    # Provider inputs arrive as JSON strings on the wire.
    assert json.loads(provider["sshOpts"]) == list(OPTS)


def test_docker_host_on_the_local_socket_has_no_ssh_options():
    run = run_pulumi(lambda: DockerHost("dev", DockerHostArgs(host=LOCAL_HOST, images=IMAGES)))
    assert run.mocks.named("dev-docker", "pulumi:providers:docker")["inputs"] == {
        "host": "unix:///var/run/docker.sock"}
