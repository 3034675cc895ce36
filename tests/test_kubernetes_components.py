"""The Kubernetes components under recording mocks, each with a hand-written plan slice: the exact
objects and the fields that matter."""

from __future__ import annotations

import json

import pulumi
import pytest

from components import (
    KubernetesCluster, KubernetesClusterArgs, KubernetesIngress, KubernetesIngressArgs,
    KubernetesInvokerRbac, KubernetesInvokerRbacArgs, KubernetesService, KubernetesServiceArgs,
)
from components._values import RegistryAuth
from components.kubernetes_service import readiness_probe
from planner import env as jvm
from planner.model import (
    ConfigMapRef, Container, Digests, FieldRef, File, Health, IngressPlan, InvokerRbac, KubeBudget,
    KubePort, KubernetesPlan, KubeResources, KubeService, KubeToleration, KubeWorkload, Mount, Port,
    RbacRule, Secret, Service,
    VolumePlan,
)
from tests.conftest import run_pulumi, unwrap

STS = "kubernetes:apps/v1:StatefulSet"
JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"

L = (("app.kubernetes.io/name", "kafka"), ("app.kubernetes.io/instance", "ow"),
     ("app.kubernetes.io/component", "kafka"), ("app.kubernetes.io/part-of", "openwhisk"),
     ("app.kubernetes.io/managed-by", "pulumi"))
SELECT = L[:3]
STEP_LABELS = tuple((k, "kafka-step" if k.endswith("component") else v) for k, v in L)

KAFKA = Service("kafka", (
    Container(key="kafka-step-0", service="kafka", host=None, name="ow-kafka-step-0123456789",
              image="kafka", entrypoint=("/bin/sh", "/step/run.sh"),
              env=(("STEP_PASSWORD", Secret.of("p")), ("ZK", "zk:2181")),
              files=(File("/step/run.sh", "echo hi"),), one_shot=True),
    Container(key="kafka-0", service="kafka", host=None, name="ow-kafka-0", image="kafka",
              env=(("A", "1"), ("JAAS", Secret("user=x password=${p}")),
                   ("MANIFEST", ConfigMapRef("runtimes", "runtimes.json")),
                   ("NODE", FieldRef("spec.nodeName")),
                   ("REF", Digests("img@${digest_kafka}"))),
              command=("start",),
              ports=(Port(9092, 9092, "kafka"),),
              mounts=(Mount("/kafka", volume="kafka-0-data"),),
              files=(File("/etc/kafka/log4j.properties", "log4j=1"),
                     File("/etc/kafka/jaas.conf", Secret.of("p"))),
              health=Health(("CMD-SHELL", "nc -z 127.0.0.1 9092"), wait=True),
              depends_on=("kafka-step-0", "zookeeper-0")),
), (VolumePlan("kafka-0-data", None, "data", owner=(1000, 1000), size="20Gi"),))

KUBE = KubernetesPlan(
    namespace="openwhisk", release="ow", cluster_domain="cluster.local", context="ctx",
    kubeconfig="/home/me/.kube/config", cluster_identifier="ctx", storage_class="fast",
    labels=(("app.kubernetes.io/name", "openwhisk"),),
    workloads={
        "kafka-step-0": KubeWorkload(key="kafka-step-0", kind="Job", name="ow-kafka-step-0123456789",
                                     component="kafka-step", labels=STEP_LABELS, selector=()),
        "kafka-0": KubeWorkload(key="kafka-0", kind="StatefulSet", name="ow-kafka-0",
                                component="kafka", labels=L + (("openwhisk/replica", "0"),),
                                selector=SELECT + (("openwhisk/replica", "0"),),
                                service_name="ow-kafka", fs_group=1000,
                                node_selector=(("pool", "openwhisk"),),
                                resources=KubeResources("500m", "2Gi", cpu_limit="2"),
                                tolerations=(KubeToleration("dedicated", "Equal", "openwhisk",
                                                            "NoSchedule"),),
                                spread=SELECT),
    },
    services={"kafka": (KubeService("ow-kafka", None, (KubePort("kafka", 9092, 9092),), SELECT, L),)},
    budgets={"kafka": KubeBudget("ow-kafka", SELECT, L)},
    config_maps={"runtimes": (("runtimes.json", Digests('{"image":"x@${digest_kafka}"}')),)},
)


def _service(preview: bool = False):
    secrets = {"p": pulumi.Output.secret("s3cret")}
    digests = {"kafka": pulumi.Output.from_input("sha256:abc")}

    def declare():
        zookeeper = pulumi.CustomResource("test:index:Dummy", "zookeeper-0")
        KubernetesService("kafka", KubernetesServiceArgs(
            service=KAFKA, kube=KUBE, namespace="openwhisk",
            images={"kafka": "registry/kafka@sha256:abc"}, secrets=secrets,
            config_maps={"runtimes": "runtimes-1234"}, after={"zookeeper-0": zookeeper},
            digests=digests, pull_secret="ow-registry"))
    return run_pulumi(declare, preview=preview)


def test_statefulset_of_an_instance():
    run = _service()
    sts = run.mocks.named("kafka-0", STS)["inputs"]
    secret = run.mocks.named("kafka-0-secrets", SECRET)
    # Auto-named: a changed value is a new Secret with a new name, which rolls the pod.
    assert "name" not in secret["inputs"]["metadata"]
    assert sts["metadata"] == {"name": "ow-kafka-0", "namespace": "openwhisk",
                               "labels": dict(KUBE.workloads["kafka-0"].labels)}
    spec = sts["spec"]
    pod = spec.pop("template")
    assert spec == {
        "serviceName": "ow-kafka", "replicas": 1.0,
        "selector": {"matchLabels": dict(SELECT) | {"openwhisk/replica": "0"}},
        "updateStrategy": {"type": "RollingUpdate"},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "volumeClaimTemplates": [{
            "metadata": {"name": "data", "labels": dict(KUBE.workloads["kafka-0"].labels)},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                     "resources": {"requests": {"storage": "20Gi"}}}}],
    }
    # Kubernetes cannot change claim templates: Pulumi keeps them as first made.
    assert run.monitor.opts(STS, "kafka-0")["ignore_changes"] == ["spec.volumeClaimTemplates"]
    assert pod["metadata"] == {"labels": dict(KUBE.workloads["kafka-0"].labels)}
    s = pod["spec"]
    [c] = s.pop("containers")
    files = run.mocks.named("kafka-0-files", CONFIG_MAP)["inputs"]["metadata"]
    assert "name" not in files
    assert s == {
        "volumes": [
            {"name": "secrets", "secret": {"secretName": _auto("kafka-0-secrets"),
                                           "items": [{"key": "jaas.conf", "path": "jaas.conf"}]}},
            {"name": "files", "configMap": {"name": _auto("kafka-0-files")}}],
        "enableServiceLinks": False, "automountServiceAccountToken": False,
        "imagePullSecrets": [{"name": "ow-registry"}],
        "securityContext": {"fsGroup": 1000.0, "fsGroupChangePolicy": "OnRootMismatch"},
        "nodeSelector": {"pool": "openwhisk"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "openwhisk",
                         "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100.0, "podAffinityTerm": {"labelSelector": {"matchLabels": dict(SELECT)},
                                                "topologyKey": "kubernetes.io/hostname"}}]}},
    }
    assert c == {
        "name": "kafka", "image": "registry/kafka@sha256:abc", "args": ["start"],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "JAAS", "valueFrom": {"secretKeyRef": {"name": _auto("kafka-0-secrets"), "key": "JAAS"}}},
            {"name": "MANIFEST", "valueFrom": {"configMapKeyRef": {"name": "runtimes-1234",
                                                                   "key": "runtimes.json"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "REF", "value": "img@sha256:abc"},
        ],
        "ports": [{"name": "kafka", "containerPort": 9092.0}],
        "volumeMounts": [
            {"name": "files", "mountPath": "/etc/kafka/log4j.properties",
             "subPath": "log4j.properties", "readOnly": True},
            {"name": "secrets", "mountPath": "/etc/kafka/jaas.conf", "subPath": "jaas.conf",
             "readOnly": True},
            {"name": "data", "mountPath": "/kafka"}],
        "readinessProbe": {"exec": {"command": ["/bin/sh", "-c", "nc -z 127.0.0.1 9092"]},
                           "periodSeconds": 10.0, "timeoutSeconds": 5.0, "failureThreshold": 3.0},
        # Liveness asks only whether the broker's port answers, never whether it is ready.
        "startupProbe": {"tcpSocket": {"port": 9092.0}, "periodSeconds": 10.0, "timeoutSeconds": 5.0,
                         "failureThreshold": 60.0},
        "livenessProbe": {"tcpSocket": {"port": 9092.0}, "periodSeconds": 20.0, "timeoutSeconds": 5.0,
                          "failureThreshold": 3.0},
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"},
                      "limits": {"memory": "2Gi", "cpu": "2"}},
    }
    data, is_secret = unwrap(secret["inputs"]["stringData"])
    assert is_secret and data == {"JAAS": "user=x password=s3cret", "jaas.conf": "s3cret"}
    assert run.mocks.named("kafka-0-files", CONFIG_MAP)["inputs"]["data"] == {"log4j.properties": "log4j=1"}


def _auto(logical: str) -> str:
    import hashlib
    return f"{logical}-{hashlib.sha256(logical.encode()).hexdigest()[:8]}"


def test_one_shot_step_is_a_job_without_ttl_that_the_instance_waits_for():
    run = _service()
    job = run.mocks.named("kafka-step-0", JOB)["inputs"]
    assert job["metadata"]["name"] == "ow-kafka-step-0123456789"
    pod = job["spec"].pop("template")
    assert job["spec"] == {"backoffLimit": 4.0}
    assert pod["spec"]["restartPolicy"] == "Never"
    [c] = pod["spec"]["containers"]
    assert (c["name"], c["command"], "args" in c, "readinessProbe" in c) == (
        "kafka-step", ["/bin/sh", "/step/run.sh"], False, False)
    assert c["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "STEP_PASSWORD"
    deps = run.monitor.opts(STS, "kafka-0")["dependencies"]
    assert sorted(d.split("::")[-1] for d in deps if "Job" in d or "Dummy" in d) == [
        "kafka-step-0", "zookeeper-0"]
    assert [d for d in run.monitor.opts(JOB, "kafka-step-0")["dependencies"]
            if "StatefulSet" in d or "Dummy" in d] == []


def test_headless_service_and_budget():
    run = _service()
    svc = run.mocks.named("kafka", SERVICE)["inputs"]
    assert svc["metadata"] == {"name": "ow-kafka", "namespace": "openwhisk", "labels": dict(L)}
    assert svc["spec"] == {"clusterIP": "None", "publishNotReadyAddresses": True,
                           "selector": dict(SELECT),
                           "ports": [{"name": "kafka", "port": 9092.0, "targetPort": 9092.0}]}
    pdb = run.mocks.named("kafka", PDB)["inputs"]
    assert pdb["spec"] == {"maxUnavailable": 1.0, "selector": {"matchLabels": dict(SELECT)}}
    assert pdb["metadata"]["name"] == "ow-kafka"


def test_every_child_is_parented_to_the_service_component():
    run = _service()
    for r in run.mocks.resources:
        if r["type"].startswith("kubernetes:"):
            assert run.monitor.opts(r["type"], r["name"])["parent"].endswith(
                "openwhisk:components:KubernetesService::kafka"), r["name"]


def test_preview_with_unknown_names_declares_the_same_objects():
    assert sorted((r["type"], r["name"]) for r in _service(preview=True).mocks.resources) == sorted(
        (r["type"], r["name"]) for r in _service().mocks.resources)


TIMING = {"period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 3}


@pytest.mark.parametrize(("health", "ports", "one_shot", "expected"), [
    (jvm.PING, (), False, {"http_get": {"path": "/ping", "port": 8080}, **TIMING}),
    (Health(("CMD", "etcdctl", "endpoint", "health"), wait=True), (), False,
     {"exec": {"command": ["etcdctl", "endpoint", "health"]}, **TIMING}),
    (None, (Port(443, 443, "https"),), False, {"tcp_socket": {"port": 443}, **TIMING}),
    (None, (), True, None),
], ids=["jvm-ping", "cmd", "first-port", "one-shot"])
def test_readiness_probe_from_the_planned_health_check(health, ports, one_shot, expected):
    c = Container(key="x-0", service="x", host=None, name="x", image="x", health=health,
                  ports=ports, one_shot=one_shot)
    assert readiness_probe(c) == expected


def test_cluster_provider_namespace_pull_secret_and_manifest():
    def declare():
        KubernetesCluster("cluster", KubernetesClusterArgs(
            plan=KUBE.__class__(**{**KUBE.__dict__, "pull_secret": "ow-registry"}),
            secrets={}, digests={"kafka": pulumi.Output.from_input("sha256:abc")},
            registry=RegistryAuth(address="registry.example.com:5000", username="ow",
                                     password=pulumi.Output.secret("pw"))))
    run = run_pulumi(declare)
    provider = run.mocks.named("kubernetes", "pulumi:providers:kubernetes")["inputs"]
    assert provider == {"context": "ctx", "kubeconfig": "/home/me/.kube/config",
                        "namespace": "openwhisk", "clusterIdentifier": "ctx"}
    ns = run.mocks.named("namespace", "kubernetes:core/v1:Namespace")
    assert ns["inputs"]["metadata"] == {"name": "openwhisk", "labels": {"app.kubernetes.io/name": "openwhisk"}}
    assert run.monitor.opts("kubernetes:core/v1:Namespace", "namespace")["retain_on_delete"] is True
    assert run.monitor.opts("kubernetes:core/v1:Namespace", "namespace")["provider"].split("::")[-2] == "kubernetes"
    pull = run.mocks.named("registry-pull-secret", SECRET)["inputs"]
    assert (pull["type"], pull["metadata"]["name"]) == ("kubernetes.io/dockerconfigjson", "ow-registry")
    config, is_secret = unwrap(pull["stringData"])
    assert is_secret and json.loads(config[".dockerconfigjson"]) == {"auths": {
        "registry.example.com:5000": {"username": "ow", "password": "pw", "auth": "b3c6cHc="}}}
    manifest = run.mocks.named("runtimes", CONFIG_MAP)["inputs"]
    assert "name" not in manifest["metadata"]
    assert manifest["data"] == {"runtimes.json": '{"image":"x@sha256:abc"}'}


def test_invoker_rbac():
    rbac = InvokerRbac("ow-invoker", L, (
        RbacRule(("",), ("pods",), ("create", "get"), "why"),
        RbacRule(("",), ("pods/log",), ("get",), "why")))
    run = run_pulumi(lambda: KubernetesInvokerRbac("invoker", KubernetesInvokerRbacArgs(
        rbac=rbac, namespace="openwhisk")))
    meta = {"name": "ow-invoker", "namespace": "openwhisk", "labels": dict(L)}
    assert run.mocks.named("invoker", "kubernetes:core/v1:ServiceAccount")["inputs"]["metadata"] == meta
    role = run.mocks.named("invoker", "kubernetes:rbac.authorization.k8s.io/v1:Role")["inputs"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
    binding = run.mocks.named("invoker", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")["inputs"]
    assert (binding["roleRef"], binding["subjects"]) == (
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ow-invoker"},
        [{"kind": "ServiceAccount", "name": "ow-invoker", "namespace": "openwhisk"}])
    assert not run.mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")


def test_ingress_terminates_tls_with_the_edge_certificate():
    plan = IngressPlan("ow-edge", "ow.example.com", "nginx", "ow-edge-backend", "ingress", L)
    run = run_pulumi(lambda: KubernetesIngress("edge-ingress", KubernetesIngressArgs(
        ingress=plan, namespace="openwhisk", certificate=pulumi.Output.secret("CERT"),
        private_key=pulumi.Output.secret("KEY"))))
    tls = run.mocks.named("edge-ingress-tls", SECRET)["inputs"]
    data, is_secret = unwrap(tls["stringData"])
    assert (tls["type"], is_secret, data) == ("kubernetes.io/tls", True, {"tls.crt": "CERT", "tls.key": "KEY"})
    ingress = run.mocks.named("edge-ingress", "kubernetes:networking.k8s.io/v1:Ingress")["inputs"]
    assert ingress["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["ow.example.com"], "secretName": _auto("edge-ingress-tls")}],
        "rules": [{"host": "ow.example.com", "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "ow-edge-backend", "port": {"name": "ingress"}}}}]}}],
    }
