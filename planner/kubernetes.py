"""The Kubernetes rendering of the plan: which object runs each planned container, its name and
labels, the Services, disruption budgets, invoker RBAC and ingress, the invoker's shape on
Kubernetes, and the warnings of changed claim settings. Pure, no Pulumi.

The planner builds the same services on both platforms (placements give each instance its id and
static address, see planner/placement.py); `render` then maps them onto Kubernetes:

- every long-running instance is a single-replica StatefulSet `<release>-<service>-<i>` (stable pod
  DNS name, its own claims, its own planned environment), behind one headless Service per service;
- one-shot steps are Jobs named by a hash of their inputs;
- the edge is a Deployment behind a Service of `kubernetes.edge_service_type`, optionally with an
  Ingress; docker-factory invokers are a DaemonSet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from config import DEFAULT_POD_RESOURCES, NAMESPACE, StackConfig, quantity_mib
from planner import apigateway as gw
from planner import env as jvm
from planner import hosts as hostplan
from planner import kube_names as names
from planner import netpol
from planner.model import (
    ConfigMapRef, Container, FieldRef, File, HostPlan, ImagePlan, IngressPlan, InvokerRbac,
    KubeBudget, KubePort, KubernetesPlan, KubeResources, KubeService, KubeToleration, KubeWorkload,
    Plan, Port, RbacRule,
    RegistryPlan, SecretSpec, Service, Value, VolumePlan,
)
from planner.placement import Placed

BUILDER = "builder"
"""Name of the Docker endpoint (registry.builder) that mirrors and builds images for the cluster."""
EDGE_PLAIN_PORT = 8080
"""nginx's plain-HTTP port for the ingress controller (never on the edge Service)."""
MANIFEST_REF = ConfigMapRef("runtimes", "runtimes.json")
"""RUNTIMES_MANIFEST of every component, read from one ConfigMap."""
POD_TEMPLATE = "/ow-invoker/pod-template.yaml"
"""Base pod of every action pod (the kubernetes factory's podTemplate), with a private registry."""
NODE_INVOKER = "invoker-nodes"
"""Key of the one planned container of docker-factory invokers (a DaemonSet, one per node)."""
RUNTIME_DELETE_TIMEOUT = "30 seconds"
"""How long an invoker waits at start for its previous run's action pods to be deleted."""

QUORUM = ("zookeeper", "kafka", "etcd", "elasticsearch")
"""Services whose first member cannot become ready before the others start (it waits for a
quorum): instance i waits for instance i-1 only once that one was deployed (`rolls_after`), so
they start together and then roll one instance at a time."""
ONE_AT_A_TIME = ("controller", "scheduler", "invoker")
"""Services whose instance i waits for instance i-1 to be ready, on creation and on every update,
so that a change rolls through them one instance at a time."""

#: Service -> how its image takes a heap size in MiB: the controller's 1 GiB default is upstream's
#: Kubernetes setting (-Xmx1024M), the invoker's 512 MiB the Helm chart's; Kafka and
#: ElasticSearch keep their images' 1 GiB, ZooKeeper gets 512 MiB of its image's 1000.
HEAP: dict[str, tuple[str, str]] = {
    "controller": ("JAVA_OPTS", "-Xmx{}m"), "scheduler": ("JAVA_OPTS", "-Xmx{}m"),
    "invoker": ("JAVA_OPTS", "-Xmx{}m"), "kafka": ("KAFKA_HEAP_OPTS", "-Xms{0}m -Xmx{0}m"),
    "elasticsearch": ("ES_JAVA_OPTS", "-Xms{0}m -Xmx{0}m"), "zookeeper": ("ZK_SERVER_HEAP", "{}"),
    "user-events": ("JAVA_OPTS", "-Xmx{}m"),
}

#: Why the invoker's Role holds each right on pods; the KubernetesContainerFactory needs nothing
#: else, and only in its own namespace.
POD_VERBS: tuple[tuple[str, str], ...] = (
    ("create", "start an action pod for each new action container"),
    ("get", "poll a new action pod until it is ready, and read a pod back before editing it"),
    ("list", "find the action pods left by the invoker's previous run, selected by label"),
    ("watch", "follow an action pod's status changes"),
    ("delete", "remove the pod of a destroyed action container"),
    ("deletecollection", "at startup, delete its previous run's action pods in one request (labels "
                         "invoker=invoker<id> and release=<release>)"),
    ("patch", "add labels to a running action pod"),
)
LOG_VERBS: tuple[tuple[str, str], ...] = (
    ("get", "read an activation's logs from its action pod through the API"),
)


def api_host(cfg: StackConfig) -> str:
    """The API host: the ingress host, else edge.api_host (config requires one of them)."""
    ingress = cfg.kube.ingress
    host = ingress.host if ingress is not None else cfg.edge.api_host
    assert host is not None, "config requires edge.api_host without an ingress"
    return host


def controller_api(cfg: StackConfig) -> str:
    """The ClusterIP Service in front of every controller's HTTP port, nginx's upstream. A Service
    address never changes, while pod addresses do whenever a controller's pod is replaced, and
    nginx resolves its upstreams only when it starts."""
    k = cfg.kube
    return names.service_address(k.release, k.namespace, k.cluster_domain, "controller-api")


# --------------------------------------------------------------------------------------------
# Invokers


def kubernetes_factory_env(cfg: StackConfig, template: str | None) -> dict[str, Value]:
    """The keys the KubernetesContainerFactory reads: the release label it puts on action pods
    and cleans up by, where action pods may run and, with a `template` (pod_template), the base
    pod it builds them from."""
    env: dict[str, Value] = {
        "CONFIG_whisk_spi_ContainerFactoryProvider": jvm.KUBERNETES_FACTORY,
        "CONFIG_whisk_helm_release": cfg.kube.release,
        # Read with loadConfigOrThrow next to the release; set to its documented default so that
        # no image depends on shipping one (extra_env may change it).
        "CONFIG_whisk_runtime_delete_timeout": RUNTIME_DELETE_TIMEOUT,
    }
    label = cfg.kube.node_label
    # The factory's default requires nodes labelled openwhisk-role=invoker: without such nodes
    # every action pod stays Pending, so affinity is only on when a node label is configured.
    env["CONFIG_whisk_kubernetes_userPodNodeAffinity_enabled"] = "true" if label else "false"
    if label is not None:
        env["CONFIG_whisk_kubernetes_userPodNodeAffinity_key"] = label[0]
        env["CONFIG_whisk_kubernetes_userPodNodeAffinity_value"] = label[1]
    if template is not None:
        env["CONFIG_whisk_kubernetes_podTemplate"] = f"file:{POD_TEMPLATE}"
    return env


def pod_template(cfg: StackConfig, registry: RegistryPlan | None) -> str | None:
    """The base of every action pod, which the factory edits (WhiskPodBuilder starts from it at
    ef725a6 and 1fae641 alike): the registry's pull secret and kubernetes.tolerations, so that
    action pods can run on the tainted nodes dedicated to OpenWhisk. Where they run is
    kubernetes.invoker_node_label's (node affinity), not kubernetes.node_selector's. None when
    there is nothing to add."""
    spec = ""
    if registry is not None:
        spec += f"  imagePullSecrets:\n    - name: {pull_secret_name(cfg)}\n"
    if cfg.kube.tolerations:
        spec += "  tolerations:\n" + "".join(
            f"    - {json.dumps(t.model_dump(exclude_none=True))}\n" for t in cfg.kube.tolerations)
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{}}\nspec:\n{spec}" if spec else None


def pull_secret_name(cfg: StackConfig) -> str:
    """Named, not generated: action pods name it in their template. A changed password replaces
    it in place; kubelets read it at each pull, so nothing needs to restart."""
    return f"{cfg.kube.release}-registry"


def invoker(cfg: StackConfig, ctx: jvm.Context, p: Placed, api_host: str, api_port: int,
            registry: RegistryPlan | None, depends_on: tuple[str, ...]) -> Container:
    """An invoker with the kubernetes factory: no Docker socket, not privileged, no runc."""
    template = pod_template(cfg, registry)
    env = jvm.invoker_env(ctx, api_host, cfg.invoker.user_memory_mb,
                          kubernetes_factory_env(cfg, template), api_port=api_port)
    files = (File(POD_TEMPLATE, template),) if template is not None else ()
    return Container(
        key=f"invoker-{p.name}", service="invoker", host=None, name=f"invoker-{p.name}",
        image="invoker", env=tuple(sorted(env.items())),
        command=("/init.sh", "--id", str(p.id), "--uniqueName", str(p.id)),
        ports=(Port(jvm.JVM_PORT, jvm.JVM_PORT, "http"),), files=files,
        health=jvm.PING, depends_on=depends_on)


def node_invoker(cfg: StackConfig, ctx: jvm.Context, api_host: str, api_port: int,
                 depends_on: tuple[str, ...]) -> Container:
    """invoker.container_factory: docker on Kubernetes: one invoker per node (a DaemonSet) driving
    the node's dockerd. A DaemonSet cannot give its pods planned ids, so each invoker is named
    after its node and gets its id from ZooKeeper, the same id for the same node every time."""
    env = jvm.invoker_env(ctx, api_host, cfg.invoker.user_memory_mb,
                          jvm.docker_factory_env(cfg, cfg.invoker.runc, "bridge"), api_port=api_port)
    env |= {"ZOOKEEPER_HOSTS": ctx.zk_hosts, "NODE_NAME": FieldRef("spec.nodeName")}
    return Container(
        key=NODE_INVOKER, service="invoker", host=None, name=NODE_INVOKER, image="invoker",
        env=tuple(sorted(env.items())),
        # Kubernetes expands $(NODE_NAME) from the container's environment: no shell involved.
        command=("/init.sh", "--uniqueName", "$(NODE_NAME)"),
        ports=(Port(jvm.JVM_PORT, jvm.JVM_PORT, "http"),),
        mounts=jvm.docker_factory_mounts(cfg, cfg.invoker.runc), privileged=True, host_pid=True,
        health=jvm.PING, depends_on=depends_on)


# --------------------------------------------------------------------------------------------
# Rendering


def _role(c: Container) -> str:
    """`kafka-scram-users` of `kafka-scram-users-0`: the key without its placement name."""
    return c.key.rsplit("-", 1)[0]


def _kind(c: Container) -> str:
    if c.one_shot:
        return "Job"
    if c.service == "edge":
        return "Deployment"
    if c.key == NODE_INVOKER:
        return "DaemonSet"
    return "StatefulSet"


def _job_inputs(c: Container, images: dict[str, ImagePlan],
                secrets: dict[str, SecretSpec]) -> dict:
    """What a one-shot step's Job is versioned by: everything it runs with that the plan knows,
    including the generation of every secret it reads (so rotating one runs the step again)."""
    image = images[c.image]
    # Docker labels are not rendered on Kubernetes, a Job is never a quorum member (its
    # rolls_after is always None) and has no live config (Docker hosts only); leaving them out
    # keeps Job names stable.
    container = {k: v for k, v in asdict(replace(c, name="")).items()
                 if k not in ("labels", "rolls_after", "epoch", "live_config")}
    return {"container": container, "image": [image.ref, image.target],
            "secrets": {n: secrets[n].generation for n in c.secret_names() if n in secrets}}


def resources(cfg: StackConfig, key: str) -> KubeResources:
    """The pod resources of `key` (a service, or `steps`): config over DEFAULT_POD_RESOURCES."""
    attr = key.replace("-", "_")
    given = getattr(cfg.kube.resources, attr)
    cpu, memory = DEFAULT_POD_RESOURCES[attr]
    return KubeResources(given.cpu or cpu, given.memory or memory, given.cpu_limit)


def with_heap(c: Container, service: str, memory: str) -> Container:
    """The container with its heap set to half of `memory`, replacing any planned setting."""
    key, form = HEAP[service]
    value = form.format(int(quantity_mib(memory)) // 2)
    return replace(c, env=tuple((k, v) for k, v in c.env if k != key) + ((key, value),))


def _fs_group(volumes: list[VolumePlan]) -> int | None:
    """Images that write their data as a non-root user get their claims made writable for that
    user's group (the first non-zero of gid and uid: ElasticSearch writes as 1000:0)."""
    for v in volumes:
        group = v.owner[1] or v.owner[0]
        if group:
            return group
    return None


def render(cfg: StackConfig, services: list[Service], images: tuple[ImagePlan, ...],
           secrets: tuple[SecretSpec, ...], manifest: Value,
           registry: RegistryPlan | None) -> tuple[list[Service], KubernetesPlan]:
    """The services with Kubernetes names, claims and rolling order, and the plan of their objects."""
    k = cfg.kube
    rel = k.release
    by_image = {i.key: i for i in images}
    by_secret = {s.name: s for s in secrets}
    workloads: dict[str, KubeWorkload] = {}
    kube_services: dict[str, tuple[KubeService, ...]] = {}
    budgets: dict[str, KubeBudget] = {}
    out: list[Service] = []
    tolerations = tuple(KubeToleration(t.key, t.operator, t.value, t.effect) for t in k.tolerations)
    for s in services:
        volumes = {v.key: v for v in s.volumes}
        containers: list[Container] = []
        claims: list[VolumePlan] = []
        stateful: list[Container] = []
        for c in s.containers:
            role, kind = _role(c), _kind(c)
            own = [volumes[m.volume] for m in c.mounts if m.volume]
            base = names.labels(rel, s.name, role)
            select = names.selector(rel, s.name, role)
            service_name = None
            if kind == "StatefulSet":
                index = c.key.rsplit("-", 1)[1]
                name = names.workload_name(rel, role, int(index))
                base |= {names.REPLICA_LABEL: index}
                select |= {names.REPLICA_LABEL: index}
                service_name = names.service_name(rel, s.name)
                if s.name in ONE_AT_A_TIME and int(index) > 0:
                    c = replace(c, depends_on=c.depends_on + (f"{role}-{int(index) - 1}",))
                elif s.name in QUORUM and int(index) > 0:
                    c = replace(c, rolls_after=f"{role}-{int(index) - 1}")
                stateful.append(c)
            elif kind == "Job":
                name = names.job_name(rel, role, _job_inputs(c, by_image, by_secret))
            else:
                name = names.service_name(rel, s.name)
            # Claim templates are named after the volume's role (`data`, `datalog`).
            renamed = [replace(v, host=None, name=v.key[len(c.key) + 1:],
                               size=getattr(k.volume_size, s.name)) for v in own]
            claims += renamed
            res = resources(cfg, "steps" if kind == "Job" else s.name)
            if kind != "Job" and s.name in HEAP:
                c = with_heap(c, s.name, res.memory)
            containers.append(replace(c, name=name))
            workloads[c.key] = KubeWorkload(
                key=c.key, kind=kind, name=name, component=role,  # type: ignore[arg-type]
                labels=tuple(base.items()),
                selector=() if kind == "Job" else tuple(select.items()),
                service_name=service_name,
                service_account=names.service_name(rel, "invoker")
                if s.name == "invoker" and cfg.container_factory == "kubernetes" else None,
                node_selector=tuple(k.node_selector.items())
                + ((k.node_label,) if kind == "DaemonSet" and k.node_label else ()),
                fs_group=_fs_group(own), pull_images=s.prepull if kind == "DaemonSet" else (),
                node_sysctls=(("vm.max_map_count", hostplan.ES_MAX_MAP_COUNT),)
                if s.name == "elasticsearch" else (),
                resources=res, tolerations=tolerations,
                spread=tuple(names.selector(rel, s.name, role).items())
                if kind == "StatefulSet" else (),
                spread_required=kind == "StatefulSet" and k.anti_affinity == "required")
        out.append(replace(s, containers=tuple(containers), volumes=tuple(claims)))
        kube_services[s.name] = _services(cfg, s, stateful)
        if stateful:
            budgets[s.name] = KubeBudget(
                names.service_name(rel, s.name), tuple(names.selector(rel, s.name, s.name).items()),
                tuple(names.labels(rel, s.name, s.name).items()))
    plan = KubernetesPlan(
        namespace=k.namespace, release=rel, cluster_domain=k.cluster_domain, context=k.context,
        kubeconfig=k.kubeconfig, cluster_identifier=k.context,
        storage_class=k.storage_class,
        labels=tuple(names.labels(rel, "openwhisk", "namespace").items()),
        workloads=workloads, services={n: v for n, v in kube_services.items() if v},
        budgets=budgets, config_maps={MANIFEST_REF.name: ((MANIFEST_REF.key, manifest),)},
        pull_secret=pull_secret_name(cfg) if registry is not None else None,
        rbac=_rbac(cfg) if cfg.container_factory == "kubernetes" else None,
        ingress=_ingress(cfg), network_policies=netpol.policies(cfg, out))
    return out, plan


def _services(cfg: StackConfig, s: Service, stateful: list[Container]) -> tuple[KubeService, ...]:
    rel = cfg.kube.release
    labels = tuple(names.labels(rel, s.name, s.name).items())
    select = tuple(names.selector(rel, s.name, s.name).items())
    out: list[KubeService] = []
    if stateful:
        ports = {p.name: KubePort(p.name, p.container, p.container)
                 for c in stateful for p in c.ports}
        out.append(KubeService(names.service_name(rel, s.name), None, tuple(ports.values()),
                               select, labels))
    if s.name == "invoker" and not stateful and cfg.monitoring.enabled:
        # Docker-factory invokers are a DaemonSet: Prometheus finds its pods through this
        # headless Service's DNS records (planner.monitoring.scrape_config).
        out.append(KubeService(names.service_name(rel, "invoker"), None,
                               (KubePort("http", jvm.JVM_PORT, jvm.JVM_PORT),), select, labels))
    if s.name == "controller":
        out.append(KubeService(names.service_name(rel, "controller-api"), "ClusterIP",
                               (KubePort("http", jvm.JVM_PORT, jvm.JVM_PORT),), select, labels,
                               early=True))
    if s.name == "apigateway":
        # nginx's upstream for /api/<namespace>/: a stable address, resolved once at its start.
        out.append(KubeService(names.service_name(rel, gw.API_SERVICE), "ClusterIP",
                               (KubePort("api", gw.API_PORT, gw.API_PORT),), select, labels,
                               early=True))
    if s.name == "edge":
        node_port = cfg.kube.edge_service_type == "NodePort"
        public = [KubePort(p.name, p.published, p.container, p.published if node_port else None)
                  for p in s.containers[0].ports if p.name != "ingress"]
        out.append(KubeService(names.service_name(rel, "edge"), cfg.kube.edge_service_type,
                               tuple(public), select, labels))
        if cfg.kube.ingress is not None:
            out.append(KubeService(names.service_name(rel, "edge-backend"), "ClusterIP",
                                   (KubePort("ingress", EDGE_PLAIN_PORT, EDGE_PLAIN_PORT),),
                                   select, labels))
    return tuple(out)


def _rbac(cfg: StackConfig) -> InvokerRbac:
    rel = cfg.kube.release
    return InvokerRbac(
        names.service_name(rel, "invoker"), tuple(names.labels(rel, "invoker", "invoker").items()),
        (RbacRule(("",), ("pods",), tuple(v for v, _ in POD_VERBS),
                  "; ".join(f"{v}: {why}" for v, why in POD_VERBS)),
         RbacRule(("",), ("pods/log",), tuple(v for v, _ in LOG_VERBS),
                  "; ".join(f"{v}: {why}" for v, why in LOG_VERBS))))


def _ingress(cfg: StackConfig) -> IngressPlan | None:
    ingress = cfg.kube.ingress
    if ingress is None:
        return None
    rel = cfg.kube.release
    return IngressPlan(names.service_name(rel, "edge"), ingress.host, ingress.class_name,
                       names.service_name(rel, "edge-backend"), "ingress",
                       tuple(names.labels(rel, "edge", "edge").items()))


def builder_hosts(cfg: StackConfig, registry: RegistryPlan | None) -> tuple[HostPlan, ...]:
    """The one Docker endpoint on Kubernetes: registry.builder, which mirrors and builds images
    into the registry. Its ssh connection uses your ssh agent, like a Docker host's."""
    endpoint = cfg.registry.builder
    if registry is None or endpoint is None:
        return ()
    login = hostplan.ssh_endpoint(endpoint)
    host = HostPlan(BUILDER, login[1] if login else "localhost", endpoint,
                    ssh_opts=hostplan.ssh_opts(login and login[2], cfg))
    return (replace(host, login=(hostplan.registry_login(host.docker_cli, registry),)),)


# --------------------------------------------------------------------------------------------
# Claim templates: kept as first made (components/kubernetes_service.py ignores their changes)

CLAIMS_OUTPUT = "claimTemplates"
"""Stack output recording what the claim templates were last declared with, for the next run to
compare with (`claim_warnings`)."""
CLAIMS_HELP = "see 'Troubleshooting on Kubernetes' in README.md."


def claim_settings(plan: Plan) -> dict[str, Any]:
    """The StorageClass and, per service with claims, the claim size: what the StatefulSets'
    claim templates are made from."""
    assert plan.kubernetes is not None
    return {"storageClass": plan.kubernetes.storage_class,
            "volumeSize": {s.name: s.volumes[0].size for s in plan.services if s.volumes}}


def claim_warnings(deployed: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
    """One line per claim setting that differs from the last deployment's (`deployed`, None when
    the stack has no record yet): existing claims keep theirs, only new claims get the new one."""
    if deployed is None:
        return []
    new_claims = ("applies only to claims made from now on, by new instances (a raised "
                  "kubernetes.replicas, a newly enabled service)")
    out = []
    before, after = deployed.get("storageClass"), now["storageClass"]
    if before != after:
        out.append(
            f"{NAMESPACE}:kubernetes.storage_class: changed from {_class(before)} to "
            f"{_class(after)} since the last deployment. Existing PersistentVolumeClaims keep "
            f"their class (a claim's class cannot change, and each StatefulSet keeps the claim "
            f"templates it was made with): the new class {new_claims}. To move existing data "
            f"onto it, {CLAIMS_HELP}")
    sizes = deployed.get("volumeSize") or {}
    for service, size in now["volumeSize"].items():
        if sizes.get(service, size) != size:
            out.append(
                f"{NAMESPACE}:kubernetes.volume_size.{service}: changed from {sizes[service]!r} to "
                f"{size!r} since the last deployment. Existing PersistentVolumeClaims keep their "
                f"size (each StatefulSet keeps the claim templates it was made with): the new "
                f"size {new_claims}. To grow an existing claim where its StorageClass allows "
                f"expansion, {CLAIMS_HELP}")
    return out


def _class(name: str | None) -> str:
    return repr(name) if name is not None else "none (the cluster's default class)"
