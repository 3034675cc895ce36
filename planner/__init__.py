"""The pure planner: a validated Stack in, a Plan out. No Pulumi import.

It is the only place that knows how OpenWhisk's pieces find each other: every container name,
address, port, seed node, environment variable, mount and image reference is computed here, from
the config alone, so the same config always yields the same plan.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import asdict, dataclass, replace
from dataclasses import fields as dataclass_fields

from config import extra_env as env_rules
from config import Stack, StackConfig, docker_endpoint, namespace_secret
from runtimes import Manifest
from planner import env as jvm
from planner import firewall
from planner import hosts as hostplan
from planner import kafka
from planner import live_config
from planner import apigateway as gw
from planner import monitoring
from planner import catalog
from planner import elasticsearch as es
from planner import etcd
from planner import kubernetes as kube
from planner import tenants
from planner.images import manifest_value, plan_images
from planner.model import (
    Container, File, Health, HostPlan, ImagePlan, LiveConfig, Mount, Plan, Port, RegistryPlan, Secret,
    SecretSpec, Service, TlsPlan, Value, VolumePlan,
)
from planner.nginx import nginx_conf
from planner.couchdb_init import couchdb_init_files
from planner.placement import PREFIX, Placed, reach_port
from planner.placement import placed as _placed
from planner.verify import verify_plan

__all__ = ["plan"]

COUCHDB_ADMIN_USER = "whisk_admin"
JVM_PORT = jvm.JVM_PORT
# uid:gid each image writes its data as (VolumePlan.owner): couchdb 5984:5984, zookeeper
# 1000:1000, kafka 1000:1000 (kafka.OWNER), elasticsearch 1000:0; etcd runs as root.
ZK_OWNER = (1000, 1000)


def _invokers(cfg: StackConfig) -> list[Placed]:
    """Invokers with a fixed id: per host on Docker, per replica with the kubernetes factory. The
    docker factory on Kubernetes has none: its DaemonSet's invokers get their ids from ZooKeeper."""
    if cfg.platform == "kubernetes":
        return _placed(cfg, "invoker") if cfg.container_factory == "kubernetes" else []
    out = [Placed(h.name, n, h.address, h) for h in cfg.hosts_with("invoker")
           for n in (h.invoker_ids or (0,))]
    return sorted(out, key=lambda p: p.id)


SECRETS_LABEL = "org.openwhisk-pulumi.secrets"


#: SecretSpec fields added after stacks were deployed with its earlier form: the secrets label
#: hashes them only when they differ from their default, so adding one relabels (and so replaces)
#: no container.
_LATER_SPEC_FIELDS = ("client_auth",)


def _digested(spec: SecretSpec) -> dict:
    """What of a spec the secrets label hashes (see _LATER_SPEC_FIELDS)."""
    defaults = {f.name: f.default for f in dataclass_fields(SecretSpec)}
    return {k: v for k, v in asdict(spec).items()
            if k not in _LATER_SPEC_FIELDS or v != defaults[k]}


def _label_secrets(service: Service, secrets: tuple[SecretSpec, ...]) -> Service:
    """Each container that reads secrets, labelled with a digest of how they are made.

    A secret that is new or about to be replaced (a rotation, a certificate for new names) is
    unknown during a preview, and the Docker provider then shows no diff at all for the
    environment or files that hold it, even where their known parts changed. The label is known at
    preview and changes with the secrets a container reads and with everything their values
    follow from (the specs of the secrets they are made from included), so the preview shows the
    replacement the update will make."""
    by_name = {s.name: s for s in secrets}

    def made_from(name: str) -> list[SecretSpec]:
        spec = by_name[name]
        return [spec, *(m for n in (spec.key, spec.ca, spec.source) if n for m in made_from(n))]
    containers = []
    for c in service.containers:
        specs = [_digested(m) for n in c.secret_names() if n in by_name for m in made_from(n)]
        if specs:
            digest = hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()[:16]
            c = replace(c, labels=((SECRETS_LABEL, digest),))
        containers.append(c)
    return replace(service, containers=tuple(containers))


@dataclass(frozen=True)
class Placement:
    """Stage 1: where each instance runs (a host on Docker, a replica on Kubernetes), with its id
    and the address the others reach it at."""

    couch: Placed
    zks: list[Placed]
    brokers: list[Placed]
    etcds: list[Placed]
    ess: list[Placed]
    controllers: list[Placed]
    schedulers: list[Placed]
    invokers: list[Placed]
    edge: Placed


@dataclass(frozen=True)
class Wiring:
    """The addresses the components give each other, from the placement."""

    couch_url: str
    couch_port: int
    kafka_hosts: str
    """Every broker."""
    kafka_bootstrap: str
    """The brokers clients bootstrap from: the first ones only, chosen like seed nodes, so that
    adding a broker changes no client's configuration (they learn every broker from the cluster)."""
    zk_hosts: str
    etcd_hosts: str
    es_hosts: str
    api_host: str
    https_port: int
    http: dict[str, list[str]]
    """`address:port` of each controller's, invoker's and scheduler's HTTP port, by role."""


def plan(stack: Stack) -> Plan:
    """Compute the whole deployment from a validated stack, in four stages: place the instances,
    plan the images, plan the services (and the secrets they read), render them for the
    platform."""
    cfg, manifest = stack.config, stack.manifest
    where = place(cfg)
    wiring = wire(cfg, where)
    registry = _registry(cfg)
    images, installer, manifest_json = plan_all_images(cfg, manifest, registry)
    services = plan_services(cfg, where, wiring, registry, images, installer, manifest_json)
    secrets = _secrets(cfg, db_users(cfg), cfg.activation_store.backend == "elasticsearch",
                       _tls(wiring.api_host, where.edge.address), registry)
    return render(cfg, where, wiring, registry, images, manifest_json, services, secrets)


def db_users(cfg: StackConfig) -> list[str]:
    """The components that get a CouchDB user of their own."""
    return ["controller", "invoker"] + (["scheduler"] if cfg.mode == "scheduler" else [])


def place(cfg: StackConfig) -> Placement:
    """Stage 1: every instance of every role in use, ordered by id."""
    scheduler_mode = cfg.mode == "scheduler"
    es_store = cfg.activation_store.backend == "elasticsearch"
    return Placement(
        couch=_placed(cfg, "couchdb")[0], zks=_placed(cfg, "zookeeper"),
        brokers=_placed(cfg, "kafka"), etcds=_placed(cfg, "etcd") if scheduler_mode else [],
        ess=_placed(cfg, "elasticsearch") if es_store else [],
        controllers=_placed(cfg, "controller"),
        schedulers=_placed(cfg, "scheduler") if scheduler_mode else [],
        invokers=_invokers(cfg), edge=_placed(cfg, "edge")[0])


def wire(cfg: StackConfig, where: Placement) -> Wiring:
    couch_port = reach_port(cfg, 5984, cfg.couchdb.port)
    brokers = [f"{b.address}:{cfg.kafka.port}" for b in where.brokers]
    on_k8s = cfg.platform == "kubernetes"
    return Wiring(
        couch_url=f"http://{where.couch.address}:{couch_port}", couch_port=couch_port,
        kafka_hosts=",".join(brokers), kafka_bootstrap=",".join(brokers[:BOOTSTRAP_BROKERS]),
        zk_hosts=",".join(f"{z.address}:2181" for z in where.zks),
        etcd_hosts=",".join(f"{e.address}:{etcd.CLIENT_PORT}" for e in where.etcds),
        es_hosts=",".join(f"{e.address}:9200" for e in where.ess),
        api_host=kube.api_host(cfg) if on_k8s else cfg.edge.api_host or where.edge.address,
        https_port=443 if on_k8s and cfg.kube.ingress else cfg.edge.https_port,
        http={"controller": [f"{c.address}:{reach_port(cfg, JVM_PORT, cfg.controller.http_port)}"
                             for c in where.controllers],
              "invoker": [f"{i.address}:{reach_port(cfg, JVM_PORT, cfg.invoker.http_port + i.id)}"
                          for i in where.invokers],
              "scheduler": [f"{s.address}:{reach_port(cfg, JVM_PORT, cfg.scheduler.http_port)}"
                            for s in where.schedulers]})


def plan_all_images(cfg: StackConfig, manifest: Manifest, registry: RegistryPlan | None
                    ) -> tuple[tuple[ImagePlan, ...], ImagePlan | None, Value]:
    """Stage 2: every image in use (components, stores, runtimes, the catalog installer and the
    deployed registry), and the runtime manifest as the invokers read it (by digest with a
    registry)."""
    scheduler_mode = cfg.mode == "scheduler"
    es_store = cfg.activation_store.backend == "elasticsearch"
    image_keys = ["controller", "invoker"] + (["scheduler"] if scheduler_mode else []) \
        + ["couchdb", "zookeeper", "kafka"] + (["etcd"] if scheduler_mode else []) \
        + (["elasticsearch"] if es_store else []) + ["nginx"] \
        + (["redis", "apigateway"] if cfg.apigateway.enabled else []) \
        + (["user-events"] if cfg.monitoring.enabled else [])
    images = plan_images(cfg, manifest, image_keys, registry and registry.address)
    if cfg.monitoring.enabled:
        images += monitoring.images(cfg, registry and registry.address)
    installer = catalog.image(cfg, registry and registry.address)
    if installer is not None:
        images += (installer,)
    manifest_json = manifest_value(manifest, images, registry and registry.address)
    if registry is not None and registry.deployed:
        images += (ImagePlan("registry", cfg.registry.image, "service"),)
    return images, installer, manifest_json


def plan_services(cfg: StackConfig, where: Placement, wiring: Wiring, registry: RegistryPlan | None,
                  images: tuple[ImagePlan, ...], installer: ImagePlan | None,
                  manifest_json: Value) -> list[Service]:
    """Stage 3: the services with their containers, in start order, the same on both platforms
    (Kubernetes only changes how the invokers run)."""
    on_k8s = cfg.platform == "kubernetes"
    w, api_host, https_port = where, wiring.api_host, wiring.https_port
    ctx = jvm.Context(
        cfg=cfg, manifest_json=kube.MANIFEST_REF if on_k8s else manifest_json,
        couch=(w.couch.address, wiring.couch_port), kafka_hosts=wiring.kafka_bootstrap,
        zk_hosts=wiring.zk_hosts, etcd_hosts=wiring.etcd_hosts, es_hosts=wiring.es_hosts,
        runtimes_registry=f"{registry.address}/" if registry else None,
    )

    services: list[Service] = []
    if registry is not None and registry.deployed:
        services.append(_registry_service(cfg, _placed(cfg, "registry")[0]))
    init_key = f"couchdb-init-{w.couch.name}"
    services.append(_couchdb(cfg, w.couch, db_users(cfg), init_key, wiring.couch_url))
    services.append(_zookeeper(w.zks))
    services.append(kafka.service(cfg, w.brokers, wiring.kafka_bootstrap))
    etcd_auth: list[str] = []
    if w.etcds:
        auth = etcd.auth_step(w.couch, w.etcds)
        services += [etcd.service(w.etcds), auth]
        etcd_auth = [c.key for c in auth.containers]
    if w.ess:
        services.append(es.service(w.ess, cfg.activation_store.index_pattern))
    stores = [init_key] + list(kafka.ready_keys(cfg, w.brokers)) + etcd_auth \
        + list(es.node_keys(w.ess))

    seed_count = cfg.controller.seed_count or len(w.controllers)
    controller_seeds = [(c.address, cfg.controller.remoting_port) for c in w.controllers[:seed_count]] \
        if len(w.controllers) > 1 else []
    services.append(Service("controller", tuple(
        _jvm_container(
            cfg, "controller", c, cfg.controller.http_port, cfg.controller.remoting_port,
            env=jvm.controller_env(ctx, c.address, controller_seeds),
            command=("/init.sh", str(c.id)), depends_on=tuple(stores))
        for c in w.controllers)))
    controller_keys = tuple(f"controller-{c.name}" for c in w.controllers)

    if w.schedulers:
        sched_seeds = [(s.address, cfg.scheduler.remoting_port) for s in w.schedulers] \
            if len(w.schedulers) > 1 else []
        services.append(Service("scheduler", tuple(
            _jvm_container(
                cfg, "scheduler", s, cfg.scheduler.http_port, cfg.scheduler.remoting_port,
                env=jvm.scheduler_env(ctx, s.address, sched_seeds),
                command=("/init.sh", str(s.id)), depends_on=tuple(stores),
                extra_ports=(Port(cfg.scheduler.rpc_port, cfg.scheduler.rpc_port, "rpc"),))
            for s in w.schedulers)))
    scheduler_keys = tuple(f"scheduler-{s.name}" for s in w.schedulers)

    # The invoker never pulls managed runtime images itself: pre-pull them where it runs actions
    # with Docker (its hosts, or the DaemonSet's nodes). Action pods are pulled by their kubelet.
    runtime_images = tuple(i.key for i in images if i.kind == "runtime")
    invoker_deps = (init_key,) + controller_keys + scheduler_keys
    if on_k8s and cfg.container_factory == "kubernetes":
        services.append(Service("invoker", tuple(
            kube.invoker(cfg, ctx, i, api_host, https_port, registry, invoker_deps)
            for i in w.invokers)))
    elif on_k8s:
        services.append(Service("invoker", (
            kube.node_invoker(cfg, ctx, api_host, https_port, invoker_deps),), prepull=runtime_images))
    else:
        services.append(Service("invoker", tuple(
            _invoker(cfg, ctx, i, api_host, depends_on=invoker_deps)
            for i in w.invokers), prepull=runtime_images))
    upstreams = [(kube.controller_api(cfg), JVM_PORT)] if on_k8s else \
        [(c.address, cfg.controller.http_port) for c in w.controllers]
    gateway_keys: tuple[str, ...] = ()
    if cfg.apigateway.enabled:
        gateway_services = gw.services(cfg, api_host, https_port)
        services += gateway_services
        gateway_keys = (gateway_services[-1].containers[0].key,)
    services.append(_edge(cfg, w.edge, upstreams, controller_keys + gateway_keys))
    if installer is not None:
        api = f"http://{kube.controller_api(cfg)}:{JVM_PORT}" if on_k8s else \
            f"http://{wiring.http['controller'][0]}"
        routes = cfg.apigateway.enabled and not catalog.routemgmt_missing(cfg)
        services.append(Service("catalog", (catalog.container(
            cfg, w.edge, api, gw.management_url(cfg) if routes else None,
            controller_keys + gateway_keys),)))
    if cfg.monitoring.enabled:
        services += monitoring.services(
            cfg, wiring.kafka_bootstrap, kafka.consumer_env(cfg.kafka.sasl, cfg.actor_system),
            wiring.http, depends_on=kafka.ready_keys(cfg, w.brokers))
    return [jvm.secrets_file(s) for s in services]


def render(cfg: StackConfig, where: Placement, wiring: Wiring, registry: RegistryPlan | None,
           images: tuple[ImagePlan, ...], manifest_json: Value, services: list[Service],
           secrets: tuple[SecretSpec, ...]) -> Plan:
    """Stage 4: the services on the platform (data directories, rolling order and secret labels
    on Docker hosts; Kubernetes objects), the hosts' preparation, and the Plan."""
    on_k8s = cfg.platform == "kubernetes"
    scheduler_mode = cfg.mode == "scheduler"
    w, api_host, https_port = where, wiring.api_host, wiring.https_port
    volumes = [v for s in services for v in s.volumes]
    if cfg.storage.data_dir is not None:
        services = [hostplan.bind_data_dirs(s, cfg.storage.data_dir) for s in services]
    api_url = f"https://{api_host}" + ("" if https_port == 443 else f":{https_port}")
    urls = {role: [f"http://{a}" for a in addresses] for role, addresses in wiring.http.items()}
    controller_urls = urls["controller"]
    controller_keys = [f"controller-{c.name}" for c in w.controllers]
    kube_plan = None
    if on_k8s:
        services, kube_plan = kube.render(cfg, services, images, secrets, manifest_json, registry)
    else:
        services = [roll(_label_secrets(s, secrets)) for s in services]
    by_key = {c.key: c for s in services for c in s.containers}
    insecure_tls = cfg.edge.tls == "self-signed"
    return Plan(
        platform=cfg.platform,
        hosts=kube.builder_hosts(cfg, registry) if on_k8s else _hosts(cfg, services, volumes, registry),
        images=images,
        secrets=secrets,
        services=tuple(services),
        api_host=api_host if https_port == 443 else f"{api_host}:{https_port}",
        endpoints={
            "apiHost": api_url,
            "couchdb": wiring.couch_url,
            "kafka": wiring.kafka_hosts,
            "zookeeper": wiring.zk_hosts,
            "controllers": controller_urls,
            "invokers": urls["invoker"],
            **({"etcd": wiring.etcd_hosts, "schedulers": urls["scheduler"]}
               if scheduler_mode else {}),
            **({"elasticsearch": f"http://{wiring.es_hosts.split(',')[0]}"} if w.ess else {}),
            **({"apigateway": gw.management_address(cfg)}
               if cfg.apigateway.enabled else {}),
            **({"prometheus": monitoring.prometheus_url(cfg), "grafana": monitoring.grafana_url(cfg)}
               if cfg.monitoring.enabled else {}),
        },
        insecure_tls=insecure_tls,
        registry=registry,
        warnings=_warnings(cfg) + tuple(m for m in (
            catalog.skipped(cfg, registry and registry.address), catalog.routemgmt_missing(cfg)) if m),
        verify=None if on_k8s else verify_plan(
            cfg, api_url=api_url,
            controllers=[(url, by_key[k]) for url, k in zip(controller_urls, controller_keys)],
            invokers=[(i.id, by_key[f"invoker-{i.id}"]) for i in w.invokers],
            edge=by_key[f"edge-{w.edge.name}"], insecure_tls=insecure_tls),
        kubernetes=kube_plan,
        namespaces=tuple((ns.name, namespace_secret(ns.name)) for ns in cfg.namespaces),
        log_options=() if on_k8s else (("max-file", str(cfg.logs.containers.max_files)),
                                       ("max-size", f"{cfg.logs.containers.max_size_mb}m")),
    )




EDGE_CONFIG_DIR = "/etc/nginx/ow"
"""Where the edge's live nginx.conf is mounted (Docker hosts)."""


# --------------------------------------------------------------------------------------------
# Stores


def _couchdb(cfg: StackConfig, p: Placed, users: list[str], init_key: str, url: str) -> Service:
    host = p.host_name
    volume = VolumePlan(f"couchdb-{p.name}-data", host, f"{PREFIX}-couchdb-data", owner=(5984, 5984))
    prefix = cfg.couchdb.db_prefix
    server = Container(
        key=f"couchdb-{p.name}", service="couchdb", host=host, name=f"{PREFIX}-couchdb",
        image="couchdb",
        # The image writes the cookie to /opt/couchdb/.erlang.cookie (mode 600), never to the
        # command line; CouchDB 3.2.2 and later refuse to start with the old default one.
        env=(("COUCHDB_ERLANG_COOKIE", Secret.of("couchdb_erlang_cookie")),
             ("COUCHDB_PASSWORD", Secret.of("couchdb_admin_password")),
             ("COUCHDB_USER", COUCHDB_ADMIN_USER)),
        ports=(Port(5984, reach_port(cfg, 5984, cfg.couchdb.port), "http"),),
        mounts=(Mount("/opt/couchdb/data", volume=volume.key),),
        health=Health(("CMD-SHELL", "curl -fsS http://127.0.0.1:5984/_up"), wait=True),
    )
    env: dict[str, object] = {
        "COUCHDB_URL": url,
        "COUCHDB_ADMIN_USER": COUCHDB_ADMIN_USER,
        "COUCHDB_ADMIN_PASSWORD": Secret.of("couchdb_admin_password"),
        "DB_PREFIX": prefix,
        "GUEST_AUTH": Secret.of("guest_auth"),
        "SYSTEM_AUTH": Secret.of("system_auth"),
        "DESIGN_DIR": "/ow-init",
    }
    for user in ("controller", "invoker", "scheduler"):
        env[f"{user.upper()}_DB_USER"] = f"{prefix}{user}" if user in users else ""
        env[f"{user.upper()}_DB_PASSWORD"] = Secret.of(f"couchdb_{user}_password") \
            if user in users else ""
    init = Container(
        key=init_key, service="couchdb", host=host, name=f"{PREFIX}-couchdb-init", image="couchdb",
        entrypoint=("/bin/sh", "/ow-init/init.sh"), env=tuple(sorted(env.items())),  # type: ignore[arg-type]
        files=tuple(File(f"/ow-init/{name}", text) for name, text in couchdb_init_files()),
        one_shot=True, depends_on=(server.key,),
    )
    steps = (init, tenants.container(cfg, p, init_key, url, COUCHDB_ADMIN_USER))
    return Service("couchdb", (server, *steps), (volume,))


def _zookeeper(zks: list[Placed]) -> Service:
    containers, volumes = [], []
    for z in zks:
        host = z.host_name
        servers = " ".join(
            f"server.{o.id + 1}={'0.0.0.0' if o is z else o.address}:2888:3888;2181" for o in zks)
        data = VolumePlan(f"zookeeper-{z.name}-data", host, f"{PREFIX}-zookeeper-data",
                          owner=ZK_OWNER)
        log = VolumePlan(f"zookeeper-{z.name}-datalog", host, f"{PREFIX}-zookeeper-datalog",
                         owner=ZK_OWNER)
        volumes += [data, log]
        containers.append(Container(
            key=f"zookeeper-{z.name}", service="zookeeper", host=host, name=f"{PREFIX}-zookeeper",
            image="zookeeper",
            env=(("ZOO_4LW_COMMANDS_WHITELIST", "ruok,srvr,stat"),
                 ("ZOO_ADMINSERVER_ENABLED", "false"),
                 ("ZOO_MY_ID", str(z.id + 1)),
                 ("ZOO_SERVERS", servers),
                 ("ZOO_STANDALONE_ENABLED", "true" if len(zks) == 1 else "false")),
            ports=(Port(2181, 2181, "client"), Port(2888, 2888, "peer"), Port(3888, 3888, "election")),
            mounts=(Mount("/data", volume=data.key), Mount("/datalog", volume=log.key)),
            health=Health(("CMD-SHELL", "zkServer.sh status"), wait=True),
        ))
    return Service("zookeeper", tuple(containers), tuple(volumes))


#: How many brokers (the first by host id and name) Kafka clients get as their bootstrap list.
BOOTSTRAP_BROKERS = 3

MEMBERS_OUTPUT = "quorumMembers"
"""Stack output listing the quorum members a deployment ran, read back by the next run (through a
StackReference to the stack itself) for their `rolls_after`."""


def quorum_members(plan: Plan) -> list[str]:
    """Ids (Container.member_id) of the long-running quorum members (ZooKeeper, Kafka, etcd,
    ElasticSearch) of the plan."""
    return sorted(c.member_id for c in plan.containers()
                  if c.service in kube.QUORUM and not c.one_shot)


def roll(service: Service) -> Service:
    """Docker, the roles in kubernetes.ONE_AT_A_TIME and QUORUM (kubernetes.render chains the
    same roles' workloads): the service's long-running containers in a chain, each depending on
    the one before it (plan order: host id, then name). Pulumi registers a container only once its
    dependencies' steps are done, and a container that waits for its health check is done when
    it is healthy, so a change that replaces every instance of a role replaces them one at a
    time, each healthy before the next is stopped. A `depends_on` edge
    alone never makes the engine replace a dependent with its dependency, so nothing else is
    replaced on its account. Quorum members (ZooKeeper, Kafka, etcd, ElasticSearch) chain through
    `rolls_after` instead: a lone member never passes its quorum health check, so they wait for
    the member before them only once it was deployed."""
    quorum = service.name in kube.QUORUM
    if not quorum and service.name not in kube.ONE_AT_A_TIME:
        return service
    previous: str | None = None
    containers = []
    for c in service.containers:
        if not c.one_shot:
            if previous is not None and quorum:
                c = replace(c, rolls_after=previous)
            elif previous is not None and previous not in c.depends_on:
                c = replace(c, depends_on=c.depends_on + (previous,))
            previous = c.key
        containers.append(c)
    return replace(service, containers=tuple(containers))


# --------------------------------------------------------------------------------------------
# OpenWhisk components and the edge


def _jvm_container(cfg: StackConfig, service: str, p: Placed, http_port: int, remoting_port: int,
                   *, env: dict, command: tuple[str, ...], depends_on: tuple[str, ...],
                   extra_ports: tuple[Port, ...] = ()) -> Container:
    return Container(
        key=f"{service}-{p.name}", service=service, host=p.host_name,
        name=f"{PREFIX}-{service}", image=service, env=tuple(sorted(env.items())), command=command,
        ports=(Port(JVM_PORT, reach_port(cfg, JVM_PORT, http_port), "http"),
               Port(remoting_port, remoting_port, "remoting")) + extra_ports,
        health=jvm.PING, depends_on=depends_on,
    )


def _invoker(cfg: StackConfig, ctx: jvm.Context, p: Placed, api_host: str,
             depends_on: tuple[str, ...]) -> Container:
    assert p.host is not None
    use_runc = cfg.invoker.runc if p.host.use_runc is None else p.host.use_runc
    memory = p.host.user_memory_mb or cfg.invoker.user_memory_mb
    return Container(
        key=f"invoker-{p.id}", service="invoker", host=p.host_name, name=f"{PREFIX}-invoker{p.id}",
        image="invoker",
        env=tuple(sorted(jvm.invoker_env(
            ctx, api_host, memory, jvm.docker_factory_env(cfg, use_runc, firewall.ACTION_NETWORK))
            .items())),
        command=("/init.sh", "--id", str(p.id), "--uniqueName", str(p.id)),
        ports=(Port(JVM_PORT, cfg.invoker.http_port + p.id, "http"),),
        mounts=jvm.docker_factory_mounts(cfg, use_runc), privileged=True, host_pid=True,
        host_userns=True, health=jvm.PING, depends_on=depends_on,
    )


def _edge(cfg: StackConfig, p: Placed, upstreams: list[tuple[str, int]],
          controller_keys: tuple[str, ...]) -> Service:
    """nginx in front of the controllers. On Kubernetes with an ingress it also serves plain HTTP
    on 8080 to the ingress controller, which terminates TLS (Ingress backends speak HTTP)."""
    ports = [Port(443, cfg.edge.https_port, "https")]
    if cfg.edge.http_port is not None:
        ports.append(Port(80, cfg.edge.http_port, "http"))
    ingress = cfg.platform == "kubernetes" and cfg.kube.ingress is not None
    if ingress:
        ports.append(Port(kube.EDGE_PLAIN_PORT, kube.EDGE_PLAIN_PORT, "ingress"))
    conf = nginx_conf(upstreams, https_port=cfg.edge.https_port,
                      redirect=cfg.edge.http_port is not None,
                      plain_port=kube.EDGE_PLAIN_PORT if ingress else None,
                      gateway=gw.api_upstream(cfg) if cfg.apigateway.enabled else None)
    tls = (File("/etc/nginx/tls/cert.pem", Secret.of("edge_tls_cert")),
           File("/etc/nginx/tls/key.pem", Secret.of("edge_tls_key")))
    edge = Container(
        key=f"edge-{p.name}", service="edge", host=p.host_name, name=f"{PREFIX}-edge",
        image="nginx", ports=tuple(ports), files=(File("/etc/nginx/nginx.conf", conf), *tls),
        depends_on=controller_keys)
    if cfg.platform == "docker":
        # The single edge cannot be replaced without a gap (its host ports exist once), so a new
        # nginx.conf (a controller added or removed, the gateway, a port) is reloaded in place.
        # On Kubernetes the Deployment rolls a changed ConfigMap without one.
        live = f"{EDGE_CONFIG_DIR}/nginx.conf"
        edge = replace(
            edge, files=tls, command=("nginx", "-c", live, "-g", "daemon off;"),
            live_config=LiveConfig(
                volume=f"{PREFIX}-edge-config", target=EDGE_CONFIG_DIR, files=(("nginx.conf", conf),),
                check=("nginx", "-t", "-q", "-c", f"{live}{live_config.NEXT}"),
                reload=("nginx", "-s", "reload", "-c", live)))
    return Service("edge", (edge,))


# --------------------------------------------------------------------------------------------
# Images, hosts, secrets, TLS


def _hosts(cfg: StackConfig, services: list[Service], volumes: list[VolumePlan],
           registry: RegistryPlan | None) -> tuple[HostPlan, ...]:
    # What actions may always reach: the API, and the gateway's management API, which the
    # route-management actions (whisk.system/apimgmt) call.
    edge = _placed(cfg, "edge")[0]
    api = tuple(dict.fromkeys((a, cfg.edge.https_port) for a in (edge.address, cfg.edge.api_host) if a))
    if cfg.apigateway.enabled:
        api += ((edge.address, cfg.apigateway.management_port),)
    out = []
    for h in sorted(cfg.hosts, key=lambda h: (h.id or 0, h.name)):
        containers = tuple(c for s in services for c in s.containers if c.host == h.name)
        ssh = hostplan.ssh_target(h, cfg)
        ctx = hostplan.HostContext(cfg, h, containers, tuple(v for v in volumes if v.host == h.name),
                                   registry, api)
        out.append(HostPlan(h.name, h.address, docker_endpoint(h, cfg.ssh), ssh=ssh,
                            ssh_opts=hostplan.ssh_opts(ssh and ssh.port, cfg), prep=hostplan.prep_steps(ctx),
                            login=hostplan.prep_steps(ctx, hostplan.LOGIN_STEPS)))
    return tuple(out)


def _secrets(cfg: StackConfig, db_users: list[str], es_store: bool, edge_tls: TlsPlan,
             registry: RegistryPlan | None) -> tuple[SecretSpec, ...]:
    rotate = cfg.rotate
    specs = [SecretSpec("couchdb_admin_password", "password"),
             SecretSpec("couchdb_erlang_cookie", "password")]
    specs += [SecretSpec(f"couchdb_{u}_password", "password") for u in db_users]
    specs += [SecretSpec("guest_auth", "auth"), SecretSpec("system_auth", "auth")]
    specs += tenants.secret_specs(cfg)
    if jvm.controller_reads_admin_auth(cfg):
        specs.append(SecretSpec("controller_admin_password", "password"))
    specs.append(SecretSpec("invoker_admin_password", "password"))
    if "scheduler" in db_users:
        specs.append(SecretSpec("scheduler_admin_password", "password"))
    if cfg.mode == "scheduler":
        specs += etcd.secret_specs()
    if es_store:
        specs += es.secret_specs()
    if cfg.apigateway.enabled:
        specs.append(SecretSpec("redis_password", "password"))
    if cfg.monitoring.enabled:
        specs.append(SecretSpec("grafana_admin_password", "password"))
    specs += [SecretSpec(n, "password") for n in kafka.secret_names(cfg.kafka.sasl)]
    specs.append(SecretSpec(kafka.CLUSTER_ID_SECRET, "cluster_id"))
    specs += [SecretSpec("edge_tls_key", "tls_key"),
              SecretSpec("edge_tls_cert", "tls_cert", key="edge_tls_key", tls=edge_tls)]
    if registry is not None:
        specs.append(SecretSpec("registry_password", "password"))
    if registry is not None and registry.deployed:
        host = registry.address.rsplit(":", 1)[0]
        specs += [
            SecretSpec("registry_htpasswd", "htpasswd", source="registry_password",
                       user=registry.username),
            SecretSpec("registry_ca_key", "tls_key"),
            SecretSpec("registry_ca_cert", "ca_cert", key="registry_ca_key",
                       tls=TlsPlan("OpenWhisk registry CA", (), ())),
            SecretSpec("registry_tls_key", "tls_key"),
            SecretSpec("registry_tls_cert", "tls_cert", key="registry_tls_key",
                       tls=_tls(host, host), ca="registry_ca_cert"),
        ]
    return tuple(replace(s, generation=rotate.get(s.name, s.generation)) for s in specs)  # type: ignore[call-overload]


def _registry(cfg: StackConfig) -> RegistryPlan | None:
    reg = cfg.registry
    if reg.mode == "none":
        return None
    if cfg.platform == "kubernetes":
        return RegistryPlan(address=reg.address or "", username=reg.username,
                            build_host=kube.BUILDER, ca_cert=None, deployed=False)
    lowest = sorted(cfg.hosts, key=lambda h: (h.id or 0, h.name))[0].name
    if reg.mode == "deploy":
        host = _placed(cfg, "registry")[0]
        return RegistryPlan(address=f"{host.address}:{reg.port}", username=reg.username,
                            build_host=reg.build_host or host.name,
                            ca_cert=Secret.of("registry_ca_cert"), deployed=True)
    return RegistryPlan(address=reg.address or "", username=reg.username,
                        build_host=reg.build_host or lowest, ca_cert=reg.ca_cert, deployed=False)


def _registry_service(cfg: StackConfig, p: Placed) -> Service:
    host = p.name
    data = VolumePlan(f"registry-{host}-data", host, f"{PREFIX}-registry-data")
    return Service("registry", (Container(
        key=f"registry-{host}", service="registry", host=host, name=f"{PREFIX}-registry",
        image="registry",
        env=(("REGISTRY_AUTH", "htpasswd"),
             ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
             ("REGISTRY_AUTH_HTPASSWD_REALM", "OpenWhisk registry"),
             ("REGISTRY_HTTP_TLS_CERTIFICATE", "/certs/registry.crt"),
             ("REGISTRY_HTTP_TLS_KEY", "/certs/registry.key")),
        ports=(Port(5000, cfg.registry.port, "https"),),
        mounts=(Mount("/var/lib/registry", volume=data.key),),
        files=(File("/auth/htpasswd", Secret.of("registry_htpasswd")),
               File("/certs/registry.crt", Secret.of("registry_tls_cert")),
               File("/certs/registry.key", Secret.of("registry_tls_key"))),
        # The image is a small Alpine system: BusyBox netstat is there, curl is not.
        health=Health(("CMD-SHELL", "netstat -ltn | grep -q ':5000 '"), wait=True, start_period_s=5),
    ),), (data,))


def _warnings(cfg: StackConfig) -> tuple[str, ...]:
    """Config that works as intended but should be written differently."""
    stale = cfg.invoker.extra_env.get("INVOKER_USE_RUNC")
    out = [env_rules.use_runc_warning(stale)] if stale is not None else []
    for i, h in enumerate(cfg.hosts):
        target = hostplan.ssh_target(h, cfg)
        if target is not None and target.host_key is None:
            out.append(f"openwhisk:hosts[{i}].ssh_host_key: not set (got none), so host preparation "
                       f"on {h.name!r} does not check that it reached the right machine before "
                       f"sending it scripts and secrets; set it to the line `ssh-keyscan -t ed25519 "
                       f"{h.address}` prints, without the host name")
    return tuple(out)


def _tls(api_host: str, edge_address: str) -> TlsPlan:
    ips, dns = [], []
    for name in dict.fromkeys([api_host, edge_address]):
        try:
            ipaddress.ip_address(name)
            ips.append(name)
        except ValueError:
            dns.append(name)
    return TlsPlan(common_name=api_host, ip_addresses=tuple(ips), dns_names=tuple(dns))
