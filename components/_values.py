"""Turn plan values into Pulumi inputs.

Plain strings stay plain; `Secret` templates become secret Outputs; `Digests` templates (image
references by digest) become ordinary Outputs filled from the image pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from planner.images import ident
from planner.model import Digests, Value

Outputs = Mapping[str, pulumi.Output[str]]


def resolve(value: Value, secrets: Outputs, digests: Outputs | None = None) -> pulumi.Input[str]:
    """The input for one plan value; anything built from a secret is itself a secret."""
    if isinstance(value, str):
        return value
    if isinstance(value, Digests):
        by_ident = {ident(k): v for k, v in (digests or {}).items()}
        return pulumi.Output.all(**{n: by_ident[n] for n in value.names}).apply(value.render)
    inputs = {name: secrets[name] for name in value.names}
    return pulumi.Output.secret(pulumi.Output.all(**inputs).apply(value.render))


def env_list(env: tuple[tuple[str, Value], ...], secrets: Outputs,
             digests: Outputs | None = None) -> list[pulumi.Input[str]]:
    """`KEY=value` strings in plan order (the plan sorts them, so diffs stay stable)."""
    return [f"{k}={v}" if isinstance(v, str) else
            pulumi.Output.concat(k, "=", resolve(v, secrets, digests)) for k, v in env]
