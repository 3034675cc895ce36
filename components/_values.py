"""Turn plan values into Pulumi inputs: plain strings stay plain, `Secret` templates become secret Outputs."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from planner.model import Secret, Value


def resolve(value: Value, secrets: Mapping[str, pulumi.Output[str]]) -> pulumi.Input[str]:
    """The input for one plan value; anything built from a secret is itself a secret."""
    if isinstance(value, str):
        return value
    template = value
    inputs = {name: secrets[name] for name in template.names}
    return pulumi.Output.secret(pulumi.Output.all(**inputs).apply(template.render))


def env_list(env: tuple[tuple[str, Value], ...],
             secrets: Mapping[str, pulumi.Output[str]]) -> list[pulumi.Input[str]]:
    """`KEY=value` strings in plan order (the plan sorts them, so diffs stay stable)."""
    return [f"{k}={v}" if isinstance(v, str) else pulumi.Output.concat(k, "=", resolve(v, secrets))
            for k, v in env]


__all__ = ["Secret", "env_list", "resolve"]
