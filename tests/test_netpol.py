"""Kubernetes NetworkPolicies (planner/netpol.py): the exact objects, and that they select the pods
they mean: each policy's pods exist, each allowed peer exists, and every address a pod's
environment or files name belongs to a service whose policy lets that pod in."""

from __future__ import annotations

import re

import pytest

import planner
from components.kubernetes_cluster import _policy_spec
from planner import netpol
from planner.model import Secret
from tests.conftest import load_stack_file, parse_stack_file

REL, NS = "ow", "openwhisk"


def k8s_plan(**over):
    return planner.plan(parse_stack_file("k8s", **over))


def docker_factory() -> dict:
    """Overrides for invokers with the docker factory: a DaemonSet, so no invoker replica count."""
    kube = load_stack_file("k8s")[0]["openwhisk:kubernetes"]
    replicas = {k: v for k, v in kube["replicas"].items() if k != "invoker"}
    return {"invoker": {"container_factory": "docker"}, "kubernetes": {**kube, "replicas": replicas}}


def policy(plan, name):
    return next(_policy_spec(p) for p in plan.kubernetes.network_policies if p.name == name)


def pods(service):
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": REL,
                                            "app.kubernetes.io/name": service}}}


def tcp(*ports):
    return [{"protocol": "TCP", "port": p} for p in ports]


def test_couchdb_accepts_only_its_clients_on_its_port():
    assert policy(k8s_plan(), "ow-couchdb") == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "couchdb",
                                        "app.kubernetes.io/instance": REL,
                                        "app.kubernetes.io/component": "couchdb"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [pods("couchdb"), pods("controller"), pods("invoker"),
                              pods("scheduler")], "ports": tcp(5984)}]}


def test_action_pods_reach_dns_the_edge_the_gateway_and_the_internet_outside_blocked_ranges():
    assert policy(k8s_plan(), "ow-actions") == {
        "podSelector": {"matchLabels": {"user-action-pod": "true", "release": REL}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [pods("invoker")], "ports": tcp(8080)}],
        "egress": [
            {"to": [{"namespaceSelector": {}}],
             "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            {"to": [pods("edge")], "ports": tcp(80, 443, 8080)},
            {"to": [pods("apigateway")], "ports": tcp(9000)},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
                "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                "169.254.0.0/16"]}}]}]}


def test_no_egress_and_allowed_networks():
    p = k8s_plan(invoker={"action_network": {"egress": "none", "allowed_cidrs": ["10.9.0.0/16"]}})
    assert policy(p, "ow-actions")["egress"][3:] == [{"to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}]}]


def test_the_gateway_lets_actions_reach_its_management_port_only():
    assert policy(k8s_plan(), "ow-apigateway")["ingress"] == [
        {"from": [pods("edge")], "ports": tcp(8080, 9000)},
        {"from": [{"podSelector": {"matchLabels": {"user-action-pod": "true", "release": REL}}}],
         "ports": tcp(9000)}]


def test_docker_factory_invokers_get_no_action_pod_policy():
    p = k8s_plan(**docker_factory())
    names = [x.name for x in p.kubernetes.network_policies]
    assert "ow-actions" not in names and "ow-couchdb" in names
    assert {"user-action-pod", "true"} not in [set(dict(peer.pods).items())
                                               for x in p.kubernetes.network_policies
                                               for r in x.ingress for peer in r.peers]


def _matches(selector, labels) -> bool:
    return set(dict(selector).items()) <= set(dict(labels).items())


@pytest.mark.parametrize("factory", ["kubernetes", "docker"])
def test_policies_select_the_pods_they_mean(factory):
    p = k8s_plan(**(docker_factory() if factory == "docker" else {}))
    workloads = p.kubernetes.workloads.values()
    for pol in p.kubernetes.network_policies:
        if pol.name == f"{REL}-actions":
            continue
        service = pol.name.removeprefix(f"{REL}-")
        selected = {w.key for w in workloads if _matches(pol.selector, w.labels)}
        assert selected and all(w.key in selected for w in workloads
                                if dict(w.labels)["app.kubernetes.io/name"] == service
                                and w.kind != "Job"), pol.name
        for rule in pol.ingress:
            for peer in rule.peers:
                if dict(peer.pods).get("user-action-pod") == "true":
                    continue
                assert any(_matches(peer.pods, w.labels) for w in workloads), (pol.name, peer)


def test_every_address_a_pod_uses_is_let_in_by_its_policy():
    """Each Service or pod address in a container's environment or files names a service whose
    policy lists the container's service among its clients (or has no policy: the edge)."""
    p = k8s_plan()
    address = re.compile(rf"{REL}-([a-z]+)(?:-api)?(?:-\d+-0\.{REL}-[a-z]+)?\.{NS}\.svc")
    checked = set()
    for c in p.containers():
        texts = [v if isinstance(v, str) else v.template for _, v in c.env
                 if isinstance(v, (str, Secret))]
        texts += [f.content for f in c.files if isinstance(f.content, str)]
        for text in texts:
            for target in address.findall(text):
                if target == c.service or target not in netpol.CLIENTS:
                    continue
                assert c.service in netpol.CLIENTS[target], (c.key, target)
                checked.add((c.service, target))
    assert {("controller", "couchdb"), ("invoker", "kafka"), ("scheduler", "etcd"),
            ("edge", "controller"), ("apigateway", "redis")} <= checked
