"""How the Pulumi SDK runs this program at scale: two settings of the Python process, applied
before anything is declared. Both keep the SDK's behaviour and change only what it costs; the
numbers are in docs/bench.md (1000 invokers: RecursionError before, 14-16 s after).

`linear_cycle_check` replaces two private functions of `pulumi.runtime.resource_cycle_breaker`;
tests/test_cycle_check.py checks that they still exist and that the replacement answers as the
SDK does, so an SDK that changes them fails there, loudly.
"""

import gc

import pulumi

FULL_GC_AFTER = 1000
"""Generation-1 collections between two full collections (CPython's default: 10).
Nearly all the evaluation allocates (resources, their Outputs and futures) lives until it ends,
so a full collection frees next to nothing but walks the whole, growing heap: at 1000 invokers
they took a third of the time. The young collections, which free the cycles asyncio leaves
behind, run as before; peak memory is unchanged (bench/, docs/bench.md)."""


def linear_cycle_check() -> None:
    """Make the SDK's dependency-cycle check cost what it must: nothing for a resource nothing
    depends on yet, else one walk with a loop instead of nested generators.

    For each dependency it registers, the SDK checks that the dependent is not reachable from the
    dependency, walking everything the dependency depends on transitively through `yield from`
    generators nested as deep as the path, each step costing the depth. Containers a role rolls
    one after another (kubernetes.ONE_AT_A_TIME: every invoker depends on the one before it) make
    paths as long as the role has instances: at 1000 invokers the check took three quarters of the
    evaluation, and the nesting passed Python's recursion limit (RecursionError, `pulumi up`
    included). The answer stays the SDK's: a resource no dependency points to yet (the SDK's own
    record, marked here as it is added) is reachable only from itself, and otherwise the walk
    visits the same resources. The same dependencies are registered. If the SDK no longer has the
    functions replaced here, it is left alone.
    """
    from pulumi.runtime import resource_cycle_breaker as breaker

    deps, add_dep = getattr(breaker, "_deps", None), getattr(breaker, "_add_dep", None)
    if not (callable(deps) and callable(add_dep) and callable(getattr(breaker, "_reachable", None))):
        return
    if getattr(add_dep, "marks", False):
        return  # already replaced (the tests run the program many times in one process)
    mark = "_openwhisk_depended_on"

    def marking_add_dep(from_resource: pulumi.Resource, to_resource: pulumi.Resource) -> None:
        add_dep(from_resource, to_resource)
        setattr(to_resource, mark, True)
    marking_add_dep.marks = True

    def reachable(from_resource: pulumi.Resource, to_resource: pulumi.Resource) -> bool:
        if not getattr(to_resource, mark, False):
            return from_resource == to_resource
        visited: set[pulumi.Resource] = set()
        todo = [from_resource]
        while todo:
            r = todo.pop()
            if r in visited:
                continue
            if r == to_resource:
                return True
            visited.add(r)
            todo.extend(deps(r))
        return False

    breaker._add_dep, breaker._reachable = marking_add_dep, reachable


def apply() -> None:
    """Both settings; called once at the start of the program."""
    gc.set_threshold(*gc.get_threshold()[:2], FULL_GC_AFTER)
    linear_cycle_check()
