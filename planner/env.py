"""Environment of the JVM components (controller, invoker, scheduler), by image version and mode.

Only keys the chosen image reads are emitted (see the OpenWhisk reference, sections 1 and 8);
dead keys such as INVOKER_USE_RUNC, CONTROLLER_INSTANCES or DB_* never appear. Also what the
components share on both platforms: their HTTP port and health check, and what an invoker with
the docker container factory needs from its host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from config import extra_env as env_rules
from config import StackConfig
from planner import etcd, kafka
from planner.model import Container, File, Health, Mount, Secret, Service, Value

JVM_SERVICES = ("controller", "scheduler", "invoker", "user-events")
SECRETS_FILE = "/openwhisk-pulumi/secrets.conf"
"""Where a JVM component's secrets document is mounted; `CONFIG_config_file` names it."""
JVM_PORT = 8080
"""HTTP port of every JVM component inside its container."""
PING = Health(("CMD-SHELL", f"curl -fsS http://127.0.0.1:{JVM_PORT}/ping"), wait=True,
              start_period_s=120)
"""`GET /ping` answers `pong` once the component serves HTTP. `up` waits for it: instances of a
role roll one at a time, each healthy before the next goes (planner.roll)."""

PKG = "org.apache.openwhisk.core"
SPIS = {
    "classic": {
        "LoadBalancerProvider": f"{PKG}.loadBalancer.ShardingContainerPoolBalancer",
        "EntitlementSpiProvider": f"{PKG}.entitlement.LocalEntitlementProvider",
        "InvokerProvider": f"{PKG}.invoker.InvokerReactive",
        "InvokerServerProvider": f"{PKG}.invoker.DefaultInvokerServer",
    },
    "scheduler": {
        "LoadBalancerProvider": f"{PKG}.loadBalancer.FPCPoolBalancer",
        "EntitlementSpiProvider": f"{PKG}.entitlement.FPCEntitlementProvider",
        "InvokerProvider": f"{PKG}.invoker.FPCInvokerReactive",
        "InvokerServerProvider": f"{PKG}.invoker.FPCInvokerServer",
    },
}
DOCKER_FACTORY = f"{PKG}.containerpool.docker.DockerContainerFactoryProvider"
KUBERNETES_FACTORY = f"{PKG}.containerpool.kubernetes.KubernetesContainerFactoryProvider"
ES_STORE = f"{PKG}.database.elasticsearch.ElasticSearchActivationStoreProvider"
ES_DURATION = f"{PKG}.scheduler.queue.ElasticSearchDurationCheckerProvider"
NOOP_DURATION = f"{PKG}.scheduler.queue.NoopDurationCheckerProvider"
SBR = {"akka": "akka.cluster.sbr.SplitBrainResolverProvider",
       "pekko": "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider"}
ADMIN_USER = "whisk_admin"
"""User name of the components' admin endpoints (POST /disable and the like)."""


@dataclass(frozen=True)
class Context:
    """What every JVM component needs to find the others."""

    cfg: StackConfig
    manifest_json: Value
    couch: tuple[str, int]
    kafka_hosts: str
    zk_hosts: str
    etcd_hosts: str
    es_hosts: str
    runtimes_registry: str | None = None
    """`registry/` prefix of runtime images, when they come from a private registry."""

    @property
    def scheduler_mode(self) -> bool:
        return self.cfg.mode == "scheduler"


def _common(ctx: Context, db_user: str) -> dict[str, Value]:
    cfg = ctx.cfg
    prefix = cfg.couchdb.db_prefix
    env: dict[str, Value] = {
        "PORT": "8080",
        "KAFKA_HOSTS": ctx.kafka_hosts,
        "RUNTIMES_MANIFEST": ctx.manifest_json,
        "CONFIG_whisk_kafka_replicationFactor": str(cfg.kafka.replication_factor),
        "CONFIG_whisk_couchdb_protocol": "http",
        "CONFIG_whisk_couchdb_host": ctx.couch[0],
        "CONFIG_whisk_couchdb_port": str(ctx.couch[1]),
        "CONFIG_whisk_couchdb_provider": "CouchDB",
        "CONFIG_whisk_couchdb_username": f"{prefix}{db_user}",
        "CONFIG_whisk_couchdb_password": Secret.of(f"couchdb_{db_user}_password"),
        "CONFIG_whisk_couchdb_databases_WhiskAuth": f"{prefix}subjects",
        "CONFIG_whisk_couchdb_databases_WhiskEntity": f"{prefix}whisks",
        "CONFIG_whisk_couchdb_databases_WhiskActivation": f"{prefix}activations",
    }
    # Every Kafka client needs the same security keys; a component without them cannot even
    # create its topics and crash-loops.
    env |= kafka.client_env(cfg.kafka.sasl)
    if cfg.monitoring.enabled:
        env |= kamon_env(cfg)
    if ctx.scheduler_mode:
        env |= {
            "CONFIG_whisk_cluster_name": "whisk",
            **etcd.client_env(ctx.etcd_hosts),
            "CONFIG_whisk_etcd_lease_timeout": str(cfg.scheduler.etcd_lease_timeout_s),
            "CONFIG_whisk_etcd_pool_threads": "10",
        }
    if cfg.activation_store.backend == "elasticsearch":
        env |= {
            "CONFIG_whisk_spi_ActivationStoreProvider": ES_STORE,
            "CONFIG_whisk_activationStore_elasticsearch_protocol": "http",
            "CONFIG_whisk_activationStore_elasticsearch_hosts": ctx.es_hosts,
            "CONFIG_whisk_activationStore_elasticsearch_indexPattern":
                cfg.activation_store.index_pattern,
            "CONFIG_whisk_activationStore_elasticsearch_username": "openwhisk",
            "CONFIG_whisk_activationStore_elasticsearch_password": Secret.of("elasticsearch_password"),
        }
    return env


def kamon_env(cfg: StackConfig) -> dict[str, Value]:
    """What makes a controller, invoker or scheduler serve /metrics on its HTTP port and emit
    user events (monitoring.enabled): Prometheus.scala's MetricsRoute needs both whisk.metrics
    flags, the `events` topic needs whisk.user-events.enabled, and Kamon ticks as often as
    Prometheus scrapes."""
    return {
        "METRICS_KAMON": "true",
        "METRICS_KAMON_TAGS": "true",
        "CONFIG_whisk_metrics_prometheusEnabled": "true",
        "CONFIG_whisk_userEvents_enabled": "true",
        "CONFIG_kamon_metric_tickInterval": f"{cfg.monitoring.scrape_interval_s} seconds",
    }


def _with_extra(env: dict[str, Value], extra: Mapping[str, str]) -> dict[str, Value]:
    """`extra_env` merged over the plan (config has refused the keys the plan owns)."""
    return env | {k: v for k, v in extra.items() if k not in env_rules.TRANSLATED}


def hocon_path(key: str) -> str:
    """The HOCON path the images' transformEnvironment.sh makes of a CONFIG_ variable: `_`
    separates path segments, camelCased segments become kebab-cased, PascalCased ones stay."""
    return ".".join(part if part[:1].isupper() else
                    re.sub(r"([a-z0-9])([A-Z])", lambda m: f"{m[1]}-{m[2].lower()}", part)
                    for part in key.removeprefix("CONFIG_").split("_"))


def _remoting(ctx: Context, system: str, address: str, port: int,
              seeds: list[tuple[str, int]]) -> dict[str, Value]:
    """Actor-system remoting: advertise the host's static address and fixed port, bind on all."""
    p = ctx.cfg.actor_system
    env: dict[str, Value] = {
        f"CONFIG_{p}_actor_provider": "cluster",
        f"CONFIG_{p}_remote_artery_canonical_hostname": address,
        f"CONFIG_{p}_remote_artery_canonical_port": str(port),
        f"CONFIG_{p}_remote_artery_bind_hostname": "0.0.0.0",
        f"CONFIG_{p}_remote_artery_bind_port": str(port),
    }
    for i, (host, seed_port) in enumerate(seeds):
        env[f"CONFIG_{p}_cluster_seedNodes_{i}"] = f"{p}://{system}@{host}:{seed_port}"
    if seeds:
        # A member that cannot join its seeds stops its actor system after 60 s; exit the JVM
        # too, so the restart policy brings it back instead of leaving a zombie process.
        env[f"CONFIG_{p}_coordinatedShutdown_exitJvm"] = "on"
    return env


def zookeeper_env(ctx: Context) -> dict[str, Value]:
    """ZOOKEEPER_HOSTS for the invoker and scheduler of an image that requires it: without it
    they exit at startup (`required property zookeeper.hosts still not set`)."""
    known = ctx.cfg.version.known
    return {"ZOOKEEPER_HOSTS": ctx.zk_hosts} if known and known.zookeeper_hosts_required else {}


def _admin(ctx: Context, component: str) -> dict[str, Value]:
    return {f"CONFIG_whisk_{component}_username": ADMIN_USER,
            f"CONFIG_whisk_{component}_password": Secret.of(f"{component}_admin_password")}


def controller_reads_admin_auth(cfg: StackConfig) -> bool:
    """Controllers read whisk.controller.username/password since 2022-11 (not at ef725a6)."""
    known = cfg.version.known
    return known is None or known.build_date >= "2022-11-01"


def controller_env(ctx: Context, address: str, seeds: list[tuple[str, int]]) -> dict[str, Value]:
    cfg = ctx.cfg
    spi = SPIS[cfg.mode]
    env = _common(ctx, "controller") | {
        "LIMITS_ACTIONS_INVOKES_PERMINUTE": str(cfg.limits.invokes_per_minute),
        "LIMITS_ACTIONS_INVOKES_CONCURRENT": str(cfg.limits.concurrent_invokes),
        "LIMITS_TRIGGERS_FIRES_PERMINUTE": str(cfg.limits.fires_per_minute),
        "LIMITS_ACTIONS_SEQUENCE_MAXLENGTH": str(cfg.limits.sequence_max_length),
        "CONFIG_whisk_info_buildNo": cfg.version.tag,
        "CONFIG_whisk_info_date": cfg.version.build_date
        or (cfg.version.known.build_date if cfg.version.known else "unknown"),
        "CONFIG_whisk_spi_LoadBalancerProvider": spi["LoadBalancerProvider"],
        "CONFIG_whisk_spi_EntitlementSpiProvider": spi["EntitlementSpiProvider"],
    }
    env |= _remoting(ctx, "controller-actor-system", address, cfg.controller.remoting_port, seeds)
    if seeds and cfg.controller.downing == "split-brain-resolver":
        env[f"CONFIG_{cfg.actor_system}_cluster_downingProviderClass"] = SBR[cfg.actor_system]
    if controller_reads_admin_auth(cfg):
        env |= _admin(ctx, "controller")
    return _with_extra(env, cfg.controller.extra_env)


def scheduler_env(ctx: Context, address: str, seeds: list[tuple[str, int]]) -> dict[str, Value]:
    cfg = ctx.cfg
    s = cfg.scheduler
    es = cfg.activation_store.backend == "elasticsearch"
    env = _common(ctx, "scheduler") | {
        "LIMITS_ACTIONS_INVOKES_CONCURRENT": str(cfg.limits.concurrent_invokes),
        "WHISK_SCHEDULER_ENDPOINTS_HOST": address,
        "WHISK_SCHEDULER_ENDPOINTS_RPCPORT": str(s.rpc_port),
        f"WHISK_SCHEDULER_ENDPOINTS_{cfg.actor_system.upper()}PORT": str(s.remoting_port),
        "CONFIG_whisk_durationChecker_timeWindow": s.time_window,
        "CONFIG_whisk_spi_DurationCheckerProvider": ES_DURATION if es else NOOP_DURATION,
    }
    env |= zookeeper_env(ctx)
    env |= _remoting(ctx, "scheduler-actor-system", address, s.remoting_port, seeds)
    return _with_extra(env | _admin(ctx, "scheduler"), s.extra_env)


def docker_factory_env(cfg: StackConfig, use_runc: bool, network: str) -> dict[str, Value]:
    """The docker container factory: action containers on the daemon behind the mounted socket,
    on `network` (Docker hosts: the action network of planner/firewall.py), with a bounded
    json-file log (`docker run --log-driver json-file --log-opt ...`; the invoker reads activation
    logs from that file, so json-file whatever the daemon's default)."""
    logs = cfg.logs.actions
    args = "CONFIG_whisk_containerFactory_containerArgs_extraArgs"
    return {
        "CONFIG_whisk_spi_ContainerFactoryProvider": DOCKER_FACTORY,
        "CONFIG_whisk_docker_containerFactory_useRunc": "true" if use_runc else "false",
        "CONFIG_whisk_containerFactory_containerArgs_network": network,
        f"{args}_logDriver_0": "json-file",
        f"{args}_logOpt_0": f"max-size={logs.max_size_mb}m",
        f"{args}_logOpt_1": f"max-file={logs.max_files}",
    }


def docker_factory_mounts(cfg: StackConfig, use_runc: bool) -> tuple[Mount, ...]:
    """What the docker container factory needs from the host whose daemon runs the actions."""
    mounts = [
        Mount("/var/run/docker.sock", host_path="/var/run/docker.sock"),
        # Activation logs are read from the daemon's json-file logs under containers/.
        Mount("/containers", host_path=f"{cfg.invoker.docker_root.rstrip('/')}/containers"),
        Mount("/sys/fs/cgroup", host_path="/sys/fs/cgroup"),
    ]
    if use_runc:
        mounts.append(Mount("/run/runc", host_path=cfg.invoker.runc_state_dir))
    return tuple(mounts)


def invoker_env(ctx: Context, api_host: str, user_memory_mb: int, factory: dict[str, Value], *,
                api_port: int | None = None) -> dict[str, Value]:
    """`factory`: the container factory's keys (docker_factory_env, or the kubernetes factory's
    from planner/kubernetes.py); `api_port` defaults to edge.https_port."""
    cfg = ctx.cfg
    spi = SPIS[cfg.mode]
    env = _common(ctx, "invoker") | {
        "WHISK_API_HOST_PROTO": "https",
        "WHISK_API_HOST_NAME": api_host,
        "WHISK_API_HOST_PORT": str(api_port or cfg.edge.https_port),
        "CONFIG_whisk_spi_InvokerProvider": spi["InvokerProvider"],
        "CONFIG_whisk_spi_InvokerServerProvider": spi["InvokerServerProvider"],
        "CONFIG_whisk_containerPool_userMemory": f"{user_memory_mb} m",
    } | factory
    env |= zookeeper_env(ctx)
    if ctx.scheduler_mode:
        env["CONFIG_whisk_invoker_containerCreation_maxPeek"] = str(cfg.scheduler.max_peek)
    if ctx.runtimes_registry:
        env["CONFIG_whisk_containerFactory_runtimesRegistry_url"] = ctx.runtimes_registry
    return _with_extra(env | _admin(ctx, "invoker"), cfg.invoker.extra_env)


def secrets_file(service: Service) -> Service:
    """The JVM images' init scripts turn every CONFIG_ variable into a `-D` option of the java
    command line, which any user of the host can read (`ps`). So each JVM container's secret
    CONFIG_ values go instead into the HOCON file SECRETS_FILE, which includes the images' own
    application.conf (as upstream's ansible config does) and which `CONFIG_config_file` names
    (the script makes that `-Dconfig.file=<path>`: a path, no secret): the secrets are then in
    neither the command line nor the container's environment."""
    if service.name not in JVM_SERVICES:
        return service

    def moved(c: Container) -> Container:
        secret = {k: v for k, v in c.env if k.startswith("CONFIG_") and isinstance(v, Secret)}
        if not secret:
            return c
        lines = [f"{hocon_path(k)} = {json.dumps(v.template)}" for k, v in sorted(secret.items())]
        doc = Secret("\n".join(['include classpath("application.conf")', *lines]) + "\n")
        env = {k: v for k, v in c.env if k not in secret} | {"CONFIG_config_file": SECRETS_FILE}
        return replace(c, env=tuple(sorted(env.items())), files=c.files + (File(SECRETS_FILE, doc),))
    return replace(service, containers=tuple(moved(c) for c in service.containers))
