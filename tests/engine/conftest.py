"""The engine tier: the real Pulumi CLI and provider plugins against a real Docker daemon.

Every test under tests/engine is marked `engine`; the default run (`python -m pytest`) leaves them
out and `python -m pytest -m engine` runs only them. The session first makes what the tier needs,
each step cached outside the work tree so that a warm run takes seconds:
- the engine (tools/engine/build.sh: the CLI and plugins, built from Go modules),
- a Docker daemon (tests/engine/dockerd.sh: the one that answers, or Debian's, started as root),
- the images (tests/engine/images/build.py: built locally; no registry is ever contacted).
A step that cannot be done on this machine (no root for a daemon, no Go toolchain) skips the tier
with its reason; any other failure is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine.harness import ROOT

ENGINE = Path(__file__).resolve().parent
#: Exit status of dockerd.sh when no daemon answers and none can be started here.
NO_DAEMON = 3


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(ENGINE):
            item.add_marker(pytest.mark.engine)


def _step(what: str, cmd: list[str], *, skip_codes: tuple[int, ...] = ()) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode in skip_codes:
        pytest.skip(f"engine tier: {what}: {proc.stdout.strip() or proc.stderr.strip()}")
    if proc.returncode != 0:
        pytest.fail(f"engine tier: {what} failed ({' '.join(cmd)} exited {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}", pytrace=False)
    return proc.stdout


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    """A Docker daemon that answers at /var/run/docker.sock (started as root when none does)."""
    _step("Docker daemon", ["sh", str(ENGINE / "dockerd.sh"), "start"], skip_codes=(NO_DAEMON,))


@pytest.fixture(scope="session")
def engine_bin(docker_daemon: None) -> Path:
    """The directory holding `pulumi` and the plugins, with a daemon running and images built."""
    warm = subprocess.run(["bash", str(ROOT / "tools/engine/build.sh"), "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    if warm.returncode != 0:  # the engine must be built: that needs Go and the module proxy
        if shutil.which("go") is None:
            pytest.skip("engine tier: no Go toolchain to build the Pulumi CLI and plugins with")
        if subprocess.run(["go", "list", "-m", "-versions", "github.com/pulumi/pulumi/sdk/v3"],
                          cwd=ROOT, capture_output=True, timeout=120).returncode != 0:
            pytest.skip("engine tier: the Go module proxy does not answer (go list -m failed), "
                        "so the Pulumi CLI and plugins cannot be built")
    out = warm.stdout if warm.returncode == 0 else _step(
        "engine build", ["bash", str(ROOT / "tools/engine/build.sh")])
    bin_dir = Path(out.strip().splitlines()[-1])
    _step("images", ["python", "-m", "tests.engine.images.build"])
    return bin_dir


@pytest.fixture(scope="session")
def host_tools(docker_daemon: None) -> None:
    """What network-namespace test hosts (tests/engine/hosts.py) need: root, `ip netns`, sshd,
    the ssh client, busybox, dockerd, nsenter and unshare (Debian packages installed if missing)."""
    if os.geteuid() != 0:
        pytest.skip("test hosts need root (network namespaces, sshd, dockerd)")
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        pytest.skip("`ip netns` does not work here")
    packages = {"sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client",
                "/bin/busybox": "busybox-static"}
    missing = sorted({pkg for tool, pkg in packages.items()
                      if not (shutil.which(tool) or Path(tool).exists()
                              or Path(f"/usr/sbin/{tool}").exists())})
    if missing:
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
            if subprocess.run(cmd, capture_output=True, env=env).returncode != 0:
                pytest.fail(f"test hosts: {' '.join(cmd)} failed", pytrace=False)
    for tool in ("dockerd", "nsenter", "unshare"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            pytest.skip(f"{tool} is not installed")


#: Every Project's command log, for the timing summary at the end of the run.
PROJECTS: list = []


def pytest_terminal_summary(terminalreporter) -> None:
    for project in PROJECTS:
        timed = [r for r in project.log if r.args[1] in ("up", "destroy", "preview")]
        if timed:
            terminalreporter.write_line(
                f"engine tier ({project.stack}): {len(project.log)} pulumi commands, "
                f"{sum(r.seconds for r in project.log):.0f} s; "
                + ", ".join(f"{r.args[1]} {r.seconds:.0f}s" for r in timed))
