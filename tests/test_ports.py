"""Host ports the plan publishes: each at most once per host, none past 65535, with the config
path of each (planner/ports.py), and the program stops on them before declaring anything."""

from __future__ import annotations

import pulumi
import pytest

import planner
from planner.ports import port_problems
from tests.conftest import load_stack_file, parse_stack_file, run_program
from tests.test_planner import ALL_ROLES, stack

FIX = "give one of them another port"


@pytest.mark.parametrize("over,expected", [
    pytest.param({"controller": {"http_port": 5984}}, [
        "openwhisk:controller.http_port: host 'dev' would publish port 5984 twice, for ow-couchdb "
        f"(couchdb.port) and ow-controller (controller.http_port) (got 5984 for both); {FIX}"],
        id="controller-on-couchdbs-port"),
    pytest.param({"edge": {"http_port": 443}}, [
        "openwhisk:edge.http_port: host 'dev' would publish port 443 twice, for ow-edge "
        f"(edge.https_port) and ow-edge (edge.http_port) (got 443 for both); {FIX}"],
        id="edge-http-is-https"),
    pytest.param({"kafka": {"port": 2181}}, [
        "openwhisk:kafka.port: host 'dev' would publish port 2181 twice, for ow-zookeeper's fixed "
        f"client port and ow-kafka (kafka.port) (got 2181 for both); {FIX}"], id="kafka-on-zookeeper"),
    pytest.param({"kafka": {"controller_port": 9092}}, [
        "openwhisk:kafka.controller_port: host 'dev' would publish port 9092 twice, for ow-kafka "
        f"(kafka.port) and ow-kafka (kafka.controller_port) (got 9092 for both); {FIX}"],
        id="kafka-controller-on-its-listener"),
    pytest.param({"apigateway": {"port": 443}}, [
        "openwhisk:edge.https_port: host 'dev' would publish port 443 twice, for ow-apigateway "
        f"(apigateway.port) and ow-edge (edge.https_port) (got 443 for both); {FIX}"],
        id="gateway-on-the-edge"),
    pytest.param({"invoker": {"http_port": 10001}}, [
        "openwhisk:invoker.http_port: host 'dev' would publish port 10001 twice, for ow-controller "
        f"(controller.http_port) and ow-invoker0 (invoker.http_port plus its id) (got 10001 for "
        f"both); {FIX}"], id="invoker-on-the-controller"),
    pytest.param({"hosts": [{"name": "dev", "address": "172.17.0.1", "roles": ALL_ROLES,
                             "invoker_ids": [999]}], "invoker": {"http_port": 65000}}, [
        "openwhisk:invoker.http_port: ow-invoker999 on host 'dev' would publish port 65999, past "
        "65535 (got 65999); lower invoker.http_port or the host's invoker ids"],
        id="invoker-port-past-65535"),
])
def test_each_port_problem_is_one_exact_line(over, expected):
    assert port_problems(planner.plan(stack(**over))) == expected


@pytest.mark.parametrize("name", ["dev", "prod", "k8s"])
def test_the_example_stacks_publish_each_port_once(name):
    assert port_problems(planner.plan(parse_stack_file(name))) == []


def test_a_port_problem_stops_the_program_before_any_resource():
    plain, _ = load_stack_file("dev")
    plain["openwhisk:controller"] = {"http_port": 5984}
    with pytest.raises(pulumi.RunError) as err:
        run_program(plain, stack="dev")
    assert str(err.value) == (
        "1 problem(s) in the stack config of 'dev'; nothing was created:\n  - openwhisk:controller."
        "http_port: host 'dev' would publish port 5984 twice, for ow-couchdb (couchdb.port) and "
        f"ow-controller (controller.http_port) (got 5984 for both); {FIX}")
