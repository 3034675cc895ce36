"""The test hosts of the multi-host engine tier (tests/engine/hosts.py): two network-namespace hosts,
each reached only over SSH with its own sshd and dockerd, and leaving nothing behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.engine import hosts as H

TINY = "owt/tiny:1"
MAIN = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}
NAMES = ["owth1", "owth2"]


def run(*cmd, env=None, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def lab(host_tools: None):
    workdir = Path(tempfile.mkdtemp(prefix="owt-hosts-"))
    hosts = H.create_hosts(NAMES, workdir=workdir)
    yield hosts, workdir, H.ssh_env(workdir)
    H.destroy_hosts(hosts, workdir)
    leftovers = H.leftovers(NAMES, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    assert not leftovers, f"teardown left: {leftovers}"


def test_ssh_login_with_pinned_host_key(lab):
    hosts, workdir, env = lab
    for h in hosts:
        out = run("ssh", h.address, "hostname; echo $DOCKER_HOST", env=env).stdout.split()
        assert out == [h.name, f"unix:///run/owt-{h.name}/docker.sock"]
    known = (workdir / "known_hosts").read_text()
    assert all(f"{h.address} {h.host_key}" in known and h.host_key.startswith("ssh-ed25519 AAAA")
               for h in hosts)
    # The pinned key is checked: with another host's key on file the login is refused.
    wrong = workdir / "wrong_known_hosts"
    wrong.write_text(f"{hosts[0].address} {hosts[1].host_key}\n")
    proc = run("ssh", "-o", f"UserKnownHostsFile={wrong}", hosts[0].address, "true", env=env,
               check=False)
    assert proc.returncode != 0 and "host key" in proc.stderr.lower()
    # No password login, and no key other than the client key.
    proc = run("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={workdir}/known_hosts",
               "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null", f"root@{hosts[0].address}",
               "true", check=False)
    assert proc.returncode != 0 and "permission denied" in proc.stderr.lower()


def test_each_host_has_its_own_daemon(lab):
    hosts, workdir, env = lab
    fmt = "{{.ID}} {{.Name}} {{.DockerRootDir}}"
    seen = {h.name: run("docker", "-H", h.docker_host, "info", "--format", fmt, env=env).stdout.split()
            for h in hosts}
    main = run("docker", "info", "--format", fmt, env=MAIN).stdout.split()
    ids = {v[0] for v in seen.values()} | {main[0]}
    assert len(ids) == len(hosts) + 1, (seen, main)
    for h in hosts:
        assert seen[h.name][1:] == [h.name, str(workdir / h.name / "data")]
    # A plain `docker` in an ssh session (default socket path) reaches the host's daemon too.
    root_dir = run("ssh", hosts[0].address, "env -u DOCKER_HOST docker info --format '{{.DockerRootDir}}'",
                   env=env).stdout.strip()
    assert root_dir == str(workdir / hosts[0].name / "data")


@pytest.fixture(scope="module")
def tiny_image(lab):
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.skip("no static /bin/busybox (apt-get install busybox-static)")
    existed = run("docker", "image", "inspect", TINY, env=MAIN, check=False).returncode == 0
    if not existed:
        with tempfile.TemporaryDirectory() as root:
            (Path(root) / "bin").mkdir()
            shutil.copy2(busybox, Path(root) / "bin" / "busybox")
            tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
            run("docker", "import", "-c", 'ENTRYPOINT ["/bin/busybox"]', "-", TINY, env=MAIN,
                stdin=tar.stdout)
            tar.wait()
    yield TINY
    if not existed:
        run("docker", "image", "rm", TINY, env=MAIN, check=False)


def test_loaded_image_runs_and_publishes_on_the_host_address(lab, tiny_image):
    hosts, workdir, env = lab
    h1, h2 = hosts
    H.load_image(h1, tiny_image, workdir)
    assert run("docker", "-H", h2.docker_host, "image", "inspect", tiny_image, env=env,
               check=False).returncode != 0
    run("docker", "-H", h1.docker_host, "run", "-d", "--name", "web", "-p", f"{h1.address}:8080:8080",
        tiny_image, "sh", "-c", "echo hello-from-$(hostname) > /index.html; "
        "exec busybox httpd -f -p 8080 -h /", env=env)
    deadline, body = time.monotonic() + 20, ""
    while time.monotonic() < deadline and "hello-from" not in body:
        try:
            with socket.create_connection((h1.address, 8080), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                body = s.makefile("rb").read().decode(errors="replace")
        except OSError:
            time.sleep(0.3)
    assert "hello-from-" in body, body
    # The port is published on host 1 only.
    with pytest.raises(OSError):
        socket.create_connection((h2.address, 8080), timeout=2).close()
