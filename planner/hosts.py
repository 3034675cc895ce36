"""Per-host planning: how each host is reached and how it is prepared. Pure, no Pulumi.

`prep_steps` is the one place that decides which preparation steps a host gets and in which
order. To add a step, write a function `(HostContext) -> PrepStep | None` and list it in
`PREP_STEPS`; the components run every step in that order, before any image pull or container
on the host. Steps must be idempotent POSIX sh scripts, because a changed script runs again on
a host that already ran the old one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from config import Host, StackConfig, docker_endpoint
from planner import firewall
from planner.model import (
    Container, Mount, PrepStep, RegistryPlan, Secret, Service, SshTarget, VolumePlan, docker_cli,
)

ES_MAX_MAP_COUNT = 262144
SYSCTL_CONF = "/etc/sysctl.d/99-openwhisk.conf"
_SSH_ENDPOINT = re.compile(r"ssh://(?P<user>[^@]+)@(?P<host>[^:]+)(:(?P<port>\d+))?")


def ssh_endpoint(endpoint: str) -> tuple[str, str, int] | None:
    """(user, host, port) of an `ssh://user@host[:port]` Docker endpoint, else None."""
    match = _SSH_ENDPOINT.fullmatch(endpoint)
    return (match["user"], match["host"], int(match["port"] or 22)) if match else None


def ssh_target(host: Host, cfg: StackConfig) -> SshTarget | None:
    """Login of a host reached over ssh (from its endpoint, derived or explicit), else None."""
    login = ssh_endpoint(docker_endpoint(host, cfg.ssh))
    if login is None:
        return None
    return SshTarget(*login, Secret.of("ssh_private_key"), host.ssh_host_key)


#: The docker provider's ssh client options after `ssh.options` (ssh takes the first value of an
#: option, so `ssh.options` can override them):
#: - connection multiplexing: the provider opens one ssh process per concurrent Docker API call,
#:   and a burst of new connections to one host exceeds sshd's default MaxStartups (10:30:100),
#:   which drops them. With a master connection per host and user (kept 60 s after its last
#:   session) those calls become sessions on it (up to sshd's MaxSessions, 10 by default, at once;
#:   beyond that ssh opens a connection of its own);
#: - keepalives: a master whose host became unreachable would otherwise hang every session on it
#:   forever; with them it gives up after 15 s and the update fails, naming the resource and host.
SSH_DEFAULTS = ("ControlMaster=auto", "ControlPath=~/.ssh/openwhisk-%C", "ControlPersist=60",
                "ServerAliveInterval=5", "ServerAliveCountMax=3")


def ssh_opts(port: int | None, cfg: StackConfig) -> tuple[str, ...]:
    """Arguments of the docker provider's ssh client for an ssh endpoint on `port` (None: not
    over ssh): never prompt, give up on a dead host, multiplex connections (SSH_DEFAULTS)."""
    if port is None:
        return ()
    opts = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", str(port))
    for option in (*(cfg.ssh.options if cfg.ssh else ()), *SSH_DEFAULTS):
        opts += ("-o", option)
    return opts


def bind_data_dirs(service: Service, data_dir: str) -> Service:
    """The service with each data volume replaced by the bind mount `<data_dir>/<volume name>`."""
    paths = {v.key: f"{data_dir}/{v.name}" for v in service.volumes}

    def rebind(m: Mount) -> Mount:
        return Mount(m.target, host_path=paths[m.volume], read_only=m.read_only, data=True) \
            if m.volume else m
    containers = tuple(replace(c, mounts=tuple(rebind(m) for m in c.mounts))
                       for c in service.containers)
    return replace(service, containers=containers, volumes=())


@dataclass(frozen=True)
class HostContext:
    """What a preparation step may look at: the config and what the plan puts on this host."""

    cfg: StackConfig
    host: Host
    containers: tuple[Container, ...]
    volumes: tuple[VolumePlan, ...]
    """The host's data volumes, as planned before any became a bind mount."""
    registry: RegistryPlan | None = None
    """The private registry the host pulls from, if any."""
    api: tuple[tuple[str, int], ...] = ()
    """(address, port)s an action may always reach: the API's HTTPS endpoint(s) and the API
    gateway's management port."""

    @property
    def docker_cli(self) -> str:
        """The docker CLI as the host's steps run it (HostPlan.docker_cli)."""
        return docker_cli(ssh_target(self.host, self.cfg) is not None,
                          docker_endpoint(self.host, self.cfg.ssh))

    @property
    def sudo(self) -> str:
        """Prefix of privileged commands: `sudo -n ` unless ssh.sudo is false."""
        return "" if self.cfg.ssh is not None and not self.cfg.ssh.sudo else "sudo -n "


def _max_map_count(ctx: HostContext) -> PrepStep | None:
    if not any(c.service == "elasticsearch" for c in ctx.containers):
        return None
    n, sudo = ES_MAX_MAP_COUNT, ctx.sudo
    # Only ever raised: a host already at or above the minimum (several distributions ship
    # 1048576) keeps the value its administrator chose.
    return PrepStep("vm-max-map-count", f"""set -eu
if [ "$(cat /proc/sys/vm/max_map_count)" -lt {n} ]; then
  {sudo}sysctl -q -w vm.max_map_count={n}
  echo 'vm.max_map_count = {n}' | {sudo}tee {SYSCTL_CONF} >/dev/null
fi
""")


def _data_dirs(ctx: HostContext) -> PrepStep | None:
    data_dir = ctx.cfg.storage.data_dir
    if data_dir is None or not ctx.volumes:
        return None
    # install -d creates missing parents and sets owner and mode of the directory itself only,
    # so existing data is never re-owned file by file.
    lines = [f"{ctx.sudo}install -d -o {v.owner[0]} -g {v.owner[1]} -m 0750 {data_dir}/{v.name}"
             for v in ctx.volumes]
    return PrepStep("data-dirs", "set -eu\n" + "\n".join(lines) + "\n")


def _action_network(ctx: HostContext) -> PrepStep | None:
    if ctx.cfg.container_factory != "docker" or not any(c.service == "invoker"
                                                        for c in ctx.containers):
        return None
    net = ctx.cfg.invoker.action_network
    hosts = tuple(sorted({h.address for h in ctx.cfg.hosts}))
    text = firewall.loader(hosts, ctx.api, egress=net.egress, blocked=net.blocked_cidrs,
                           allowed=net.allowed_cidrs)
    return PrepStep("action-network", firewall.install_script(ctx.docker_cli, text),
                    delete=firewall.remove_script(ctx.docker_cli))


def _registry_ca(ctx: HostContext) -> PrepStep | None:
    reg = ctx.registry
    if reg is None or reg.ca_cert is None:
        return None
    # The daemon reads certs.d on every pull, so no restart is needed.
    path = f"/etc/docker/certs.d/{reg.address}"
    return PrepStep("registry-ca", f"""set -eu
{ctx.sudo}install -d -m 0755 {path}
{ctx.sudo}tee {path}/ca.crt >/dev/null
""", stdin=reg.ca_cert)


def registry_login(docker: str, reg: RegistryPlan) -> PrepStep:
    """Logs `docker` in to the registry: image pulls and mirror pushes use this login, so no
    provider holds the registry's credentials. The password comes on stdin."""
    return PrepStep("docker-login", f"""set -eu
{docker} login {reg.address} --username {reg.username} --password-stdin >/dev/null
""", stdin=Secret.of("registry_password"))


def _registry_login(ctx: HostContext) -> PrepStep | None:
    return None if ctx.registry is None else registry_login("docker", ctx.registry)


#: Preparation steps in the order they run; each returns None where the host does not need it.
PREP_STEPS: tuple[Callable[[HostContext], PrepStep | None], ...] = (
    _max_map_count, _data_dirs, _registry_ca, _action_network)
#: Steps that need the registry running, so they run after it rather than before the containers.
LOGIN_STEPS: tuple[Callable[[HostContext], PrepStep | None], ...] = (_registry_login,)


def prep_steps(ctx: HostContext, makers=PREP_STEPS) -> tuple[PrepStep, ...]:
    """The preparation steps of one host, in order (see the module docstring to add one)."""
    steps = tuple(s for s in (make(ctx) for make in makers) if s is not None)
    names = [s.name for s in steps]
    assert len(set(names)) == len(names), f"duplicate prep step names on {ctx.host.name}: {names}"
    return steps
