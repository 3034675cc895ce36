"""extra_env of controller, scheduler and invoker: exact refusals, the merge, INVOKER_USE_RUNC."""

from __future__ import annotations

import logging
import re

import pytest

import config
from config import extra_env
import planner
from planner.model import Mount
from tests.conftest import ROOT, load_stack_file, parse_stack_file, run_program, unwrap
from tests.test_config import SCHEDULER, SINGLE, change, problems
from tests.test_planner import cluster, env, stack

CONTAINER = "docker:index/container:Container"
USE_RUNC = "CONFIG_whisk_docker_containerFactory_useRunc"
RUNC_MOUNT = Mount("/run/runc", host_path="/run/docker/runtime-runc/moby")


def line(path: str, rest: str) -> str:
    return f"openwhisk:{path}: {rest}"


# -- names, stale variables, single quotes -------------------------------------------------------

NAME = "not a valid environment variable name: a letter or '_', then letters, digits or '_'"
NOT_READ = "not read by any OpenWhisk component"
COUCH = f"{NOT_READ}: CouchDB settings are read from"

REFUSED = [
    # names
    ("controller", "foo-bar", "1", line("controller.extra_env",
        f"{NAME} (got 'foo-bar'); rename it, e.g. to 'foo_bar'")),
    ("invoker", "9LIVES", "1", line("invoker.extra_env",
        f"{NAME} (got '9LIVES'); rename it, e.g. to '_9LIVES'")),
    ("scheduler", "my key", "1", line("scheduler.extra_env",
        f"{NAME} (got 'my key'); rename it, e.g. to 'my_key'")),
    # stale variables
    ("controller", "INVOKER_USE_RUNC", "true", line("controller.extra_env.INVOKER_USE_RUNC",
        f"{NOT_READ}: the invoker has read CONFIG_whisk_docker_containerFactory_useRunc instead "
        "since 2018 (got 'true'); set invoker.use_runc instead (only invoker.extra_env translates "
        "this key)")),
    ("controller", "CONTROLLER_INSTANCES", "2", line("controller.extra_env.CONTROLLER_INSTANCES",
        f"{NOT_READ} since 2019: controllers learn the cluster size from cluster membership (got "
        "'2'); remove it; to add controllers, give more hosts the 'controller' role")),
    ("scheduler", "SCHEDULER_INSTANCES", "2", line("scheduler.extra_env.SCHEDULER_INSTANCES",
        f"{NOT_READ} (got '2'); remove it; to add schedulers, give more hosts the 'scheduler' role")),
    ("controller", "CONTROLLER_HA", "true", line("controller.extra_env.CONTROLLER_HA",
        f"{NOT_READ} (got 'true'); remove it")),
    ("controller", "CONTROLLER_LOCALBOOKKEEPING", "true",
     line("controller.extra_env.CONTROLLER_LOCALBOOKKEEPING", f"{NOT_READ} (got 'true'); remove it")),
    ("invoker", "COMPONENT_NAME", "invoker", line("invoker.extra_env.COMPONENT_NAME",
        f"{NOT_READ}: a leftover of old deployment scripts (got 'invoker'); remove it")),
    ("controller", "SERVICE_NAME", "controller", line("controller.extra_env.SERVICE_NAME",
        f"{NOT_READ}: a leftover of old deployment scripts (got 'controller'); remove it")),
    ("controller", "DB_PROVIDER", "CouchDB", line("controller.extra_env.DB_PROVIDER",
        f"{COUCH} CONFIG_whisk_couchdb_provider (got 'CouchDB'); remove it; the program sets "
        "CONFIG_whisk_couchdb_provider from the couchdb role")),
    ("controller", "DB_PROTOCOL", "http", line("controller.extra_env.DB_PROTOCOL",
        f"{COUCH} CONFIG_whisk_couchdb_protocol (got 'http'); remove it; the program sets "
        "CONFIG_whisk_couchdb_protocol from the couchdb role")),
    ("invoker", "DB_HOST", "db.local", line("invoker.extra_env.DB_HOST",
        f"{COUCH} CONFIG_whisk_couchdb_host (got 'db.local'); remove it; the program sets "
        "CONFIG_whisk_couchdb_host from the address of the host with the couchdb role")),
    ("invoker", "DB_PORT", "5984", line("invoker.extra_env.DB_PORT",
        f"{COUCH} CONFIG_whisk_couchdb_port (got '5984'); remove it; the program sets "
        "CONFIG_whisk_couchdb_port from couchdb.port")),
    ("scheduler", "DB_USERNAME", "admin", line("scheduler.extra_env.DB_USERNAME",
        f"{COUCH} CONFIG_whisk_couchdb_username (got 'admin'); remove it; the program sets "
        "CONFIG_whisk_couchdb_username from couchdb.db_prefix")),
    ("scheduler", "DB_PASSWORD", "hunter2", line("scheduler.extra_env.DB_PASSWORD",
        f"{COUCH} CONFIG_whisk_couchdb_password (got a hidden value); remove it; the program sets "
        "CONFIG_whisk_couchdb_password from a generated secret")),
    ("controller", "DB_PREFIX", "ow_", line("controller.extra_env.DB_PREFIX",
        f"{COUCH} CONFIG_whisk_couchdb_databases_* (got 'ow_'); remove it; the program sets "
        "CONFIG_whisk_couchdb_databases_* from couchdb.db_prefix")),
    ("controller", "DB_WHISK_ACTIONS", "x", line("controller.extra_env.DB_WHISK_ACTIONS",
        f"{COUCH} CONFIG_whisk_couchdb_databases_WhiskEntity (got 'x'); remove it; the program sets "
        "CONFIG_whisk_couchdb_databases_WhiskEntity from couchdb.db_prefix")),
    ("controller", "DB_WHISK_ACTIVATIONS", "x", line("controller.extra_env.DB_WHISK_ACTIVATIONS",
        f"{COUCH} CONFIG_whisk_couchdb_databases_WhiskActivation (got 'x'); remove it; the program "
        "sets CONFIG_whisk_couchdb_databases_WhiskActivation from couchdb.db_prefix")),
    ("controller", "DB_WHISK_AUTHS", "x", line("controller.extra_env.DB_WHISK_AUTHS",
        f"{COUCH} CONFIG_whisk_couchdb_databases_WhiskAuth (got 'x'); remove it; the program sets "
        "CONFIG_whisk_couchdb_databases_WhiskAuth from couchdb.db_prefix")),
    ("controller", "AKKA_CLUSTER_SEED_NODES", "x", line("controller.extra_env.AKKA_CLUSTER_SEED_NODES",
        f"{NOT_READ}: seed nodes are read from CONFIG_akka_cluster_seedNodes_<i> (got 'x'); remove "
        "it; the program plans the seed nodes from the hosts with the controller and scheduler roles "
        "and controller.seed_count")),
    ("controller", "AKKA_CLUSTER_HOST", "x", line("controller.extra_env.AKKA_CLUSTER_HOST",
        f"{NOT_READ}: the advertised host is read from CONFIG_akka_remote_artery_canonical_hostname "
        "(got 'x'); remove it; the program sets it to each host's address")),
    ("controller", "AKKA_CLUSTER_BIND_PORT", "1", line("controller.extra_env.AKKA_CLUSTER_BIND_PORT",
        f"{NOT_READ}: the port is read from CONFIG_akka_remote_artery_bind_port (got '1'); remove "
        "it; the program sets it from controller.remoting_port and scheduler.remoting_port")),
    ("invoker", "EDGE_HOST", "x", line("invoker.extra_env.EDGE_HOST",
        f"{NOT_READ}: the API host is read from WHISK_API_HOST_NAME (got 'x'); remove it; the "
        "program sets WHISK_API_HOST_NAME from edge.api_host")),
    ("invoker", "EDGE_HOST_APIPORT", "443", line("invoker.extra_env.EDGE_HOST_APIPORT",
        f"{NOT_READ}: the API port is read from WHISK_API_HOST_PORT (got '443'); remove it; the "
        "program sets WHISK_API_HOST_PORT from edge.https_port")),
    ("invoker", "INVOKER_CONTAINER_POLICY", "x", line("invoker.extra_env.INVOKER_CONTAINER_POLICY",
        f"{NOT_READ} (got 'x'); remove it")),
    ("invoker", "INVOKER_NAME", "x", line("invoker.extra_env.INVOKER_NAME",
        f"{NOT_READ}: the invoker's name is its --uniqueName argument (got 'x'); remove it; the "
        "program passes --id and --uniqueName from hosts[].invoker_ids")),
    ("invoker", "WHISK_LOGS_DIR", "/logs", line("invoker.extra_env.WHISK_LOGS_DIR",
        f"{NOT_READ} (got '/logs'); remove it")),
    ("controller", "JMX_REMOTE", "true", line("controller.extra_env.JMX_REMOTE",
        f"{NOT_READ}: JMX is configured only through JVM arguments (got 'true'); remove it")),
    ("controller", "LIMITS_ACTIONS_INVOKES_CONCURRENTINSYSTEM", "5",
     line("controller.extra_env.LIMITS_ACTIONS_INVOKES_CONCURRENTINSYSTEM",
          f"{NOT_READ} (got '5'); remove it; the concurrency limit is limits.concurrent_invokes")),
    ("controller", "WHISK_SYSTEM_KEY", "k", line("controller.extra_env.WHISK_SYSTEM_KEY",
        f"{NOT_READ}: the whisk.system key is stored in CouchDB (got 'k'); remove it; the key is "
        "generated (rotate it with rotate.system_auth)")),
    ("controller", "CONFIG_whisk_runtimes_defaultImagePrefix", "openwhisk",
     line("controller.extra_env.CONFIG_whisk_runtimes_defaultImagePrefix",
          f"{NOT_READ}: the runtime settings only have bypassPullForLocalImages and localImagePrefix "
          "(got 'openwhisk'); set the image prefix of each kind in the runtime manifest "
          "(runtimes.manifest) instead")),
    ("scheduler", "CONFIG_whisk_runtimes_defaultImageTag", "nightly",
     line("scheduler.extra_env.CONFIG_whisk_runtimes_defaultImageTag",
          f"{NOT_READ}: the runtime settings only have bypassPullForLocalImages and localImagePrefix "
          "(got 'nightly'); set the image tag of each kind in the runtime manifest "
          "(runtimes.manifest) instead")),
    ("invoker", "CONFIG_whisk_docker_registry", "reg:5000",
     line("invoker.extra_env.CONFIG_whisk_docker_registry",
          f"{NOT_READ}: there is no whisk.docker.registry setting (got 'reg:5000'); use "
          "CONFIG_whisk_containerFactory_runtimesRegistry_url and "
          "CONFIG_whisk_containerFactory_userImagesRegistry_url instead")),
    ("scheduler", "CONFIG_whisk_kafka_topics_creationAck_retentionMs", "60000",
     line("scheduler.extra_env.CONFIG_whisk_kafka_topics_creationAck_retentionMs",
          f"{NOT_READ}: the CONFIG_ mapping turns creationAck into creation-ack, a block no component "
          "has (got '60000'); remove it; the creationAck topic settings cannot be changed through "
          "the environment")),
    ("controller", "LOADBALANCER_HOST", "x", line("controller.extra_env.LOADBALANCER_HOST",
        f"{NOT_READ} (got 'x'); remove it; the edge routes to every controller")),
    ("invoker", "KAFKA_TOPICS_INVOKER_RETENTION_BYTES", "1",
     line("invoker.extra_env.KAFKA_TOPICS_INVOKER_RETENTION_BYTES",
          f"{NOT_READ}: topic settings are read from CONFIG_whisk_kafka_topics_<topic>_* (got '1'); "
          "use CONFIG_whisk_kafka_topics_<topic>_<setting> instead")),
    # single quotes
    ("invoker", "CONFIG_whisk_kafka_common_saslKerberosServiceName", "it's",
     line("invoker.extra_env.CONFIG_whisk_kafka_common_saslKerberosServiceName",
          "contains a single quote, which breaks the JVM command line (each CONFIG_ value is wrapped "
          "in single quotes) (got \"it's\"); remove the quote; inside the value use double quotes")),
]


#: Scheduler mode on an akka image (tag 4fac03a), so that every section is in use.
AKKA_SCHEDULER = change(SCHEDULER, {"version.tag": "4fac03a"})


@pytest.mark.parametrize(("section", "key", "value", "expected"), REFUSED,
                         ids=[f"{s}-{k}" for s, k, _, _ in REFUSED])
def test_refused_key(section, key, value, expected):
    assert problems(change(AKKA_SCHEDULER, {f"{section}.extra_env": {key: value}})) == [expected]


def test_every_stale_key_of_the_table_is_refused_above():
    covered = {k for _, k, _, _ in REFUSED}
    assert set(extra_env.DEAD) <= covered
    assert all(any(k.startswith(p) for k in covered) for p in extra_env.DEAD_PREFIXES)


# -- the other actor-system family ---------------------------------------------------------------

IGNORED_PEKKO = "silently ignored by this image: tag '1fae641' reads pekko keys"
IGNORED_AKKA = "silently ignored by this image: tag 'ef725a6' reads akka keys"

FAMILY = [
    (SCHEDULER, "invoker", "CONFIG_akka_http_client_idleTimeout", "30 s",
     line("invoker.extra_env.CONFIG_akka_http_client_idleTimeout",
          f"{IGNORED_PEKKO} (got '30 s'); use CONFIG_pekko_http_client_idleTimeout instead")),
    (SINGLE, "controller", "CONFIG_pekko_http_serverParsing_maxContentLength", "60m",
     line("controller.extra_env.CONFIG_pekko_http_serverParsing_maxContentLength",
          f"{IGNORED_AKKA} (got '60m'); use CONFIG_akka_http_serverParsing_maxContentLength instead")),
    (SCHEDULER, "invoker", "CONFIG_whisk_containerPool_akkaClient", "true",
     line("invoker.extra_env.CONFIG_whisk_containerPool_akkaClient",
          f"{IGNORED_PEKKO} (got 'true'); use CONFIG_whisk_containerPool_pekkoClient instead")),
    (SINGLE, "invoker", "CONFIG_whisk_containerPool_pekkoClient", "true",
     line("invoker.extra_env.CONFIG_whisk_containerPool_pekkoClient",
          f"{IGNORED_AKKA} (got 'true'); use CONFIG_whisk_containerPool_akkaClient instead")),
    (SCHEDULER, "scheduler", "WHISK_SCHEDULER_ENDPOINTS_AKKAPORT", "25521",
     line("scheduler.extra_env.WHISK_SCHEDULER_ENDPOINTS_AKKAPORT",
          f"{IGNORED_PEKKO} (got '25521'); remove it; the program sets "
          "WHISK_SCHEDULER_ENDPOINTS_PEKKOPORT from scheduler.remoting_port")),
    (SCHEDULER, "scheduler", "CONFIG_akka_remote_artery_canonical_port", "1",
     line("scheduler.extra_env.CONFIG_akka_remote_artery_canonical_port",
          f"{IGNORED_PEKKO} (got '1'); remove it; the program sets "
          "CONFIG_pekko_remote_artery_canonical_port from scheduler.remoting_port")),
    (SINGLE, "controller", "CONFIG_pekko_actor_provider", "local",
     line("controller.extra_env.CONFIG_pekko_actor_provider",
          f"{IGNORED_AKKA} (got 'local'); remove it; the program sets CONFIG_akka_actor_provider "
          "itself: remoting needs the cluster provider")),
]


@pytest.mark.parametrize(("base", "section", "key", "value", "expected"), FAMILY,
                         ids=[k for _, _, k, _, _ in FAMILY])
def test_key_of_the_other_actor_family(base, section, key, value, expected):
    assert problems(change(base, {f"{section}.extra_env": {key: value}})) == [expected]


def test_family_keys_are_judged_by_a_stated_actor_system_on_unknown_tags():
    raw = change(SINGLE, {"version": {"tag": "abc1234", "actor_system": "pekko", "mode": "classic"},
                          "controller.extra_env": {"CONFIG_akka_loglevel": "DEBUG"}})
    assert problems(raw) == [line(
        "controller.extra_env.CONFIG_akka_loglevel",
        "silently ignored by this image: tag 'abc1234' reads pekko keys (got 'DEBUG'); use "
        "CONFIG_pekko_loglevel instead")]


# -- planned keys --------------------------------------------------------------------------------

PLANS = "overrides a key the program plans"
HOSTS = "change the hosts' roles or addresses instead"

PLANNED = [
    ("controller", "PORT", ": the HTTP port inside the container stays 8080 (got '9000'); set "
     "controller.http_port to change the port published on the host"),
    ("invoker", "PORT", ": the HTTP port inside the container stays 8080 (got '9000'); set "
     "invoker.http_port to change the port published on the host"),
    ("scheduler", "KAFKA_HOSTS", f" from the hosts with the kafka role and kafka.port (got '9000'); "
     f"{HOSTS}"),
    ("invoker", "ZOOKEEPER_HOSTS", f" from the hosts with the zookeeper role (got '9000'); {HOSTS}"),
    ("controller", "RUNTIMES_MANIFEST", " from runtimes.manifest (got '9000'); edit the manifest "
     "file, or point runtimes.manifest at another one"),
    ("invoker", "CONFIG_whisk_kafka_replicationFactor", " from kafka.replication_factor (got '9000'); "
     "set kafka.replication_factor instead"),
    ("controller", "CONFIG_whisk_kafka_common_securityProtocol", " from kafka.sasl (got '9000'); set "
     "kafka.sasl instead, which sets up the brokers to match"),
    ("scheduler", "CONFIG_whisk_kafka_common_saslJaasConfig", " from kafka.sasl (got a hidden value); "
     "set kafka.sasl instead, which sets up the brokers to match"),
    ("invoker", "CONFIG_whisk_couchdb_host", " from the host with the couchdb role and couchdb.port "
     f"(got '9000'); {HOSTS} (or couchdb.port)"),
    ("invoker", "CONFIG_whisk_couchdb_username", " from couchdb.db_prefix (got '9000'); set "
     "couchdb.db_prefix instead"),
    ("invoker", "CONFIG_whisk_couchdb_password", ": the password is a generated secret (got a hidden "
     "value); remove it; rotate the password with rotate.couchdb_invoker_password"),
    ("controller", "CONFIG_whisk_couchdb_databases_WhiskAuth", " from couchdb.db_prefix (got '9000'); "
     "set couchdb.db_prefix instead"),
    ("scheduler", "CONFIG_whisk_cluster_name", ": the same on every component (got '9000'); remove it"),
    ("scheduler", "CONFIG_whisk_etcd_hosts", f" from the hosts with the etcd role (got '9000'); {HOSTS}"),
    ("invoker", "CONFIG_whisk_etcd_lease_timeout", " from scheduler.etcd_lease_timeout_s (got '9000'); "
     "set scheduler.etcd_lease_timeout_s instead"),
    ("controller", "CONFIG_whisk_etcd_username", ": etcd's login is the user openwhisk with a "
     "generated password, set up by the etcd-auth step (got '9000'); remove it"),
    ("invoker", "CONFIG_whisk_etcd_password", ": etcd's login is the user openwhisk with a generated "
     "password, set up by the etcd-auth step (got a hidden value); remove it"),
    ("controller", "CONFIG_whisk_spi_ActivationStoreProvider", " from activation_store.backend (got "
     "'9000'); set activation_store.backend instead"),
    ("controller", "CONFIG_whisk_activationStore_elasticsearch_hosts", " from activation_store.backend "
     "(got '9000'); set activation_store.backend instead"),
    ("scheduler", "CONFIG_whisk_activationStore_elasticsearch_indexPattern", " from "
     "activation_store.index_pattern (got '9000'); set activation_store.index_pattern instead"),
    ("invoker", "CONFIG_whisk_activationStore_elasticsearch_password", ": the password is a generated "
     "secret (got a hidden value); remove it; rotate the password with rotate.elasticsearch_password"),
    ("controller", "LIMITS_ACTIONS_INVOKES_PERMINUTE", " from limits.invokes_per_minute (got '9000'); "
     "set limits.invokes_per_minute instead"),
    ("scheduler", "LIMITS_ACTIONS_INVOKES_CONCURRENT", " from limits.concurrent_invokes (got '9000'); "
     "set limits.concurrent_invokes instead"),
    ("controller", "LIMITS_TRIGGERS_FIRES_PERMINUTE", " from limits.fires_per_minute (got '9000'); set "
     "limits.fires_per_minute instead"),
    ("controller", "LIMITS_ACTIONS_SEQUENCE_MAXLENGTH", " from limits.sequence_max_length (got "
     "'9000'); set limits.sequence_max_length instead"),
    ("controller", "CONFIG_whisk_info_buildNo", " from version.tag (got '9000'); set version.tag "
     "instead"),
    ("controller", "CONFIG_whisk_info_date", " from version.build_date (got '9000'); set "
     "version.build_date instead"),
    ("invoker", "CONFIG_whisk_spi_LoadBalancerProvider", " from version.mode (got '9000'); set "
     "version.mode instead"),
    ("invoker", "CONFIG_whisk_spi_InvokerProvider", " from version.mode (got '9000'); set version.mode "
     "instead"),
    ("invoker", "CONFIG_whisk_spi_ContainerFactoryProvider", " from invoker.container_factory (got "
     "'9000'); set invoker.container_factory instead"),
    ("scheduler", "CONFIG_whisk_spi_DurationCheckerProvider", " from activation_store.backend (got "
     "'9000'); set activation_store.backend instead"),
    ("scheduler", "CONFIG_whisk_durationChecker_timeWindow", " from scheduler.time_window (got "
     "'9000'); set scheduler.time_window instead"),
    ("invoker", "CONFIG_whisk_invoker_containerCreation_maxPeek", " from scheduler.max_peek (got "
     "'9000'); set scheduler.max_peek instead"),
    ("invoker", USE_RUNC, " from invoker.use_runc (got '9000'); set invoker.use_runc instead (or "
     "hosts[].use_runc for one host)"),
    ("invoker", "CONFIG_whisk_containerPool_userMemory", " from invoker.user_memory_mb (got '9000'); "
     "set invoker.user_memory_mb instead (or hosts[].user_memory_mb for one host)"),
    ("invoker", "WHISK_API_HOST_NAME", " from edge.api_host (got '9000'); set edge.api_host instead"),
    ("invoker", "WHISK_API_HOST_PORT", " from edge.https_port (got '9000'); set edge.https_port "
     "instead"),
    ("invoker", "WHISK_API_HOST_PROTO", ": the edge serves HTTPS only (got '9000'); remove it"),
    ("invoker", "CONFIG_whisk_helm_release", " from kubernetes.release (got '9000'); set "
     "kubernetes.release instead, the label the invokers find their action pods by"),
    ("invoker", "CONFIG_whisk_kubernetes_userPodNodeAffinity_enabled", " from "
     "kubernetes.invoker_node_label (got '9000'); set kubernetes.invoker_node_label instead"),
    ("invoker", "CONFIG_whisk_kubernetes_podTemplate", " from registry.mode or kubernetes.tolerations "
     "(got '9000'); set registry.mode or kubernetes.tolerations instead, which make the action "
     "pods' template (the registry's pull secret, tolerations)"),
    ("invoker", "NODE_NAME", ": the name of the node a DaemonSet invoker runs on, its --uniqueName "
     "(got '9000'); remove it"),
    ("scheduler", "WHISK_SCHEDULER_ENDPOINTS_HOST", f" from the scheduler host's address (got '9000'); "
     f"{HOSTS}"),
    ("scheduler", "WHISK_SCHEDULER_ENDPOINTS_RPCPORT", " from scheduler.rpc_port (got '9000'); set "
     "scheduler.rpc_port instead"),
    ("scheduler", "WHISK_SCHEDULER_ENDPOINTS_PEKKOPORT", " from scheduler.remoting_port (got '9000'); "
     "set scheduler.remoting_port instead"),
    ("controller", "CONFIG_whisk_controller_username", ": the user of the component's admin endpoints "
     "(got '9000'); remove it"),
    ("controller", "CONFIG_whisk_invoker_password", ": the password is a generated secret (got a "
     "hidden value); remove it; rotate it with rotate.invoker_admin_password"),
    ("scheduler", "CONFIG_pekko_actor_provider", ": remoting needs the cluster provider (got '9000'); "
     "remove it"),
    ("controller", "CONFIG_pekko_remote_artery_canonical_hostname", f" from the host's address (got "
     f"'9000'); {HOSTS}"),
    ("controller", "CONFIG_pekko_remote_artery_canonical_port", " from controller.remoting_port (got "
     "'9000'); set controller.remoting_port instead"),
    ("scheduler", "CONFIG_pekko_remote_artery_bind_port", " from scheduler.remoting_port (got "
     "'9000'); set scheduler.remoting_port instead"),
    ("controller", "CONFIG_pekko_remote_artery_bind_hostname", ": the container listens on all "
     "addresses (got '9000'); remove it"),
    ("controller", "CONFIG_pekko_cluster_seedNodes_0", " from controller.seed_count and the "
     "controller hosts (got '9000'); set controller.seed_count or change the hosts' roles instead"),
    ("scheduler", "CONFIG_pekko_cluster_seedNodes_1", f" from the hosts with the scheduler role (got "
     f"'9000'); {HOSTS}"),
    ("scheduler", "CONFIG_pekko_coordinatedShutdown_exitJvm", ": a member that cannot join its "
     "cluster exits, so that its container restarts (got '9000'); remove it"),
    ("controller", "CONFIG_pekko_cluster_downingProviderClass", " from controller.downing (got "
     "'9000'); set controller.downing instead"),
    ("invoker", "OPENWHISK_CONFIG", ": it carries the component's secrets, which the plan keeps off "
     "the java command line (got '9000'); set the keys you need one by one as CONFIG_* variables"),
    ("scheduler", "OPENWHISK_ENCODED_CONFIG", ": it carries the component's secrets, which the plan "
     "keeps off the java command line (got '9000'); set the keys you need one by one as CONFIG_* "
     "variables"),
]


@pytest.mark.parametrize(("section", "key", "rest"), PLANNED, ids=[f"{s}-{k}" for s, k, _ in PLANNED])
def test_planned_key_is_refused_naming_its_config_field(section, key, rest):
    raw = change(SCHEDULER, {f"{section}.extra_env": {key: 9000}})
    assert problems(raw) == [line(f"{section}.extra_env.{key}", PLANS + rest)]


def _with_registry():
    return parse_stack_file("prod")


def k8s_plans():
    from tests.test_kubernetes_plan import every_plan  # noqa: PLC0415
    return every_plan()


def test_every_planned_key_of_every_plan_is_owned_by_a_rule():
    """A key the planner starts emitting must be added to extra_env.PLANNED (or OVERRIDABLE)."""
    es_hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    es_hosts[0]["roles"] = [*es_hosts[0]["roles"], "elasticsearch"]
    plans = [
        planner.plan(stack()),
        planner.plan(stack(kafka={"sasl": {"mechanism": "PLAIN"}})),
        planner.plan(cluster()),
        planner.plan(cluster(tag="ef725a6", version={"tag": "ef725a6", "mode": "scheduler"})),
        planner.plan(cluster(controller={"seed_count": 2, "downing": "split-brain-resolver"},
                             kafka={"replication_factor": 3, "sasl": {"mechanism": "SCRAM-SHA-512"}})),
        planner.plan(cluster(hosts=es_hosts, activation_store={"backend": "elasticsearch"})),
        planner.plan(_with_registry()),
        *k8s_plans(),
    ]
    unowned = {(c.service, key) for p in plans for c in p.containers()
               if c.service in extra_env.SECTIONS for key, _ in c.env
               if extra_env.planned(c.service, key) is None and key not in extra_env.OVERRIDABLE
               and key not in extra_env.KUBERNETES_PLANNED}
    assert unowned == set()


def test_overridable_planned_keys_are_all_planned():
    keys = {k for p in [planner.plan(cluster()), *k8s_plans()] for c in p.containers()
            for k, _ in c.env}
    assert extra_env.OVERRIDABLE <= keys


def test_an_overridable_key_replaces_the_planned_value():
    from tests.test_kubernetes_plan import BASE, plan_of  # noqa: PLC0415
    raw = dict(BASE, invoker={"extra_env": {"CONFIG_whisk_runtime_delete_timeout": "2 minutes"}})
    assert dict(next(c for c in plan_of(raw).containers() if c.key == "invoker-0").env)[
        "CONFIG_whisk_runtime_delete_timeout"] == "2 minutes"


# -- INVOKER_USE_RUNC and other rules of config --------------------------------------------------


@pytest.mark.parametrize(("changes", "expected"), [
    pytest.param({"invoker.extra_env": {"INVOKER_USE_RUNC": "yes"}}, [line(
        "invoker.extra_env.INVOKER_USE_RUNC",
        "expected true or false: this stale key is applied as invoker.use_runc (got 'yes'); set "
        "invoker.use_runc: true or false instead and remove the key")], id="runc-not-a-bool"),
    pytest.param({"invoker.extra_env": {"INVOKER_USE_RUNC": "true"}, "invoker.use_runc": False}, [line(
        "invoker.extra_env.INVOKER_USE_RUNC",
        "contradicts invoker.use_runc, which is set to false (got 'true'); keep invoker.use_runc and "
        "remove this key, which the invoker has not read since 2018")], id="runc-contradicted"),
    pytest.param({"scheduler.extra_env": {"CONFIG_whisk_scheduler_queue_maxRetentionSize": "10",
                                          "A": "1"}}, [line(
        "scheduler.extra_env",
        "the stack runs in classic mode, which has no scheduler (got [\"A\", "
        "\"CONFIG_whisk_scheduler_queue_maxRetentionSize\"]); remove it or set version.mode: "
        "scheduler")], id="scheduler-env-in-classic-mode"),
    pytest.param({"invoker.extra_env": {"CONFIG_x": ["a"]}}, [line(
        "invoker.extra_env.CONFIG_x",
        "expected a string (got [\"a\"]); set it with pulumi config set --path "
        "'invoker.extra_env.CONFIG_x' <string>")], id="value-not-a-string"),
    pytest.param({"controller.extra_env": "A=1"}, [line(
        "controller.extra_env",
        "expected a map of keys (got 'A=1'); fix it in the stack file, or set each key with pulumi "
        "config set --path 'controller.extra_env.<key>' <value>")], id="not-a-map"),
])
def test_extra_env_problem(changes, expected):
    assert problems(change(SINGLE, changes)) == expected


def test_every_problem_in_all_three_sections_is_reported_at_once():
    raw = change(SCHEDULER, {
        "controller.extra_env": {"CONTROLLER_INSTANCES": "1", "PORT": "1"},
        "scheduler.extra_env": {"CONFIG_akka_x": "1"},
        "invoker.extra_env": {"INVOKER_USE_RUNC": "maybe", "a.b": "1"},
    })
    assert [p.split(" ")[0] for p in problems(raw)] == [
        "openwhisk:controller.extra_env.CONTROLLER_INSTANCES:", "openwhisk:controller.extra_env.PORT:",
        "openwhisk:scheduler.extra_env.CONFIG_akka_x:", "openwhisk:invoker.extra_env.INVOKER_USE_RUNC:",
        "openwhisk:invoker.extra_env:"]


LINE = re.compile(r"openwhisk:[\w.\[\]]+: .+ \(got .+\); .+")


def test_every_line_names_path_value_and_fix():
    lines = [e for *_, e in REFUSED] + [e for *_, e in FAMILY] + \
        [line(f"{s}.extra_env.{k}", PLANS + r) for s, k, r in PLANNED]
    assert [x for x in lines if not LINE.fullmatch(x)] == []


ACCEPTED = [
    pytest.param(SINGLE, {"invoker.extra_env": {"CONFIG_whisk_containerPool_concurrentPeekFactor": "0.5",
                                                "CONFIG_logback_log_level": "DEBUG"}}, id="tuning"),
    pytest.param(SINGLE, {"controller.extra_env": {"CONFIG_akka_http_server_requestTimeout": "90 s",
                                                   "JAVA_OPTS": "-Xmx2g"}}, id="akka-on-akka"),
    pytest.param(SCHEDULER, {"scheduler.extra_env": {"CONFIG_pekko_loglevel": "INFO"}}, id="pekko"),
    pytest.param(SCHEDULER, {"invoker.extra_env": {"CONFIG_whisk_etcd_pool_threads": "4",
                                                   "CONFIG_whisk_containerFactory_containerArgs_network":
                                                       "ow-actions"}}, id="overridable"),
    pytest.param(SCHEDULER, {"invoker.extra_env": {"CONFIG_pekko_remote_artery_canonical_port": "1"}},
                 id="invoker-remoting-is-not-planned"),
    pytest.param(SINGLE, {"invoker.extra_env": {"INVOKER_USE_RUNC": "TRUE"}, "invoker.use_runc": True},
                 id="runc-agreeing"),
    pytest.param(SINGLE, {"invoker.extra_env": {"INVOKER_USE_RUNC": False}}, id="runc-as-yaml-bool"),
    pytest.param(SINGLE, {"controller.extra_env": {"CONFIG_whisk_x": ""}}, id="empty-keeps-default"),
]


@pytest.mark.parametrize(("base", "changes"), ACCEPTED)
def test_accepted(base, changes):
    assert isinstance(config.parse(change(base, changes), base_dir=ROOT).config, config.StackConfig)


def test_yaml_scalars_become_text():
    cfg = config.parse(change(SINGLE, {"invoker.extra_env": {
        "CONFIG_a": True, "CONFIG_b": 5, "CONFIG_c": 0.5, "CONFIG_d": "x"}}), base_dir=ROOT).config
    assert cfg.invoker.extra_env == {"CONFIG_a": "true", "CONFIG_b": "5", "CONFIG_c": "0.5",
                                     "CONFIG_d": "x"}
    assert (config.Invoker().extra_env, config.Controller().extra_env,
            config.Scheduler().extra_env) == ({}, {}, {})


# -- the plan ------------------------------------------------------------------------------------


def test_extra_env_is_merged_over_the_plan_of_its_component_only():
    p = planner.plan(cluster(
        controller={"extra_env": {"CONFIG_whisk_loadbalancer_timeoutFactor": "3"}},
        scheduler={"extra_env": {"CONFIG_whisk_scheduler_queue_maxRetentionSize": "5000"}},
        invoker={"extra_env": {"CONFIG_whisk_etcd_pool_threads": "4", "TZ": "Europe/Berlin"}}))
    base = planner.plan(cluster())
    added = {
        "controller-core-b": {"CONFIG_whisk_loadbalancer_timeoutFactor": "3"},
        "scheduler-core-b": {"CONFIG_whisk_scheduler_queue_maxRetentionSize": "5000"},
        "invoker-1": {"CONFIG_whisk_etcd_pool_threads": "4", "TZ": "Europe/Berlin"},
    }
    for key, extra in added.items():
        assert env(p, key) == env(base, key) | extra
        c = next(c for c in p.containers() if c.key == key)
        assert list(c.env) == sorted(c.env)
    assert env(base, "invoker-1")["CONFIG_whisk_etcd_pool_threads"] == "10"
    assert p.warnings == ()


WARNING_TRUE = (
    "openwhisk:invoker.extra_env.INVOKER_USE_RUNC: the invoker has not read this variable since 2018 "
    "(got 'true'); it was applied as invoker.use_runc: true, which sets "
    "CONFIG_whisk_docker_containerFactory_useRunc. Set it properly with pulumi config set --path "
    "'invoker.use_runc' true and remove the old key with pulumi config rm --path "
    "'invoker.extra_env.INVOKER_USE_RUNC'")


@pytest.mark.parametrize(("value", "runc", "warning"), [
    ("true", True, WARNING_TRUE),
    ("False", False, WARNING_TRUE.replace("(got 'true')", "(got 'False')").replace(
        "use_runc: true", "use_runc: false").replace("'invoker.use_runc' true", "'invoker.use_runc' false")),
])
def test_invoker_use_runc_is_translated_with_a_warning(value, runc, warning):
    p = planner.plan(stack(invoker={"extra_env": {"INVOKER_USE_RUNC": value}}))
    inv = next(c for c in p.containers() if c.key == "invoker-0")
    e = inv.env_dict()
    assert e[USE_RUNC] == str(runc).lower()
    assert "INVOKER_USE_RUNC" not in e
    assert (RUNC_MOUNT in inv.mounts) is runc
    assert p.warnings == (warning,)


def test_a_host_use_runc_still_wins_over_the_translated_key():
    hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    p = planner.plan(cluster(hosts=hosts, invoker={"extra_env": {"INVOKER_USE_RUNC": "true"}}))
    runc = {c.key: (c.env_dict()[USE_RUNC], RUNC_MOUNT in c.mounts)
            for c in p.containers() if c.service == "invoker"}
    # inv-a follows the translated key; inv-b sets use_runc: true itself.
    assert runc == {"invoker-0": ("true", True), "invoker-1": ("true", True),
                    "invoker-2": ("true", True)}
    hosts[4]["use_runc"] = False
    p = planner.plan(cluster(hosts=hosts, invoker={"extra_env": {"INVOKER_USE_RUNC": "true"}}))
    runc = {c.key: (c.env_dict()[USE_RUNC], RUNC_MOUNT in c.mounts)
            for c in p.containers() if c.service == "invoker"}
    assert runc == {"invoker-0": ("true", True), "invoker-1": ("false", False),
                    "invoker-2": ("false", False)}


# -- whole program -------------------------------------------------------------------------------


def test_program_logs_the_warning_before_declaring_and_applies_extra_env(caplog):
    plain, secret = load_stack_file("dev")
    plain["openwhisk:invoker"] = {"extra_env": {"INVOKER_USE_RUNC": "true", "TZ": "UTC"}}
    with caplog.at_level(logging.WARNING):
        run = run_program(plain, secret, stack="dev")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [WARNING_TRUE]
    inv = run.mocks.named("invoker-0", CONTAINER)["inputs"]
    envs, _ = unwrap(inv["envs"])
    assert f"{USE_RUNC}=true" in envs and "TZ=UTC" in envs
    assert not [x for x in envs if x.startswith("INVOKER_USE_RUNC")]
    assert {"containerPath": "/run/runc", "hostPath": "/run/docker/runtime-runc/moby"} in inv["volumes"]


def test_program_without_extra_env_logs_no_warning(caplog):
    with caplog.at_level(logging.WARNING):
        run_program(*load_stack_file("dev"), stack="dev")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_program_warns_before_declaring_any_resource(monkeypatch):
    import pulumi  # noqa: PLC0415

    from tests.conftest import RecordingMocks  # noqa: PLC0415
    mocks: list[RecordingMocks] = []
    original = RecordingMocks.__init__

    def spy(self):
        original(self)
        mocks.append(self)
    monkeypatch.setattr(RecordingMocks, "__init__", spy)
    declared_before: list[int] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: declared_before.append(
        len(mocks[0].resources)))
    plain, secret = load_stack_file("dev")
    plain["openwhisk:invoker"] = {"extra_env": {"INVOKER_USE_RUNC": "false"}}
    run_program(plain, secret, stack="dev")
    assert declared_before == [0]
