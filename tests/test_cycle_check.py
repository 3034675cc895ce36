"""components.sdk_tuning.linear_cycle_check: the SDK's dependency-cycle check, same answers,
linear cost."""

from __future__ import annotations

import random
import sys

import pytest
from pulumi.runtime import resource_cycle_breaker as breaker

from components import sdk_tuning


class Node:
    """Stands in for a Resource: the check only reads and writes attributes and compares."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Node({self.n})"


def sdk_reachable(start: Node, target: Node) -> bool:
    """The SDK's answer: is `target` among `start` and everything it depends on transitively."""
    seen, todo = set(), [start]
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(breaker._deps(r))
    return target in seen


@pytest.fixture(scope="module", autouse=True)
def patched():
    sdk_tuning.linear_cycle_check()
    assert getattr(breaker._add_dep, "marks", False)


def test_answers_as_the_sdk_does_on_random_graphs():
    rng = random.Random(7)
    for _ in range(20):
        nodes = [Node(i) for i in range(40)]
        for _ in range(120):
            a, b = rng.sample(nodes, 2)
            expected = sdk_reachable(b, a)
            assert breaker._reachable(b, a) is expected
            # declare_dependency refuses exactly the edges that would close a cycle.
            assert breaker.declare_dependency(a, b) is not expected
        for a in nodes:
            for b in nodes:
                assert breaker._reachable(a, b) is sdk_reachable(a, b), (a, b)


def test_a_long_chain_neither_recurses_nor_misses_its_cycle():
    chain = [Node(i) for i in range(5 * sys.getrecursionlimit())]
    for before, after in zip(chain, chain[1:]):
        assert breaker.declare_dependency(after, before)
    assert not breaker.declare_dependency(chain[0], chain[-1])
    assert breaker.declare_dependency(chain[-1], chain[0])
