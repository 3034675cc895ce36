"""Whole-program tests of platform: kubernetes: the real __main__.py under recording mocks, for
Pulumi.k8s.yaml and for seed 001's setup (scheduler, Kafka SASL, ElasticSearch)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pulumi
import pytest

from planner import kube_names
from tests.conftest import Run, inventory, load_stack_file, run_program, unwrap

STS = "kubernetes:apps/v1:StatefulSet"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PROVIDER = "pulumi:providers:kubernetes"
NS = "openwhisk.svc.cluster.local"
LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
          "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}


def pod(service: str, i: int) -> str:
    return f"ow-{service}-{i}-0.ow-{service}.{NS}"


ZOOKEEPERS = ",".join(f"{pod('zookeeper', i)}:2181" for i in range(3))
"""The k8s stack's ZooKeeper members, as clients connect to them."""


def k8s_run(**kw: Any) -> Run:
    return run_program(*load_stack_file("k8s"), stack="k8s", **kw)


def seed_run() -> Run:
    """Seed 001: Kubernetes with the scheduler, Kafka with SASL (SCRAM) and ElasticSearch as the
    activation store, three brokers and ZooKeepers, two controllers and schedulers."""
    plain, secret = load_stack_file("k8s")
    plain["openwhisk:kafka"] = {"replication_factor": 3, "sasl": {"mechanism": "SCRAM-SHA-512"}}
    plain["openwhisk:activation_store"] = {"backend": "elasticsearch"}
    plain["openwhisk:kubernetes"] = {**plain["openwhisk:kubernetes"], "replicas": {
        "kafka": 3, "zookeeper": 3, "controller": 2, "scheduler": 2}}
    return run_program(plain, secret, stack="seed")


def objects(run: Run) -> list[dict[str, Any]]:
    return [r for r in run.mocks.resources
            if r["type"].startswith("kubernetes:") and r["custom"]]


def env_of(workload: dict[str, Any]) -> dict[str, Any]:
    [c] = workload["inputs"]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_k8s_stack_inventory_matches_golden(golden):
    golden("k8s.inventory.txt", inventory(k8s_run()))


def test_k8s_stack_exports():
    run = k8s_run()
    e = run.exports
    assert e["apiHost"] == "https://openwhisk.example.com"
    assert e["wskprops"] == (
        "# OpenWhisk stack k8s: the edge certificate is self-signed, so run wsk with -i (--insecure)\n"
        "APIHOST=https://openwhisk.example.com\nAUTH=uuid-guest_auth-uuid:pw-guest_auth-key\n")
    assert e["wskInsecure"] is True and e["edgeCertificate"].startswith("CERT-edge_tls_cert-")
    assert e["endpoints"]["controllers"] == [f"http://{pod('controller', i)}:8080" for i in range(2)]
    assert e["images"]["invoker"] == "openwhisk/invoker:1fae641"
    assert e["topology"].startswith('flowchart LR\n  subgraph svc_couchdb["couchdb"]\n')
    assert run.secret_exports == {"wskprops", "guestAuth", "systemAuth", "couchdbAdmin",
                                 "namespaces"}


def test_one_explicit_provider_with_the_context_and_no_default_provider():
    run = k8s_run()
    [provider] = run.mocks.of_type(PROVIDER)
    assert provider["inputs"] == {"context": "openwhisk-cluster", "namespace": "openwhisk",
                                  "clusterIdentifier": "openwhisk-cluster"}
    urn = run.monitor.opts(PROVIDER, "kubernetes")["urn"]
    for r in objects(run):
        used = run.monitor.opts(r["type"], r["name"])["provider"]
        assert used.startswith(urn + "::"), (r["type"], r["name"], used)
    assert not run.mocks.of_type("pulumi:providers:docker")  # no registry, so no builder


def test_every_object_is_labelled_named_within_limits_and_unique():
    for run in (k8s_run(), seed_run()):
        seen: Counter[tuple[str, str]] = Counter()
        for r in objects(run):
            kind = r["type"].rsplit(":", 1)[-1]
            meta = r["inputs"]["metadata"]
            name = meta.get("name") or run.monitor.opts(r["type"], r["name"])["urn"]
            if "name" in meta:
                assert len(name) <= kube_names.limit(kind), name
                seen[(kind, meta.get("namespace", ""), name)] += 1
            assert LABELS <= set(meta.get("labels", {})), (kind, r["name"])
            template = r["inputs"].get("spec", {}).get("template")
            if template is not None:
                assert LABELS <= set(template["metadata"]["labels"]), (kind, r["name"])
        assert [k for k, n in seen.items() if n > 1] == []


def test_controller_statefulset():
    run = k8s_run()
    sts = run.mocks.named("controller-0", STS)["inputs"]
    assert sts["metadata"]["name"] == "ow-controller-0"
    assert (sts["spec"]["serviceName"], sts["spec"]["replicas"]) == ("ow-controller", 1.0)
    pod_spec = sts["spec"]["template"]["spec"]
    [c] = pod_spec["containers"]
    assert (c["image"], c["args"], "command" in c) == ("openwhisk/controller:1fae641", ["/init.sh", "0"], False)
    assert c["ports"] == [{"name": "http", "containerPort": 8080.0},
                          {"name": "remoting", "containerPort": 25520.0}]
    assert c["readinessProbe"] == {"httpGet": {"path": "/ping", "port": 8080.0}, "periodSeconds": 10.0,
                                   "timeoutSeconds": 5.0, "failureThreshold": 3.0}
    env = env_of(run.mocks.named("controller-0", STS))
    assert env["CONFIG_pekko_remote_artery_canonical_hostname"] == pod("controller", 0)
    assert env["CONFIG_whisk_couchdb_host"] == pod("couchdb", 0)
    # Secrets in a mounted file, off the java command line and the environment (planner.env).
    assert "CONFIG_whisk_couchdb_password" not in env
    assert env["CONFIG_config_file"] == "/openwhisk-pulumi/secrets.conf"
    assert not [k for k, v in env.items() if isinstance(v, dict) and "secretKeyRef" in v]
    assert {m["mountPath"]: (m["name"], m.get("subPath")) for m in c["volumeMounts"]} == {
        "/openwhisk-pulumi/secrets.conf": ("secrets", "secrets.conf")}
    assert env["RUNTIMES_MANIFEST"] == {"configMapKeyRef": {"name": _auto("runtimes"), "key": "runtimes.json"}}
    assert (pod_spec["enableServiceLinks"], pod_spec["automountServiceAccountToken"]) == (False, False)
    assert "volumeClaimTemplates" not in sts["spec"]


def _auto(logical: str) -> str:
    import hashlib
    return f"{logical}-{hashlib.sha256(logical.encode()).hexdigest()[:8]}"


def test_invoker_statefulset_with_its_service_account_and_no_docker():
    run = k8s_run()
    sts = run.mocks.named("invoker-0", STS)["inputs"]
    pod_spec = sts["spec"]["template"]["spec"]
    [c] = pod_spec["containers"]
    assert (pod_spec["serviceAccountName"], pod_spec["automountServiceAccountToken"]) == ("ow-invoker", True)
    # Its only volume is its secrets file (planner.env.secrets_file).
    assert ([v["name"] for v in pod_spec["volumes"]], [m["mountPath"] for m in c["volumeMounts"]],
            "securityContext" in c, "hostPID" in pod_spec) == (
        ["secrets"], ["/openwhisk-pulumi/secrets.conf"], False, False)
    assert c["args"] == ["/init.sh", "--id", "0", "--uniqueName", "0"]
    env = env_of(run.mocks.named("invoker-0", STS))
    assert {k: v for k, v in env.items()
            if "Factory" in k or "kubernetes" in k or "helm" in k or "runtime_" in k} == {
        "CONFIG_whisk_spi_ContainerFactoryProvider":
            "org.apache.openwhisk.core.containerpool.kubernetes.KubernetesContainerFactoryProvider",
        "CONFIG_whisk_helm_release": "ow",
        "CONFIG_whisk_runtime_delete_timeout": "30 seconds",
        "CONFIG_whisk_kubernetes_userPodNodeAffinity_enabled": "false",
    }
    deps = {d.split("::")[-1] for d in run.monitor.opts(STS, "invoker-0")["dependencies"]}
    assert {"controller-0", "scheduler-0", "couchdb-init-0", "invoker"} <= deps  # "invoker": its RBAC


def test_kafka_statefulset_keeps_its_data_on_a_claim():
    run = k8s_run()
    spec = run.mocks.named("kafka-0", STS)["inputs"]["spec"]
    assert spec["volumeClaimTemplates"] == [{
        "metadata": {"name": "data", "labels": spec["template"]["metadata"]["labels"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                 "resources": {"requests": {"storage": "10Gi"}}}}]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    [c] = spec["template"]["spec"]["containers"]
    assert c["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/kafka/data"}]
    # The image writes as 1000:1000: the claim is made writable for that group.
    assert spec["template"]["spec"]["securityContext"]["fsGroup"] == 1000
    env = env_of(run.mocks.named("kafka-0", STS))
    assert (env["KAFKA_ADVERTISED_LISTENERS"], env["KAFKA_NODE_ID"]) == (
        f"EXTERNAL://{pod('kafka', 0)}:9092", "0")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(
        f"{i}@{pod('kafka', i)}:9093" for i in range(3))
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env


CLAIMS = {"storageClass": "standard",
          "volumeSize": {"couchdb": "10Gi", "zookeeper": "2Gi", "kafka": "10Gi", "etcd": "2Gi",
                         "redis": "1Gi"}}


def test_stateful_sets_ignore_changes_to_their_claim_templates_only_where_they_have_some():
    run = k8s_run()
    ignored = {r["name"]: run.monitor.opts(STS, r["name"])["ignore_changes"] for r in run.mocks.of_type(STS)}
    with_claims = sorted(r["name"] for r in run.mocks.of_type(STS)
                         if r["inputs"]["spec"].get("volumeClaimTemplates"))
    assert with_claims == ["couchdb-0", "etcd-0", "kafka-0", "kafka-1", "kafka-2", "redis-0",
                           "zookeeper-0", "zookeeper-1", "zookeeper-2"]
    assert ignored == {n: ["spec.volumeClaimTemplates"] if n in with_claims else [] for n in ignored}


def test_the_claim_settings_are_exported_and_read_back_from_the_stack_itself():
    run = k8s_run()
    assert run.exports["claimTemplates"] == CLAIMS
    [ref] = run.mocks.of_type("pulumi:pulumi:StackReference")
    assert (ref["name"], ref["inputs"]["name"]) == ("last-deployment", "organization/openwhisk/k8s")
    # Docker stacks have no claims: no output (the reference serves the quorum members' roll).
    dev = run_program(*load_stack_file("dev"), stack="dev")
    assert "claimTemplates" not in dev.exports
    assert [r["inputs"]["name"] for r in dev.mocks.of_type("pulumi:pulumi:StackReference")] == [
        "organization/openwhisk/dev"]


def warned(caplog, deployed: dict[str, Any] | None, *, preview: bool = False,
             **kubernetes: Any) -> list[str]:
    plain, secret = load_stack_file("k8s")
    plain["openwhisk:kubernetes"] = {**plain["openwhisk:kubernetes"], **kubernetes}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_program(plain, secret, stack="k8s", preview=preview,
                    deployed=None if deployed is None else {"claimTemplates": deployed})
    return [r.getMessage().split(" since ")[0] for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_a_changed_class_or_size_is_warned_about_once_against_the_last_deployment(caplog, preview):
    run = k8s_run()  # the last deployment recorded its settings...
    assert warned(caplog, run.exports["claimTemplates"], preview=preview) == []  # ...unchanged
    assert warned(caplog, None, preview=preview, storage_class="fast") == []  # a new stack
    assert warned(caplog, CLAIMS, preview=preview, storage_class="fast") == [
        "openwhisk:kubernetes.storage_class: changed from 'standard' to 'fast'"]
    assert warned(caplog, CLAIMS, preview=preview, storage_class=None,
                    volume_size={"kafka": "50Gi", "zookeeper": "2Gi"}) == [
        ("openwhisk:kubernetes.storage_class: changed from 'standard' to none (the cluster's "
         "default class)"),
        "openwhisk:kubernetes.volume_size.kafka: changed from '10Gi' to '50Gi'"]


def test_every_role_with_several_instances_rolls_one_pod_at_a_time_each_ready_first():
    run = k8s_run()
    sts = {r["name"]: r["inputs"]["spec"] for r in run.mocks.of_type(STS)}
    assert Counter(n.rsplit("-", 1)[0] for n in sts) == {
        "controller": 2, "scheduler": 2, "invoker": 2, "kafka": 3, "zookeeper": 3, "couchdb": 1,
        "etcd": 1, "redis": 1, "apigateway": 1}
    # One pod per StatefulSet, rolled (deleted, then started with the new spec) on every change...
    assert {n: (s["replicas"], s["updateStrategy"], s.get("podManagementPolicy"))
            for n, s in sts.items()} == dict.fromkeys(sts, (1.0, {"type": "RollingUpdate"}, None))
    # ...and Pulumi takes a StatefulSet as updated once its pod passes its readiness probe...
    assert [n for n, s in sts.items()
            if "readinessProbe" not in s["template"]["spec"]["containers"][0]] == []

    # ...before it updates the instances that wait for it: each the one before it in its role.
    assert {n: before_in(run, n) for n in sts if before_in(run, n)} == {
        "controller-1": ["controller-0"], "scheduler-1": ["scheduler-0"], "invoker-1": ["invoker-0"]}
    # ZooKeeper's and Kafka's members form a quorum: none is ready before the others run, so on a
    # first deploy none waits; once deployed (the last deployment's quorumMembers), they roll too.
    assert {n: before_in(run, n) for n in sts if n.startswith(("zookeeper-", "kafka-"))} == {
        f"{r}-{i}": [] for r in ("zookeeper", "kafka") for i in range(3)}
    assert run.exports["quorumMembers"] == ["etcd-0", "kafka-0", "kafka-1", "kafka-2",
                                            "zookeeper-0", "zookeeper-1", "zookeeper-2"]
    deployed = k8s_run(deployed={"quorumMembers": run.exports["quorumMembers"]})
    assert {n: before_in(deployed, n) for n in sts if n.startswith("kafka-")} == {
        "kafka-0": [], "kafka-1": ["kafka-0"], "kafka-2": ["kafka-1"]}
    again = k8s_run(deployed={"quorumMembers": run.exports["quorumMembers"]})
    assert {n: before_in(again, n) for n in sts if n.startswith("zookeeper-")} == {
        "zookeeper-0": [], "zookeeper-1": ["zookeeper-0"], "zookeeper-2": ["zookeeper-1"]}
    # A member new in this deployment (here the third) waits for none: the deployed ones may
    # need it for their quorum.
    grown = k8s_run(deployed={"quorumMembers": ["zookeeper-0", "zookeeper-1"]})
    assert {n: before_in(grown, n) for n in sts if n.startswith("zookeeper-")} == {
        "zookeeper-0": [], "zookeeper-1": ["zookeeper-0"], "zookeeper-2": []}


def before_in(run: Run, name: str) -> list[str]:
    """The StatefulSets of the same role that StatefulSet `name` waits for."""
    role = name.rsplit("-", 1)[0]
    return [d.split("::")[-1] for d in run.monitor.opts(STS, name)["dependencies"]
            if ":StatefulSet::" in d and d.split("::")[-1].rsplit("-", 1)[0] == role]


def test_couchdb_init_job():
    run = k8s_run()
    job = run.mocks.named("couchdb-init-0", JOB)["inputs"]
    assert job["metadata"]["name"].startswith("ow-couchdb-init-") and "ttlSecondsAfterFinished" not in job["spec"]
    assert job["spec"]["backoffLimit"] == 4.0
    pod_spec = job["spec"]["template"]["spec"]
    [c] = pod_spec["containers"]
    assert (c["name"], c["image"], c["command"], pod_spec["restartPolicy"]) == (
        "couchdb-init", "apache/couchdb:3.5.2.1", ["/bin/sh", "/ow-init/init.sh"], "Never")
    env = env_of(run.mocks.named("couchdb-init-0", JOB))
    assert env["COUCHDB_URL"] == f"http://{pod('couchdb', 0)}:5984"
    for key in ("COUCHDB_ADMIN_PASSWORD", "GUEST_AUTH", "SYSTEM_AUTH", "CONTROLLER_DB_PASSWORD"):
        assert env[key] == {"secretKeyRef": {"name": _auto("couchdb-init-0-secrets"), "key": key}}
    files = run.mocks.named("couchdb-init-0-files", "kubernetes:core/v1:ConfigMap")["inputs"]["data"]
    from planner.couchdb_init import couchdb_init_files
    assert files == dict(couchdb_init_files())  # the assets, unchanged
    assert sorted(m["mountPath"] for m in c["volumeMounts"]) == sorted(
        f"/ow-init/{name}" for name in files)
    deps = {d.split("::")[-1] for d in run.monitor.opts(JOB, "couchdb-init-0")["dependencies"]}
    assert "couchdb-0" in deps
    assert run.monitor.opts(JOB, "couchdb-init-0")["delete_before_replace"] is False


def test_edge_deployment_service_and_ingress():
    run = k8s_run()
    dep = run.mocks.named("edge-0", DEPLOYMENT)["inputs"]
    assert dep["metadata"]["name"] == "ow-edge"
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": 1.0, "maxUnavailable": 0.0}}
    [c] = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "nginx:1.30.4"
    assert {m["mountPath"]: m["name"] for m in c["volumeMounts"]} == {
        "/etc/nginx/nginx.conf": "files", "/etc/nginx/tls/cert.pem": "secrets",
        "/etc/nginx/tls/key.pem": "secrets"}
    conf = run.mocks.named("edge-0-files", "kubernetes:core/v1:ConfigMap")["inputs"]["data"]
    assert set(conf) == {"nginx.conf"} and "KEY-" not in conf["nginx.conf"]
    secret, is_secret = unwrap(run.mocks.named("edge-0-secrets", "kubernetes:core/v1:Secret")["inputs"]["stringData"])
    assert is_secret and secret["key.pem"] == "KEY-edge_tls_key"
    assert secret["cert.pem"].startswith("CERT-edge_tls_cert-") and sorted(secret) == ["cert.pem", "key.pem"]
    services = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]
                for r in run.mocks.of_type("kubernetes:core/v1:Service")}
    assert services["ow-edge"] == {"type": "ClusterIP", "selector": {
        "app.kubernetes.io/name": "edge", "app.kubernetes.io/instance": "ow",
        "app.kubernetes.io/component": "edge"}, "ports": [
        {"name": "https", "port": 443.0, "targetPort": 443.0},
        {"name": "http", "port": 80.0, "targetPort": 80.0}]}
    assert services["ow-edge-backend"]["ports"] == [{"name": "ingress", "port": 8080.0, "targetPort": 8080.0}]
    ingress = run.mocks.named("edge-ingress", "kubernetes:networking.k8s.io/v1:Ingress")["inputs"]["spec"]
    assert (ingress["ingressClassName"], ingress["tls"][0]["hosts"], ingress["rules"][0]["host"]) == (
        "nginx", ["openwhisk.example.com"], "openwhisk.example.com")
    deps = {d.split("::")[-1] for d in run.monitor.opts(DEPLOYMENT, "edge-0")["dependencies"]}
    assert "controller-0" in deps


def test_start_order_follows_the_real_dependencies():
    run = seed_run()

    def deps(typ, name):
        return sorted(d.split("::")[-1] for d in run.monitor.opts(typ, name)["dependencies"]
                      if "apps/v1" in d or "batch/v1" in d)
    assert deps(JOB, "couchdb-init-0") == ["couchdb-0"]
    assert deps(JOB, "kafka-scram-users-0") == ["kafka-0", "kafka-1", "kafka-2"]
    assert deps(STS, "kafka-0") == deps(STS, "kafka-1") == []
    assert deps(STS, "zookeeper-1") == []
    assert deps(JOB, "etcd-auth-0") == ["etcd-0"]
    assert deps(STS, "controller-1") == ["controller-0", "couchdb-init-0", "elasticsearch-0",
                                         "etcd-auth-0", "kafka-scram-users-0"]
    assert deps(STS, "invoker-0") == ["controller-0", "controller-1", "couchdb-init-0", "scheduler-0",
                                      "scheduler-1"]
    assert deps(DEPLOYMENT, "edge-0") == ["apigateway-0", "controller-0", "controller-1"]
    assert deps(STS, "apigateway-0") == ["redis-0"]


def test_load_balancing_services_wait_for_their_pods_headless_ones_do_not():
    run = k8s_run()

    def deps(name):
        return sorted(d.split("::")[-1] for d in run.monitor.opts("kubernetes:core/v1:Service", name)
                      ["dependencies"] if "apps/v1" in d)
    assert (deps("controller"), deps("kafka")) == ([], [])
    assert (deps("edge"), deps("edge-backend")) == (["edge-0"], ["edge-0"])
    # nginx resolves its upstreams when it starts: the controllers' and the gateway's Services
    # exist before any pod.
    assert (deps("controller-api"), deps("apigateway-api")) == ([], [])
    annotations = {r["name"]: r["inputs"]["metadata"].get("annotations")
                   for r in run.mocks.of_type("kubernetes:core/v1:Service")}
    assert annotations["controller-api"] == {"pulumi.com/skipAwait": "true"}
    assert sorted(n for n, a in annotations.items() if a) == ["apigateway-api", "controller-api"]


def test_seed_001_scheduler_with_kafka_sasl_and_elasticsearch():
    run = seed_run()
    sched = env_of(run.mocks.named("scheduler-1", STS))
    assert sched["CONFIG_whisk_kafka_common_securityProtocol"] == "SASL_PLAINTEXT"
    assert sched["CONFIG_whisk_kafka_common_saslMechanism"] == "SCRAM-SHA-512"
    assert sched["CONFIG_config_file"] == "/openwhisk-pulumi/secrets.conf"
    assert sched["CONFIG_whisk_spi_DurationCheckerProvider"] == \
        "org.apache.openwhisk.core.scheduler.queue.ElasticSearchDurationCheckerProvider"
    assert sched["CONFIG_whisk_activationStore_elasticsearch_hosts"] == f"{pod('elasticsearch', 0)}:9200"
    assert sched["WHISK_SCHEDULER_ENDPOINTS_HOST"] == pod("scheduler", 1)
    assert sched["CONFIG_whisk_etcd_hosts"] == f"{pod('etcd', 0)}:2379"
    assert sched["CONFIG_whisk_etcd_username"] == "openwhisk"
    assert "CONFIG_whisk_etcd_password" not in sched
    data, is_secret = unwrap(run.mocks.named("scheduler-1-secrets", "kubernetes:core/v1:Secret")
                             ["inputs"]["stringData"])
    assert is_secret and data["secrets.conf"].splitlines() == [
        'include classpath("application.conf")',
        'whisk.activation-store.elasticsearch.password = "pw-elasticsearch_password"',
        'whisk.couchdb.password = "pw-couchdb_scheduler_password"',
        'whisk.etcd.password = "pw-etcd_password"',
        'whisk.kafka.common.sasl-jaas-config = "org.apache.kafka.common.security.scram.'
        'ScramLoginModule required username=\\"openwhisk\\" password=\\"pw-kafka_client_password\\";"',
        'whisk.scheduler.password = "pw-scheduler_admin_password"']
    broker = run.mocks.named("kafka-2", STS)["inputs"]["spec"]["template"]["spec"]
    [c] = broker["containers"]
    assert {m["mountPath"]: m["subPath"] for m in c["volumeMounts"] if "subPath" in m} == {
        "/etc/ow-kafka/kafka_server_jaas.conf": "kafka_server_jaas.conf"}
    jaas, _ = unwrap(run.mocks.named("kafka-2-secrets", "kubernetes:core/v1:Secret")["inputs"]["stringData"])
    assert 'password="pw-kafka_admin_password"' in jaas["kafka_server_jaas.conf"]
    users = env_of(run.mocks.named("kafka-scram-users-0", JOB))
    assert users["ADMIN_PASSWORD"] == {"secretKeyRef": {"name": _auto("kafka-scram-users-0-secrets"),
                                                        "key": "ADMIN_PASSWORD"}}
    es = run.mocks.named("elasticsearch-0", STS)["inputs"]["spec"]["template"]["spec"]
    assert es["securityContext"] == {"fsGroup": 1000.0, "fsGroupChangePolicy": "OnRootMismatch"}
    assert es["initContainers"] == [{
        "name": "sysctl", "image": "docker.elastic.co/elasticsearch/elasticsearch:6.8.23",
        "command": ["/bin/sh", "-c", 'set -e\n[ "$(cat /proc/sys/vm/max_map_count)" -ge 262144 ] || '
                    "echo 262144 > /proc/sys/vm/max_map_count\n"],
        "securityContext": {"privileged": True}}]
    assert "securityContext" not in es["containers"][0]
    # Security: the health login from the pod's Secret, the realm and TLS files mounted from it
    # (secret ones) or from a ConfigMap (the roles), one file each.
    cfg = "/usr/share/elasticsearch/config"
    assert not [v for v in env_of(run.mocks.named("elasticsearch-0", STS)).values()
                if isinstance(v, dict)]  # no secretKeyRef: the health login is a file
    assert {m["mountPath"]: (m["name"], m["subPath"]) for m in es["containers"][0]["volumeMounts"]
            if m["mountPath"].startswith(cfg)} == {
        f"{cfg}/users": ("secrets", "users"), f"{cfg}/users_roles": ("files", "users_roles"),
        f"{cfg}/roles.yml": ("files", "roles.yml"),
        f"{cfg}/transport-ca.pem": ("secrets", "transport-ca.pem"),
        f"{cfg}/transport-cert.pem": ("secrets", "transport-cert.pem"),
        f"{cfg}/transport-key.pem": ("secrets", "transport-key.pem"),
        f"{cfg}/health-login.curl": ("secrets", "health-login.curl")}
    realm, _ = unwrap(run.mocks.named("elasticsearch-0-secrets", "kubernetes:core/v1:Secret")
                      ["inputs"]["stringData"])
    assert realm["users"] == ("openwhisk:BCRYPT-elasticsearch_password\n"
                              "health:BCRYPT-elasticsearch_health_password\n")
    assert realm["health-login.curl"] == 'user = "health:pw-elasticsearch_health_password"\n'
    assert es["containers"][0]["readinessProbe"]["exec"]["command"] == [
        "curl", "-fsS", "-K", f"{cfg}/health-login.curl", "http://127.0.0.1:9200/_cluster/health"]
    assert len(run.mocks.of_type(STS)) == 1 + 3 + 3 + 1 + 1 + 2 + 2 + 1 + 2  # + redis, gateway


def test_seed_001_with_plain_sasl_keeps_the_users_in_the_brokers_jaas_file():
    plain, secret = load_stack_file("k8s")
    plain["openwhisk:kafka"] = {"sasl": {"mechanism": "PLAIN"}}
    plain["openwhisk:activation_store"] = {"backend": "elasticsearch"}
    run = run_program(plain, secret, stack="seed")
    assert not [r for r in run.mocks.of_type(JOB) if r["name"].startswith("kafka-scram-users")]
    assert env_of(run.mocks.named("scheduler-0", STS))["CONFIG_whisk_kafka_common_saslMechanism"] == "PLAIN"
    jaas, _ = unwrap(run.mocks.named("kafka-0-secrets", "kubernetes:core/v1:Secret")["inputs"]["stringData"])
    assert 'user_openwhisk="pw-kafka_client_password"' in jaas["kafka_server_jaas.conf"]
    assert env_of(run.mocks.named("kafka-0", STS))["KAFKA_SASL_ENABLED_MECHANISMS"] == "PLAIN"


def test_a_supplied_edge_certificate_serves_nginx_and_the_ingress():
    plain, _ = load_stack_file("k8s")
    plain["openwhisk:edge"] = {"tls": "provided"}
    run = run_program(plain, {"openwhisk:edge_tls_cert": "MY-CERT", "openwhisk:edge_tls_key": "MY-KEY"},
                      stack="k8s")
    assert not run.mocks.of_type("tls:index/selfSignedCert:SelfSignedCert")
    tls, _ = unwrap(run.mocks.named("edge-ingress-tls", "kubernetes:core/v1:Secret")["inputs"]["stringData"])
    edge, _ = unwrap(run.mocks.named("edge-0-secrets", "kubernetes:core/v1:Secret")["inputs"]["stringData"])
    assert (tls, edge) == ({"tls.crt": "MY-CERT", "tls.key": "MY-KEY"},
                           {"cert.pem": "MY-CERT", "key.pem": "MY-KEY"})
    assert run.exports["wskInsecure"] is False


def test_no_secret_reaches_plain_values_configmaps_or_command_lines():
    for run in (k8s_run(), seed_run()):
        for r in objects(run):
            if r["type"] == "kubernetes:core/v1:Secret":
                continue
            text = json.dumps(r["inputs"], default=str)
            for marker in ("pw-", "uuid-", "KEY-"):
                assert marker not in text, (r["type"], r["name"], marker)


def test_bad_kubernetes_config_stops_before_any_resource():
    plain, _ = load_stack_file("k8s")
    kube = plain["openwhisk:kubernetes"]
    plain["openwhisk:kubernetes"] = {**kube, "replicas": {**kube["replicas"], "zookeeper": 2}}
    plain["openwhisk:hosts"] = [{"name": "a", "address": "10.0.0.1", "roles": ["couchdb"]}]
    with pytest.raises(pulumi.RunError) as err:
        run_program(plain, stack="k8s")
    assert str(err.value).splitlines() == [
        "2 problem(s) in the stack config of 'k8s'; nothing was created:",
        "  - openwhisk:hosts: used only with platform: docker (got 1 host(s)); remove it (pulumi "
        "config rm openwhisk:hosts): on kubernetes the instances of each service come from "
        "kubernetes.replicas",
        "  - openwhisk:kubernetes.replicas.zookeeper: a quorum needs an odd number of members (got "
        "2); set it to 1 or 3",
    ]


def test_preview_runs_with_unknown_outputs_and_declares_the_same_objects():
    assert inventory(k8s_run(preview=True)) == inventory(k8s_run())


def test_external_registry_mirrors_on_the_builder_and_pods_pull_by_digest():
    plain, _ = load_stack_file("k8s")
    plain["openwhisk:registry"] = {"mode": "external", "address": "registry.example.com",
                                   "builder": "unix:///var/run/docker.sock"}
    run = run_program(plain, {"openwhisk:registry_password": "reg-pw"}, stack="k8s")
    [builder] = run.mocks.of_type("pulumi:providers:docker")
    assert (builder["name"], builder["inputs"]["host"]) == ("builder-docker", "unix:///var/run/docker.sock")
    [c] = run.mocks.named("controller-0", STS)["inputs"]["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("registry.example.com/openwhisk/controller@sha256:")
    pods = [r["inputs"]["spec"]["template"]["spec"] for r in objects(run) if "template" in r["inputs"].get("spec", {})]
    assert {json.dumps(p["imagePullSecrets"]) for p in pods} == {'[{"name": "ow-registry"}]'}
    manifest = run.mocks.named("runtimes", "kubernetes:core/v1:ConfigMap")["inputs"]["data"]["runtimes.json"]
    assert "@sha256:" in manifest


def test_docker_factory_daemonset_on_labelled_nodes_pulls_the_runtimes_first():
    plain, _ = load_stack_file("k8s")
    plain["openwhisk:invoker"] = {"container_factory": "docker"}
    kube = plain["openwhisk:kubernetes"]
    plain["openwhisk:kubernetes"] = {
        **kube, "invoker_node_label": "openwhisk-role=invoker",
        "replicas": {k: n for k, n in kube["replicas"].items() if k != "invoker"}}
    plain["openwhisk:registry"] = {"mode": "external", "address": "registry.example.com",
                                   "builder": "unix:///var/run/docker.sock"}
    run = run_program(plain, {"openwhisk:registry_password": "reg-pw"}, stack="k8s")
    assert "invoker-0" not in {r["name"] for r in run.mocks.of_type(STS)}
    assert not run.mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    ds = run.mocks.named("invoker-nodes", "kubernetes:apps/v1:DaemonSet")["inputs"]
    assert (ds["metadata"]["name"], ds["spec"]["updateStrategy"]) == (
        "ow-invoker", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1.0}})
    spec = ds["spec"]["template"]["spec"]
    [c] = spec["containers"]
    assert (spec["nodeSelector"], spec["hostPID"], c["securityContext"], spec["automountServiceAccountToken"]) == (
        {"openwhisk-role": "invoker"}, True, {"privileged": True}, False)
    assert c["args"] == ["/init.sh", "--uniqueName", "$(NODE_NAME)"]
    assert {v["name"]: v.get("hostPath", {}).get("path") for v in spec["volumes"]} == {
        "host-0": "/var/run/docker.sock", "host-1": "/var/lib/docker/containers",
        "host-2": "/sys/fs/cgroup", "docker-config": None, "secrets": None}
    env = env_of(run.mocks.named("invoker-nodes", "kubernetes:apps/v1:DaemonSet"))
    assert (env["NODE_NAME"], env["ZOOKEEPER_HOSTS"], env["CONFIG_whisk_docker_containerFactory_useRunc"]) == (
        {"fieldRef": {"fieldPath": "spec.nodeName"}}, ZOOKEEPERS, "false")
    [pull] = spec["initContainers"]
    refs = pull["command"][4:]
    assert pull["command"][:4] == ["/bin/sh", "-c", 'for image in "$@"; do docker pull "$image" || exit 1; done',
                                   "pull-runtimes"]
    assert len(refs) == 5 and all(r.startswith("registry.example.com/openwhisk/") and "@sha256:" in r for r in refs)
    assert (pull["env"], pull["volumeMounts"]) == (
        [{"name": "DOCKER_CONFIG", "value": "/ow-docker"}],
        [{"name": "host-0", "mountPath": "/var/run/docker.sock"},
         {"name": "docker-config", "mountPath": "/ow-docker", "readOnly": True}])
