"""The planner on platform: kubernetes: addresses, names, labels, workloads, Services, RBAC and
the Kubernetes-specific environment, exactly. No Pulumi involved."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

import config
import planner
from planner import kube_names
from planner import kubernetes as kube
from planner.model import ConfigMapRef, Digests, FieldRef, Mount, Plan, Secret
from planner.placement import reach_port
from tests.conftest import ROOT, parse_stack_file
from tests.test_config import change

NS = "openwhisk.svc.cluster.local"
BASE: dict[str, Any] = {
    "platform": "kubernetes",
    "version": {"tag": "1fae641"},
    "kubernetes": {"ingress": {"host": "openwhisk.example.com"}},
}
#: Seed 001's setup: scheduler mode, Kafka with SASL, the ElasticSearch activation store, three of
#: each store and two controllers.
SEED: dict[str, Any] = change(BASE, {
    "kafka": {"replication_factor": 3, "sasl": {"mechanism": "SCRAM-SHA-512"}},
    "activation_store": {"backend": "elasticsearch"},
    "kubernetes.replicas": {"kafka": 3, "zookeeper": 3, "etcd": 3, "elasticsearch": 3,
                            "controller": 2, "scheduler": 2, "invoker": 2},
})


def plan_of(raw: dict[str, Any], **kw: Any) -> Plan:
    return planner.plan(config.parse(raw, base_dir=ROOT, **kw))


def env(plan: Plan, key: str) -> dict[str, Any]:
    return next(c for c in plan.containers() if c.key == key).env_dict()


def container(plan: Plan, key: str):
    return next(c for c in plan.containers() if c.key == key)


def pod(service: str, i: int) -> str:
    return f"ow-{service}-{i}-0.ow-{service}.{NS}"


def k8s_plan() -> Plan:
    return planner.plan(parse_stack_file("k8s"))


def every_plan() -> list[Plan]:
    return [
        k8s_plan(), plan_of(BASE), plan_of(SEED),
        plan_of(change(BASE, {"invoker.container_factory": "docker",
                              "kubernetes.invoker_node_label": "openwhisk-role=invoker"})),
        plan_of(change(SEED, {"registry": {"mode": "external", "address": "registry.example.com",
                                           "builder": "ssh://build@10.0.0.9"},
                              "kafka.sasl.mechanism": "PLAIN"}),
                secret_keys=frozenset({"registry_password"})),
        plan_of(change(BASE, {"version.tag": "ef725a6", "kubernetes.ingress": None,
                              "edge.api_host": "203.0.113.7",
                              "kubernetes.edge_service_type": "NodePort",
                              "edge.https_port": 31001, "edge.http_port": None})),
    ]


# -- addresses and endpoints --------------------------------------------------------------------


def test_instances_are_reached_at_their_pods_dns_names_and_container_ports():
    p = plan_of(SEED)
    assert p.endpoints == {
        "apiHost": "https://openwhisk.example.com",
        "couchdb": f"http://{pod('couchdb', 0)}:5984",
        "kafka": ",".join(f"{pod('kafka', i)}:9092" for i in range(3)),
        "zookeeper": ",".join(f"{pod('zookeeper', i)}:2181" for i in range(3)),
        "controllers": [f"http://{pod('controller', i)}:8080" for i in range(2)],
        "invokers": [f"http://{pod('invoker', i)}:8080" for i in range(2)],
        "etcd": ",".join(f"{pod('etcd', i)}:2379" for i in range(3)),
        "schedulers": [f"http://{pod('scheduler', i)}:8080" for i in range(2)],
        "elasticsearch": f"http://{pod('elasticsearch', 0)}:9200",
        "apigateway": f"http://{pod('apigateway', 0)}:9000",
    }
    assert (p.api_host, p.platform, p.hosts, p.verify) == ("openwhisk.example.com", "kubernetes", (), None)


def test_published_ports_are_used_only_on_docker_hosts():
    docker = parse_stack_file("dev").config
    assert (reach_port(docker, 5984, 15984), reach_port(k8s_plan_config(), 5984, 15984)) == (15984, 5984)


def k8s_plan_config() -> config.StackConfig:
    return parse_stack_file("k8s").config


def test_release_namespace_and_domain_shape_every_address():
    p = plan_of(change(BASE, {"kubernetes.release": "fw", "kubernetes.namespace": "faas",
                              "kubernetes.cluster_domain": "k8s.internal"}))
    assert p.endpoints["couchdb"] == "http://fw-couchdb-0-0.fw-couchdb.faas.svc.k8s.internal:5984"
    assert env(p, "invoker-0")["CONFIG_whisk_helm_release"] == "fw"
    assert p.kubernetes.workloads["kafka-0"].name == "fw-kafka-0"


def test_controllers_advertise_their_pods_and_seed_from_them():
    e = env(plan_of(SEED), "controller-1")
    assert {k: v for k, v in e.items() if k.startswith("CONFIG_pekko_")} == {
        "CONFIG_pekko_actor_provider": "cluster",
        "CONFIG_pekko_remote_artery_canonical_hostname": pod("controller", 1),
        "CONFIG_pekko_remote_artery_canonical_port": "25520",
        "CONFIG_pekko_remote_artery_bind_hostname": "0.0.0.0",
        "CONFIG_pekko_remote_artery_bind_port": "25520",
        "CONFIG_pekko_cluster_seedNodes_0": f"pekko://controller-actor-system@{pod('controller', 0)}:25520",
        "CONFIG_pekko_cluster_seedNodes_1": f"pekko://controller-actor-system@{pod('controller', 1)}:25520",
        "CONFIG_pekko_coordinatedShutdown_exitJvm": "on",
    }
    assert container(plan_of(SEED), "controller-1").command == ("/init.sh", "1")
    assert env(plan_of(SEED), "scheduler-1")["WHISK_SCHEDULER_ENDPOINTS_HOST"] == pod("scheduler", 1)


def test_stores_get_their_planned_ids_and_peers():
    p = plan_of(SEED)
    zk = env(p, "zookeeper-2")
    assert (zk["ZOO_MY_ID"], zk["ZOO_STANDALONE_ENABLED"]) == ("3", "false")
    assert zk["ZOO_SERVERS"] == (f"server.1={pod('zookeeper', 0)}:2888:3888;2181 "
                                 f"server.2={pod('zookeeper', 1)}:2888:3888;2181 "
                                 "server.3=0.0.0.0:2888:3888;2181")
    kafka = env(p, "kafka-1")
    assert (kafka["KAFKA_NODE_ID"], kafka["KAFKA_ADVERTISED_LISTENERS"]) == (
        "1", f"EXTERNAL://{pod('kafka', 1)}:9092")
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(
        f"{i}@{pod('kafka', i)}:9093" for i in range(3))
    etcd = container(p, "etcd-0").command
    assert etcd[etcd.index("--initial-cluster") + 1] == ",".join(
        f"etcd{i}=http://{pod('etcd', i)}:2380" for i in range(3))
    assert etcd[etcd.index("--advertise-client-urls") + 1] == f"http://{pod('etcd', 0)}:2379"
    es = env(p, "elasticsearch-2")
    assert (es["node.name"], es["network.publish_host"]) == ("es2", pod("elasticsearch", 2))
    assert es["discovery.zen.ping.unicast.hosts"] == ",".join(
        f"{pod('elasticsearch', i)}:9300" for i in range(3))


def test_the_edge_proxies_to_the_controller_service_and_serves_the_ingress_in_plain_http():
    conf = dict((f.path, f.content) for f in container(k8s_plan(), "edge-0").files)["/etc/nginx/nginx.conf"]
    assert f"        server ow-controller-api.{NS}:8080 max_fails=1 fail_timeout=5s;\n" in conf
    assert "    server {\n        listen 8080;\n\n" in conf
    assert conf.count("location = /disable { return 403; }") == 2
    no_ingress = plan_of(change(BASE, {"kubernetes.ingress": None, "edge.api_host": "203.0.113.7"}))
    conf = dict((f.path, f.content) for f in container(no_ingress, "edge-0").files)["/etc/nginx/nginx.conf"]
    assert "listen 8080" not in conf
    assert [(p.container, p.published, p.name) for p in container(no_ingress, "edge-0").ports] == [
        (443, 443, "https"), (80, 80, "http")]


def test_the_edge_certificate_names_the_api_host_and_the_edge_service():
    tls = next(s for s in k8s_plan().secrets if s.name == "edge_tls_cert").tls
    assert (tls.common_name, tls.dns_names, tls.ip_addresses) == (
        "openwhisk.example.com", ("openwhisk.example.com", f"ow-edge.{NS}"), ())


def test_without_an_ingress_the_api_host_is_edge_api_host_with_its_port():
    p = plan_of(change(BASE, {"kubernetes.ingress": None, "edge.api_host": "ow.example.net",
                              "kubernetes.edge_service_type": "NodePort", "edge.https_port": 31001,
                              "edge.http_port": 31080}))
    assert (p.api_host, p.endpoints["apiHost"]) == ("ow.example.net:31001", "https://ow.example.net:31001")
    assert (env(p, "invoker-0")["WHISK_API_HOST_NAME"], env(p, "invoker-0")["WHISK_API_HOST_PORT"]) == (
        "ow.example.net", "31001")
    [edge] = p.kubernetes.services["edge"]
    assert (edge.name, edge.type) == ("ow-edge", "NodePort")
    assert [(x.name, x.port, x.target, x.node_port) for x in edge.ports] == [
        ("https", 31001, 443, 31001), ("http", 31080, 80, 31080)]


def test_with_an_ingress_the_api_is_on_443_whatever_edge_https_port_says():
    p = plan_of(change(BASE, {"edge.https_port": 8443}))
    assert (p.api_host, env(p, "invoker-0")["WHISK_API_HOST_PORT"]) == ("openwhisk.example.com", "443")
    [edge, backend] = p.kubernetes.services["edge"]
    assert [(x.name, x.port, x.target) for x in edge.ports] == [("https", 8443, 443), ("http", 80, 80)]
    assert (backend.name, backend.type, [(x.name, x.port) for x in backend.ports]) == (
        "ow-edge-backend", "ClusterIP", [("ingress", 8080)])


# -- workloads, names and labels ------------------------------------------------------------------


def test_every_planned_container_has_its_workload():
    p = plan_of(SEED)
    got = {k: (w.kind, w.name, w.component) for k, w in p.kubernetes.workloads.items()}
    jobs = {k: got.pop(k) for k in ("couchdb-init-0", "couchdb-tenants-0", "kafka-scram-users-0",
                                     "etcd-auth-0")}
    assert {k: (kind, comp) for k, (kind, _, comp) in jobs.items()} == {
        "couchdb-init-0": ("Job", "couchdb-init"), "couchdb-tenants-0": ("Job", "couchdb-tenants"),
        "kafka-scram-users-0": ("Job", "kafka-scram-users"), "etcd-auth-0": ("Job", "etcd-auth")}
    assert jobs["couchdb-init-0"][1].startswith("ow-couchdb-init-")
    assert len(jobs["couchdb-init-0"][1]) == len("ow-couchdb-init-") + 10
    expected = {"couchdb-0": ("StatefulSet", "ow-couchdb-0", "couchdb"),
                "edge-0": ("Deployment", "ow-edge", "edge"),
                "redis-0": ("StatefulSet", "ow-redis-0", "redis"),
                "apigateway-0": ("StatefulSet", "ow-apigateway-0", "apigateway")}
    for service, n in (("zookeeper", 3), ("kafka", 3), ("etcd", 3), ("elasticsearch", 3),
                       ("controller", 2), ("scheduler", 2), ("invoker", 2)):
        expected |= {f"{service}-{i}": ("StatefulSet", f"ow-{service}-{i}", service) for i in range(n)}
    assert got == expected
    assert {c.key: c.name for c in p.containers()} == {k: w.name for k, w in p.kubernetes.workloads.items()}
    kafka = p.kubernetes.workloads["kafka-2"]
    assert (kafka.service_name, dict(kafka.selector)) == ("ow-kafka", {
        "app.kubernetes.io/name": "kafka", "app.kubernetes.io/instance": "ow",
        "app.kubernetes.io/component": "kafka", "openwhisk/replica": "2"})


LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
          "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}


@pytest.mark.parametrize("index", range(6))
def test_names_fit_and_are_unique_and_every_object_is_labelled(index):
    p = every_plan()[index]
    k = p.kubernetes
    objects = [(w.kind, w.name, dict(w.labels)) for w in k.workloads.values()]
    objects += [("Service", s.name, dict(s.labels)) for group in k.services.values() for s in group]
    objects += [("PodDisruptionBudget", b.name, dict(b.labels)) for b in k.budgets.values()]
    if k.rbac:
        objects += [(kind, k.rbac.name, dict(k.rbac.labels))
                    for kind in ("ServiceAccount", "Role", "RoleBinding")]
    if k.ingress:
        objects.append(("Ingress", k.ingress.name, dict(k.ingress.labels)))
    objects.append(("Namespace", k.namespace, dict(k.labels)))
    assert [(kind, n) for kind, n, _ in objects if len(n) > kube_names.limit(kind)] == []
    assert [key for key, count in Counter((kind, n) for kind, n, _ in objects).items() if count > 1] == []
    assert [(kind, n) for kind, n, labels in objects if not LABELS <= set(labels)] == []
    assert {labels["app.kubernetes.io/part-of"] for *_, labels in objects} == {"openwhisk"}
    # The invokers' factory deletes pods labelled invoker=... and release=...: ours carry neither.
    assert [n for _, n, labels in objects if {"invoker", "release"} & set(labels)] == []


def test_job_names_follow_their_inputs():
    def job(raw, **kw):
        return plan_of(raw, **kw).kubernetes.workloads["couchdb-init-0"].name
    base = job(BASE)
    assert job(BASE) == base
    assert job(change(BASE, {"couchdb": {"db_prefix": "ow_"}})) != base
    assert job(change(BASE, {"rotate": {"guest_auth": 1}})) != base
    assert job(change(BASE, {"images.couchdb": "apache/couchdb:2.3.2"})) != base
    assert job(change(BASE, {"controller": {"extra_env": {"CONFIG_logback_log_level": "DEBUG"}}})) == base
    assert job(change(BASE, {"rotate": {"kafka_client_password": 1}})) == base


def test_instances_that_start_alone_roll_one_at_a_time_quorum_members_after_deployed_ones():
    p = plan_of(SEED)
    assert container(p, "controller-1").depends_on[-1] == "controller-0"
    assert container(p, "invoker-1").depends_on[-1] == "invoker-0"
    assert container(p, "scheduler-1").depends_on[-1] == "scheduler-0"
    for service in ("zookeeper", "kafka", "etcd", "elasticsearch"):
        assert [container(p, f"{service}-{i}").depends_on for i in range(3)] == [(), (), ()]
        assert [container(p, f"{service}-{i}").rolls_after for i in range(3)] == [
            None, f"{service}-0", f"{service}-1"]
    # The plan's own order is kept: the SCRAM users step after the brokers, invokers after
    # schedulers.
    assert container(p, "kafka-scram-users-0").depends_on == ("kafka-0", "kafka-1", "kafka-2")
    assert container(p, "invoker-0").depends_on == (
        "couchdb-init-0", "controller-0", "controller-1", "scheduler-0", "scheduler-1")


def test_claims_are_named_sized_and_made_writable_for_the_image_user():
    p = plan_of(change(SEED, {"kubernetes.volume_size": {"zookeeper": "5Gi", "kafka": "50Gi"}}))
    claims = {(s.name, v.key): (v.name, v.size, v.host) for s in p.services for v in s.volumes}
    assert claims[("zookeeper", "zookeeper-1-datalog")] == ("datalog", "5Gi", None)
    assert claims[("kafka", "kafka-0-data")] == ("data", "50Gi", None)
    assert claims[("couchdb", "couchdb-0-data")] == ("data", "10Gi", None)
    assert claims[("etcd", "etcd-0-data")] == ("data", "2Gi", None)
    assert claims[("redis", "redis-0-data")] == ("data", "1Gi", None)
    assert len(claims) == 1 + 3 * 2 + 3 + 3 + 3 + 1
    groups = {k: w.fs_group for k, w in p.kubernetes.workloads.items() if w.kind == "StatefulSet"}
    assert (groups["couchdb-0"], groups["zookeeper-0"], groups["elasticsearch-0"], groups["kafka-0"],
            groups["etcd-0"], groups["controller-0"], groups["redis-0"]) == (
        5984, 1000, 1000, 1000, None, None, 999)
    assert container(p, "kafka-0").mounts == (Mount("/var/lib/kafka/data", volume="kafka-0-data"),)
    sysctls = {k: w.node_sysctls for k, w in p.kubernetes.workloads.items() if w.node_sysctls}
    assert sysctls == {f"elasticsearch-{i}": (("vm.max_map_count", 262144),) for i in range(3)}


def test_services_and_budgets():
    k = plan_of(SEED).kubernetes
    assert {n: [(s.name, s.type) for s in group] for n, group in k.services.items()} == {
        "couchdb": [("ow-couchdb", None)], "zookeeper": [("ow-zookeeper", None)],
        "kafka": [("ow-kafka", None)], "etcd": [("ow-etcd", None)],
        "elasticsearch": [("ow-elasticsearch", None)],
        "controller": [("ow-controller", None), ("ow-controller-api", "ClusterIP")],
        "scheduler": [("ow-scheduler", None)], "invoker": [("ow-invoker", None)],
        "edge": [("ow-edge", "LoadBalancer"), ("ow-edge-backend", "ClusterIP")],
        "redis": [("ow-redis", None)],
        "apigateway": [("ow-apigateway", None), ("ow-apigateway-api", "ClusterIP")],
    }
    # nginx resolves its upstreams once, at start: their Services exist before it.
    assert [s.name for group in k.services.values() for s in group if s.early] == [
        "ow-controller-api", "ow-apigateway-api"]
    [zk] = k.services["zookeeper"]
    assert [(p.name, p.port, p.target) for p in zk.ports] == [
        ("client", 2181, 2181), ("peer", 2888, 2888), ("election", 3888, 3888)]
    assert dict(zk.selector) == {"app.kubernetes.io/name": "zookeeper", "app.kubernetes.io/instance": "ow",
                                 "app.kubernetes.io/component": "zookeeper"}
    assert {n: (b.name, b.max_unavailable) for n, b in k.budgets.items()} == {
        n: (f"ow-{n}", 1) for n in ("couchdb", "zookeeper", "kafka", "etcd", "elasticsearch",
                                    "controller", "scheduler", "invoker", "redis", "apigateway")}


def test_namespace_wide_objects_and_the_provider():
    k = k8s_plan().kubernetes
    assert (k.namespace, k.release, k.context, k.kubeconfig, k.cluster_identifier, k.storage_class) == (
        "openwhisk", "ow", "openwhisk-cluster", None, "openwhisk-cluster", "standard")
    # Without a context, never a constant: the provider compares the kubeconfig's active cluster.
    assert plan_of(BASE).kubernetes.cluster_identifier is None
    assert k.pull_secret is None
    [(key, manifest)] = k.config_maps["runtimes"]
    assert key == "runtimes.json" and json.loads(manifest)["runtimes"]["nodejs"]
    jvm = [c for c in k8s_plan().containers() if c.service in ("controller", "scheduler", "invoker")]
    assert {c.env_dict()["RUNTIMES_MANIFEST"] for c in jvm} == {ConfigMapRef("runtimes", "runtimes.json")}


# -- claim settings ---------------------------------------------------------------------------


def test_claim_settings_are_the_class_and_the_size_of_each_service_with_claims():
    assert kube.claim_settings(plan_of(change(SEED, {"kubernetes.storage_class": "fast",
                                                     "kubernetes.volume_size.kafka": "50Gi"}))) == {
        "storageClass": "fast", "volumeSize": {
            "couchdb": "10Gi", "zookeeper": "2Gi", "kafka": "50Gi", "etcd": "2Gi",
            "elasticsearch": "10Gi", "redis": "1Gi"}}
    # Without a class, the cluster's default; services without claims are left out.
    assert kube.claim_settings(plan_of(BASE)) == {"storageClass": None, "volumeSize": {
        "couchdb": "10Gi", "zookeeper": "2Gi", "kafka": "10Gi", "etcd": "2Gi", "redis": "1Gi"}}


NOW = {"storageClass": "standard", "volumeSize": {"couchdb": "10Gi", "kafka": "20Gi"}}
DEFAULT_CLASS = "none (the cluster's default class)"


@pytest.mark.parametrize(("deployed", "expected"), [
    (None, []),
    (NOW, []),
    ({"storageClass": "standard", "volumeSize": {"couchdb": "10Gi"}}, []),  # kafka is new
    ({"storageClass": "standard", "volumeSize": {"couchdb": "10Gi", "kafka": "20Gi", "etcd": "2Gi"}},
     []),  # etcd is gone
    ({"storageClass": "fast", "volumeSize": NOW["volumeSize"]},
     [("storage_class", "'fast'", "'standard'")]),
    ({"volumeSize": NOW["volumeSize"]},  # a class of None may come back as a missing key
     [("storage_class", DEFAULT_CLASS, "'standard'")]),
    ({"storageClass": "standard", "volumeSize": {"couchdb": "5Gi", "kafka": "40Gi"}},
     [("volume_size.couchdb", "'5Gi'", "'10Gi'"), ("volume_size.kafka", "'40Gi'", "'20Gi'")]),
], ids=["new-stack", "unchanged", "new-service", "removed-service", "class", "class-from-default",
        "sizes"])
def test_claim_warnings_name_exactly_the_settings_that_changed(deployed, expected):
    found = [re.match(r"openwhisk:kubernetes\.(\S+): changed from (.+) to (.+) since the last "
                      r"deployment\. ", w) for w in kube.claim_warnings(deployed, NOW)]
    assert [m.groups() for m in found] == expected


def test_claim_warnings_say_what_happens_to_existing_claims_and_where_to_read_on():
    [cls] = kube.claim_warnings({"storageClass": None, "volumeSize": {}}, NOW)
    assert cls == (
        "openwhisk:kubernetes.storage_class: changed from none (the cluster's default class) to "
        "'standard' since the last deployment. Existing PersistentVolumeClaims keep their class (a "
        "claim's class cannot change, and each StatefulSet keeps the claim templates it was made "
        "with): the new class applies only to claims made from now on, by new instances (a raised "
        "kubernetes.replicas, a newly enabled service). To move existing data onto it, see "
        "'Troubleshooting on Kubernetes' in README.md.")
    [size] = kube.claim_warnings({"storageClass": "standard", "volumeSize": {"kafka": "10Gi"}}, NOW)
    assert size == (
        "openwhisk:kubernetes.volume_size.kafka: changed from '10Gi' to '20Gi' since the last "
        "deployment. Existing PersistentVolumeClaims keep their size (each StatefulSet keeps the "
        "claim templates it was made with): the new size applies only to claims made from now on, "
        "by new instances (a raised kubernetes.replicas, a newly enabled service). To grow an "
        "existing claim where its StorageClass allows expansion, see 'Troubleshooting on "
        "Kubernetes' in README.md.")
    assert "### Troubleshooting on Kubernetes" in (ROOT / "README.md").read_text()
    default = NOW | {"storageClass": None}
    assert kube.claim_warnings(default, default) == []


# -- invokers ---------------------------------------------------------------------------------


FACTORY_KEYS = ("CONFIG_whisk_spi_ContainerFactoryProvider", "CONFIG_whisk_helm_release",
                "CONFIG_whisk_runtime_delete_timeout",
                "CONFIG_whisk_docker_containerFactory_useRunc",
                "CONFIG_whisk_containerFactory_containerArgs_network", "ZOOKEEPER_HOSTS")


def factory_env(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k in FACTORY_KEYS or k.startswith("CONFIG_whisk_kubernetes_")}


def test_kubernetes_factory_invoker():
    p = k8s_plan()
    c = container(p, "invoker-0")
    assert factory_env(c.env_dict()) == {
        "CONFIG_whisk_spi_ContainerFactoryProvider":
            "org.apache.openwhisk.core.containerpool.kubernetes.KubernetesContainerFactoryProvider",
        "CONFIG_whisk_helm_release": "ow",
        "CONFIG_whisk_runtime_delete_timeout": "30 seconds",
        "CONFIG_whisk_kubernetes_userPodNodeAffinity_enabled": "false",
    }
    assert (c.command, c.mounts, c.privileged, c.host_pid, [f.path for f in c.files]) == (
        ("/init.sh", "--id", "0", "--uniqueName", "0"), (), False, False,
        ["/openwhisk-pulumi/secrets.conf"])
    assert [(x.container, x.name) for x in c.ports] == [(8080, "http")]
    w = p.kubernetes.workloads["invoker-0"]
    assert (w.kind, w.service_account, w.node_selector, w.pull_images) == ("StatefulSet", "ow-invoker", (), ())
    assert p.services[-2].prepull == ()


def test_a_node_label_turns_on_action_pod_affinity():
    e = env(plan_of(change(BASE, {"kubernetes.invoker_node_label": "openwhisk-role=invoker"})), "invoker-0")
    assert factory_env(e) | {"CONFIG_whisk_spi_ContainerFactoryProvider": ""} == {
        "CONFIG_whisk_spi_ContainerFactoryProvider": "",
        "CONFIG_whisk_helm_release": "ow",
        "CONFIG_whisk_runtime_delete_timeout": "30 seconds",
        "CONFIG_whisk_kubernetes_userPodNodeAffinity_enabled": "true",
        "CONFIG_whisk_kubernetes_userPodNodeAffinity_key": "openwhisk-role",
        "CONFIG_whisk_kubernetes_userPodNodeAffinity_value": "invoker",
    }


def test_with_a_registry_action_pods_get_the_pull_secret_through_a_pod_template():
    p = plan_of(change(BASE, {"registry": {"mode": "external", "address": "registry.example.com:5000",
                                           "builder": "ssh://build@10.0.0.9:2222"}}),
                secret_keys=frozenset({"registry_password"}))
    c = container(p, "invoker-0")
    assert c.env_dict()["CONFIG_whisk_kubernetes_podTemplate"] == "file:/ow-invoker/pod-template.yaml"
    assert c.env_dict()["CONFIG_whisk_containerFactory_runtimesRegistry_url"] == "registry.example.com:5000/"
    assert [(f.path, f.content) for f in c.files][0] == (
        "/ow-invoker/pod-template.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec:\n  imagePullSecrets:\n    - name: ow-registry\n")
    assert [f.path for f in c.files][1:] == ["/openwhisk-pulumi/secrets.conf"]
    assert p.kubernetes.pull_secret == "ow-registry"
    [builder] = p.hosts
    assert (builder.name, builder.address, builder.docker, builder.ssh, builder.ssh_opts, builder.prep) == (
        "builder", "10.0.0.9", "ssh://build@10.0.0.9:2222", None,
        ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222", "-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/openwhisk-%C", "-o", "ControlPersist=60", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"), ())
    assert (p.registry.build_host, p.registry.deployed, p.registry.ca_cert) == ("builder", False, None)
    # The manifest names each runtime image by digest, filled from the image pipeline.
    [(_, manifest)] = p.kubernetes.config_maps["runtimes"]
    assert isinstance(manifest, Digests)
    assert '"tag":"1.15.0@${digest_runtime_openwhisk_dockerskeleton}"' in manifest.template


def test_docker_factory_invokers_are_a_daemonset_on_the_labelled_nodes():
    p = plan_of(change(BASE, {"invoker.container_factory": "docker", "invoker.use_runc": True,
                              "kubernetes.invoker_node_label": "openwhisk-role=invoker"}))
    c = container(p, "invoker-nodes")
    e = c.env_dict()
    assert factory_env(e) == {
        "CONFIG_whisk_spi_ContainerFactoryProvider":
            "org.apache.openwhisk.core.containerpool.docker.DockerContainerFactoryProvider",
        "CONFIG_whisk_docker_containerFactory_useRunc": "true",
        "CONFIG_whisk_containerFactory_containerArgs_network": "bridge",
        "ZOOKEEPER_HOSTS": f"{pod('zookeeper', 0)}:2181",
    }
    assert e["NODE_NAME"] == FieldRef("spec.nodeName")
    assert c.command == ("/init.sh", "--uniqueName", "$(NODE_NAME)")
    assert (c.privileged, c.host_pid) == (True, True)
    assert [(m.target, m.host_path) for m in c.mounts] == [
        ("/var/run/docker.sock", "/var/run/docker.sock"), ("/containers", "/var/lib/docker/containers"),
        ("/sys/fs/cgroup", "/sys/fs/cgroup"), ("/run/runc", "/run/docker/runtime-runc/moby")]
    w = p.kubernetes.workloads["invoker-nodes"]
    assert (w.kind, w.name, w.service_account, w.node_selector) == (
        "DaemonSet", "ow-invoker", None, (("openwhisk-role", "invoker"),))
    assert w.pull_images == tuple(i.key for i in p.images if i.kind == "runtime") != ()
    assert (p.kubernetes.rbac, p.kubernetes.services.get("invoker"), p.kubernetes.budgets.get("invoker")) == (
        None, None, None)
    assert p.endpoints["invokers"] == []


def test_the_invoker_role_holds_only_what_the_factory_needs():
    rbac = k8s_plan().kubernetes.rbac
    assert rbac.name == "ow-invoker"
    assert [(r.api_groups, r.resources, r.verbs) for r in rbac.rules] == [
        (("",), ("pods",), ("create", "get", "list", "watch", "delete", "deletecollection", "patch")),
        (("",), ("pods/log",), ("get",)),
    ]
    assert all(r.why.count(":") >= len(r.verbs) for r in rbac.rules)


def test_secrets_stay_templates_in_the_plan():
    for p in every_plan():
        for c in p.containers():
            for key, value in c.env:
                if "PASSWORD" in key or key.endswith("_AUTH") or "Jaas" in key:
                    assert isinstance(value, Secret) or value == "", (c.key, key)


@pytest.mark.parametrize("tag", sorted(config.KNOWN_TAGS))
def test_kubernetes_invokers_get_zookeeper_hosts_exactly_when_their_tag_requires_it(tag):
    raw = change(BASE, {"version": {"tag": tag, "mode": "scheduler"}})
    want = f"{pod('zookeeper', 0)}:2181" if config.KNOWN_TAGS[tag].zookeeper_hosts_required else None
    assert env(plan_of(raw), "invoker-0").get("ZOOKEEPER_HOSTS") == want


# -- the catalog ------------------------------------------------------------------------------


def test_with_a_registry_the_catalog_installer_is_built_pushed_and_run_as_a_job():
    p = plan_of(change(BASE, {"registry": {"mode": "external", "address": "registry.example.com:5000",
                                           "builder": "ssh://build@10.0.0.9:2222"}}),
                secret_keys=frozenset({"registry_password"}))
    image = p.image("catalog")
    assert image.ref.startswith("openwhisk-pulumi/catalog:1.0.0-")
    assert image.target == "registry.example.com:5000/builds/catalog:" + image.ref.split(":", 1)[1]
    assert dict(image.inline.args)["ROUTEMGMT_COMMIT"] == "1fae641a2b30bccb7ddc69d2d215866d899a8510"
    job = p.kubernetes.workloads["catalog-0"]
    assert (job.kind, job.component) == ("Job", "catalog")
    assert env(p, "catalog-0") == {
        "OW_API_URL": f"http://ow-controller-api.{NS}:8080",
        "OW_APIGW_URL": f"http://ow-apigateway-0-0.ow-apigateway.{NS}:9000/v2",
        "OW_AUTH_FILE": "/ow-catalog/system.auth", "OW_PACKAGES": "utils samples websocket github slack",
        "OW_TIMEOUT_S": "300"}
    assert p.warnings == ()


def test_without_a_registry_or_an_image_the_catalog_is_left_out_with_a_warning():
    p = plan_of(BASE)
    assert "catalog-0" not in p.kubernetes.workloads and "catalog" not in [i.key for i in p.images]
    assert p.warnings == (
        "openwhisk:catalog: not installed: on kubernetes the installer image is built on "
        "registry.builder and pushed for the cluster to pull, and this stack has no registry (got "
        "registry.mode: none); set registry (mode external, with builder), or catalog.image to a "
        "prebuilt installer image, or catalog.enabled: false to silence this",)
    # A prebuilt image needs no build: the cluster pulls it as given.
    p = plan_of(change(BASE, {"catalog": {"image": "registry.example.com/ow/catalog:1.0.0"}}))
    assert (p.image("catalog").ref, p.image("catalog").inline) == ("registry.example.com/ow/catalog:1.0.0", None)
    assert p.warnings == ()


# -- resources, heaps, placement -------------------------------------------------------------------

def test_every_pod_gets_its_services_resources_and_each_jvm_half_of_its_memory_as_heap():
    plan = plan_of(SEED)
    workloads = plan.kubernetes.workloads
    assert {k: (w.resources.cpu, w.resources.memory, w.resources.cpu_limit)
            for k, w in workloads.items()
            if k in ("couchdb-0", "couchdb-init-0", "zookeeper-2", "kafka-1", "etcd-0", "controller-1",
                     "scheduler-0", "invoker-1", "elasticsearch-0", "edge-0", "redis-0",
                     "apigateway-0")} == {
        "couchdb-0": ("500m", "1Gi", None), "couchdb-init-0": ("100m", "256Mi", None),
        "zookeeper-2": ("250m", "1Gi", None), "kafka-1": ("500m", "2Gi", None),
        "etcd-0": ("250m", "512Mi", None), "controller-1": ("1", "2Gi", None),
        "scheduler-0": ("500m", "2Gi", None), "invoker-1": ("500m", "1Gi", None),
        "elasticsearch-0": ("500m", "2Gi", None), "edge-0": ("100m", "128Mi", None),
        "redis-0": ("100m", "256Mi", None), "apigateway-0": ("100m", "256Mi", None)}
    assert all(w.resources is not None for w in workloads.values())
    heaps = {k: {v for n, v in env(plan, k).items()
                 if n in ("JAVA_OPTS", "KAFKA_HEAP_OPTS", "ES_JAVA_OPTS", "ZK_SERVER_HEAP")}
             for k in ("controller-0", "scheduler-1", "invoker-0", "kafka-2", "elasticsearch-1",
                       "zookeeper-0", "couchdb-0", "couchdb-init-0")}
    assert heaps == {
        "controller-0": {"-Xmx1024m"}, "scheduler-1": {"-Xmx1024m"}, "invoker-0": {"-Xmx512m"},
        "kafka-2": {"-Xms1024m -Xmx1024m"}, "elasticsearch-1": {"-Xms1024m -Xmx1024m"},
        "zookeeper-0": {"512"}, "couchdb-0": set(), "couchdb-init-0": set()}


def test_resources_tolerations_node_selector_and_anti_affinity_from_config():
    plan = plan_of(change(SEED, {
        "kubernetes.resources": {"controller": {"memory": "3Gi", "cpu_limit": "2"},
                                 "steps": {"cpu": "50m"}},
        "kubernetes.node_selector": {"node-role.example.com/openwhisk": "true"},
        "kubernetes.tolerations": [{"key": "dedicated", "value": "openwhisk", "effect": "NoSchedule"},
                                   {"operator": "Exists"}],
        "kubernetes.anti_affinity": "required"}))
    w = plan.kubernetes.workloads
    assert (w["controller-0"].resources.cpu, w["controller-0"].resources.memory,
            w["controller-0"].resources.cpu_limit) == ("1", "3Gi", "2")
    assert env(plan, "controller-0")["JAVA_OPTS"] == "-Xmx1536m"
    assert (w["couchdb-init-0"].resources.cpu, w["couchdb-init-0"].resources.memory) == ("50m", "256Mi")
    assert {k: (x.node_selector, [(t.key, t.operator, t.value, t.effect) for t in x.tolerations])
            for k, x in w.items()} == {k: (
                (("node-role.example.com/openwhisk", "true"),),
                [("dedicated", "Equal", "openwhisk", "NoSchedule"), (None, "Exists", None, None)])
        for k in w}
    # Each StatefulSet keeps away from the other instances of its role; Jobs and the edge do not.
    assert {k: (dict(x.spread), x.spread_required) for k, x in w.items()
            if k in ("kafka-0", "kafka-2", "couchdb-init-0", "edge-0")} == {
        "kafka-0": (dict(kube_names.selector("ow", "kafka", "kafka")), True),
        "kafka-2": (dict(kube_names.selector("ow", "kafka", "kafka")), True),
        "couchdb-init-0": ({}, False), "edge-0": ({}, False)}
    assert kube_names.REPLICA_LABEL not in dict(w["kafka-0"].spread)


def test_action_pods_tolerate_the_configured_taints_through_their_pod_template():
    tolerations = [{"key": "dedicated", "value": "openwhisk", "effect": "NoSchedule"},
                   {"operator": "Exists", "effect": "NoExecute"}]
    p = plan_of(change(BASE, {"kubernetes.tolerations": tolerations}))
    c = container(p, "invoker-0")
    assert c.env_dict()["CONFIG_whisk_kubernetes_podTemplate"] == "file:/ow-invoker/pod-template.yaml"
    assert dict((f.path, f.content) for f in c.files)["/ow-invoker/pod-template.yaml"] == (
        "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec:\n  tolerations:\n"
        '    - {"key": "dedicated", "operator": "Equal", "value": "openwhisk", "effect": "NoSchedule"}\n'
        '    - {"operator": "Exists", "effect": "NoExecute"}\n')
    # Without a registry or tolerations there is no template, and the factory builds pods alone.
    plain = container(plan_of(BASE), "invoker-0")
    assert "CONFIG_whisk_kubernetes_podTemplate" not in plain.env_dict()
    assert "/ow-invoker/pod-template.yaml" not in [f.path for f in plain.files]
