"""Entry point: read the stack config, plan the deployment, declare it, export what `wsk` needs."""

import gc
from pathlib import Path

import pulumi

import config
import planner
from components import OpenWhisk, OpenWhiskArgs
from planner import kubernetes as kube
from planner.diagram import mermaid
from planner.ports import port_problems

PROJECT_DIR = Path(__file__).resolve().parent

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


def main() -> None:
    gc.set_threshold(*gc.get_threshold()[:2], FULL_GC_AFTER)
    linear_cycle_check()
    try:
        stack = config.read_stack_config(PROJECT_DIR)
        plan = planner.plan(stack)
        # What only shows once planned: host ports published twice.
        if problems := port_problems(plan):
            raise config.ConfigError(problems)
    except config.ConfigError as err:
        lines = "\n".join(f"  - {p}" for p in err.problems)
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack config of "
                              f"'{pulumi.get_stack()}'; nothing was created:\n{lines}") from None
    for warning in plan.warnings:
        pulumi.log.warn(warning)
    # The last deployment's outputs, read back through a StackReference to this stack itself: a
    # program has no other read of its previous state. This needs nothing from the hosts or the
    # cluster, works under `pulumi preview`, and a new stack has no outputs yet.
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    last = pulumi.StackReference("last-deployment", name)
    if plan.kubernetes is not None:
        # The StatefulSets keep their claim templates, so a changed class or size reaches only
        # new claims: say so.
        claims = kube.claim_settings(plan)
        last.get_output(kube.CLAIMS_OUTPUT).apply(
            lambda before: [pulumi.log.warn(w) for w in kube.claim_warnings(before, claims)])
        pulumi.export(kube.CLAIMS_OUTPUT, claims)
    cfg = pulumi.Config(config.NAMESPACE)
    supplied = {key: cfg.require_secret(key) for key in sorted(stack.supplied_secrets)}
    ow = OpenWhisk("openwhisk", OpenWhiskArgs(
        plan=plan, supplied_secrets=supplied, stack=pulumi.get_stack(),
        deployed=last.get_output(planner.MEMBERS_OUTPUT)))

    pulumi.export("apiHost", ow.api_host)
    pulumi.export("wskprops", ow.wskprops)
    pulumi.export("wskInsecure", plan.insecure_tls)
    pulumi.export("guestAuth", ow.guest_auth)
    pulumi.export("systemAuth", ow.system_auth)
    pulumi.export("couchdbAdmin", ow.couchdb_admin)
    pulumi.export("namespaces", ow.namespaces)
    pulumi.export("edgeCertificate", ow.edge_certificate)
    pulumi.export("endpoints", ow.endpoints)
    pulumi.export("images", ow.images)
    pulumi.export("topology", mermaid(plan))
    pulumi.export(planner.MEMBERS_OUTPUT, planner.quorum_members(plan))


if __name__ == "__main__":
    main()
