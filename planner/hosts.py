"""Per-host planning: how each host is reached (Docker endpoint, ssh login). Pure, no Pulumi."""

from __future__ import annotations

import re

from config import Host, StackConfig, docker_endpoint
from planner.model import Secret, SshTarget

_SSH_ENDPOINT = re.compile(r"ssh://(?P<user>[^@]+)@(?P<host>[^:]+)(:(?P<port>\d+))?")


def ssh_target(host: Host, cfg: StackConfig) -> SshTarget | None:
    """Login of a host reached over ssh (from its endpoint, derived or explicit), else None."""
    match = _SSH_ENDPOINT.fullmatch(docker_endpoint(host, cfg.ssh))
    if not match:
        return None
    return SshTarget(match["user"], match["host"], int(match["port"] or 22),
                     Secret.of("ssh_private_key"))


def ssh_opts(target: SshTarget | None, cfg: StackConfig) -> tuple[str, ...]:
    """Arguments of the docker provider's ssh client: never prompt, give up on a dead host."""
    if target is None:
        return ()
    opts = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", str(target.port))
    for option in cfg.ssh.options if cfg.ssh else ():
        opts += ("-o", option)
    return opts
