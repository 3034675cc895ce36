"""Bad configs a new user writes from README alone: each is refused before anything is declared,
and the first problem line names the config path, the value found and a fix.

The cases were written from the config reference without reading config/, the way a new user
would get things wrong: typos, wrong types, values out of range, settings that contradict each
other, and keys of the other platform. `test_config.py` pins the exact text of each rule; this
file pins that no such config goes through, and which path the message names.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import planner
from config import SECRET_KEYS, ConfigError, parse
from planner.ports import port_problems
from tests.conftest import ROOT
from tests.test_config import DELETE, MULTI, SCHEDULER, SINGLE, change
from tests.test_kubernetes_config import K8S

PEKKO = SCHEDULER
#: The value of a secret key supplied encrypted (`pulumi config set --secret`).
SECRET = object()

#: (id, base config, changes as dotted paths, the path the first problem line names)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # version
    ("no-version", SINGLE, {"version": DELETE}, "version"),
    ("tag-latest", SINGLE, {"version.tag": "latest"}, "version.tag"),
    ("tag-nightly", SINGLE, {"version.tag": "nightly"}, "version.tag"),
    ("unknown-tag-without-family", SINGLE, {"version.tag": "2.0.0"}, "version.actor_system"),
    ("actor-system-typo", SINGLE, {"version.actor_system": "akka2"}, "version.actor_system"),
    ("mode-capitalised", SINGLE, {"version.mode": "Classic"}, "version.mode"),
    ("version-as-a-string", SINGLE, {"version": "ef725a6"}, "version"),
    ("tag-as-a-number", SINGLE, {"version.tag": 1234567}, "version.tag"),
    ("image-prefix-with-a-scheme", SINGLE, {"version.image_prefix": "https://hub.docker.com/openwhisk"},
     "version.image_prefix"),
    ("build-date-a-number", SINGLE, {"version.build_date": 20240101}, "version.build_date"),
    # platform
    ("platform-compose", SINGLE, {"platform": "docker-compose"}, "platform"),
    ("kubernetes-with-hosts", SINGLE, {"platform": "kubernetes"}, "hosts"),
    # hosts
    ("no-hosts", SINGLE, {"hosts": DELETE}, "hosts"),
    ("hosts-as-a-map", SINGLE, {"hosts": {"dev": {"address": "10.0.0.1"}}}, "hosts"),
    ("host-without-name", SINGLE, {"hosts[0].name": DELETE}, "hosts[0].name"),
    ("host-name-capitalised", SINGLE, {"hosts[0].name": "Dev"}, "hosts[0].name"),
    ("host-name-underscore", SINGLE, {"hosts[0].name": "dev_1"}, "hosts[0].name"),
    ("address-localhost", SINGLE, {"hosts[0].address": "localhost"}, "hosts[0].address"),
    ("address-loopback", SINGLE, {"hosts[0].address": "127.0.0.1"}, "hosts[0].address"),
    ("address-octet-too-big", SINGLE, {"hosts[0].address": "10.0.0.256"}, "hosts[0].address"),
    ("address-a-url", SINGLE, {"hosts[0].address": "http://10.0.0.1"}, "hosts[0].address"),
    ("address-with-a-port", SINGLE, {"hosts[0].address": "10.0.0.1:2375"}, "hosts[0].address"),
    ("address-ipv6", SINGLE, {"hosts[0].address": "fd00::1"}, "hosts[0].address"),
    ("no-roles", SINGLE, {"hosts[0].roles": []}, "hosts[0].roles"),
    ("roles-a-string", SINGLE, {"hosts[0].roles": "couchdb"}, "hosts[0].roles"),
    ("role-abbreviated", SINGLE, {"hosts[0].roles[0]": "couch"}, "hosts[0].roles[0]"),
    ("role-twice", SINGLE, {"hosts[0].roles": [*SINGLE["hosts"][0]["roles"], "invoker"]},
     "hosts[0].roles"),
    ("docker-over-tcp", SINGLE, {"hosts[0].docker": "tcp://10.0.0.1:2375"}, "hosts[0].docker"),
    ("docker-ssh-without-user", SINGLE, {"hosts[0].docker": "ssh://10.0.0.1"}, "hosts[0].docker"),
    ("docker-ssh-port-too-big", SINGLE, {"hosts[0].docker": "ssh://ops@10.0.0.1:70000"},
     "hosts[0].docker"),
    ("several-hosts-without-id", MULTI, {"hosts[1].id": DELETE}, "hosts[1].id"),
    ("several-hosts-same-id", MULTI, {"hosts[2].id": 1}, "hosts[2].id"),
    ("negative-host-id", MULTI, {"hosts[2].id": -1}, "hosts[2].id"),
    ("same-host-name", MULTI, {"hosts[2].name": "b"}, "hosts[2].name"),
    ("same-host-address", MULTI, {"hosts[2].address": "10.0.0.2"}, "hosts[2].address"),
    ("same-address-other-case", MULTI, {"hosts[1].address": "NODE.example.com",
                                         "hosts[2].address": "node.example.com"}, "hosts[2].address"),
    ("no-edge", SINGLE, {"hosts[0].roles": ["couchdb", "zookeeper", "kafka", "controller", "invoker"]},
     "hosts"),
    ("couchdb-twice", MULTI, {"hosts[1].roles": ["couchdb", "zookeeper", "kafka", "controller", "invoker"]},
     "hosts"),
    ("two-zookeepers", MULTI, {"hosts[2].roles": ["kafka", "invoker"]}, "hosts"),
    ("scheduler-in-classic-mode", SINGLE, {"hosts[0].roles": [*SINGLE["hosts"][0]["roles"], "scheduler"]},
     "hosts[0].roles"),
    ("scheduler-mode-without-etcd", PEKKO, {"hosts[0].roles": [
        "couchdb", "zookeeper", "kafka", "controller", "invoker", "edge", "scheduler"]}, "hosts"),
    ("invoker-id-on-two-hosts", MULTI, {"hosts[2].invoker_ids": [0, 2]}, "hosts[2].invoker_ids"),
    ("invoker-ids-without-the-role", MULTI, {"hosts[0].invoker_ids": [5]}, "hosts[0].invoker_ids"),
    ("invoker-hosts-without-ids", MULTI, {"hosts[1].invoker_ids": DELETE}, "hosts[1].invoker_ids"),
    ("invoker-id-negative", SINGLE, {"hosts[0].invoker_ids": [-1]}, "hosts[0].invoker_ids"),
    ("host-memory-too-small", SINGLE, {"hosts[0].user_memory_mb": 128}, "hosts[0].user_memory_mb"),
    ("host-memory-with-unit", SINGLE, {"hosts[0].user_memory_mb": "4g"}, "hosts[0].user_memory_mb"),
    ("use-runc-maybe", SINGLE, {"hosts[0].use_runc": "maybe"}, "hosts[0].use_runc"),
    ("host-key-without-type", SINGLE, {"hosts[0].ssh_host_key": "AAAAC3NzaC1lZDI1NTE5AAAAIO"},
     "hosts[0].ssh_host_key"),
    ("host-key-with-host-name", SINGLE, {"hosts[0].ssh_host_key": "10.0.0.1 ssh-ed25519 AAAAC3Nza"},
     "hosts[0].ssh_host_key"),
    ("registry-role-without-deploy", SINGLE, {"hosts[0].roles": [*SINGLE["hosts"][0]["roles"], "registry"]},
     "hosts[0].roles"),
    ("zookeeper-host-id-too-big", MULTI, {"hosts[1].id": 300}, "hosts[1].id"),
    # edge
    ("https-port-zero", SINGLE, {"edge.https_port": 0}, "edge.https_port"),
    ("https-port-too-big", SINGLE, {"edge.https_port": 70000}, "edge.https_port"),
    ("https-port-quoted", SINGLE, {"edge.https_port": "443"}, "edge.https_port"),
    ("http-equals-https", SINGLE, {"edge.http_port": 443}, "edge.http_port"),
    ("tls-letsencrypt", SINGLE, {"edge.tls": "letsencrypt"}, "edge.tls"),
    ("tls-provided-without-secrets", SINGLE, {"edge.tls": "provided"}, "edge_tls_cert"),
    ("api-host-a-url", SINGLE, {"edge.api_host": "https://api.example.com"}, "edge.api_host"),
    ("api-host-with-a-path", SINGLE, {"edge.api_host": "api.example.com/"}, "edge.api_host"),
    ("edge-unknown-key", SINGLE, {"edge.port": 443}, "edge.port"),
    # invoker
    ("kubernetes-factory-on-docker", SINGLE, {"invoker.container_factory": "kubernetes"},
     "invoker.container_factory"),
    ("runc-state-dir-relative", SINGLE, {"invoker.use_runc": True, "invoker.runc_state_dir": "run/runc"},
     "invoker.runc_state_dir"),
    ("user-memory-too-small", SINGLE, {"invoker.user_memory_mb": 100}, "invoker.user_memory_mb"),
    ("user-memory-without-unit-suffix", SINGLE, {"invoker.user_memory": 2048}, "invoker.user_memory"),
    ("docker-root-relative", SINGLE, {"invoker.docker_root": "var/lib/docker"}, "invoker.docker_root"),
    ("invoker-port-past-65535", SINGLE, {"invoker.http_port": 65000, "hosts[0].invoker_ids": [600]},
     "invoker.http_port"),
    ("invoker-port-is-the-controllers", SINGLE, {"invoker.http_port": 10001}, "invoker.http_port"),
    ("invoker-use-runc-env-not-a-bool", SINGLE, {"invoker.extra_env": {"INVOKER_USE_RUNC": "yes"}},
     "invoker.extra_env.INVOKER_USE_RUNC"),
    ("env-name-with-a-dash", SINGLE, {"invoker.extra_env": {"my-var": "1"}}, "invoker.extra_env"),
    ("akka-key-on-pekko", PEKKO, {"invoker.extra_env": {"CONFIG_akka_loglevel": "DEBUG"}},
     "invoker.extra_env.CONFIG_akka_loglevel"),
    ("single-quote-in-config-value", SINGLE, {"invoker.extra_env": {"CONFIG_whisk_x": "it's"}},
     "invoker.extra_env.CONFIG_whisk_x"),
    ("old-controller-instances", SINGLE, {"controller.extra_env": {"CONTROLLER_INSTANCES": "2"}},
     "controller.extra_env.CONTROLLER_INSTANCES"),
    ("env-value-a-map", SINGLE, {"invoker.extra_env": {"CONFIG_whisk_x": {"a": 1}}},
     "invoker.extra_env.CONFIG_whisk_x"),
    ("planned-couchdb-host", SINGLE, {"controller.extra_env": {"CONFIG_whisk_couchdb_host": "db"}},
     "controller.extra_env.CONFIG_whisk_couchdb_host"),
    ("egress-all", SINGLE, {"invoker.action_network": {"egress": "all"}}, "invoker.action_network.egress"),
    ("blocked-cidr-prefix-33", SINGLE, {"invoker.action_network": {"blocked_cidrs": ["10.0.0.0/33"]}},
     "invoker.action_network.blocked_cidrs"),
    ("allowed-cidr-ipv6", SINGLE, {"invoker.action_network": {"allowed_cidrs": ["fd00::/8"]}},
     "invoker.action_network.allowed_cidrs"),
    ("allowed-cidr-a-string", SINGLE, {"invoker.action_network": {"allowed_cidrs": "192.168.1.0/24"}},
     "invoker.action_network.allowed_cidrs"),
    # controller
    ("controller-port-is-couchdbs", SINGLE, {"controller.http_port": 5984}, "controller.http_port"),
    ("remoting-port-is-http-port", SINGLE, {"controller.remoting_port": 10001}, "controller.remoting_port"),
    ("seed-count-zero", SINGLE, {"controller.seed_count": 0}, "controller.seed_count"),
    ("seed-count-above-controllers", SINGLE, {"controller.seed_count": 3}, "controller.seed_count"),
    ("downing-auto-down", SINGLE, {"controller.downing": "auto-down"}, "controller.downing"),
    # scheduler
    ("scheduler-in-classic", SINGLE, {"scheduler": {"max_peek": 100}}, "scheduler.max_peek"),
    ("time-window-fortnight", PEKKO, {"scheduler.time_window": "1 fortnight"}, "scheduler.time_window"),
    ("lease-timeout-zero", PEKKO, {"scheduler.etcd_lease_timeout_s": 0}, "scheduler.etcd_lease_timeout_s"),
    ("max-peek-negative", PEKKO, {"scheduler.max_peek": -1}, "scheduler.max_peek"),
    ("scheduler-http-is-rpc", PEKKO, {"scheduler.http_port": 13001}, "scheduler.rpc_port"),
    ("scheduler-remoting-is-controllers", PEKKO, {"scheduler.remoting_port": 25520},
     "scheduler.remoting_port"),
    # kafka, couchdb, limits
    ("kafka-port-is-zookeepers", SINGLE, {"kafka.port": 2181}, "kafka.port"),
    ("replication-above-brokers", SINGLE, {"kafka.replication_factor": 3}, "kafka.replication_factor"),
    ("sasl-scram-without-hash", SINGLE, {"kafka.sasl": {"mechanism": "SCRAM"}}, "kafka.sasl.mechanism"),
    ("sasl-without-mechanism", SINGLE, {"kafka.sasl": {}}, "kafka.sasl.mechanism"),
    ("sasl-true", SINGLE, {"kafka.sasl": True}, "kafka.sasl"),
    ("couchdb-port-is-the-edges", SINGLE, {"couchdb.port": 443}, "edge.https_port"),
    ("db-prefix-capitalised", SINGLE, {"couchdb.db_prefix": "Whisk_"}, "couchdb.db_prefix"),
    ("db-prefix-starts-with-a-digit", SINGLE, {"couchdb.db_prefix": "1whisk_"}, "couchdb.db_prefix"),
    ("invokes-per-minute-zero", SINGLE, {"limits.invokes_per_minute": 0}, "limits.invokes_per_minute"),
    ("concurrent-negative", SINGLE, {"limits.concurrent_invokes": -5}, "limits.concurrent_invokes"),
    ("sequence-length-quoted", SINGLE, {"limits.sequence_max_length": "50"}, "limits.sequence_max_length"),
    ("limits-upstream-name", SINGLE, {"limits.actions_invokes_perMinute": 60},
     "limits.actions_invokes_perMinute"),
    # activation store, runtimes, images
    ("backend-elastic", SINGLE, {"activation_store.backend": "elastic"}, "activation_store.backend"),
    ("elasticsearch-without-host", SINGLE, {"activation_store.backend": "elasticsearch"},
     "activation_store.backend"),
    ("index-pattern-without-placeholder", SINGLE, {"activation_store.index_pattern": "openwhisk"},
     "activation_store.index_pattern"),
    ("manifest-missing", SINGLE, {"runtimes.manifest": "runtimes/missing.json"}, "runtimes.manifest"),
    ("manifest-a-directory", SINGLE, {"runtimes.manifest": "runtimes"}, "runtimes.manifest"),
    ("couchdb-image-latest", SINGLE, {"images.couchdb": "apache/couchdb:latest"}, "images.couchdb"),
    ("couchdb-image-without-tag", SINGLE, {"images.couchdb": "apache/couchdb"}, "images.couchdb"),
    ("image-of-another-store", SINGLE, {"images.mysql": "mysql:8.0.36"}, "images.mysql"),
    ("image-empty", SINGLE, {"images.kafka": ""}, "images.kafka"),
    ("image-with-a-space", SINGLE, {"images.nginx": "nginx: 1.30.4"}, "images.nginx"),
    # registry and builds
    ("registry-mode-local", SINGLE, {"registry.mode": "local"}, "registry.mode"),
    ("deploy-without-registry-role", SINGLE, {"registry.mode": "deploy"}, "registry.mode"),
    ("external-without-address", SINGLE, {"registry.mode": "external"}, "registry.address"),
    ("registry-address-a-url", SINGLE, {"registry.mode": "external",
                                        "registry.address": "https://reg.example.com"}, "registry.address"),
    ("registry-port-quoted", SINGLE, {"registry.port": "5000"}, "registry.port"),
    ("build-host-unknown", SINGLE, {"registry.mode": "deploy", "registry.build_host": "builder",
                                    "hosts[0].roles": [*SINGLE["hosts"][0]["roles"], "registry"]},
     "registry.build_host"),
    ("registry-image-mutable", SINGLE, {"registry.mode": "deploy", "registry.image": "registry:2",
                                        "hosts[0].roles": [*SINGLE["hosts"][0]["roles"], "registry"]},
     "registry.image"),
    ("registry-ca-not-pem", SINGLE, {"registry.mode": "external", "registry.address": "reg.example.com",
                                     "registry.ca_cert": "my-ca.crt",
                                     "registry_password": SECRET}, "registry.ca_cert"),
    ("builds-without-registry", SINGLE, {"builds.invoker.context": "tests/fixtures/invoker-build"},
     "builds"),
    ("build-of-an-unknown-image", SINGLE, {"builds.gateway.context": "tests/fixtures/invoker-build"},
     "builds.gateway"),
    ("build-without-context", SINGLE, {"builds.invoker": {"dockerfile": "Dockerfile"}},
     "builds.invoker.context"),
    ("build-platform-without-os", SINGLE, {"registry.mode": "deploy", "hosts[0].roles": [
        *SINGLE["hosts"][0]["roles"], "registry"], "builds.invoker": {
            "context": "tests/fixtures/invoker-build", "platform": "amd64"}},
     "builds.invoker.platform"),
    # rotate
    ("rotate-negative", SINGLE, {"rotate.guest_auth": -1}, "rotate.guest_auth"),
    ("rotate-short-name", SINGLE, {"rotate.guest": 1}, "rotate.guest"),
    ("rotate-the-ssh-key", SINGLE, {"rotate.ssh_private_key": 1}, "rotate.ssh_private_key"),
    # catalog and gateway
    ("catalog-combinators", SINGLE, {"catalog.packages": ["utils", "combinators"]}, "catalog.packages[1]"),
    ("catalog-packages-a-string", SINGLE, {"catalog.packages": "utils"}, "catalog.packages"),
    ("catalog-unknown-build-arg", SINGLE, {"catalog.build_args": {"NODE_VERSION": "20"}},
     "catalog.build_args.NODE_VERSION"),
    ("catalog-image-latest", SINGLE, {"catalog.image": "registry.example.com/catalog:latest"},
     "catalog.image"),
    ("gateway-port-is-management-port", SINGLE, {"apigateway.port": 9000}, "apigateway"),
    ("redis-port-is-couchdbs", SINGLE, {"apigateway.redis_port": 5984}, "apigateway.redis_port"),
    ("gateway-port-is-the-edges-http", SINGLE, {"apigateway.port": 80}, "edge.http_port"),
    # namespaces
    ("namespace-guest", SINGLE, {"namespaces": [{"name": "guest"}]}, "namespaces[0].name"),
    ("namespace-too-short", SINGLE, {"namespaces": [{"name": "a"}]}, "namespaces[0].name"),
    ("namespace-twice", SINGLE, {"namespaces": [{"name": "team-a"}, {"name": "team-a"}]},
     "namespaces[1].name"),
    ("namespace-limit-zero", SINGLE, {"namespaces": [{"name": "team-a", "limits": {
        "invocations_per_minute": 0}}]}, "namespaces[0].limits.invocations_per_minute"),
    ("namespace-kind-unknown", SINGLE, {"namespaces": [{"name": "team-a", "limits": {
        "allowed_kinds": ["nodejs:99"]}}]}, "namespaces[0].limits.allowed_kinds"),
    ("namespaces-as-a-map", SINGLE, {"namespaces": {"team-a": {}}}, "namespaces"),
    ("namespace-with-a-key", SINGLE, {"namespaces": [{"name": "team-a", "key": "abc"}]},
     "namespaces[0].key"),
    ("namespace-limit-upstream-name", SINGLE, {"namespaces": [{"name": "team-a", "limits": {
        "invocationsPerMinute": 10}}]}, "namespaces[0].limits.invocationsPerMinute"),
    # kubernetes
    ("kubernetes-section-on-docker", SINGLE, {"kubernetes": {"namespace": "ow"}}, "kubernetes"),
    ("even-zookeeper-replicas", K8S, {"kubernetes.replicas": {"zookeeper": 2}}, "kubernetes.replicas.zookeeper"),
    ("couchdb-replicas", K8S, {"kubernetes.replicas": {"couchdb": 2}}, "kubernetes.replicas.couchdb"),
    ("service-type-ingress", K8S, {"kubernetes.edge_service_type": "Ingress"},
     "kubernetes.edge_service_type"),
    ("node-port-443", K8S, {"kubernetes.edge_service_type": "NodePort", "kubernetes.ingress": DELETE,
                            "edge": {"https_port": 443, "http_port": None,
                                                               "api_host": "ow.example.com"}}, "edge.https_port"),
    ("same-node-ports", K8S, {"kubernetes.edge_service_type": "NodePort", "kubernetes.ingress": DELETE,
                              "edge": {"https_port": 31001, "http_port": 31001,
                                                                 "api_host": "ow.example.com"}}, "edge.http_port"),
    ("ingress-without-host", K8S, {"kubernetes.ingress": {"class_name": "nginx"}},
     "kubernetes.ingress.host"),
    ("node-label-without-value", K8S, {"kubernetes.invoker_node_label": "gpu"},
     "kubernetes.invoker_node_label"),
    ("namespace-capitalised", K8S, {"kubernetes.namespace": "OpenWhisk"}, "kubernetes.namespace"),
    ("release-too-long", K8S, {"kubernetes.release": "r" * 60}, "kubernetes.release"),
    ("volume-size-in-gb", K8S, {"kubernetes.volume_size": {"couchdb": "10GB"}},
     "kubernetes.volume_size.couchdb"),
    ("ssh-on-kubernetes", K8S, {"ssh": {"user": "ops"}}, "ssh"),
    ("data-dir-on-kubernetes", K8S, {"storage": {"data_dir": "/srv/openwhisk"}}, "storage.data_dir"),
    ("docker-port-on-kubernetes", K8S, {"controller": {"http_port": 10002}}, "controller.http_port"),
    ("logs-on-kubernetes", K8S, {"logs": {"containers": {"max_files": 5}}}, "logs.containers"),
    # ssh, storage, verify, logs
    ("ssh-without-user", SINGLE, {"ssh": {"port": 22}}, "ssh.user"),
    ("ssh-port-zero", SINGLE, {"ssh": {"user": "ops", "port": 0}}, "ssh.port"),
    ("ssh-sudo-sometimes", SINGLE, {"ssh": {"user": "ops", "sudo": "sometimes"}}, "ssh.sudo"),
    ("ssh-as-a-string", SINGLE, {"ssh": "ops@10.0.0.1"}, "ssh"),
    ("data-dir-relative", SINGLE, {"storage.data_dir": "data"}, "storage.data_dir"),
    ("data-dir-with-a-space", SINGLE, {"storage.data_dir": "/srv/open whisk"}, "storage.data_dir"),
    ("verify-timeout-too-short", SINGLE, {"verify.timeout_s": 30}, "verify.timeout_s"),
    ("verify-timeout-with-unit", SINGLE, {"verify.timeout_s": "10m"}, "verify.timeout_s"),
    ("log-size-with-unit", SINGLE, {"logs.actions.max_size_mb": "100m"}, "logs.actions.max_size_mb"),
    ("log-files-zero", SINGLE, {"logs.containers.max_files": 0}, "logs.containers.max_files"),
    # secrets
    ("couchdb-password-supplied", SINGLE, {"couchdb_admin_password": "hunter22"}, "couchdb_admin_password"),
    ("tls-cert-in-plain-text", SINGLE, {"edge.tls": "provided", "edge_tls_cert": "-----BEGIN CERT",
                                        "edge_tls_key": "-----BEGIN KEY"}, "edge_tls_cert"),
    ("ssh-key-in-plain-text", SINGLE, {"ssh": {"user": "ops"}, "ssh_private_key": "-----BEGIN"},
     "ssh_private_key"),
    ("guest-key-supplied", SINGLE, {"guest_auth": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"},
     "guest_auth"),
    ("unknown-top-level-key", SINGLE, {"invokers": 3}, "invokers"),
]


def first_problem(raw: dict[str, Any]) -> str | None:
    """The first problem line for `raw`, from the config check or, once it passes, the port check
    that runs on the plan; None when the config goes through. A secret key's value is supplied as
    `pulumi config set` would: encrypted when it is SECRET, else in plain text."""
    supplied = {k: raw.pop(k) for k in list(raw) if k in SECRET_KEYS}
    plain = frozenset(k for k, v in supplied.items() if v is not SECRET)
    try:
        plan = planner.plan(parse(raw, secret_keys=frozenset(supplied), plain_keys=plain, base_dir=ROOT))
    except ConfigError as err:
        return err.problems[0]
    problems = port_problems(plan)
    return problems[0] if problems else None


@pytest.mark.parametrize(("base", "changes", "path"),
                         [pytest.param(b, c, p, id=i) for i, b, c, p in CASES])
def test_a_new_users_bad_config_is_refused_naming_path_value_and_fix(base, changes, path):
    line = first_problem(change(base, changes))
    assert line is not None, "the config went through"
    assert re.match(rf"openwhisk:{re.escape(path)}: ", line), line
    assert re.search(r" \(got .*\); \S", line), line


def test_the_corpus_holds_more_than_a_hundred_distinct_configs():
    assert len(CASES) >= 100
    assert len({i for i, *_ in CASES}) == len(CASES)
