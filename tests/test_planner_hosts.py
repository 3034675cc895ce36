"""Planner tests for reaching hosts: Docker endpoints and ssh."""

from __future__ import annotations

import config
import planner
from planner.model import Secret, SshTarget
from tests.conftest import ROOT

ALL_ROLES = ["couchdb", "zookeeper", "kafka", "controller", "invoker", "edge"]
KEY = frozenset({"ssh_private_key"})


def stack(secret_keys=frozenset(), **over):
    raw = {"version": {"tag": "ef725a6"},
           "hosts": [{"name": "dev", "address": "172.17.0.1", "roles": ALL_ROLES}]}
    raw.update(over)
    return config.parse(raw, base_dir=ROOT, secret_keys=secret_keys)


def es_cluster(secret_keys=KEY, **over):
    """Two hosts in classic mode: core (everything but invokers) with ElasticSearch, and inv."""
    raw = {"version": {"tag": "ef725a6"},
           "hosts": [
               {"name": "core", "address": "10.0.0.11", "id": 0,
                "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge", "elasticsearch"]},
               {"name": "inv", "address": "10.0.0.21", "id": 1, "roles": ["invoker"]},
           ],
           "activation_store": {"backend": "elasticsearch"},
           "ssh": {"user": "ops", "port": 2222, "options": ["ProxyJump=bastion"]}}
    raw.update(over)
    return config.parse(raw, base_dir=ROOT, secret_keys=secret_keys)


def host(plan, name):
    return next(h for h in plan.hosts if h.name == name)


def test_dev_stack_keeps_the_local_socket():
    p = planner.plan(stack())
    (dev,) = p.hosts
    assert (dev.docker, dev.ssh, dev.ssh_opts) == ("unix:///var/run/docker.sock", None, ())


def test_ssh_hosts_get_a_derived_endpoint_login_and_ssh_options():
    p = planner.plan(es_cluster())
    core = host(p, "core")
    assert core.docker == "ssh://ops@10.0.0.11:2222"
    assert core.ssh == SshTarget("ops", "10.0.0.11", 2222, Secret("${ssh_private_key}"))
    assert core.ssh_opts == ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222",
                             "-o", "ProxyJump=bastion")
    assert host(p, "inv").docker == "ssh://ops@10.0.0.21:2222"


def test_explicit_endpoints_win_over_the_ssh_section():
    hosts = [{"name": "core", "address": "10.0.0.11", "id": 0, "docker": "ssh://root@mgmt-core",
              "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge", "elasticsearch"]},
             {"name": "inv", "address": "10.0.0.21", "id": 1, "roles": ["invoker"],
              "docker": "unix:///var/run/docker.sock"}]
    p = planner.plan(es_cluster(hosts=hosts))
    core, inv = host(p, "core"), host(p, "inv")
    assert (core.docker, core.ssh) == (
        "ssh://root@mgmt-core", SshTarget("root", "mgmt-core", 22, Secret("${ssh_private_key}")))
    assert core.ssh_opts == ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "22",
                             "-o", "ProxyJump=bastion")
    assert (inv.docker, inv.ssh, inv.ssh_opts) == ("unix:///var/run/docker.sock", None, ())


def test_explicit_ssh_endpoint_without_ssh_section_uses_the_defaults():
    p = planner.plan(stack(KEY, hosts=[{"name": "dev", "address": "10.0.0.5", "roles": ALL_ROLES,
                                        "docker": "ssh://deploy@10.0.0.5:2200"}]))
    (dev,) = p.hosts
    assert dev.ssh == SshTarget("deploy", "10.0.0.5", 2200, Secret("${ssh_private_key}"))
    assert dev.ssh_opts == ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2200")
