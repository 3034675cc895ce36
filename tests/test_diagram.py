"""The topology diagram: exact for a small plan, exported, and current in docs/topology.md."""

from __future__ import annotations

import re

import planner
from planner.diagram import mermaid
from tests.conftest import ROOT, load_stack_file, parse_stack_file, run_program

DOC = ROOT / "docs" / "topology.md"
STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")


def plan_of(stack: str):
    return planner.plan(parse_stack_file(stack))


def test_dev_diagram_is_exact():
    assert mermaid(plan_of("dev")) == '''flowchart LR
  subgraph host_dev["dev (172.17.0.1)"]
    couchdb_dev[("ow-couchdb :5984")]
    couchdb_init_dev["ow-couchdb-init (init)"]
    couchdb_tenants_dev["ow-couchdb-tenants (init)"]
    zookeeper_dev[("ow-zookeeper :2181, 2888, 3888")]
    kafka_dev[("ow-kafka :9092, 9093")]
    controller_dev["ow-controller :10001, 25520"]
    invoker_0["ow-invoker0 :12001"]
    redis_dev[("ow-redis :6379")]
    apigateway_dev["ow-apigateway :9001, 9000"]
    edge_dev["ow-edge :443, 80"]
    catalog_dev["ow-catalog (init)"]
  end
  clients(["wsk / clients"]) -->|"https://172.17.0.1"| edge_dev
  couchdb_init_dev --> couchdb_dev
  couchdb_tenants_dev --> couchdb_init_dev
  controller_dev --> couchdb_init_dev
  controller_dev --> kafka_dev
  invoker_0 --> couchdb_init_dev
  invoker_0 --> controller_dev
  apigateway_dev --> redis_dev
  edge_dev --> controller_dev
  edge_dev --> apigateway_dev
  catalog_dev --> controller_dev
  catalog_dev --> apigateway_dev
'''


def test_every_node_sits_in_its_host_and_every_arrow_joins_known_nodes():
    for stack in STACKS:
        text = mermaid(plan_of(stack))
        nodes = set(re.findall(r"^    (\w+)\[", text, re.M))
        arrows = re.findall(r"^  (\w+) --> (\w+)$", text, re.M)
        assert arrows and all(a in nodes and b in nodes for a, b in arrows), stack
        assert len(nodes) == len(plan_of(stack).containers()), stack


def test_topology_is_exported():
    run = run_program(*load_stack_file("dev"), stack="dev")
    assert run.exports["topology"] == mermaid(plan_of("dev"))


def render_doc() -> str:
    parts = ["# Topology of the example stacks\n",
             "Rendered from each stack's plan (`pulumi stack output topology` gives the same text for "
             "a deployed stack). Docker stacks group containers by host; Kubernetes stacks group "
             "workloads (named as in the cluster, with container ports) by service. Cylinders hold "
             "data on retained volumes or claims; arrows point from a container to what it needs "
             "first. Regenerate with `python -m pytest tests/test_diagram.py --update-golden`.\n"]
    for stack in STACKS:
        parts.append(f"## `{stack}`\n\n```mermaid\n{mermaid(plan_of(stack))}```\n")
    return "\n".join(parts)


def test_docs_show_the_current_diagram_of_every_stack(golden):
    golden("topology.md", render_doc(), under="docs")
