"""Inputs shared by the components, and turning plan values into Pulumi inputs.

Plain strings stay plain; `Secret` templates become secret Outputs; `Digests` templates (image
references by digest) become ordinary Outputs filled from the image pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from planner.images import ident
from planner.model import Container, Digests, Secret, Value

Outputs = Mapping[str, pulumi.Output[str]]


@dataclass(frozen=True, kw_only=True)
class RegistryAuth:
    """Credentials of the private registry: builds push with them and Kubernetes pods pull with
    them (an image pull Secret). Docker hosts pull with their own login, never a provider's."""

    address: str
    username: str
    password: pulumi.Input[str]


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
             digests: Outputs | None = None) -> pulumi.Input[list[str]]:
    """`KEY=value` strings in plan order (the plan sorts them, so diffs stay stable).

    One Output for the whole list, over the distinct secrets and digests it names: a container
    with many secret entries costs one resolution, not one per entry. The list is secret as soon
    as one entry is.
    """
    templates = [v for _, v in env if not isinstance(v, str)]
    if not templates:
        return [f"{k}={v}" for k, v in env]
    by_ident = {ident(k): d for k, d in (digests or {}).items()}
    names = sorted({n for t in templates for n in t.names})
    inputs = {n: by_ident[n] if n.startswith("digest_") else secrets[n] for n in names}

    def render(values: dict[str, str]) -> list[str]:
        return [f"{k}={v if isinstance(v, str) else v.render(values)}" for k, v in env]
    out = pulumi.Output.all(**inputs).apply(render)
    return pulumi.Output.secret(out) if any(isinstance(t, Secret) for t in templates) else out


def go_duration(seconds: int) -> str:
    """Whole seconds as Go's time.Duration prints them (`120` -> `2m0s`): the form the Docker
    provider reads a healthcheck back in, so that an unchanged value shows no diff."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def rolling(c: Container, deps: list[pulumi.Resource], declared: Mapping[str, pulumi.Resource],
            deployed: pulumi.Input[Sequence[str] | None]) -> pulumi.Input[list[pulumi.Resource]]:
    """What container `c` waits for: `deps`, and for a quorum member the member it rolls after
    (`declared[c.rolls_after]`) when the last deployment ran both (`deployed`: its members' ids,
    None for a new stack). A new member never waits: the members it would wait for may need it
    for their quorum. Nor does one whose epoch changed: its peers restart with it."""
    if c.rolls_after is None:
        return deps
    after = declared[c.rolls_after]
    return pulumi.Output.from_input(deployed).apply(
        lambda ids: [*deps, after] if {c.member_id, c.rolls_after_id} <= set(ids or ()) else deps)
