"""The preview check for stored data: exact findings for each kind of step."""

from __future__ import annotations

import json
import subprocess
import sys

from scripts.stateful_changes import findings
from tests.conftest import ROOT

PFX = "urn:pulumi:prod::openwhisk::openwhisk:components:OpenWhisk$openwhisk:components:DockerService$"


def step(op: str, typ: str, name: str, reasons=("envs",)) -> dict:
    return {"op": op, "urn": f"{PFX}{typ}::{name}", "newState": {"type": typ},
            "replaceReasons": list(reasons)}


PREVIEW = {"steps": [
    step("same", "docker:index/container:Container", "kafka-core-1"),
    step("replace", "docker:index/container:Container", "kafka-core-2"),
    step("create-replacement", "docker:index/container:Container", "kafka-core-2"),
    step("replace", "docker:index/container:Container", "controller-core-1"),
    step("replace", "docker:index/volume:Volume", "kafka-core-3-data", reasons=("name",)),
    step("delete", "docker:index/volume:Volume", "etcd-core-1-data", reasons=()),
    step("update", "docker:index/volume:Volume", "zookeeper-core-1-data"),
]}


def test_findings_are_exact():
    assert findings(PREVIEW) == (
        ["kafka-core-3-data: the data volume would be replaced (name); its data would no longer be "
         "mounted. Keep its name and settings, or copy the data to the new volume first.",
         "etcd-core-1-data: the data volume would be deleted (delete); its data would no longer be "
         "mounted. Keep its name and settings, or copy the data to the new volume first."],
        ["kafka-core-2: the store's container is replaced (envs); its data stays on its volume, but "
         "the service restarts."])


def test_exit_status_fails_only_on_data_loss(tmp_path):
    def run(preview):
        path = tmp_path / "p.json"
        path.write_text(json.dumps(preview))
        return subprocess.run([sys.executable, "scripts/stateful_changes.py", str(path)], cwd=ROOT,
                              capture_output=True, text=True)
    lossy = run(PREVIEW)
    assert lossy.returncode == 1 and lossy.stdout.startswith("error: kafka-core-3-data")
    restart = run({"steps": PREVIEW["steps"][:3]})
    assert (restart.returncode, restart.stdout.splitlines()[0][:22]) == (0, "warning: kafka-core-2:")
    quiet = run({"steps": [PREVIEW["steps"][0]]})
    assert (quiet.returncode, quiet.stdout) == (0, "stored data: untouched\n")
