"""A script run on a Docker host: over ssh for ssh hosts, locally for hosts whose socket is local.

Shared by HostPrep (preparation steps) and DockerService (one-shot steps). The command resource
fails when the script exits non-zero, is then not recorded, and runs again on the next update.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_command import local, remote

from components._values import resolve
from planner.model import HostPlan


def host_command(name: str, host: HostPlan, secrets: Mapping[str, pulumi.Output[str]], *,
                 script: pulumi.Input[str], update: bool = False,
                 stdin: pulumi.Input[str] | None = None,
                 triggers: list[pulumi.Input[str]] | None = None,
                 delete: str | None = None, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """`update`: run the script again as an update when it changes (else only on create);
    `triggers`: values whose change replaces the command, which runs it again."""
    again = script if update else None
    if host.ssh is None:
        return local.Command(name, create=script, update=again, delete=delete, stdin=stdin,
                             triggers=triggers, opts=opts)
    ssh = host.ssh
    connection = remote.ConnectionArgs(
        host=ssh.host, port=ssh.port, user=ssh.user,
        private_key=resolve(ssh.private_key, secrets), host_key=ssh.host_key)
    return remote.Command(name, connection=connection, create=script, update=again, delete=delete,
                          stdin=stdin, triggers=triggers, opts=opts)
