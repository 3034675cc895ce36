"""Test hosts whose creation fails part-way leave nothing running (tests/engine/hosts.py). Its own
module: the test network is shared, so this must not run while test_hosts.py's hosts exist."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.engine import hosts as H

#: The second name is too long for its bridge port (`v-<name>` > 15 characters): creating it fails
#: after the first host's sshd and dockerd are running.
NAMES = ["owtc1", "owtc2-too-long-a-name"]


def _leftovers(workdir: Path) -> list[str]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left = [ns for ns in netns if ns in [H.BRIDGE_NS] + [H.netns_name(n) for n in NAMES]]
    left += [line for line in links.splitlines() if H.ROOT_VETH in line]
    left += [str(p) for n in NAMES for p in (workdir / n, H.run_dir(n)) if p.exists()]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(workdir) in args or any(f"/run/owt-{n}/" in args for n in NAMES):
            left.append(f"process {pid}: {args}")
    return left


def test_a_host_that_fails_to_start_leaves_no_daemon_namespace_or_directory(host_tools: None):
    workdir = Path(tempfile.mkdtemp(prefix="owt-cleanup-"))
    try:
        with pytest.raises(RuntimeError, match=f"v-{NAMES[1]}"):
            H.create_hosts(NAMES, workdir=workdir)
        assert _leftovers(workdir) == []
    finally:
        H.destroy_hosts(NAMES, workdir)
        shutil.rmtree(workdir, ignore_errors=True)
