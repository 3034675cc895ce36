"""Planner tests: exact plans for table-driven configs. No Pulumi involved."""

from __future__ import annotations

from dataclasses import replace

import json
import re
import subprocess
import sys

import pytest

import config
import planner
from planner import env as jvm
from planner.model import File, Mount, Secret
from tests.conftest import ROOT, effective_env

ALL_ROLES = ["couchdb", "zookeeper", "kafka", "controller", "invoker", "edge"]


def stack(**over):
    raw = {"version": {"tag": "ef725a6"},
           "hosts": [{"name": "dev", "address": "172.17.0.1", "roles": ALL_ROLES}]}
    raw.update(over)
    return config.parse(raw, base_dir=ROOT)


def cluster(tag="1fae641", **over):
    """Three core hosts and two invoker hosts, scheduler mode on a pekko image."""
    core = ["couchdb", "zookeeper", "kafka", "controller", "etcd", "scheduler"]
    raw = {"version": {"tag": tag},
           "hosts": [
               {"name": "core-a", "address": "10.0.0.11", "id": 0, "roles": core + ["edge"]},
               {"name": "core-b", "address": "10.0.0.12", "id": 1,
                "roles": ["zookeeper", "kafka", "controller", "etcd", "scheduler"]},
               {"name": "core-c", "address": "10.0.0.13", "id": 2,
                "roles": ["zookeeper", "kafka", "controller", "etcd", "scheduler"]},
               {"name": "inv-a", "address": "10.0.0.21", "id": 3, "roles": ["invoker"],
                "invoker_ids": [0]},
               {"name": "inv-b", "address": "10.0.0.22", "id": 4, "roles": ["invoker"],
                "invoker_ids": [1, 2], "use_runc": True, "user_memory_mb": 4096},
           ],
           "kafka": {"replication_factor": 3}}
    raw.update(over)
    return config.parse(raw, base_dir=ROOT)


def env(plan, key):
    """A container's environment as it reads it (its secrets file expanded: effective_env)."""
    return effective_env(next(c for c in plan.containers() if c.key == key))


def container(plan, key):
    return next(c for c in plan.containers() if c.key == key)


def manifest_json():
    import runtimes
    return runtimes.render(runtimes.load_manifest(ROOT / "runtimes/default.json"))


COUCH = {
    "CONFIG_whisk_couchdb_protocol": "http",
    "CONFIG_whisk_couchdb_host": "172.17.0.1",
    "CONFIG_whisk_couchdb_port": "5984",
    "CONFIG_whisk_couchdb_provider": "CouchDB",
    "CONFIG_whisk_couchdb_databases_WhiskAuth": "whisk_subjects",
    "CONFIG_whisk_couchdb_databases_WhiskEntity": "whisk_whisks",
    "CONFIG_whisk_couchdb_databases_WhiskActivation": "whisk_activations",
}


def test_dev_controller_env_is_exact():
    p = planner.plan(stack())
    assert env(p, "controller-dev") == COUCH | {
        "PORT": "8080",
        "KAFKA_HOSTS": "172.17.0.1:9092",
        "RUNTIMES_MANIFEST": manifest_json(),
        "CONFIG_whisk_kafka_replicationFactor": "1",
        "CONFIG_whisk_couchdb_username": "whisk_controller",
        "CONFIG_whisk_couchdb_password": Secret("${couchdb_controller_password}"),
        "LIMITS_ACTIONS_INVOKES_PERMINUTE": "60",
        "LIMITS_ACTIONS_INVOKES_CONCURRENT": "30",
        "LIMITS_TRIGGERS_FIRES_PERMINUTE": "60",
        "LIMITS_ACTIONS_SEQUENCE_MAXLENGTH": "50",
        "CONFIG_whisk_info_buildNo": "ef725a6",
        "CONFIG_whisk_info_date": "2022-10-14",
        "CONFIG_whisk_spi_LoadBalancerProvider":
            "org.apache.openwhisk.core.loadBalancer.ShardingContainerPoolBalancer",
        "CONFIG_whisk_spi_EntitlementSpiProvider":
            "org.apache.openwhisk.core.entitlement.LocalEntitlementProvider",
        "CONFIG_akka_actor_provider": "cluster",
        "CONFIG_akka_remote_artery_canonical_hostname": "172.17.0.1",
        "CONFIG_akka_remote_artery_canonical_port": "25520",
        "CONFIG_akka_remote_artery_bind_hostname": "0.0.0.0",
        "CONFIG_akka_remote_artery_bind_port": "25520",
    }


def test_dev_invoker_env_is_exact():
    p = planner.plan(stack())
    assert env(p, "invoker-0") == COUCH | {
        "PORT": "8080",
        "KAFKA_HOSTS": "172.17.0.1:9092",
        "RUNTIMES_MANIFEST": manifest_json(),
        "CONFIG_whisk_kafka_replicationFactor": "1",
        "CONFIG_whisk_couchdb_username": "whisk_invoker",
        "CONFIG_whisk_couchdb_password": Secret("${couchdb_invoker_password}"),
        "WHISK_API_HOST_PROTO": "https",
        "WHISK_API_HOST_NAME": "172.17.0.1",
        "WHISK_API_HOST_PORT": "443",
        "CONFIG_whisk_spi_InvokerProvider": "org.apache.openwhisk.core.invoker.InvokerReactive",
        "CONFIG_whisk_spi_InvokerServerProvider":
            "org.apache.openwhisk.core.invoker.DefaultInvokerServer",
        "CONFIG_whisk_spi_ContainerFactoryProvider":
            "org.apache.openwhisk.core.containerpool.docker.DockerContainerFactoryProvider",
        "CONFIG_whisk_docker_containerFactory_useRunc": "false",
        "CONFIG_whisk_containerFactory_containerArgs_network": "ow-actions",
        "CONFIG_whisk_containerFactory_containerArgs_extraArgs_logDriver_0": "json-file",
        "CONFIG_whisk_containerFactory_containerArgs_extraArgs_logOpt_0": "max-size=100m",
        "CONFIG_whisk_containerFactory_containerArgs_extraArgs_logOpt_1": "max-file=2",
        "CONFIG_whisk_containerPool_userMemory": "2048 m",
        "CONFIG_whisk_invoker_username": "whisk_admin",
        "CONFIG_whisk_invoker_password": Secret("${invoker_admin_password}"),
        # ef725a6 requires zookeeper.hosts: without it the invoker exits at startup.
        "ZOOKEEPER_HOSTS": "172.17.0.1:2181",
    }


def test_dev_invoker_container_contract():
    p = planner.plan(stack())
    inv = next(c for c in p.containers() if c.key == "invoker-0")
    assert (inv.name, inv.command) == ("ow-invoker0", ("/init.sh", "--id", "0", "--uniqueName", "0"))
    assert (inv.privileged, inv.host_pid, inv.host_userns) == (True, True, True)
    assert inv.mounts == (
        Mount("/var/run/docker.sock", host_path="/var/run/docker.sock"),
        Mount("/containers", host_path="/var/lib/docker/containers"),
        Mount("/sys/fs/cgroup", host_path="/sys/fs/cgroup"),
    )
    assert [(x.container, x.published) for x in inv.ports] == [(8080, 12001)]
    assert inv.depends_on == ("couchdb-init-dev", "controller-dev")


def test_cluster_scheduler_env_is_exact_on_pekko():
    p = planner.plan(cluster())
    couch = COUCH | {"CONFIG_whisk_couchdb_host": "10.0.0.11"}
    etcd = {"CONFIG_whisk_cluster_name": "whisk",
            "CONFIG_whisk_etcd_hosts": "10.0.0.11:2379,10.0.0.12:2379,10.0.0.13:2379",
            "CONFIG_whisk_etcd_lease_timeout": "10", "CONFIG_whisk_etcd_pool_threads": "10",
            "CONFIG_whisk_etcd_username": "openwhisk",
            "CONFIG_whisk_etcd_password": Secret("${etcd_password}")}
    assert env(p, "scheduler-core-b") == couch | etcd | {
        "PORT": "8080",
        "KAFKA_HOSTS": "10.0.0.11:9092,10.0.0.12:9092,10.0.0.13:9092",
        "RUNTIMES_MANIFEST": manifest_json(),
        "CONFIG_whisk_kafka_replicationFactor": "3",
        "CONFIG_whisk_couchdb_username": "whisk_scheduler",
        "CONFIG_whisk_couchdb_password": Secret("${couchdb_scheduler_password}"),
        "LIMITS_ACTIONS_INVOKES_CONCURRENT": "30",
        "WHISK_SCHEDULER_ENDPOINTS_HOST": "10.0.0.12",
        "WHISK_SCHEDULER_ENDPOINTS_RPCPORT": "13001",
        "WHISK_SCHEDULER_ENDPOINTS_PEKKOPORT": "25521",
        "CONFIG_whisk_durationChecker_timeWindow": "1 d",
        "CONFIG_whisk_spi_DurationCheckerProvider":
            "org.apache.openwhisk.core.scheduler.queue.NoopDurationCheckerProvider",
        "CONFIG_pekko_actor_provider": "cluster",
        "CONFIG_pekko_remote_artery_canonical_hostname": "10.0.0.12",
        "CONFIG_pekko_remote_artery_canonical_port": "25521",
        "CONFIG_pekko_remote_artery_bind_hostname": "0.0.0.0",
        "CONFIG_pekko_remote_artery_bind_port": "25521",
        "CONFIG_pekko_cluster_seedNodes_0": "pekko://scheduler-actor-system@10.0.0.11:25521",
        "CONFIG_pekko_cluster_seedNodes_1": "pekko://scheduler-actor-system@10.0.0.12:25521",
        "CONFIG_pekko_cluster_seedNodes_2": "pekko://scheduler-actor-system@10.0.0.13:25521",
        "CONFIG_pekko_coordinatedShutdown_exitJvm": "on",
        "CONFIG_whisk_scheduler_username": "whisk_admin",
        "CONFIG_whisk_scheduler_password": Secret("${scheduler_admin_password}"),
    }


def test_cluster_controller_seeds_ports_and_spis():
    p = planner.plan(cluster(controller={"seed_count": 2, "downing": "split-brain-resolver"}))
    e = env(p, "controller-core-c")
    assert {k: v for k, v in e.items() if "seedNodes" in k or "canonical" in k or "downing" in k} == {
        "CONFIG_pekko_cluster_seedNodes_0": "pekko://controller-actor-system@10.0.0.11:25520",
        "CONFIG_pekko_cluster_seedNodes_1": "pekko://controller-actor-system@10.0.0.12:25520",
        "CONFIG_pekko_remote_artery_canonical_hostname": "10.0.0.13",
        "CONFIG_pekko_remote_artery_canonical_port": "25520",
        "CONFIG_pekko_cluster_downingProviderClass":
            "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider",
    }
    assert e["CONFIG_whisk_spi_LoadBalancerProvider"].endswith(".FPCPoolBalancer")
    assert e["CONFIG_whisk_spi_EntitlementSpiProvider"].endswith(".FPCEntitlementProvider")
    assert e["CONFIG_whisk_controller_password"] == Secret("${controller_admin_password}")
    assert not any(k.startswith("CONFIG_akka") for k in e)


def test_single_controller_gets_no_seed_nodes():
    e = env(planner.plan(stack()), "controller-dev")
    assert not [k for k in e if "seedNodes" in k or "exitJvm" in k]


@pytest.mark.parametrize("tag,family", [("ef725a6", "akka"), ("1fae641", "pekko")])
def test_key_family_follows_the_image_version(tag, family):
    other = {"akka": "pekko", "pekko": "akka"}[family]
    p = planner.plan(cluster(tag=tag, version={"tag": tag, "mode": "scheduler"}))
    keys = [k for c in p.containers() for k, _ in c.env]
    assert any(k.startswith(f"CONFIG_{family}_") for k in keys)
    assert not any(k.startswith(f"CONFIG_{other}_") for k in keys)
    sched = env(p, "scheduler-core-a")
    assert f"WHISK_SCHEDULER_ENDPOINTS_{family.upper()}PORT" in sched
    # Only images before apache/openwhisk#5375 (2023-01) require ZooKeeper in the scheduler and
    # the invoker; the tag table says which.
    assert ("ZOOKEEPER_HOSTS" in sched) == (tag == "ef725a6")
    assert ("ZOOKEEPER_HOSTS" in env(p, "invoker-0")) == (tag == "ef725a6")


@pytest.mark.parametrize("tag", sorted(config.KNOWN_TAGS))
def test_invokers_get_zookeeper_hosts_exactly_when_their_tag_requires_it(tag):
    required = config.KNOWN_TAGS[tag].zookeeper_hosts_required
    p = planner.plan(cluster(tag=tag, version={"tag": tag, "mode": "scheduler"}))
    zk = "10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181"
    assert [env(p, k).get("ZOOKEEPER_HOSTS") for k in ("invoker-0", "invoker-2")] == \
        [zk if required else None] * 2


def test_invokers_keep_their_ids_and_per_host_overrides():
    p = planner.plan(cluster())
    invokers = [c for c in p.containers() if c.service == "invoker"]
    assert [(c.key, c.host, c.name, c.ports[0].published) for c in invokers] == [
        ("invoker-0", "inv-a", "ow-invoker0", 12001),
        ("invoker-1", "inv-b", "ow-invoker1", 12002),
        ("invoker-2", "inv-b", "ow-invoker2", 12003),
    ]
    runc = {c.key: (c.env_dict()["CONFIG_whisk_docker_containerFactory_useRunc"],
                    c.env_dict()["CONFIG_whisk_containerPool_userMemory"],
                    Mount("/run/runc", host_path="/run/docker/runtime-runc/moby") in c.mounts)
            for c in invokers}
    assert runc == {"invoker-0": ("false", "2048 m", False),
                    "invoker-1": ("true", "4096 m", True), "invoker-2": ("true", "4096 m", True)}
    assert env(p, "invoker-0")["CONFIG_whisk_invoker_containerCreation_maxPeek"] == "500"


def test_removing_an_invoker_host_leaves_the_others_untouched():
    full = planner.plan(cluster())
    raw_hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    fewer = planner.plan(cluster(hosts=[h for h in raw_hosts if h["name"] != "inv-a"]))
    before = {c.key: c for c in full.containers()}
    after = {c.key: c for c in fewer.containers()}
    assert set(before) - set(after) == {"invoker-0"}
    # Only the invoker chain loses its first link (an ordering, not an input of any container).
    assert {k for k in after if after[k] != before[k]} == {"invoker-1"}
    assert before["invoker-1"].depends_on == after["invoker-1"].depends_on + ("invoker-0",)
    assert replace(after["invoker-1"], depends_on=()) == replace(before["invoker-1"], depends_on=())


def test_list_order_of_hosts_does_not_change_the_plan():
    raw_hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    assert planner.plan(cluster(hosts=list(reversed(raw_hosts)))) == planner.plan(cluster())


def test_zookeeper_kafka_etcd_cluster_wiring():
    p = planner.plan(cluster())
    assert env(p, "zookeeper-core-b") == {
        "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr,stat", "ZOO_ADMINSERVER_ENABLED": "false",
        "ZOO_MY_ID": "2", "ZOO_STANDALONE_ENABLED": "false",
        "ZOO_SERVERS": "server.1=10.0.0.11:2888:3888;2181 server.2=0.0.0.0:2888:3888;2181 "
                       "server.3=10.0.0.13:2888:3888;2181",
    }
    kafka = env(p, "kafka-core-c")
    assert {k: kafka[k] for k in ("KAFKA_NODE_ID", "KAFKA_ADVERTISED_LISTENERS",
                                  "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_DEFAULT_REPLICATION_FACTOR",
                                  "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "KAFKA_LOG_DIRS")} == {
        "KAFKA_NODE_ID": "2", "KAFKA_ADVERTISED_LISTENERS": "EXTERNAL://10.0.0.13:9092",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "0@10.0.0.11:9093,1@10.0.0.12:9093,2@10.0.0.13:9093",
        "KAFKA_DEFAULT_REPLICATION_FACTOR": "3", "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data/kraft",
    }
    assert not [k for k in kafka if "ZOOKEEPER" in k]
    etcd = next(c for c in p.containers() if c.key == "etcd-core-a")
    cmd = list(etcd.command)
    assert cmd[cmd.index("--initial-cluster") + 1] == \
        "etcd0=http://10.0.0.11:2380,etcd1=http://10.0.0.12:2380,etcd2=http://10.0.0.13:2380"
    assert cmd[cmd.index("--advertise-client-urls") + 1] == "http://10.0.0.11:2379"


DEAD_KEYS = {"INVOKER_USE_RUNC", "CONTROLLER_INSTANCES", "COMPONENT_NAME", "SERVICE_NAME",
             "DB_PROVIDER", "DB_PROTOCOL", "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD",
             "DB_PREFIX", "DB_WHISK_ACTIONS", "DB_WHISK_ACTIVATIONS", "DB_WHISK_AUTHS",
             "AKKA_CLUSTER_SEED_NODES", "AKKA_CLUSTER_HOST", "EDGE_HOST", "INVOKER_NAME",
             "CONFIG_whisk_runtimes_defaultImagePrefix", "CONFIG_whisk_runtimes_defaultImageTag",
             "CONFIG_whisk_docker_registry"}


@pytest.mark.parametrize("make", [stack, cluster], ids=["dev", "cluster"])
def test_no_dead_keys_anywhere(make):
    p = planner.plan(make())
    jvm = [c for c in p.containers() if c.service in ("controller", "invoker", "scheduler")]
    assert jvm
    for c in jvm:
        keys = set(c.env_dict())
        assert not keys & DEAD_KEYS, c.key
        assert not [k for k in keys if k.startswith("CONFIG_whisk_kafka_topics_creationAck")]
        # transformEnvironment.sh maps each `_` to `.`: an empty segment would be a broken key.
        assert not [k for k in keys if k.startswith("CONFIG_") and "" in k[7:].split("_")], c.key


def test_secrets_never_appear_in_plain_values():
    p = planner.plan(cluster())
    for c in p.containers():
        for key, value in c.env:
            if key.upper().endswith(("PASSWORD", "_AUTH", "SECRET")):
                assert isinstance(value, Secret), (c.key, key)
    assert {s.name for s in p.secrets} == {
        "couchdb_admin_password", "couchdb_erlang_cookie", "couchdb_controller_password",
        "couchdb_invoker_password",
        "couchdb_scheduler_password", "guest_auth", "system_auth", "controller_admin_password",
        "invoker_admin_password", "scheduler_admin_password", "edge_tls_cert", "edge_tls_key",
        "redis_password", "etcd_root_password", "etcd_password", "etcd_health_password",
        "kafka_cluster_id"}


def test_rotation_generation_reaches_the_secret_spec():
    p = planner.plan(stack(rotate={"guest_auth": 2, "edge_tls_key": 1, "couchdb_erlang_cookie": 3}))
    generations = {s.name: s.generation for s in p.secrets}
    assert (generations["guest_auth"], generations["system_auth"], generations["edge_tls_key"],
            generations["edge_tls_cert"], generations["couchdb_erlang_cookie"]) == (2, 0, 1, 0, 3)


def secrets_labels(p) -> dict[str, str]:
    return {c.key: dict(c.labels)[planner.SECRETS_LABEL] for c in p.containers() if c.labels}


def test_every_container_that_reads_a_secret_is_labelled_with_their_digest():
    p = planner.plan(stack())
    assert sorted(secrets_labels(p)) == sorted(c.key for c in p.containers() if c.secret_names())
    assert sorted(secrets_labels(p)) == [
        "apigateway-dev", "catalog-dev", "controller-dev", "couchdb-dev", "couchdb-init-dev",
        "couchdb-tenants-dev", "edge-dev", "invoker-0", "kafka-dev", "redis-dev"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in secrets_labels(p).values())


def test_the_labels_of_deployed_stacks_stay_as_they_were():
    """A label that changes replaces its container: a field added to SecretSpec must keep the
    digests of existing specs (these values are what the program labelled before `client_auth`)."""
    from tests.conftest import parse_stack_file
    labels = secrets_labels(planner.plan(parse_stack_file("prod")))
    assert {k: labels[k] for k in ("controller-core-1", "couchdb-core-1", "registry-core-1")} == {
        "controller-core-1": "3f5f8d866eb1619c", "couchdb-core-1": "c39fb482cfc8731e",
        "registry-core-1": "235071648b95fbe0"}


@pytest.mark.parametrize("change,relabelled", [
    # A rotated value is unknown at preview; the label makes the replacement visible there.
    ({"rotate": {"guest_auth": 2}}, ["couchdb-init-dev"]),
    ({"rotate": {"couchdb_admin_password": 1}},
     ["couchdb-dev", "couchdb-init-dev", "couchdb-tenants-dev"]),
    # A namespace's key: only the tenants step reads it.
    ({"namespaces": [{"name": "team-a", "rotate": 1}]}, ["couchdb-tenants-dev"]),
    # A new certificate for a new API host: the edge reads it.
    ({"edge": {"api_host": "ow.example.com"}}, ["edge-dev"]),
    # Kafka SASL: every Kafka client starts reading the client password.
    ({"kafka": {"sasl": {"mechanism": "PLAIN"}}}, ["controller-dev", "invoker-0", "kafka-dev"]),
    ({"limits": {"invokes_per_minute": 1}}, []),
])
def test_the_label_changes_exactly_where_a_secret_value_will(change, relabelled):
    before, after = secrets_labels(planner.plan(stack())), secrets_labels(planner.plan(stack(**change)))
    assert sorted(k for k in after if after[k] != before.get(k)) == relabelled


def test_edge_routes_to_every_controller_and_redirects():
    p = planner.plan(cluster(edge={"api_host": "openwhisk.example.com", "https_port": 8443}))
    edge = next(c for c in p.containers() if c.service == "edge")
    # The config is reloaded in place from its volume; only the certificate and key are uploads.
    live = edge.live_config
    [(name, conf)] = live.files
    assert (name, live.volume, live.target, live.check, live.reload, edge.command) == (
        "nginx.conf", "ow-edge-config", "/etc/nginx/ow",
        ("nginx", "-t", "-q", "-c", "/etc/nginx/ow/nginx.conf.next"),
        ("nginx", "-s", "reload", "-c", "/etc/nginx/ow/nginx.conf"),
        ("nginx", "-c", "/etc/nginx/ow/nginx.conf", "-g", "daemon off;"))
    assert [f.path for f in edge.files] == ["/etc/nginx/tls/cert.pem", "/etc/nginx/tls/key.pem"]
    assert [line.strip() for line in conf.splitlines() if line.strip().startswith("server 10.")] == [
        "server 10.0.0.11:10001 max_fails=1 fail_timeout=5s;", "server 10.0.0.12:10001 max_fails=1 fail_timeout=5s;",
        "server 10.0.0.13:10001 max_fails=1 fail_timeout=5s;",
        # The API gateway, on the edge's host: `wsk api` routes under /api/, the API at /api/v1.
        "server 10.0.0.11:9001 max_fails=1 fail_timeout=5s;"]
    assert ("        location /api/v1 {\n            proxy_pass http://controllers;\n        }\n"
            "        location /api/ {\n            proxy_pass http://apigateway;\n        }") in conf
    # A stopping or starting controller is passed over (rolling changes keep the API up).
    assert "    proxy_next_upstream error timeout http_502 http_503;\n" in conf
    assert "return 308 https://$host:8443$request_uri;" in conf
    assert [(x.container, x.published) for x in edge.ports] == [(443, 8443), (80, 80)]
    assert p.api_host == "openwhisk.example.com:8443"
    assert p.endpoints["apiHost"] == "https://openwhisk.example.com:8443"
    tls = next(s for s in p.secrets if s.name == "edge_tls_cert").tls
    assert (tls.common_name, tls.dns_names, tls.ip_addresses) == (
        "openwhisk.example.com", ("openwhisk.example.com",), ("10.0.0.11",))
    assert env(p, "invoker-1")["WHISK_API_HOST_NAME"] == "openwhisk.example.com"
    assert env(p, "invoker-1")["WHISK_API_HOST_PORT"] == "8443"
    # The URLs `wsk api create` prints name the API host, whose edge routes them to the gateway.
    assert {k: v for k, v in env(p, "apigateway-core-a").items() if k.startswith("PUBLIC_")} == {
        "PUBLIC_MANAGEDURL_HOST": "openwhisk.example.com", "PUBLIC_MANAGEDURL_PORT": "8443"}


def test_images_are_pinned_and_prepulled_on_invoker_hosts():
    p = planner.plan(cluster())
    refs = {i.key: i.ref for i in p.images}
    assert refs["controller"] == "openwhisk/controller:1fae641"
    assert refs["scheduler"] == "openwhisk/scheduler:1fae641"
    assert refs["runtime-openwhisk-action-nodejs-v20"] == "openwhisk/action-nodejs-v20:1.22.0"
    pulls: dict[str, list[str]] = {}
    for s in p.services:
        for host, keys in s.pulls().items():
            pulls.setdefault(host, []).extend(keys)
    assert pulls["inv-a"] == ["invoker", "runtime-openwhisk-action-nodejs-v18",
                              "runtime-openwhisk-action-nodejs-v20",
                              "runtime-openwhisk-action-python-v3.10",
                              "runtime-openwhisk-action-python-v3.11",
                              "runtime-openwhisk-dockerskeleton"]
    assert pulls["core-b"] == ["zookeeper", "kafka", "etcd", "controller", "scheduler"]


def test_an_image_is_shared_only_by_a_step_on_its_owners_host():
    """Pull resources are named <host>-<image>; a service that runs an image some earlier service
    pulls on the same host uses that pull (components.DockerService), so the only sharing is the
    etcd-auth step in the CouchDB image, after the CouchDB service, on the CouchDB host."""
    p = planner.plan(cluster())
    owners: dict[tuple[str | None, str], list[str]] = {}
    for s in p.services:
        for host, keys in s.pulls().items():
            for k in keys:
                owners.setdefault((host, k), []).append(s.name)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {("core-a", "couchdb"): ["couchdb", "etcd-auth"]}


def test_elasticsearch_store_keys_on_every_jvm_component():
    hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    hosts[0]["roles"] = [*hosts[0]["roles"], "elasticsearch"]
    p = planner.plan(cluster(hosts=hosts, activation_store={"backend": "elasticsearch"}))
    for key in ("controller-core-a", "invoker-1", "scheduler-core-c"):
        e = env(p, key)
        assert e["CONFIG_whisk_spi_ActivationStoreProvider"] == \
            "org.apache.openwhisk.core.database.elasticsearch.ElasticSearchActivationStoreProvider"
        assert e["CONFIG_whisk_activationStore_elasticsearch_hosts"] == "10.0.0.11:9200"
        assert e["CONFIG_whisk_activationStore_elasticsearch_indexPattern"] == "openwhisk-%s"
        assert e["CONFIG_whisk_activationStore_elasticsearch_password"] == \
            Secret("${elasticsearch_password}")
        assert e["CONFIG_whisk_activationStore_elasticsearch_username"] == "openwhisk"
    assert env(p, "scheduler-core-a")["CONFIG_whisk_spi_DurationCheckerProvider"].endswith(
        ".ElasticSearchDurationCheckerProvider")


def _es_plan(nodes: tuple[str, ...], **over):
    hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    for h in hosts:
        if h["name"] in nodes:
            h["roles"] = [*h["roles"], "elasticsearch"]
    return planner.plan(cluster(hosts=hosts, activation_store={"backend": "elasticsearch", **over}))


def test_elasticsearch_nodes_run_with_security_and_transport_tls():
    p = _es_plan(("core-a", "core-b", "core-c"))
    c = container(p, "elasticsearch-core-b")
    cfg = "/usr/share/elasticsearch/config"
    assert c.env_dict() == {
        "ES_JAVA_OPTS": "-Xms1g -Xmx1g", "cluster.name": "openwhisk", "node.name": "es1",
        "network.publish_host": "10.0.0.12",
        "discovery.zen.ping.unicast.hosts": "10.0.0.11:9300,10.0.0.12:9300,10.0.0.13:9300",
        "discovery.zen.minimum_master_nodes": "2",
        "xpack.security.enabled": "true",
        "xpack.security.transport.ssl.enabled": "true",
        "xpack.security.transport.ssl.verification_mode": "certificate",
        "xpack.security.transport.ssl.certificate_authorities": f"{cfg}/transport-ca.pem",
        "xpack.security.transport.ssl.certificate": f"{cfg}/transport-cert.pem",
        "xpack.security.transport.ssl.key": f"{cfg}/transport-key.pem",
    }
    assert c.files == (
        File(f"{cfg}/users", Secret("${elasticsearch_password_hash}\n${elasticsearch_health_password_hash}\n")),
        File(f"{cfg}/users_roles", "openwhisk_activations:openwhisk\nopenwhisk_health:health\n"),
        File(f"{cfg}/roles.yml", 'openwhisk_activations:\n  indices:\n    - names: ["openwhisk-*"]\n'
                                 '      privileges: ["all"]\nopenwhisk_health:\n  cluster: ["monitor"]\n'),
        File(f"{cfg}/transport-ca.pem", Secret("${elasticsearch_ca_cert}")),
        File(f"{cfg}/transport-cert.pem", Secret("${elasticsearch_transport_cert}")),
        File(f"{cfg}/transport-key.pem", Secret("${elasticsearch_transport_key}")),
        File(f"{cfg}/health-login.curl", Secret('user = "health:${elasticsearch_health_password}"\n')),
    )
    # The health check reads its login from the file: no secret in its command or environment.
    assert c.health.test == ("CMD", "curl", "-fsS", "-K", f"{cfg}/health-login.curl",
                             "http://127.0.0.1:9200/_cluster/health")
    assert not [k for k, v in c.env if isinstance(v, Secret)]
    assert (c.epoch, c.member_id, c.rolls_after, c.rolls_after_id) == (
        "security", "elasticsearch-core-b@security", "elasticsearch-core-a", "elasticsearch-core-a@security")
    specs = {s.name: s for s in p.secrets}
    assert (specs["elasticsearch_password_hash"].source, specs["elasticsearch_password_hash"].user) == \
        ("elasticsearch_password", "openwhisk")
    assert specs["elasticsearch_transport_cert"].client_auth is True
    assert specs["elasticsearch_transport_cert"].ca == "elasticsearch_ca_cert"


def test_elasticsearch_single_node_and_the_configured_index_pattern():
    c = container(_es_plan(("core-a",), index_pattern="acts-%s-v1"), "elasticsearch-core-a")
    e = c.env_dict()
    assert (e["discovery.type"], "discovery.zen.ping.unicast.hosts" in e) == ("single-node", False)
    assert e["xpack.security.transport.ssl.enabled"] == "true"
    roles = {f.path.rsplit("/", 1)[1]: f.content for f in c.files}["roles.yml"]
    assert '- names: ["acts-*-v1"]' in roles


def test_couchdb_init_never_receives_secrets_on_its_command_line():
    p = planner.plan(stack())
    init = next(c for c in p.containers() if c.key == "couchdb-init-dev")
    assert init.one_shot and init.entrypoint == ("/bin/sh", "/ow-init/init.sh")
    assert init.command == ()
    e = init.env_dict()
    assert e["COUCHDB_ADMIN_PASSWORD"] == Secret("${couchdb_admin_password}")
    assert (e["SCHEDULER_DB_USER"], e["SCHEDULER_DB_PASSWORD"]) == ("", "")
    assert "/ow-init/init.sh" in [f.path for f in init.files]


def test_manifest_in_env_is_valid_json_with_nodejs_default():
    m = json.loads(env(planner.plan(stack()), "controller-dev")["RUNTIMES_MANIFEST"])
    assert [k["kind"] for k in m["runtimes"]["nodejs"] if k.get("default")] == ["nodejs:20"]


def test_planner_does_not_import_pulumi():
    code = "import sys, planner, config, runtimes; print('pulumi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_instances_of_rolled_roles_are_chained_and_quorum_members_roll_after_deployed_ones():
    p = planner.plan(cluster())
    chain = {c.key: [d for d in c.depends_on if d.split("-")[0] == c.service]
             for c in p.containers() if not c.one_shot}
    assert {k: v for k, v in chain.items() if v} == {
        "controller-core-b": ["controller-core-a"], "controller-core-c": ["controller-core-b"],
        "scheduler-core-b": ["scheduler-core-a"], "scheduler-core-c": ["scheduler-core-b"],
        "invoker-1": ["invoker-0"], "invoker-2": ["invoker-1"]}
    # Each instance of a chained role waits for its health check, so the next waits for it.
    assert all(c.health.wait for c in p.containers()
               if c.service in planner.kube.ONE_AT_A_TIME)
    # Quorum members wait for the one before them only once it was deployed (the component
    # decides, from the last deployment's quorumMembers output).
    assert {c.key: c.rolls_after for c in p.containers() if c.rolls_after} == {
        "zookeeper-core-b": "zookeeper-core-a", "zookeeper-core-c": "zookeeper-core-b",
        "kafka-core-b": "kafka-core-a", "kafka-core-c": "kafka-core-b",
        "etcd-core-b": "etcd-core-a", "etcd-core-c": "etcd-core-b"}
    assert planner.quorum_members(p) == [
        "etcd-core-a", "etcd-core-b", "etcd-core-c", "kafka-core-a", "kafka-core-b", "kafka-core-c",
        "zookeeper-core-a", "zookeeper-core-b", "zookeeper-core-c"]


def test_kafka_clients_bootstrap_from_the_first_three_brokers_only():
    four = [{"name": f"k{i}", "address": f"10.0.0.{30 + i}", "id": 10 + i, "roles": ["kafka"]}
            for i in range(2)]
    base = planner.plan(cluster())
    more = planner.plan(cluster(hosts=[h.model_dump(exclude_none=True)
                                       for h in cluster().config.hosts] + four))
    assert env(base, "controller-core-a")["KAFKA_HOSTS"] == \
        "10.0.0.11:9092,10.0.0.12:9092,10.0.0.13:9092"
    assert env(more, "controller-core-a")["KAFKA_HOSTS"] == env(base, "controller-core-a")["KAFKA_HOSTS"]
    assert more.endpoints["kafka"].count(",") == 4  # the output still lists every broker


@pytest.mark.parametrize("name", ["dev", "prod", "k8s", "namespace-without-limits"])
def test_no_planned_file_is_empty(name):
    """The Docker provider refuses an upload without content (found by the engine tier: a
    namespace without limits once planned an empty limits file)."""
    from tests.conftest import parse_stack_file
    p = planner.plan(stack(namespaces=[{"name": "team-a"}]) if name.startswith("namespace")
                     else parse_stack_file(name))
    empty = [(c.key, f.path) for c in p.containers() for f in c.files
             if (f.content.template if isinstance(f.content, Secret) else f.content) == ""]
    assert empty == []
    files = [f for c in p.containers() for f in c.files]
    assert len(files) > 3


# -- secrets off the java command line -----------------------------------------------------------


@pytest.mark.parametrize("key, path", [  # upstream transformEnvironment.sh's own examples
    ("CONFIG_whisk_loadbalancer_invokerBusyThreshold", "whisk.loadbalancer.invoker-busy-threshold"),
    ("CONFIG_pekko_remote_netty_tcp_bindPort", "pekko.remote.netty.tcp.bind-port"),
    ("CONFIG_whisk_spi_LogStoreProvider", "whisk.spi.LogStoreProvider"),
])
def test_hocon_paths_are_the_images_own(key, path):
    assert jvm.hocon_path(key) == path


def test_the_controller_reads_its_secrets_from_a_mounted_file_only():
    c = next(c for c in planner.plan(stack()).containers() if c.key == "controller-dev")
    assert dict(c.env)["CONFIG_config_file"] == "/openwhisk-pulumi/secrets.conf"
    assert [f for f in c.files if f.path == "/openwhisk-pulumi/secrets.conf"] == [File(
        "/openwhisk-pulumi/secrets.conf", Secret(
            'include classpath("application.conf")\n'
            'whisk.couchdb.password = "${couchdb_controller_password}"\n'))]
    assert not [k for k, v in c.env if isinstance(v, Secret)]


def test_no_jvm_component_gets_a_secret_as_a_config_variable():
    plans = [planner.plan(stack(kafka={"sasl": {"mechanism": "PLAIN"}})), planner.plan(cluster())]
    jvm_containers = [c for p in plans for c in p.containers()
                      if c.service in ("controller", "invoker", "scheduler")]
    assert len(jvm_containers) == 11  # dev: controller, invoker; cluster: 3 of each role
    assert [(c.key, k) for c in jvm_containers for k, v in c.env if isinstance(v, Secret)] == []
    assert all(dict(c.env)["CONFIG_config_file"] == "/openwhisk-pulumi/secrets.conf"
               for c in jvm_containers)
