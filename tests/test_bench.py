"""The benchmark's floor must declare exactly what the program declares, or the ratio means nothing."""

from __future__ import annotations

from bench.run import config_for, declared, floor_program
from tests.conftest import inventory, run_program, run_pulumi


def test_config_spreads_invokers_ten_per_host():
    plain, _ = config_for(12)
    assert [(h["name"], h.get("invoker_ids")) for h in plain["openwhisk:hosts"]] == [
        ("core", None), ("inv-0", list(range(10))), ("inv-1", [10, 11])]


def test_floor_registers_the_same_resources_as_the_program():
    run = run_program(*config_for(12), stack="bench")
    floor = run_pulumi(lambda: floor_program(declared(run)), stack="bench")

    def lines(r):
        return [x for x in inventory(r).splitlines() if "pulumi:pulumi:Stack::" not in x]
    assert lines(floor) == lines(run)
    assert len(lines(run)) > 60
