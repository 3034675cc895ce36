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


@dataclass(frozen=True)
class Diff:
    created: frozenset[str]
    deleted: frozenset[str]
    changed: frozenset[str]
    """Each as `<type>::<name>` (the URN without stack, project and parent chain)."""


def graph(run: Run) -> dict[str, dict[str, Any]]:
    """URN -> inputs of every resource a run registered (providers and components included)."""
    inputs = {f"{r['type']}::{r['name']}": r["inputs"] for r in run.mocks.resources}
    return {o["urn"]: inputs.get(key, {}) for key, o in run.monitor.options.items()}


def short(urn: str) -> str:
    typ_chain, name = urn.split("::")[2:4]
    return f"{typ_chain.rsplit('$', 1)[-1]}::{name}"


def diff(base: Config, changed: Config, secret: dict[str, str], stack: str = "prod") -> Diff:
    a = graph(run_program(base, secret, stack=stack))
    b = graph(run_program(changed, secret, stack=stack))
    return Diff(
        created=frozenset(short(u) for u in b.keys() - a.keys()),
        deleted=frozenset(short(u) for u in a.keys() - b.keys()),
        changed=frozenset(short(u) for u in a.keys() & b.keys() if a[u] != b[u]),
    )


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
