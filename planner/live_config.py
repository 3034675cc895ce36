"""Config files a running container reloads in place (model.LiveConfig): the script of the host
command that writes and applies them. Pure text, no Pulumi.

The files go onto the container's config volume through a throwaway container of the service's
own image (no host directory, no root on the host; root in that container, as images that run
as another user cannot write a new volume): first as `<name>.next`, which `check` tests
in the running container; only then are they moved into place and `reload` runs. A failed check
fails `pulumi up` with its output and leaves the running config as it was. Before the container
first exists the files are simply written.
"""

from __future__ import annotations

import base64
import shlex

from planner.model import LiveConfig

NEXT = ".next"
"""Suffix of a file that is written but not live yet."""


def script(docker: str, container: str, image: str, live: LiveConfig) -> str:
    q = shlex.quote
    run = f"{docker} run --rm -i --network none --user 0:0 --entrypoint sh -v {q(live.volume)}:/live {q(image)} -c"
    lines = ["set -eu"]
    for name, content in live.files:
        encoded = base64.b64encode(content.encode()).decode()
        lines.append(f"printf %s {q(encoded)} | base64 -d | {run} {q(f'cat > /live/{name}{NEXT}')}")
    running = (f'running=$({docker} inspect -f "{{{{.State.Running}}}}" {q(container)} 2>/dev/null '
               f'|| true)')
    moves = " && ".join(f"mv /live/{name}{NEXT} /live/{name}" for name, _ in live.files)

    def if_running(args: tuple[str, ...]) -> str:
        return f'if [ "$running" = true ]; then {docker} exec {q(container)} {" ".join(map(q, args))}; fi'
    lines += [running, if_running(live.check), f"{run} {q(moves)} </dev/null", if_running(live.reload)]
    return "\n".join(lines) + "\n"
