"""The post-deploy check as data: the command and its environment. Pure, no Pulumi.

The check itself is components/assets/verify.py (stdlib only); it reads everything from the
environment planned here, and the guest key reaches it only as a secret environment variable.
"""

from __future__ import annotations

import json

from config import StackConfig
from planner.model import Container, Secret, Value, VerifyPlan

COMMAND = "python3 components/assets/verify.py"
"""Run from the project directory, where Pulumi runs the program and its local commands."""


def _where(c: Container, address: str) -> dict[str, str]:
    return {"host": address, "container": c.name}


def verify_plan(cfg: StackConfig, *, api_url: str, controllers: list[tuple[str, Container]],
                invokers: list[tuple[int, Container]], edge: Container,
                insecure_tls: bool) -> VerifyPlan | None:
    """None when verify.enabled is false.

    `controllers` are (URL, container) pairs, `invokers` (instance id, container) pairs; the
    containers give the host and container name that failure messages point at.
    """
    if not cfg.verify.enabled:
        return None
    address = {h.name: h.address for h in cfg.hosts}
    env: dict[str, Value] = {
        "OW_VERIFY_API_HOST": api_url,
        "OW_VERIFY_AUTH": Secret.of("guest_auth"),
        "OW_VERIFY_CONTROLLERS": json.dumps(
            [{"url": url, **_where(c, address[c.host])} for url, c in controllers]),
        "OW_VERIFY_EDGE": json.dumps(_where(edge, address[edge.host])),
        "OW_VERIFY_INSECURE": "true" if insecure_tls else "false",
        "OW_VERIFY_INVOKERS": json.dumps(
            {f"invoker{n}": _where(c, address[c.host]) for n, c in invokers}),
        "OW_VERIFY_TIMEOUT_S": str(cfg.verify.timeout_s),
    }
    return VerifyPlan(COMMAND, tuple(sorted(env.items())))
