"""The config package on platform: kubernetes: defaults, the Kubernetes-only rules and the Docker
rules that apply unchanged, each with its exact problem line."""

from __future__ import annotations

from typing import Any

import pytest

import config
from config import parse
from tests.conftest import ROOT
from tests.test_config import DELETE, LINE, SINGLE, change, problems

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

#: The smallest valid Kubernetes stack: classic mode, the API host from an ingress.
K8S: dict[str, Any] = {
    "platform": "kubernetes",
    "version": {"tag": "ef725a6"},
    "kubernetes": {"ingress": {"host": "openwhisk.example.com"}},
}

#: Scheduler mode (tag 1fae641) with three brokers, three ZooKeepers and three etcd members.
K8S_SCHEDULER: dict[str, Any] = change(K8S, {
    "version.tag": "1fae641",
    "kubernetes.replicas": {"kafka": 3, "zookeeper": 3, "etcd": 3, "controller": 2},
})

PORT_FIX = "on kubernetes components reach each other at their container ports"


def test_defaults_of_a_kubernetes_stack():
    cfg = parse(K8S, base_dir=ROOT).config
    assert (cfg.platform, cfg.hosts, cfg.container_factory) == ("kubernetes", (), "kubernetes")
    kube = cfg.kube
    assert (kube.namespace, kube.release, kube.context, kube.kubeconfig, kube.cluster_domain,
            kube.storage_class, kube.edge_service_type, kube.invoker_node_label) == (
        "openwhisk", "ow", None, None, "cluster.local", None, "LoadBalancer", None)
    assert kube.replicas.model_dump() == {"controller": 1, "invoker": 1, "kafka": 1, "zookeeper": 1,
                                          "etcd": 1, "scheduler": 1, "elasticsearch": 1}
    assert kube.volume_size.model_dump() == {"couchdb": "10Gi", "kafka": "10Gi", "zookeeper": "2Gi",
                                             "etcd": "2Gi", "elasticsearch": "10Gi", "redis": "1Gi",
                                             "prometheus": "10Gi", "grafana": "1Gi"}
    assert kube.ingress == config.Ingress(host="openwhisk.example.com", class_name=None)
    assert kube.node_label is None


def test_an_absent_kubernetes_section_means_every_default():
    cfg = parse(change(K8S, {"kubernetes": DELETE, "edge.api_host": "203.0.113.7"}), base_dir=ROOT).config
    assert cfg.kubernetes is None and cfg.kube == config.Kubernetes()


def test_the_docker_factory_stays_available_and_the_node_label_splits():
    cfg = parse(change(K8S, {"invoker.container_factory": "docker", "invoker.use_runc": True,
                             "kubernetes.invoker_node_label": "example.com/pool=invokers"}),
                base_dir=ROOT).config
    assert (cfg.container_factory, cfg.invoker.use_runc) == ("docker", True)
    assert cfg.kube.node_label == ("example.com/pool", "invokers")


def test_docker_stacks_keep_the_docker_factory():
    assert parse(SINGLE, base_dir=ROOT).config.container_factory == "docker"
    cfg = parse(change(SINGLE, {"invoker.container_factory": "docker"}), base_dir=ROOT).config
    assert cfg.container_factory == "docker"


CASES = [
    # what only Docker hosts have
    pytest.param(K8S, {"hosts": [{"name": "a", "address": "10.0.0.1", "roles": ["couchdb"]}]}, [
        "openwhisk:hosts: used only with platform: docker (got 1 host(s)); remove it (pulumi config "
        "rm openwhisk:hosts): on kubernetes the instances of each service come from "
        "kubernetes.replicas",
    ], id="hosts-on-kubernetes"),
    pytest.param(SINGLE, {"kubernetes": {"release": "x"}}, [
        "openwhisk:kubernetes: used only with platform: kubernetes (got {\"release\": \"x\"}); remove "
        "it (pulumi config rm openwhisk:kubernetes) or set platform: kubernetes",
    ], id="kubernetes-on-docker"),
    pytest.param(K8S, {"ssh": {"user": "deploy"}, "storage": {"data_dir": "/srv"},
                       "verify": {"enabled": True}}, [
        "openwhisk:ssh: used only to reach Docker hosts (got {\"user\": \"deploy\"}); remove it "
        "(pulumi config rm openwhisk:ssh); an ssh:// registry.builder uses your ssh agent",
        "openwhisk:storage.data_dir: a directory on Docker hosts (got '/srv'); remove it (pulumi config "
        "rm --path 'storage.data_dir'): on kubernetes data lives on PersistentVolumeClaims "
        "(kubernetes.storage_class, volume_size)",
        "openwhisk:verify.enabled: the post-deploy check runs only on the docker platform (got true); "
        "remove it (pulumi config rm --path 'verify.enabled') and check a kubernetes stack with wsk "
        "(see the README, Kubernetes)",
    ], id="docker-only-sections"),
    pytest.param(K8S, {"verify": {"enabled": False, "timeout_s": 900}}, [
        "openwhisk:verify.timeout_s: the post-deploy check runs only on the docker platform (got "
        "900); remove it (pulumi config rm --path 'verify.timeout_s') and check a kubernetes stack "
        "with wsk (see the README, Kubernetes)",
    ], id="verify-timeout"),
    pytest.param(K8S_SCHEDULER, {"couchdb": {"port": 5985}, "controller": {"http_port": 10002},
                       "scheduler": {"http_port": 14002}, "invoker": {"http_port": 12002}}, [
        f"openwhisk:couchdb.port: a port published on a Docker host; {PORT_FIX} (got 5985); remove it "
        f"(pulumi config rm --path 'couchdb.port')",
        f"openwhisk:controller.http_port: a port published on a Docker host; {PORT_FIX} (got 10002); "
        f"remove it (pulumi config rm --path 'controller.http_port')",
        f"openwhisk:scheduler.http_port: a port published on a Docker host; {PORT_FIX} (got 14002); "
        f"remove it (pulumi config rm --path 'scheduler.http_port')",
        f"openwhisk:invoker.http_port: a port published on a Docker host; {PORT_FIX} (got 12002); "
        f"remove it (pulumi config rm --path 'invoker.http_port')",
    ], id="published-ports"),
    pytest.param(K8S, {"invoker.docker_root": "/data/docker", "invoker.runc_state_dir": "/run/x"}, [
        "openwhisk:invoker.docker_root: used only with the docker container factory (got "
        "'/data/docker'); remove it (pulumi config rm --path 'invoker.docker_root') or set "
        "invoker.container_factory: docker",
        "openwhisk:invoker.runc_state_dir: used only with the docker container factory (got "
        "'/run/x'); remove it (pulumi config rm --path 'invoker.runc_state_dir') or set "
        "invoker.container_factory: docker",
    ], id="docker-factory-settings-with-the-kubernetes-factory"),
    # replicas
    pytest.param(K8S_SCHEDULER, {"kubernetes.replicas.zookeeper": 2, "kubernetes.replicas.etcd": 4}, [
        "openwhisk:kubernetes.replicas.zookeeper: a quorum needs an odd number of members (got 2); "
        "set it to 1 or 3",
        "openwhisk:kubernetes.replicas.etcd: a quorum needs an odd number of members (got 4); set it "
        "to 3 or 5",
    ], id="even-quorum"),
    pytest.param(K8S, {"kubernetes.replicas": {"etcd": 3, "scheduler": 2}}, [
        "openwhisk:kubernetes.replicas.etcd: used only in scheduler mode, but the stack runs in "
        "classic mode (got 3); remove it or set version.mode: scheduler",
        "openwhisk:kubernetes.replicas.scheduler: used only in scheduler mode, but the stack runs in "
        "classic mode (got 2); remove it or set version.mode: scheduler",
    ], id="scheduler-replicas-in-classic-mode"),
    pytest.param(K8S, {"kubernetes.replicas": {"elasticsearch": 3}}, [
        "openwhisk:kubernetes.replicas.elasticsearch: used only with activation_store.backend: "
        "elasticsearch (got 3); remove it or set activation_store.backend: elasticsearch",
    ], id="elasticsearch-replicas-without-the-store"),
    pytest.param(K8S, {"invoker.container_factory": "docker", "kubernetes.replicas": {"invoker": 3}}, [
        "openwhisk:kubernetes.replicas.invoker: the docker container factory runs one invoker on every "
        "node that matches kubernetes.invoker_node_label (a DaemonSet) (got 3); remove it, or use "
        "invoker.container_factory: kubernetes for a fixed number of invokers",
    ], id="invoker-replicas-with-the-docker-factory"),
    pytest.param(K8S_SCHEDULER, {"kafka.replication_factor": 5, "controller.seed_count": 3}, [
        "openwhisk:kafka.replication_factor: more than the number of Kafka brokers, 3 (got 5); lower "
        "it to at most 3 or raise kubernetes.replicas.kafka",
        "openwhisk:controller.seed_count: seed nodes are chosen among the 2 controller(s), so at most "
        "2 (got 3); lower it or raise kubernetes.replicas.controller",
    ], id="replication-factor-and-seeds-above-replicas"),
    # names
    pytest.param(K8S, {"kubernetes.release": "a-very-long-release-name-that-goes-on-and-on-xx"}, [
        "openwhisk:kubernetes.release: too long for the object names made from it: StatefulSet "
        "'a-very-long-release-name-that-goes-on-and-on-xx-controller-0' would have 60 characters, "
        "more than 52 (got 'a-very-long-release-name-that-goes-on-and-on-xx'); use at most 39 "
        "characters",
    ], id="release-too-long"),
    pytest.param(K8S, {"kubernetes.release": "1ow", "kubernetes.namespace": "Open_Whisk"}, [
        "openwhisk:kubernetes.namespace: expected a DNS label: up to 63 lowercase letters, digits or "
        "'-', starting and ending with a letter or digit (got 'Open_Whisk'); set it with pulumi "
        "config set --path 'kubernetes.namespace' <string>",
        "openwhisk:kubernetes.release: expected a short DNS label: lowercase letters, digits or '-', "
        "starting with a letter (got '1ow'); set it with pulumi config set --path "
        "'kubernetes.release' <string>",
    ], id="namespace-and-release-not-dns-labels"),
    pytest.param(K8S, {"kubernetes.ingress.host": "10.0.0.1"}, [
        "openwhisk:kubernetes.ingress.host: an IP address, but an Ingress host must be a DNS name "
        "(got '10.0.0.1'); use the DNS name wsk clients reach the ingress controller at, e.g. "
        "openwhisk.example.com (lowercase letters, digits, '-' and '.')",
    ], id="ingress-host-ip"),
    pytest.param(K8S, {"kubernetes.ingress.host": "Open Whisk"}, [
        "openwhisk:kubernetes.ingress.host: not a DNS name (got 'Open Whisk'); use the DNS name wsk "
        "clients reach the ingress controller at, e.g. openwhisk.example.com (lowercase letters, "
        "digits, '-' and '.')",
    ], id="ingress-host-invalid"),
    pytest.param(K8S, {"kubernetes.invoker_node_label": "openwhisk-role"}, [
        "openwhisk:kubernetes.invoker_node_label: expected a node label written key=value (got "
        "'openwhisk-role'); use the label your invoker nodes carry, e.g. openwhisk-role=invoker "
        "(label it with kubectl label node <node> openwhisk-role=invoker)",
    ], id="node-label-without-value"),
    pytest.param(K8S, {"kubernetes.volume_size": {"kafka": "ten"}}, [
        "openwhisk:kubernetes.volume_size.kafka: expected a Kubernetes quantity such as 10Gi or 500Mi "
        "(got 'ten'); set it with pulumi config set --path 'kubernetes.volume_size.kafka' <string>",
    ], id="volume-size"),
    pytest.param(K8S, {"kubernetes.edge_service_type": "Ingress"}, [
        "openwhisk:kubernetes.edge_service_type: expected 'ClusterIP', 'NodePort' or 'LoadBalancer' "
        "(got 'Ingress'); set it with pulumi config set --path 'kubernetes.edge_service_type' "
        "<value>",
    ], id="edge-service-type"),
    pytest.param(K8S, {"kubernetes.namspace": "x"}, [
        "openwhisk:kubernetes.namspace: unknown key (got 'x'); rename it to 'namespace' or remove it "
        "(pulumi config rm --path 'kubernetes.namspace')",
    ], id="unknown-kubernetes-key"),
    # the edge
    pytest.param(K8S, {"kubernetes.ingress": DELETE}, [
        "openwhisk:edge.api_host: required on kubernetes without kubernetes.ingress (got none); set "
        "it to the name or address wsk reaches the edge Service at (e.g. the load balancer's DNS "
        "name), or set kubernetes.ingress.host",
    ], id="api-host-required-without-ingress"),
    pytest.param(K8S, {"edge.api_host": "other.example.com"}, [
        "openwhisk:edge.api_host: differs from kubernetes.ingress.host, which is the API host with an "
        "ingress (got 'other.example.com'); remove it or set it to 'openwhisk.example.com'",
    ], id="api-host-differs-from-ingress"),
    pytest.param(K8S, {"kubernetes.edge_service_type": "NodePort"}, [
        "openwhisk:edge.https_port: with kubernetes.edge_service_type NodePort it is the node port, "
        "which Kubernetes takes from 30000-32767 (got 443); set it to a free port in that range, "
        "e.g. 31001",
        "openwhisk:edge.http_port: with kubernetes.edge_service_type NodePort it is the node port, "
        "which Kubernetes takes from 30000-32767 (got 80); set it to a free port in that range, e.g. "
        "31080",
    ], id="node-ports-out-of-range"),
    # the registry
    pytest.param(K8S, {"registry": {"mode": "deploy"}}, [
        "openwhisk:registry.mode: deploy runs the registry on a Docker host, and kubernetes has none "
        "(got 'deploy'); use mode: external with a registry the cluster's nodes can pull from, or "
        "none",
    ], id="registry-deploy"),
    pytest.param(K8S, {"registry": {"mode": "external", "address": "reg.example.com:5000",
                                    "build_host": "core-1", "ca_cert": CA_PEM}}, [
        "openwhisk:registry_password: required with registry.mode: external (got none); set it with "
        "pulumi config set --secret registry_password",
        "openwhisk:registry.builder: required on kubernetes with mode external, to pull, build and "
        "push the images (got none); set it to a Docker endpoint, e.g. unix:///var/run/docker.sock "
        "or ssh://user@build-host",
        "openwhisk:registry.build_host: names a Docker host, and kubernetes has none (got 'core-1'); "
        "remove it and set registry.builder instead",
        "openwhisk:registry.ca_cert: the program cannot make the cluster's nodes trust a CA (got a "
        "certificate); install the CA on every node's container runtime and on the builder, then "
        "remove it",
    ], id="registry-external-without-builder"),
    pytest.param(K8S, {"registry": {"builder": "unix:///var/run/docker.sock"}}, [
        "openwhisk:registry.builder: used only with a registry (got 'unix:///var/run/docker.sock'); "
        "remove it or set registry.mode: external",
    ], id="builder-without-registry"),
    pytest.param(K8S, {"registry": {"mode": "external", "address": "r:5000", "builder": "tcp://x"}}, [
        "openwhisk:registry.builder: not a supported docker endpoint (got 'tcp://x'); use "
        "unix:///var/run/docker.sock for the local daemon or ssh://user@host[:port] for a remote one",
    ], id="builder-not-an-endpoint"),
    pytest.param(SINGLE, {"registry": {"mode": "none", "builder": "unix:///var/run/docker.sock"}}, [
        "openwhisk:registry.builder: used only with platform: kubernetes (got "
        "'unix:///var/run/docker.sock'); remove it: on Docker hosts registry.build_host names the host "
        "that builds and pushes",
    ], id="builder-on-docker"),
    # the same rules as on Docker hosts, the same lines
    pytest.param(K8S, {"invoker.use_runc": True}, [
        "openwhisk:invoker.use_runc: runc pause/resume works only with the docker container factory "
        "(got true with container_factory 'kubernetes'); set use_runc: false or use "
        "container_factory: docker",
    ], id="runc-with-the-default-kubernetes-factory"),
    pytest.param(K8S, {"images.nginx": "nginx:latest"}, [
        "openwhisk:images.nginx: 'latest' is a mutable tag (got 'nginx:latest'); pin a version tag or "
        "a digest, or set version.allow_mutable_tags: true",
    ], id="mutable-image-tag"),
    pytest.param(K8S, {"invoker.user_memory_mb": 256}, [
        "openwhisk:invoker.user_memory_mb: less than the 512 MB that the stem cells of the runtime "
        "manifest take when an invoker starts (got 256); raise it to at least 512 or lower stemCells "
        "in runtimes/default.json",
    ], id="stem-cells-above-user-memory"),
    pytest.param(K8S, {"invoker.extra_env": {"CONFIG_whisk_spi_ContainerFactoryProvider": "x"}}, [
        "openwhisk:invoker.extra_env.CONFIG_whisk_spi_ContainerFactoryProvider: overrides a key the "
        "program plans from invoker.container_factory (got 'x'); set invoker.container_factory "
        "instead",
    ], id="planned-extra-env-key"),
]


@pytest.mark.parametrize(("base", "changes", "expected"), CASES)
def test_problem_line(base, changes, expected):
    assert problems(change(base, changes)) == expected


def test_every_line_names_path_value_and_fix():
    lines = [line for p in CASES for line in p.values[2]]
    assert [line for line in lines if not LINE.fullmatch(line)] == []


def test_secrets_only_docker_hosts_use_are_refused():
    assert problems(K8S, secret_keys=frozenset({"ssh_private_key"})) == [
        "openwhisk:ssh_private_key: used only to prepare Docker hosts over ssh (got a secret value); "
        "remove it (pulumi config rm openwhisk:ssh_private_key)",
    ]


def test_external_registry_with_a_builder_is_valid():
    raw = change(K8S, {"registry": {"mode": "external", "address": "registry.example.com",
                                    "builder": "ssh://build@10.0.0.9"}})
    cfg = parse(raw, base_dir=ROOT, secret_keys=frozenset({"registry_password"})).config
    assert (cfg.registry.mode, cfg.registry.builder) == ("external", "ssh://build@10.0.0.9")


def test_release_at_the_length_limit_is_accepted():
    release = "r" * 39
    assert parse(change(K8S, {"kubernetes.release": release}), base_dir=ROOT).config.kube.release == release
    assert problems(change(K8S, {"kubernetes.release": release + "x"}))[0].endswith(
        f"(got '{release}x'); use at most 39 characters")


def test_many_replicas_lengthen_the_longest_name():
    # With the ES store and 101 members, `<release>-elasticsearch-100` is the longest StatefulSet.
    raw = change(K8S_SCHEDULER, {"activation_store.backend": "elasticsearch",
                                 "kubernetes.replicas.elasticsearch": 101})
    assert parse(change(raw, {"kubernetes.release": "r" * 34}), base_dir=ROOT)
    assert problems(change(raw, {"kubernetes.release": "r" * 35})) == [
        "openwhisk:kubernetes.release: too long for the object names made from it: StatefulSet "
        f"'{'r' * 35}-elasticsearch-100' would have 53 characters, more than 52 (got '{'r' * 35}'); "
        "use at most 34 characters"]


def test_the_manifest_rules_are_the_docker_ones(tmp_path):
    import copy
    import json

    from tests.test_config import BASE_MANIFEST, HEALTH
    data = copy.deepcopy(BASE_MANIFEST)
    data["runtimes"].pop("nodejs")
    (tmp_path / "runtimes.json").write_text(json.dumps(data))
    assert problems(change(K8S, {"runtimes.manifest": "runtimes.json"}), base_dir=tmp_path) == [
        "openwhisk:runtimes.manifest: runtimes.json: runtimes.nodejs: no nodejs family with a default "
        f"kind (got families: 'python'); add one: {HEALTH}",
    ]


def test_one_node_port_cannot_serve_https_and_http():
    raw = change(K8S, {"kubernetes.edge_service_type": "NodePort",
                       "edge": {"https_port": 31001, "http_port": 31001}})
    del raw["kubernetes"]["ingress"]
    raw["edge"]["api_host"] = "openwhisk.example.com"
    assert problems(raw) == [
        "openwhisk:edge.http_port: the same port as edge.https_port, and one node port cannot "
        "serve both (got 31001); give it another port, or null for no plain-HTTP redirect"]


@pytest.mark.parametrize("changes,expected", [
    pytest.param({"kubernetes.resources": {"controller": {"memory": "256Mi"}}},
                 "openwhisk:kubernetes.resources.controller.memory: the heap is half of it, and a heap "
                 "under 256 MiB does not run controller (got '256Mi'); give it at least 512Mi",
                 id="jvm-memory-too-small"),
    pytest.param({"kubernetes.resources": {"controller": {"cpu_limit": "250m"}}},
                 "openwhisk:kubernetes.resources.controller.cpu_limit: below the CPU request '1', "
                 "which Kubernetes refuses (got '250m'); raise it to at least '1', or lower "
                 "controller.cpu too", id="cpu-limit-below-the-default-request"),
    pytest.param({"controller": {"extra_env": {"JAVA_OPTS": "-Xmx4g"}}},
                 "openwhisk:controller.extra_env.JAVA_OPTS: on kubernetes the plan sets the heap to "
                 "half the pod's memory (got '-Xmx4g'); remove it and set "
                 "kubernetes.resources.controller.memory instead", id="java-opts"),
    pytest.param({"kubernetes.tolerations": [{"operator": "Exists", "value": "x"}]},
                 "openwhisk:kubernetes.tolerations[0]: operator Exists matches any value, so it takes "
                 "none (got {\"operator\": \"Exists\", \"value\": \"x\"}); remove value, or use "
                 "operator: Equal", id="exists-with-a-value"),
    pytest.param({"kubernetes.tolerations": [{"value": "x"}]},
                 "openwhisk:kubernetes.tolerations[0]: operator Equal needs a key (got {\"value\": "
                 "\"x\"}); give the taint's key, or use operator: Exists without a key to tolerate "
                 "every taint", id="equal-without-a-key"),
    pytest.param({"kubernetes.resources": {"edge": {"cpu": "0"}}},
                 "openwhisk:kubernetes.resources.edge.cpu: expected a CPU quantity: millicores such as "
                 "500m, or cores such as 2 or 1.5 (got '0'); set it with pulumi config set --path "
                 "'kubernetes.resources.edge.cpu' <string>", id="zero-cpu"),
    pytest.param({"kubernetes.anti_affinity": "soft"},
                 "openwhisk:kubernetes.anti_affinity: expected 'preferred' or 'required' (got "
                 "'soft'); set it with pulumi config set --path 'kubernetes.anti_affinity' <value>",
                 id="anti-affinity-unknown"),
    pytest.param({"kubernetes.tolerations": [{"key": "a", "effect": "Never"}]},
                 "openwhisk:kubernetes.tolerations[0].effect: expected 'NoSchedule', "
                 "'PreferNoSchedule' or 'NoExecute' (got 'Never'); set it with pulumi config set "
                 "--path 'kubernetes.tolerations[0].effect' <value>", id="toleration-effect-unknown"),
    pytest.param({"kubernetes.node_selector": {"a b": "c"}},
                 "openwhisk:kubernetes.node_selector: a b: 'c' is not a node label (got {\"a b\": "
                 "\"c\"}); give each label as key: value, e.g. node-role/openwhisk: 'true'",
                 id="node-selector-not-a-label"),
])
def test_each_pod_placement_and_resource_rule_reports_one_exact_line(changes, expected):
    assert problems(change(K8S, changes)) == [expected]


def test_the_config_and_the_planner_agree_on_which_services_get_a_heap():
    from planner.kubernetes import HEAP
    assert sorted(k.replace("-", "_") for k in HEAP) == sorted(config.HEAP_SERVICES)
    assert sorted(config.DEFAULT_POD_RESOURCES) == sorted(config.PodResourcesByService.model_fields)
