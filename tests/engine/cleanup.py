"""Removes what the engine tier made in the Docker daemon: `python -m tests.engine.cleanup`.

Containers run from the tier's images (`owtest/...`), the data volumes of its stack, and the
images themselves (the debootstrap tarball they are made from stays cached, so the next run
imports and builds them again in about half a minute), the action network and its firewall
rules on this machine (the dev-shaped stack's invoker host), and the prod stack's test hosts if a
run left them behind (tests/engine/test_prod.py). `.ci/run` calls it on exit, after a failure
too; each test stack also destroys itself and its retained volumes when it ends.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from planner import firewall
from tests.engine import hosts
from tests.engine.images.build import IMAGES, PREFIX
from tests.engine.test_lifecycle import CONFIG_VOLUMES, CONTAINERS, VOLUMES
from tests.engine.test_prod import ROLES, SPARE, WORKDIR_PREFIX


def docker(*args: str) -> list[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    return proc.stdout.split() if proc.returncode == 0 else []


def main() -> int:
    left = sorted(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"))
    for workdir in left:
        hosts.destroy_hosts([*ROLES, SPARE], workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    refs = {i.ref for i in IMAGES}
    listed = docker("ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Names}}")
    # By image, or by the dev-shaped stack's names: a container whose image was removed (a run
    # cut short between cleanup and its last `pulumi up`) shows an image ID instead.
    names = {*CONTAINERS, "ow-couchdb-init", "ow-kafka-scram-users"}
    containers = [cid for cid, image, name in zip(listed[::3], listed[1::3], listed[2::3])
                  if image.startswith(f"{PREFIX}/") or name in names]
    if containers:
        docker("rm", "-f", *containers)
    volumes = [v for v in (*VOLUMES, *CONFIG_VOLUMES) if docker("volume", "inspect", "-f", "{{.Name}}", v)]
    if volumes:
        docker("volume", "rm", "-f", *volumes)
    # The dev-shaped stack's invoker host is this machine: its action network and firewall.
    subprocess.run(["sh", "-c", firewall.remove_script("docker")], capture_output=True)
    images = [r for r in docker("images", "--format", "{{.Repository}}:{{.Tag}}")
              if r.startswith(f"{PREFIX}/")]
    if images:
        docker("rmi", "-f", *images)
    print(f"engine tier cleanup: removed {len(containers)} containers, {len(volumes)} volumes, "
          f"{len(images)} images (of {len(refs) + 1} the tier builds), {len(left)} sets of test hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
