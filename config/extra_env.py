"""What `extra_env` of the controller, scheduler and invoker may set, and why the rest is refused.

`extra_env` adds environment variables to a component, merged over the planned ones. It is for
settings the program does not plan, typically `CONFIG_whisk_...` tuning keys of a component's
application.conf. It refuses, with the reason and the fix:

- names that are not environment variable names;
- variables no current OpenWhisk image reads (stale names from old docs and compose files), naming
  the key that replaced them where there is one;
- actor-system keys of the other family than the image's, which the image silently ignores;
- keys the program plans, naming the config field that controls them;
- single quotes in `CONFIG_` values, which break the JVM command line (the image wraps each value
  in single quotes).

`INVOKER_USE_RUNC` in `invoker.extra_env` is the one stale key that is translated instead of
refused: it acts as `invoker.use_runc`, and the plan carries a warning.

Pure: no Pulumi and no pydantic. config/rules.py turns each `Finding` into a problem line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTIONS = ("controller", "scheduler", "invoker")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TRANSLATED = frozenset({"INVOKER_USE_RUNC"})
"""Keys that are applied as config settings rather than passed to the container."""

OVERRIDABLE = frozenset({
    "CONFIG_whisk_etcd_pool_threads",
    "CONFIG_whisk_containerFactory_containerArgs_network",
    "CONFIG_whisk_runtime_delete_timeout",
})
"""Planned keys that are plain tuning with no other part of the plan depending on them."""

_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|JAAS|CREDENTIAL", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    what: str
    fix: str
    got: str | None = None
    """What to show as the value found, when not the value itself."""


def looks_secret(key: str) -> bool:
    """Whether a problem line should leave the value of `key` out."""
    return bool(_SECRET_NAME.search(key))


# --------------------------------------------------------------------------------------------
# Stale variables (OpenWhisk reference, sections 1e and 9)

_NOT_READ = "not read by any OpenWhisk component"


def _dead(detail: str, fix: str) -> tuple[str, str]:
    return f"{_NOT_READ}{detail}", fix


def _couch(real: str, source: str) -> tuple[str, str]:
    return (f"{_NOT_READ}: CouchDB settings are read from {real}",
            f"remove it; the program sets {real} from {source}")


DEAD: dict[str, tuple[str, str]] = {
    "INVOKER_USE_RUNC": _dead(
        ": the invoker has read CONFIG_whisk_docker_containerFactory_useRunc instead since 2018",
        "set invoker.use_runc instead (only invoker.extra_env translates this key)"),
    "CONTROLLER_INSTANCES": _dead(
        " since 2019: controllers learn the cluster size from cluster membership",
        "remove it; to add controllers, give more hosts the 'controller' role"),
    "SCHEDULER_INSTANCES": _dead("", "remove it; to add schedulers, give more hosts the "
                                     "'scheduler' role"),
    "CONTROLLER_HA": _dead("", "remove it"),
    "CONTROLLER_LOCALBOOKKEEPING": _dead("", "remove it"),
    "COMPONENT_NAME": _dead(": a leftover of old deployment scripts", "remove it"),
    "SERVICE_NAME": _dead(": a leftover of old deployment scripts", "remove it"),
    "DB_PROVIDER": _couch("CONFIG_whisk_couchdb_provider", "the couchdb role"),
    "DB_PROTOCOL": _couch("CONFIG_whisk_couchdb_protocol", "the couchdb role"),
    "DB_HOST": _couch("CONFIG_whisk_couchdb_host", "the address of the host with the couchdb role"),
    "DB_PORT": _couch("CONFIG_whisk_couchdb_port", "couchdb.port"),
    "DB_USERNAME": _couch("CONFIG_whisk_couchdb_username", "couchdb.db_prefix"),
    "DB_PASSWORD": _couch("CONFIG_whisk_couchdb_password", "a generated secret"),
    "DB_PREFIX": _couch("CONFIG_whisk_couchdb_databases_*", "couchdb.db_prefix"),
    "DB_WHISK_ACTIONS": _couch("CONFIG_whisk_couchdb_databases_WhiskEntity", "couchdb.db_prefix"),
    "DB_WHISK_ACTIVATIONS": _couch("CONFIG_whisk_couchdb_databases_WhiskActivation",
                                   "couchdb.db_prefix"),
    "DB_WHISK_AUTHS": _couch("CONFIG_whisk_couchdb_databases_WhiskAuth", "couchdb.db_prefix"),
    "AKKA_CLUSTER_SEED_NODES": _dead(
        ": seed nodes are read from CONFIG_{family}_cluster_seedNodes_<i>",
        "remove it; the program plans the seed nodes from the hosts with the controller and "
        "scheduler roles and controller.seed_count"),
    "AKKA_CLUSTER_HOST": _dead(
        ": the advertised host is read from CONFIG_{family}_remote_artery_canonical_hostname",
        "remove it; the program sets it to each host's address"),
    "AKKA_CLUSTER_BIND_PORT": _dead(
        ": the port is read from CONFIG_{family}_remote_artery_bind_port",
        "remove it; the program sets it from controller.remoting_port and scheduler.remoting_port"),
    "EDGE_HOST": _dead(": the API host is read from WHISK_API_HOST_NAME",
                       "remove it; the program sets WHISK_API_HOST_NAME from edge.api_host"),
    "EDGE_HOST_APIPORT": _dead(": the API port is read from WHISK_API_HOST_PORT",
                               "remove it; the program sets WHISK_API_HOST_PORT from "
                               "edge.https_port"),
    "INVOKER_CONTAINER_POLICY": _dead("", "remove it"),
    "INVOKER_NAME": _dead(": the invoker's name is its --uniqueName argument",
                          "remove it; the program passes --id and --uniqueName from "
                          "hosts[].invoker_ids"),
    "WHISK_LOGS_DIR": _dead("", "remove it"),
    "JMX_REMOTE": _dead(": JMX is configured only through JVM arguments", "remove it"),
    "LIMITS_ACTIONS_INVOKES_CONCURRENTINSYSTEM": _dead(
        "", "remove it; the concurrency limit is limits.concurrent_invokes"),
    "WHISK_SYSTEM_KEY": _dead(": the whisk.system key is stored in CouchDB",
                              "remove it; the key is generated (rotate it with rotate.system_auth)"),
    "CONFIG_whisk_runtimes_defaultImagePrefix": _dead(
        ": the runtime settings only have bypassPullForLocalImages and localImagePrefix",
        "set the image prefix of each kind in the runtime manifest (runtimes.manifest) instead"),
    "CONFIG_whisk_runtimes_defaultImageTag": _dead(
        ": the runtime settings only have bypassPullForLocalImages and localImagePrefix",
        "set the image tag of each kind in the runtime manifest (runtimes.manifest) instead"),
    "CONFIG_whisk_docker_registry": _dead(
        ": there is no whisk.docker.registry setting",
        "use CONFIG_whisk_containerFactory_runtimesRegistry_url and "
        "CONFIG_whisk_containerFactory_userImagesRegistry_url instead"),
}

DEAD_PREFIXES: dict[str, tuple[str, str]] = {
    "CONFIG_whisk_kafka_topics_creationAck_": _dead(
        ": the CONFIG_ mapping turns creationAck into creation-ack, a block no component has",
        "remove it; the creationAck topic settings cannot be changed through the environment"),
    "LOADBALANCER_HOST": _dead("", "remove it; the edge routes to every controller"),
    "KAFKA_TOPICS_": _dead(": topic settings are read from CONFIG_whisk_kafka_topics_<topic>_*",
                           "use CONFIG_whisk_kafka_topics_<topic>_<setting> instead"),
}


# --------------------------------------------------------------------------------------------
# Planned keys: the config field (or fixed rule) behind each


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    sections: tuple[str, ...]
    source: str
    """Completes "overrides a key the program plans": ` from <field>` or `: <why>`."""
    fix: str
    """May name `{section}`, and `{m[1]}` for the pattern's first group."""


def _field(pattern: str, field: str, *, sections: tuple[str, ...] = SECTIONS,
           also: str = "") -> _Rule:
    return _Rule(re.compile(pattern), sections, f" from {field}", f"set {field} instead{also}")


def _from(pattern: str, source: str, fix: str, *, sections: tuple[str, ...] = SECTIONS) -> _Rule:
    return _Rule(re.compile(pattern), sections, f" from {source}", fix)


def _fixed(pattern: str, why: str, fix: str = "remove it", *,
           sections: tuple[str, ...] = SECTIONS) -> _Rule:
    return _Rule(re.compile(pattern), sections, f": {why}", fix)


_CS = ("controller", "scheduler")
_F = "(akka|pekko)"
_CHANGE_HOSTS = "change the hosts' roles or addresses instead"

PLANNED: tuple[_Rule, ...] = (
    _fixed("OPENWHISK_(ENCODED_)?CONFIG|CONFIG_config_(file|resource|url)",
           "it carries the component's secrets, which the plan keeps off the java command line",
           "set the keys you need one by one as CONFIG_* variables"),
    _fixed("PORT", "the HTTP port inside the container stays 8080",
           "set {section}.http_port to change the port published on the host"),
    _from("KAFKA_HOSTS", "the hosts with the kafka role and kafka.port", _CHANGE_HOSTS),
    _from("ZOOKEEPER_HOSTS", "the hosts with the zookeeper role", _CHANGE_HOSTS),
    _from("RUNTIMES_MANIFEST", "runtimes.manifest",
          "edit the manifest file, or point runtimes.manifest at another one"),
    _field("CONFIG_whisk_kafka_replicationFactor", "kafka.replication_factor"),
    _field("CONFIG_whisk_kafka_common_(securityProtocol|saslMechanism|saslJaasConfig)",
           "kafka.sasl", also=", which sets up the brokers to match"),
    _from("CONFIG_whisk_couchdb_(protocol|host|port|provider)",
          "the host with the couchdb role and couchdb.port", _CHANGE_HOSTS + " (or couchdb.port)"),
    _field("CONFIG_whisk_couchdb_username", "couchdb.db_prefix"),
    _fixed("CONFIG_whisk_couchdb_password", "the password is a generated secret",
           "remove it; rotate the password with rotate.couchdb_{section}_password"),
    _field(r"CONFIG_whisk_couchdb_databases_\w+", "couchdb.db_prefix"),
    _fixed("CONFIG_whisk_cluster_name", "the same on every component"),
    _from("CONFIG_whisk_etcd_hosts", "the hosts with the etcd role", _CHANGE_HOSTS),
    _field("CONFIG_whisk_etcd_lease_timeout", "scheduler.etcd_lease_timeout_s"),
    _fixed("CONFIG_whisk_etcd_(username|password)", "etcd's login is the user openwhisk with a "
           "generated password, set up by the etcd-auth step", "remove it"),
    _field("CONFIG_whisk_spi_ActivationStoreProvider|"
           "CONFIG_whisk_activationStore_elasticsearch_(protocol|hosts|username)",
           "activation_store.backend"),
    _field("CONFIG_whisk_activationStore_elasticsearch_indexPattern",
           "activation_store.index_pattern"),
    _fixed("CONFIG_whisk_activationStore_elasticsearch_password", "the password is a generated secret",
           "remove it; rotate the password with rotate.elasticsearch_password"),
    _field("LIMITS_ACTIONS_INVOKES_PERMINUTE", "limits.invokes_per_minute"),
    _field("LIMITS_ACTIONS_INVOKES_CONCURRENT", "limits.concurrent_invokes"),
    _field("LIMITS_TRIGGERS_FIRES_PERMINUTE", "limits.fires_per_minute"),
    _field("LIMITS_ACTIONS_SEQUENCE_MAXLENGTH", "limits.sequence_max_length"),
    _field("CONFIG_whisk_info_buildNo", "version.tag"),
    _field("CONFIG_whisk_info_date", "version.build_date"),
    # The SPIs decide the mode: every component has to agree, so none may set them alone.
    _field("CONFIG_whisk_spi_(LoadBalancerProvider|EntitlementSpiProvider|InvokerProvider|"
           "InvokerServerProvider)", "version.mode"),
    _field("CONFIG_whisk_spi_ContainerFactoryProvider", "invoker.container_factory"),
    _field("CONFIG_whisk_spi_DurationCheckerProvider", "activation_store.backend"),
    _field("CONFIG_whisk_durationChecker_timeWindow", "scheduler.time_window"),
    _field("CONFIG_whisk_invoker_containerCreation_maxPeek", "scheduler.max_peek"),
    _field("CONFIG_whisk_docker_containerFactory_useRunc", "invoker.use_runc",
           also=" (or hosts[].use_runc for one host)"),
    _field("CONFIG_whisk_containerPool_userMemory", "invoker.user_memory_mb",
           also=" (or hosts[].user_memory_mb for one host)"),
    _field(r"CONFIG_whisk_containerFactory_containerArgs_extraArgs_log(Driver|Opt)_\d+",
           "logs.actions", sections=("invoker",)),
    _field("CONFIG_whisk_containerFactory_runtimesRegistry_url", "registry.mode",
           sections=("invoker",), also=", which also mirrors the runtime images by digest"),
    # The kubernetes container factory (Kubernetes platform).
    _field("CONFIG_whisk_helm_release", "kubernetes.release", sections=("invoker",),
           also=", the label the invokers find their action pods by"),
    _fixed("CONFIG_whisk_runtime_delete_timeout",
           "how long an invoker waits at start for its old action pods to go", sections=("invoker",)),
    _field("CONFIG_whisk_kubernetes_userPodNodeAffinity_(enabled|key|value)",
           "kubernetes.invoker_node_label", sections=("invoker",)),
    _field("CONFIG_whisk_kubernetes_podTemplate", "registry.mode or kubernetes.tolerations",
           sections=("invoker",),
           also=", which make the action pods' template (the registry's pull secret, tolerations)"),
    _fixed("NODE_NAME", "the name of the node a DaemonSet invoker runs on, its --uniqueName",
           sections=("invoker",)),
    # Metrics (monitoring.enabled): Kamon with its Prometheus reporter, and user events.
    _field("METRICS_KAMON(_TAGS)?|CONFIG_whisk_metrics_prometheusEnabled|"
           "CONFIG_whisk_userEvents_enabled", "monitoring.enabled"),
    _field("CONFIG_kamon_metric_tickInterval", "monitoring.scrape_interval_s"),
    _field("WHISK_API_HOST_NAME", "edge.api_host"),
    _field("WHISK_API_HOST_PORT", "edge.https_port"),
    _fixed("WHISK_API_HOST_PROTO", "the edge serves HTTPS only"),
    _from("WHISK_SCHEDULER_ENDPOINTS_HOST", "the scheduler host's address", _CHANGE_HOSTS),
    _field("WHISK_SCHEDULER_ENDPOINTS_RPCPORT", "scheduler.rpc_port"),
    _field("WHISK_SCHEDULER_ENDPOINTS_(AKKA|PEKKO)PORT", "scheduler.remoting_port"),
    _fixed("CONFIG_whisk_(controller|invoker|scheduler)_username",
           "the user of the component's admin endpoints"),
    _fixed("CONFIG_whisk_(controller|invoker|scheduler)_password", "the password is a generated secret",
           "remove it; rotate it with rotate.{m[1]}_admin_password"),
    # Actor-system remoting of controllers and schedulers (the invoker's is not planned).
    _fixed(f"CONFIG_{_F}_actor_provider", "remoting needs the cluster provider", sections=_CS),
    _from(f"CONFIG_{_F}_remote_artery_canonical_hostname", "the host's address", _CHANGE_HOSTS,
          sections=_CS),
    _field(f"CONFIG_{_F}_remote_artery_(canonical|bind)_port", "{section}.remoting_port",
           sections=_CS),
    _fixed(f"CONFIG_{_F}_remote_artery_bind_hostname", "the container listens on all addresses",
           sections=_CS),
    _from(rf"CONFIG_{_F}_cluster_seedNodes_\d+", "controller.seed_count and the controller hosts",
          "set controller.seed_count or change the hosts' roles instead", sections=("controller",)),
    _from(rf"CONFIG_{_F}_cluster_seedNodes_\d+", "the hosts with the scheduler role",
          _CHANGE_HOSTS, sections=("scheduler",)),
    _fixed(f"CONFIG_{_F}_coordinatedShutdown_exitJvm",
           "a member that cannot join its cluster exits, so that its container restarts",
           sections=_CS),
    _field(f"CONFIG_{_F}_cluster_downingProviderClass", "controller.downing",
           sections=("controller",)),
)


#: Keys the plan sets only on Kubernetes, where the heap follows the pod's memory limit: refused
#: in extra_env there (config/rules.py), left to the operator on Docker hosts, where the plan sets none.
KUBERNETES_PLANNED = {"JAVA_OPTS": "kubernetes.resources.{section}.memory"}


def planned(section: str, key: str) -> _Rule | None:
    """The rule that makes `key` a planned key of `section`'s component, if any."""
    return next((r for r in PLANNED if section in r.sections and r.pattern.fullmatch(key)), None)


# --------------------------------------------------------------------------------------------
# Actor-system family


_FAMILY_KEY = re.compile(r"CONFIG_(?P<f>akka|pekko)_.+|CONFIG_whisk_containerPool_(?P<c>akka|pekko)Client"
                         r"|WHISK_SCHEDULER_ENDPOINTS_(?P<p>AKKA|PEKKO)PORT")


def _other_family(key: str, family: str) -> str | None:
    """The `family` form of `key` when `key` belongs to the other family, else None."""
    m = _FAMILY_KEY.fullmatch(key)
    if not m:
        return None
    group = next(g for g in ("f", "c", "p") if m.group(g))
    if m.group(group).lower() == family:
        return None
    start, end = m.span(group)
    return key[:start] + (family.upper() if group == "p" else family) + key[end:]


# --------------------------------------------------------------------------------------------
# Checks


def check(section: str, key: str, value: str, family: str | None, tag: str | None) -> Finding | None:
    """Why `key: value` cannot go into `section`'s extra_env, or None when it can."""
    if not NAME.fullmatch(key):
        fixed = re.sub(r"[^A-Za-z0-9_]", "_", key)
        fixed = fixed if NAME.fullmatch(fixed) else f"_{fixed}"
        return Finding("not a valid environment variable name: a letter or '_', then letters, "
                       "digits or '_'", f"rename it, e.g. to {fixed!r}", got=repr(key))
    fam = family or "<akka|pekko>"
    dead = DEAD.get(key) or next((v for p, v in DEAD_PREFIXES.items() if key.startswith(p)), None)
    if dead:
        what, fix = dead
        return Finding(what.format(family=fam), fix.format(family=fam))
    other = _other_family(key, family) if family else None
    if other:
        rule = planned(section, other)
        if rule is None:
            fix = f"use {other} instead"
        else:
            itself = "" if rule.source.startswith(" from") else " itself"
            fix = f"remove it; the program sets {other}{itself}{rule.source.format(section=section)}"
        return Finding(f"silently ignored by this image: tag {tag!r} reads {family} keys", fix)
    rule = planned(section, key)
    if rule and key not in OVERRIDABLE:
        return Finding(f"overrides a key the program plans{rule.source.format(section=section)}",
                       rule.fix.format(section=section, m=rule.pattern.fullmatch(key)))
    if key.startswith("CONFIG_") and "'" in value:
        return Finding("contains a single quote, which breaks the JVM command line (each CONFIG_ "
                       "value is wrapped in single quotes)",
                       "remove the quote; inside the value use double quotes")
    return None


def parse_bool(value: str) -> bool | None:
    text = value.strip().lower()
    return {"true": True, "false": False}.get(text)


def use_runc_problem(value: str, explicit_use_runc: bool | None) -> Finding | None:
    """Why `INVOKER_USE_RUNC: value` in invoker.extra_env cannot be translated, or None."""
    runc = parse_bool(value)
    if runc is None:
        return Finding("expected true or false: this stale key is applied as invoker.use_runc",
                       "set invoker.use_runc: true or false instead and remove the key")
    if explicit_use_runc is not None and explicit_use_runc != runc:
        return Finding(f"contradicts invoker.use_runc, which is set to "
                       f"{str(explicit_use_runc).lower()}",
                       "keep invoker.use_runc and remove this key, which the invoker has not read "
                       "since 2018")
    return None


def use_runc_warning(value: str) -> str:
    """The warning for a translated INVOKER_USE_RUNC (its value already checked)."""
    runc = str(parse_bool(value)).lower()
    return (f"openwhisk:invoker.extra_env.INVOKER_USE_RUNC: the invoker has not read this variable "
            f"since 2018 (got {value!r}); it was applied as invoker.use_runc: {runc}, which sets "
            f"CONFIG_whisk_docker_containerFactory_useRunc. Set it properly with pulumi config set "
            f"--path 'invoker.use_runc' {runc} and remove the old key with pulumi config rm "
            f"--path 'invoker.extra_env.INVOKER_USE_RUNC'")
