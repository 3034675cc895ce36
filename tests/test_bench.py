"""The benchmark's floor must declare exactly what the program declares, or the ratio means nothing."""

from __future__ import annotations

import gc

from bench.evaluate import FULL_GC_AFTER, STACK, config_for, declared, run_floor, run_program
from tests.conftest import inventory


def test_config_is_prod_with_four_invokers_per_extra_host():
    plain, _ = config_for(10)
    hosts = plain["openwhisk:hosts"]
    assert [(h["name"], h["id"], h.get("invoker_ids")) for h in hosts] == [
        ("core-1", 0, None), ("core-2", 1, None), ("core-3", 2, None),
        ("invoker-1", 3, [0, 1, 2, 3]), ("invoker-2", 4, [4, 5, 6, 7]), ("invoker-3", 5, [8, 9])]
    assert len({h["address"] for h in hosts}) == len(hosts)
    assert all(h.get("ssh_host_key") for h in hosts)


def test_thousand_invokers_fit_the_host_ids():
    hosts = config_for(1000)[0]["openwhisk:hosts"]
    assert len(hosts) == 253 and max(h["id"] for h in hosts) == 252
    assert len({h["address"] for h in hosts}) == 253


def test_floor_registers_the_same_resources_as_the_program():
    run = run_program(6)
    floor = run_floor(declared(run))

    def lines(r):
        return [x for x in inventory(r).splitlines() if "pulumi:pulumi:Stack::" not in x]
    assert lines(floor) == lines(run)
    assert len(lines(run)) > 100
    # Through the SDK's own classes, not generic resources with no properties.
    assert {r["type"] for r in floor.mocks.resources} == {r["type"] for r in run.mocks.resources}
    assert STACK == "prod"


def test_floor_collects_garbage_as_the_program_does():
    gc.set_threshold(700, 10, 10)
    run_program(1)
    assert gc.get_threshold() == (700, 10, FULL_GC_AFTER)
