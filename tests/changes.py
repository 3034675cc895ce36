"""The change-catalogue harness: what a config change creates, deletes and changes.

Runs the real program under recording mocks for a base config and a changed one and compares the
two graphs by URN: a resource only in the changed graph is created, one only in the base graph is
deleted, and one in both whose inputs differ is changed (an update or a replacement, as the
provider decides for the inputs that differ).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.conftest import Run, load_stack_file, run_program

Config = dict[str, Any]


CONTAINER = "docker:index/container:Container"


@dataclass(frozen=True)
class Diff:
    created: frozenset[str]
    deleted: frozenset[str]
    changed: frozenset[str]
    """Each as `<type>::<name>` (the URN without stack, project and parent chain)."""
    waves: tuple[tuple[str, ...], ...] = ()
    """The created and changed containers by name, in the order the engine can replace them:
    a container is in wave n+1 when n touched containers come before it on a dependency path
    (the engine starts a resource's step only after its dependencies' steps are done)."""


def graph(run: Run) -> dict[str, dict[str, Any]]:
    """URN -> inputs of every resource a run registered (providers and components included)."""
    inputs = {f"{r['type']}::{r['name']}": r["inputs"] for r in run.mocks.resources}
    # A changed replacement trigger replaces the resource like a changed input does.
    return {o["urn"]: inputs.get(key, {}) | ({"(replacement trigger)": o["replacement_trigger"]}
                                             if o.get("replacement_trigger") is not None else {})
            for key, o in run.monitor.options.items()}


def short(urn: str) -> str:
    typ_chain, name = urn.split("::")[2:4]
    return f"{typ_chain.rsplit('$', 1)[-1]}::{name}"


def waves(run: Run, touched: set[str]) -> tuple[tuple[str, ...], ...]:
    """The touched containers (URNs) of a run grouped into waves (see Diff.waves)."""
    deps = {o["urn"]: o["dependencies"] for o in run.monitor.options.values()}
    memo: dict[str, int] = {}

    def before(urn: str) -> int:
        if urn not in memo:
            memo[urn] = max((before(d) + (d in touched) for d in deps.get(urn, ())), default=0)
        return memo[urn]
    out: dict[int, list[str]] = {}
    for urn in touched:
        out.setdefault(before(urn), []).append(urn.rsplit("::", 1)[-1])
    return tuple(tuple(sorted(out[n])) for n in sorted(out))


def diff(base: Config, changed: Config, secret: dict[str, str], stack: str = "prod") -> Diff:
    first = run_program(base, secret, stack=stack)
    a = graph(first)
    # An update of a deployed stack: the base's quorum members ran (their roll chain applies).
    run = run_program(changed, secret, stack=stack,
                      deployed={"quorumMembers": first.exports["quorumMembers"]})
    b = graph(run)
    created, changed_urns = b.keys() - a.keys(), {u for u in a.keys() & b.keys() if a[u] != b[u]}
    return Diff(
        created=frozenset(short(u) for u in created),
        deleted=frozenset(short(u) for u in a.keys() - b.keys()),
        changed=frozenset(short(u) for u in changed_urns),
        waves=waves(run, {u for u in created | changed_urns if short(u).startswith(f"{CONTAINER}::")}),
    )


def set_key(path: str, value: Any) -> Callable[[Config], None]:
    """An edit that sets `openwhisk:<key>.<field>` (path `key.field`) to `value`."""
    key, _, field = path.partition(".")

    def apply(config: Config) -> None:
        config.setdefault(f"openwhisk:{key}", {})[field] = value
    return apply


def edit(stack: str, change: Callable[[Config], None],
         base: Callable[[Config], None] | None = None) -> tuple[Config, Config, dict[str, str]]:
    """(base config, changed config, secrets) of a stack file: `base` is applied to the file's
    config first (if given), then `change` to a copy of that."""
    plain, secret = load_stack_file(stack)
    if base is not None:
        base(plain)
    changed = copy.deepcopy(plain)
    change(changed)
    return plain, changed, secret
