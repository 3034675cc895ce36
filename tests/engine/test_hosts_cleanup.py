"""Test hosts whose creation fails part-way leave nothing running (tests/engine/hosts.py). Its own
module: the test network is shared, so this must not run while test_hosts.py's hosts exist."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.engine import hosts as H

#: The second name is too long for its bridge port (`v-<name>` > 15 characters): creating it fails
#: after the first host's sshd and dockerd are running.
NAMES = ["owtc1", "owtc2-too-long-a-name"]


def test_a_host_that_fails_to_start_leaves_no_daemon_namespace_or_directory(host_tools: None):
    workdir = Path(tempfile.mkdtemp(prefix="owt-cleanup-"))
    try:
        with pytest.raises(RuntimeError, match=f"v-{NAMES[1]}"):
            H.create_hosts(NAMES, workdir=workdir)
        assert H.leftovers(NAMES, workdir) == []
    finally:
        H.destroy_hosts(NAMES, workdir)
        shutil.rmtree(workdir, ignore_errors=True)
