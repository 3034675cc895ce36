"""Test hosts for the multi-host engine tier: Linux network namespaces that look like Docker hosts.

`create_hosts(["h1", "h2"], workdir=...)` gives each name a network namespace `owt-<name>` with one
address on a private test network (10.250.0.10, .11, ... by default), its own sshd (key login
only, host key pinned by the client) and its own dockerd, reachable from the root namespace only
as `ssh://root@<address>` -- the way the Pulumi docker provider and `docker -H ssh://` reach a
real remote host. `ssh_env(workdir)` is the environment under which the `docker` CLI (and any tool
that runs the system `ssh`) logs in with the generated client key and known_hosts.
`destroy_hosts(names, workdir)` removes everything again; it is idempotent and `create_hosts`
calls it first to clear what a crashed run left behind.

Layout (all traffic stays among these namespaces and loopback):
- namespace `owt-net` holds the bridge `br0`; the root namespace joins it through the veth
  `owt-br0` (10.250.0.1/24) and each host through a veth whose host end is `eth0`. The bridge
  lives in its own namespace, not in the root one, because br_netfilter is loaded here and the
  main dockerd sets the root namespace's FORWARD policy to DROP: bridged host-to-host traffic
  would be dropped there, and we may not touch the main daemon's chains. A fresh namespace has
  empty (accepting) tables.
- each host's dockerd uses its own data root (workdir/<name>/data), exec root, pid file, cgroup
  parent (/owt-<name>) and socket unix:///run/owt-<name>/docker.sock, a default bridge `owt0`
  (172.30.<i>.1/24) created in its namespace, and its own iptables (network namespaces isolate
  them), so ports publish on the host address as on a real host.
- how an ssh session finds the host's daemon: `docker system dial-stdio`, run by the remote end
  of `docker -H ssh://`, honours DOCKER_HOST, so the host's sshd_config has
  `SetEnv DOCKER_HOST=unix:///run/owt-<name>/docker.sock`; that needs no mount tricks and keeps
  working whatever happens to /run/docker.sock. In addition, dockerd and sshd of a host share
  one private mount namespace (`unshare --mount --propagation slave`) in which the
  host's socket is bind-mounted over /run/docker.sock (= /var/run/docker.sock) when that path
  exists: a plain `docker` in an ssh session then reaches the host's daemon too, and so does a
  container that bind-mounts /var/run/docker.sock (as OpenWhisk's invoker does). That mount
  is lost if the main daemon recreates its socket; SetEnv is the one to rely on.
- containers start through the runc wrapper tests/engine/dockerd.sh writes
  ($OW_ENGINE_STATE_DIR/runc-capfilter) when root lacks capabilities, as the main daemon does;
  run `tests/engine/dockerd.sh start` first (this module does not duplicate the wrapper).

Limits: root only; Linux with `ip netns`, sshd, dockerd and the docker CLI; host names must be
short (interface names are at most 15 characters); one set of hosts per subnet at a time; the
hosts share the machine's filesystem, kernel and cgroups (a container can see other hosts' files
through bind mounts), so this tests networking, SSH access and per-daemon state, not isolation.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BRIDGE_NS = "owt-net"
ROOT_VETH = "owt-br0"
STATE_DIR = Path(os.environ.get("OW_ENGINE_STATE_DIR", "/var/run/openwhisk-engine-tier"))
RUNC_WRAPPER = STATE_DIR / "runc-capfilter"
DOCKER = shutil.which("docker") or "/usr/bin/docker"
SSH = shutil.which("ssh") or "/usr/bin/ssh"


@dataclass(frozen=True)
class TestHost:
    __test__ = False  # not a pytest test class

    name: str
    address: str
    index: int
    host_key: str  # "ssh-ed25519 AAAA..."
    ssh_port: int = 22

    @property
    def netns(self) -> str:
        return netns_name(self.name)

    @property
    def docker_host(self) -> str:
        return f"ssh://root@{self.address}"

    @property
    def socket(self) -> str:
        """The daemon's socket, for loading images and cleanup: tests reach the host over SSH."""
        return f"unix://{run_dir(self.name)}/docker.sock"


def netns_name(name: str) -> str:
    return f"owt-{name}"


def run_dir(name: str) -> Path:
    return Path(f"/run/owt-{name}")


def _run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _caps_missing() -> bool:
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    bnd = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd:"))
    return int(bnd, 16) != (1 << (last + 1)) - 1


def ssh_env(workdir: Path, base: dict | None = None) -> dict:
    """Environment for `docker -H ssh://root@<address>` (and plain `ssh <address>`): OpenSSH
    takes ~/.ssh from the passwd entry, not $HOME, so an `ssh` wrapper first on PATH adds
    `-F workdir/ssh_config` (client key, pinned known_hosts, StrictHostKeyChecking yes)."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(workdir) / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CONTEXT", None)
    return env


def _write_client(workdir: Path, hosts: list[TestHost]) -> None:
    (workdir / "known_hosts").write_text("".join(f"{h.address} {h.host_key}\n" for h in hosts))
    (workdir / "ssh_config").write_text(
        f"Host {' '.join(h.address for h in hosts)}\n"
        "  User root\n"
        f"  IdentityFile {workdir / 'id_ed25519'}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {workdir / 'known_hosts'}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
        "  ConnectTimeout 10\n"
        "  LogLevel ERROR\n")
    wrapper = workdir / "bin" / "ssh"
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec {SSH} -F {workdir / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)


def _dockerd(host_dir: Path, name: str) -> str:
    """The lines that start a host's dockerd in its namespace and wait for its socket."""
    rd = run_dir(name)
    flags = [
        f"-H unix://{rd}/docker.sock", f"--data-root {host_dir / 'data'}",
        f"--exec-root {rd}/exec", f"--pidfile {rd}/dockerd.pid", f"--cgroup-parent /owt-{name}",
        "--bridge owt0", "--log-level warn", "--shutdown-timeout 3",
        # Not the machine's /etc/docker: its key.json gives the daemon ID, its daemon.json options.
        f"--config-file {host_dir / 'daemon.json'}"]
    if _caps_missing():
        if not RUNC_WRAPPER.exists():
            raise RuntimeError(f"{RUNC_WRAPPER} missing: run tests/engine/dockerd.sh start first "
                               "(root lacks capabilities and containers need its runc wrapper)")
        flags += [f"--add-runtime owtest-runc={RUNC_WRAPPER}", "--default-runtime owtest-runc"]
    return f"""rm -f {rd}/docker.sock
dockerd {' '.join(flags)} >>{host_dir}/dockerd.log 2>&1 </dev/null &
pid=$! i=0
until [ -S {rd}/docker.sock ]; do
    i=$((i + 1)); [ $i -lt 300 ] && kill -0 $pid || {{ echo "dockerd did not start" >&2; exit 1; }}
    sleep 0.1
done
"""


def _launcher(host_dir: Path, name: str, index: int, address: str) -> str:
    """The script run inside the host's namespace: dockerd, then the socket mount, then sshd."""
    rd = run_dir(name)
    return f"""set -eu
hostname {name}
ip link add owt0 type bridge
# A fixed MAC: a bridge without one takes the lowest of its ports', so it changes as containers
# come and go and the other containers' ARP entries for the gateway go stale for seconds.
ip link set owt0 address 02:42:ac:1e:{index:02x}:01
ip addr add 172.30.{index}.1/24 dev owt0
ip link set owt0 up
{_dockerd(host_dir, name)}if [ -e /run/docker.sock ]; then mount --bind {rd}/docker.sock /run/docker.sock; fi
# sshd refuses to start without its privilege separation directory, which only its service
# unit creates (a machine where openssh-server was just installed without systemd has none).
mkdir -p /run/sshd
exec /usr/sbin/sshd -f {host_dir}/sshd_config -E {host_dir}/sshd.log
"""


def restart_dockerd(host: TestHost, workdir: Path) -> None:
    """Restarts a host's dockerd as `systemctl restart docker` would: SIGTERM, wait for it to
    exit, start it again in the host's namespaces (those of its sshd). Containers with a restart
    policy start again; the socket mount is renewed (the daemon made a new socket)."""
    host_dir, rd = Path(workdir) / host.name, run_dir(host.name)
    pid = _pid(rd / "dockerd.pid")
    if pid:
        _stop([pid], signal.SIGTERM, 30)
    sshd = _pid(host_dir / "sshd.pid")
    assert sshd, f"{host.name}: sshd is not running"
    script = f"""set -eu
{_dockerd(host_dir, host.name)}if grep -q ' /run/docker.sock ' /proc/self/mountinfo; then
  umount /run/docker.sock && mount --bind {rd}/docker.sock /run/docker.sock
fi
"""
    _run("nsenter", "-t", str(sshd), "--net", "--mount", "--uts", "sh", "-c", script, timeout=60)


def create_hosts(names: list[str], subnet: str = "10.250.0.0/24", *, workdir: Path) -> list[TestHost]:
    """The hosts, each with its sshd and dockerd answering; if any fails to start, whatever was
    started (daemons, namespaces, the network) is removed before the error propagates."""
    workdir = Path(workdir)
    destroy_hosts(names, workdir)
    try:
        return _create_hosts(names, subnet, workdir)
    except BaseException:
        destroy_hosts(names, workdir)
        raise


def _create_hosts(names: list[str], subnet: str, workdir: Path) -> list[TestHost]:
    net = ipaddress.ip_network(subnet)
    gateway = net.network_address + 1
    workdir.mkdir(parents=True, exist_ok=True)
    key = workdir / "id_ed25519"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "owt-client", "-f", str(key))
    _run("ip", "netns", "add", BRIDGE_NS)
    _run("ip", "-n", BRIDGE_NS, "link", "set", "lo", "up")
    _run("ip", "-n", BRIDGE_NS, "link", "add", "br0", "type", "bridge")
    _run("ip", "-n", BRIDGE_NS, "link", "set", "br0", "up")
    _run("ip", "link", "add", ROOT_VETH, "type", "veth", "peer", "name", "uplink", "netns", BRIDGE_NS)
    _run("ip", "-n", BRIDGE_NS, "link", "set", "uplink", "master", "br0", "up")
    _run("ip", "addr", "add", f"{gateway}/{net.prefixlen}", "dev", ROOT_VETH)
    _run("ip", "link", "set", ROOT_VETH, "up")

    hosts = []
    for i, name in enumerate(names):
        ns, address = netns_name(name), str(net.network_address + 10 + i)
        host_dir, rd = workdir / name, run_dir(name)
        host_dir.mkdir()
        rd.mkdir(parents=True)
        _run("ip", "netns", "add", ns)
        _run("ip", "-n", BRIDGE_NS, "link", "add", f"v-{name}", "type", "veth",
             "peer", "name", "eth0", "netns", ns)
        _run("ip", "-n", BRIDGE_NS, "link", "set", f"v-{name}", "master", "br0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "addr", "add", f"{address}/{net.prefixlen}", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", str(gateway))
        hostkey = host_dir / "ssh_host_ed25519_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(hostkey))
        (host_dir / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
        (host_dir / "sshd_config").write_text(
            f"ListenAddress {address}\nPort 22\nHostKey {hostkey}\nPidFile {host_dir}/sshd.pid\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n"
            f"AuthorizedKeysFile {host_dir}/authorized_keys\nStrictModes no\n"
            # The host's own docker CLI config (registry logins): the hosts share one filesystem.
            f"SetEnv DOCKER_HOST=unix://{rd}/docker.sock DOCKER_CONFIG={rd}/docker-config\n")
        (host_dir / "daemon.json").write_text(f'{{"deprecated-key-path": "{host_dir}/key.json"}}\n')
        (host_dir / "launch.sh").write_text(_launcher(host_dir, name, i, address))
        # Not `ip netns exec`: it remounts /sys, which hides the cgroup mounts dockerd needs.
        _run("nsenter", f"--net=/run/netns/{ns}", "unshare", "--mount", "--uts", "--propagation", "slave",
             "sh", str(host_dir / "launch.sh"), timeout=60)
        pub = hostkey.with_suffix(".pub").read_text().split()
        hosts.append(TestHost(name, address, i, f"{pub[0]} {pub[1]}"))
    _write_client(workdir, hosts)
    env = ssh_env(workdir)
    for h in hosts:  # ready when the daemon answers over SSH
        deadline = time.monotonic() + 60
        while _run(DOCKER, "-H", h.docker_host, "info", "--format", "{{.ID}}", check=False,
                   env=env, timeout=30).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {h.name}: docker over SSH does not answer; see "
                                   f"{workdir / h.name}/dockerd.log and sshd.log")
            time.sleep(0.5)
    return hosts


def leftovers(names: list[str], workdir: Path) -> list[str]:
    """What of the hosts `names` is still there: namespaces, the test network, directories,
    cgroups and processes (none after destroy_hosts)."""
    netns = _run("ip", "netns", "list").stdout.split()
    left = [ns for ns in netns if ns in [BRIDGE_NS] + [netns_name(n) for n in names]]
    left += [line for line in _run("ip", "-o", "link").stdout.splitlines() if ROOT_VETH in line]
    left += [str(p) for n in names for p in (Path(workdir) / n, run_dir(n)) if p.exists()]
    left += [str(p) for n in names for p in Path("/sys/fs/cgroup").glob(f"*/owt-{n}")]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(workdir) in args or any(f"/run/owt-{n}/" in args for n in names):
            left.append(f"process {pid}: {args}")
    return left


def load_image(host: TestHost, ref: str, workdir: Path) -> None:
    """Copy image `ref` from the main daemon (/var/run/docker.sock) into `host`'s daemon, over SSH."""
    _load(host, [ref], host.docker_host, ssh_env(workdir))


def load_images(host: TestHost, refs: list[str]) -> None:
    """Copy images from the main daemon into `host`'s daemon in one archive (shared layers once),
    straight to the host's socket: the way a machine image would hold them, not a test of SSH."""
    _load(host, refs, host.socket, dict(os.environ))


def _load(host: TestHost, refs: list[str], endpoint: str, env: dict) -> None:
    main_env = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}
    save = subprocess.Popen([DOCKER, "save", *refs], stdout=subprocess.PIPE, env=main_env)
    load = subprocess.run([DOCKER, "-H", endpoint, "load", "-q"], stdin=save.stdout,
                          capture_output=True, text=True, env=env, timeout=600)
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise RuntimeError(f"loading {refs} into {host.name} failed: {load.stderr.strip()}")


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except (OSError, IndexError):
        return False


def _cgroup_dirs(name: str) -> list[Path]:
    """This host's cgroups in every v1 hierarchy, deepest first."""
    found = [d for top in Path("/sys/fs/cgroup").glob(f"*/owt-{name}") for d in top.rglob("*")
             if d.is_dir()] + list(Path("/sys/fs/cgroup").glob(f"*/owt-{name}"))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _host_pids(name: str) -> set[int]:
    """Processes of a host: those in its network namespace and those in its cgroups (containers
    with their own network namespace)."""
    pids = set()
    proc = _run("ip", "netns", "pids", netns_name(name), check=False)
    pids.update(int(p) for p in proc.stdout.split() if proc.returncode == 0)
    for d in _cgroup_dirs(name):
        try:
            pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        except OSError:
            pass
    return {p for p in pids if p != os.getpid()}


def _stop(pids, sig, wait: float) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    deadline = time.monotonic() + wait
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def destroy_hosts(hosts: list, workdir: Path) -> None:
    """Stop each host's containers, dockerd and sshd, delete its namespace, cgroups and state,
    then the test network. `hosts` are TestHosts or names. Idempotent."""
    workdir = Path(workdir)
    for h in hosts:
        name = h.name if isinstance(h, TestHost) else h
        host_dir, rd = workdir / name, run_dir(name)
        sock = rd / "docker.sock"
        if sock.exists():  # stop the containers while the daemon can still do it cleanly
            env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
            ids = _run(DOCKER, "ps", "-aq", check=False, env=env, timeout=20).stdout.split()
            if ids:
                _run(DOCKER, "rm", "-f", *ids, check=False, env=env, timeout=60)
        daemons = [p for p in (_pid(host_dir / "sshd.pid"), _pid(rd / "dockerd.pid")) if p]
        _stop([p for p in daemons if _alive(p)], signal.SIGTERM, 15)
        for _ in range(3):
            left = [p for p in _host_pids(name) if _alive(p)]
            if not left:
                break
            _stop(left, signal.SIGKILL, 5)
        for d in _cgroup_dirs(name):
            try:
                d.rmdir()
            except OSError:
                pass
        _run("ip", "netns", "del", netns_name(name), check=False)
        for base in (host_dir, rd):  # lazily unmount anything a run left mounted (should be none)
            for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
                point = line.split()[4]
                if point == str(base) or point.startswith(f"{base}/"):
                    _run("umount", "-l", point, check=False)
            shutil.rmtree(base, ignore_errors=True)
    _run("ip", "netns", "del", BRIDGE_NS, check=False)  # takes the bridge and every veth along
    _run("ip", "link", "del", ROOT_VETH, check=False)
    for f in ("id_ed25519", "id_ed25519.pub", "known_hosts", "ssh_config", "bin/ssh"):
        (workdir / f).unlink(missing_ok=True)
    if (workdir / "bin").is_dir() and not any((workdir / "bin").iterdir()):
        (workdir / "bin").rmdir()
