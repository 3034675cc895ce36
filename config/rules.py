"""The cross-field rules: checks that read several validated sections of a stack's config and
return a problem line for each rule broken. Each runs only when the sections it reads are valid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import runtimes
from config import extra_env as env_rules
from config.messages import _show
from config.schema import (
    DEFAULT_POD_RESOURCES, KNOWN_TAGS, MIN_MEMORY_MB, NAMESPACE, ActivationStore, Build, Catalog,
    Controller, Edge, Host, Images, Invoker, Kafka, Kubernetes, Monitoring, Namespace, PodResources,
    PodResourcesByService, Registry, Role, Runtimes, Ssh, Version, cpu_cores, docker_endpoint,
    namespace_secret, quantity_mib,
)

MUTABLE_TAGS = {"latest", "nightly"}
#: Tags that name a release line (`2`, `3.9`, `v3`), which moves to each new patch release.
FLOATING_TAG = re.compile(r"v?[0-9]+(\.[0-9]+)?")


def _tag_of(image: str) -> str | None:
    if "@sha256:" in image:
        return None  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _cross_checks(s: dict[str, Any], supplied: frozenset[str],
                  manifest: runtimes.Manifest | None, base_dir: Path) -> list[str]:
    """Rules that span keys; each runs only when the sections it reads are valid."""
    out: list[str] = []
    version: Version | None = s.get("version")
    mode = None
    if version is not None:
        out += _version_checks(version, s.get("images"), s.get("registry"), s.get("catalog"),
                               s.get("monitoring"))
        out += _monitoring_checks(s.get("monitoring"), version, s.get("platform"),
                                  s.get("registry"))
        known = version.known
        mode = version.mode or (known.default_mode if known else None)

    platform, invoker, hosts = s.get("platform"), s.get("invoker"), s.get("hosts")
    factory = None
    if invoker is not None and platform is not None:
        factory = invoker.container_factory or ("kubernetes" if platform == "kubernetes" else "docker")
    if invoker is not None and invoker.container_factory == "kubernetes" and platform == "docker":
        out.append(f"{NAMESPACE}:invoker.container_factory: the kubernetes container factory "
                   f"needs platform: kubernetes (got 'kubernetes' with platform 'docker'); use "
                   f"'docker' on Docker hosts")
    if invoker is not None and factory == "kubernetes" and invoker.use_runc:
        out.append(f"{NAMESPACE}:invoker.use_runc: runc pause/resume works only with the docker "
                   f"container factory (got true with container_factory 'kubernetes'); set "
                   f"use_runc: false or use container_factory: docker")
    edge = s.get("edge")
    for key, file in (("edge_tls_cert", "cert.pem"), ("edge_tls_key", "key.pem")):
        if edge is not None and edge.tls == "provided" and key not in supplied:
            out.append(f"{NAMESPACE}:{key}: required by edge.tls: provided (got none); set it "
                       f"with pulumi config set --secret {key} < {file}, or use edge.tls: "
                       f"self-signed")
        if edge is not None and edge.tls == "self-signed" and key in supplied:
            out.append(f"{NAMESPACE}:{key}: set, but edge.tls is self-signed, so it would be "
                       f"ignored (got a secret value); set edge.tls: provided to use it, or remove "
                       f"it (pulumi config rm {NAMESPACE}:{key})")
    out += _extra_env_checks(s, mode)
    scheduler = s.get("scheduler")
    if mode == "classic" and scheduler is not None:
        out += [f"{NAMESPACE}:scheduler.{key}: used only in scheduler mode, but the stack runs in "
                f"classic mode (got {_show(getattr(scheduler, key))}); remove it (pulumi config rm "
                f"--path 'scheduler.{key}') or set version.mode: scheduler"
                for key in sorted(scheduler.model_fields_set - {"extra_env"})]
    out += _namespace_checks(s.get("namespaces"), manifest, s.get("runtimes"))
    if platform == "kubernetes":
        return out + _kubernetes_checks(s, supplied, manifest, mode, factory, base_dir)
    if platform == "docker" and s.get("kubernetes") is not None:
        out.append(f"{NAMESPACE}:kubernetes: used only with platform: kubernetes (got "
                   f"{_show(s['kubernetes'].model_dump(exclude_defaults=True))}); remove it "
                   f"(pulumi config rm {NAMESPACE}:kubernetes) or set platform: kubernetes")
    registry = s.get("registry")
    if platform == "docker" and registry is not None and registry.builder is not None:
        out.append(f"{NAMESPACE}:registry.builder: used only with platform: kubernetes (got "
                   f"{registry.builder!r}); remove it: on Docker hosts registry.build_host names "
                   f"the host that builds and pushes")
    if hosts is None or platform != "docker":
        return out
    out += _host_checks(hosts, mode, s.get("activation_store"))
    out += _registry_checks(hosts, registry, s.get("builds"), supplied, base_dir)
    if invoker is not None and manifest is not None:
        out += _memory_checks(hosts, invoker, manifest, s["runtimes"].manifest)
    controllers = sum("controller" in h.roles for h in hosts)
    out += _seed_count_check(s.get("controller"), controllers, "give the controller role to more hosts")
    if "ssh" in s:
        out += _ssh_key_checks(hosts, s["ssh"], supplied)
    brokers = sum("kafka" in h.roles for h in hosts)
    out += _replication_check(s.get("kafka"), brokers, "give the kafka role to more hosts")
    return out


def _namespace_checks(namespaces: tuple[Namespace, ...] | None, manifest: runtimes.Manifest | None,
                      runtimes_cfg: Runtimes | None) -> list[str]:
    """Names unique (also as the secret that holds their key) and allowed kinds in the manifest."""
    out: list[str] = []
    first: dict[str, int] = {}
    for i, ns in enumerate(namespaces or ()):
        where = f"{NAMESPACE}:namespaces[{i}]"
        key = namespace_secret(ns.name)
        if key in first:
            j = first[key]
            same = namespaces[j].name == ns.name  # type: ignore[index]
            out.append(f"{where}.name: {'the same name as' if same else 'differs only in case or in _ . @ - from'} "
                       f"namespaces[{j}] (got {ns.name!r}, and {namespaces[j].name!r} there); "  # type: ignore[index]
                       f"{'list each namespace once' if same else 'choose names that differ in a letter or digit'}")
            continue
        first[key] = i
        if manifest is None or ns.limits.allowed_kinds is None:
            continue
        known = sorted(k.kind for kinds in manifest.runtimes.values() for k in kinds)
        for kind in ns.limits.allowed_kinds:
            if kind not in known:
                out.append(f"{where}.limits.allowed_kinds: {kind!r} is not a kind of the runtime "
                           f"manifest {runtimes_cfg.manifest if runtimes_cfg else ''} (got {kind!r}); "
                           f"use one of {', '.join(known)}")
    return out


def _kubernetes_checks(s: dict[str, Any], supplied: frozenset[str],
                       manifest: runtimes.Manifest | None, mode: str | None, factory: str | None,
                       base_dir: Path) -> list[str]:
    """platform: kubernetes: the instances come from kubernetes.replicas, not from hosts, and
    what only Docker hosts have (ssh, host directories, published ports) is refused."""
    out: list[str] = []
    hosts = s.get("hosts")
    if hosts:
        out.append(f"{NAMESPACE}:hosts: used only with platform: docker (got {len(hosts)} "
                   f"host(s)); remove it (pulumi config rm {NAMESPACE}:hosts): on kubernetes the "
                   f"instances of each service come from kubernetes.replicas")
    where = f"{NAMESPACE}:kubernetes"
    kube: Kubernetes | None = (s["kubernetes"] or Kubernetes()) if "kubernetes" in s else None
    store = s.get("activation_store")
    es = store is not None and store.backend == "elasticsearch"
    if kube is not None:
        r = kube.replicas
        explicit = r.model_fields_set
        for name in ("zookeeper", "etcd"):
            n = getattr(r, name)
            if n % 2 == 0:
                out.append(f"{where}.replicas.{name}: a quorum needs an odd number of members "
                           f"(got {n}); set it to {n - 1} or {n + 1}")
        if mode == "classic":
            out += [f"{where}.replicas.{name}: used only in scheduler mode, but the stack runs in "
                    f"classic mode (got {getattr(r, name)}); remove it or set version.mode: "
                    f"scheduler" for name in ("etcd", "scheduler") if name in explicit]
        if not es and store is not None and "elasticsearch" in explicit:
            out.append(f"{where}.replicas.elasticsearch: used only with activation_store.backend: "
                       f"elasticsearch (got {r.elasticsearch}); remove it or set "
                       f"activation_store.backend: elasticsearch")
        if factory == "docker" and "invoker" in explicit:
            out.append(f"{where}.replicas.invoker: the docker container factory runs one invoker "
                       f"on every node that matches kubernetes.invoker_node_label (a DaemonSet) "
                       f"(got {r.invoker}); remove it, or use invoker.container_factory: "
                       f"kubernetes for a fixed number of invokers")
        out += _replication_check(s.get("kafka"), r.kafka, "raise kubernetes.replicas.kafka")
        out += _seed_count_check(s.get("controller"), r.controller,
                                 "raise kubernetes.replicas.controller")
        out += _kubernetes_edge_checks(kube, s.get("edge"))
        out += _kubernetes_resource_checks(kube, s)
        if mode is not None and factory is not None:
            out += _kubernetes_name_checks(kube, mode, es, factory, s.get("kafka"))
    out += _kubernetes_registry_checks(s.get("registry"), s.get("builds"), supplied, base_dir)
    out += _docker_only_checks(s, supplied, factory)
    invoker = s.get("invoker")
    if invoker is not None and manifest is not None:
        need = runtimes.stem_cell_memory_mb(manifest)
        if need > invoker.user_memory_mb:
            out.append(f"{NAMESPACE}:invoker.user_memory_mb: less than the {need} MB that the stem "
                       f"cells of the runtime manifest take when an invoker starts (got "
                       f"{invoker.user_memory_mb}); raise it to at least {need} or lower stemCells "
                       f"in {s['runtimes'].manifest}")
    return out


#: Services whose heap the plan sets to half their memory (planner.kubernetes.HEAP).
HEAP_SERVICES = ("controller", "scheduler", "invoker", "kafka", "zookeeper", "elasticsearch",
                 "user_events")
#: The least memory of a service with a JVM: a heap of 256 MiB.
MIN_JVM_MEMORY_MIB = 512


def _kubernetes_resource_checks(kube: Kubernetes, s: dict[str, Any]) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:kubernetes.resources"
    for name in PodResourcesByService.model_fields:
        r: PodResources = getattr(kube.resources, name)
        if name in HEAP_SERVICES and r.memory is not None and quantity_mib(r.memory) < MIN_JVM_MEMORY_MIB:
            out.append(f"{where}.{name}.memory: the heap is half of it, and a heap under "
                       f"{MIN_JVM_MEMORY_MIB // 2} MiB does not run {name} (got {r.memory!r}); give "
                       f"it at least {MIN_JVM_MEMORY_MIB}Mi")
        cpu = r.cpu or DEFAULT_POD_RESOURCES[name][0]
        if r.cpu_limit is not None and cpu_cores(r.cpu_limit) < cpu_cores(cpu):
            out.append(f"{where}.{name}.cpu_limit: below the CPU request {cpu!r}, which "
                       f"Kubernetes refuses (got {r.cpu_limit!r}); raise it to at least {cpu!r}, "
                       f"or lower {name}.cpu too")
    for section in env_rules.SECTIONS:
        model = s.get(section)
        for key, field in env_rules.KUBERNETES_PLANNED.items():
            if model is not None and key in model.extra_env:
                out.append(f"{NAMESPACE}:{section}.extra_env.{key}: on kubernetes the plan sets "
                           f"the heap to half the pod's memory (got {_show(model.extra_env[key])}); "
                           f"remove it and set {field.format(section=section)} instead")
    return out


def _kubernetes_edge_checks(kube: Kubernetes, edge: Edge | None) -> list[str]:
    out: list[str] = []
    if edge is None:
        return out
    if kube.ingress is None and edge.api_host is None:
        out.append(f"{NAMESPACE}:edge.api_host: required on kubernetes without kubernetes.ingress "
                   f"(got none); set it to the name or address wsk reaches the edge Service at "
                   f"(e.g. the load balancer's DNS name), or set kubernetes.ingress.host")
    if kube.ingress is not None and edge.api_host not in (None, kube.ingress.host):
        out.append(f"{NAMESPACE}:edge.api_host: differs from kubernetes.ingress.host, which is the "
                   f"API host with an ingress (got {edge.api_host!r}); remove it or set it to "
                   f"{kube.ingress.host!r}")
    if kube.edge_service_type == "NodePort":
        for key in ("https_port", "http_port"):
            port = getattr(edge, key)
            if port is not None and not 30000 <= port <= 32767:
                out.append(f"{NAMESPACE}:edge.{key}: with kubernetes.edge_service_type NodePort it "
                           f"is the node port, which Kubernetes takes from 30000-32767 (got "
                           f"{port}); set it to a free port in that range, e.g. "
                           f"{31001 if key == 'https_port' else 31080}")
    if edge.http_port is not None and edge.http_port == edge.https_port:
        out.append(f"{NAMESPACE}:edge.http_port: the same port as edge.https_port, and one "
                   f"{'node port' if kube.edge_service_type == 'NodePort' else 'Service port'} "
                   f"cannot serve both (got {edge.http_port}); give it another port, or null for "
                   f"no plain-HTTP redirect")
    return out


def _kubernetes_name_checks(kube: Kubernetes, mode: str, es: bool, factory: str,
                            kafka: Kafka | None) -> list[str]:
    from planner import kube_names  # noqa: PLC0415 - config is loaded; planner imports config

    r = kube.replicas
    replicas = {"couchdb": 1, "zookeeper": r.zookeeper, "kafka": r.kafka,
                "controller": r.controller}
    if mode == "scheduler":
        replicas |= {"etcd": r.etcd, "scheduler": r.scheduler}
    if es:
        replicas["elasticsearch"] = r.elasticsearch
    if factory == "kubernetes":
        replicas["invoker"] = r.invoker
    scram = kafka is not None and kafka.sasl is not None and kafka.sasl.mechanism != "PLAIN"
    names = kube_names.expected_names(
        kube.release, replicas, jobs=("couchdb-init",) + (("kafka-scram-users",) if scram else ()),
        deployments=("edge",), daemonsets=("invoker",) if factory == "docker" else (),
        extra_services=("controller-api", "edge-backend"))
    over = [(len(n) - kube_names.limit(k), k, n) for k, n in names if len(n) > kube_names.limit(k)]
    if not over:
        return []
    excess, kind, name = max(over)
    return [f"{NAMESPACE}:kubernetes.release: too long for the object names made from it: "
            f"{kind} {name!r} would have {len(name)} characters, more than "
            f"{kube_names.limit(kind)} (got {kube.release!r}); use at most "
            f"{len(kube.release) - excess} characters"]


def _kubernetes_registry_checks(registry: Registry | None, builds: dict[str, Build] | None,
                                supplied: frozenset[str], base_dir: Path) -> list[str]:
    out: list[str] = []
    if registry is None:
        return out
    where = f"{NAMESPACE}:registry"
    if registry.mode == "deploy":
        out.append(f"{where}.mode: deploy runs the registry on a Docker host, and kubernetes has "
                   f"none (got 'deploy'); use mode: external with a registry the cluster's nodes "
                   f"can pull from, or none")
    out += _external_registry_checks(registry, supplied)
    if registry.mode == "external" and registry.builder is None:
        out.append(f"{where}.builder: required on kubernetes with mode external, to pull, build "
                   f"and push the images (got none); set it to a Docker endpoint, e.g. "
                   f"unix:///var/run/docker.sock or ssh://user@build-host")
    if registry.mode == "none" and registry.builder is not None:
        out.append(f"{where}.builder: used only with a registry (got {registry.builder!r}); remove "
                   f"it or set registry.mode: external")
    if registry.build_host is not None:
        out.append(f"{where}.build_host: names a Docker host, and kubernetes has none (got "
                   f"{registry.build_host!r}); remove it and set registry.builder instead")
    if registry.ca_cert is not None:
        out.append(f"{where}.ca_cert: the program cannot make the cluster's nodes trust a CA (got "
                   f"a certificate); install the CA on every node's container runtime and on the "
                   f"builder, then remove it")
    return out + _build_checks(registry, builds, base_dir, "external")


def _docker_only_checks(s: dict[str, Any], supplied: frozenset[str], factory: str | None) -> list[str]:
    """Settings that only mean something on Docker hosts (or with the docker factory)."""
    out: list[str] = []
    rm = "remove it (pulumi config rm --path '{}')"
    if s.get("ssh") is not None:
        out.append(f"{NAMESPACE}:ssh: used only to reach Docker hosts (got "
                   f"{_show(s['ssh'].model_dump(exclude_defaults=True))}); remove it (pulumi "
                   f"config rm {NAMESPACE}:ssh); an ssh:// registry.builder uses your ssh agent")
    if "ssh_private_key" in supplied:
        out.append(f"{NAMESPACE}:ssh_private_key: used only to prepare Docker hosts over ssh (got a "
                   f"secret value); remove it (pulumi config rm {NAMESPACE}:ssh_private_key)")
    storage = s.get("storage")
    if storage is not None and storage.data_dir is not None:
        out.append(f"{NAMESPACE}:storage.data_dir: a directory on Docker hosts (got "
                   f"{storage.data_dir!r}); {rm.format('storage.data_dir')}: on kubernetes data "
                   f"lives on PersistentVolumeClaims (kubernetes.storage_class, volume_size)")
    verify = s.get("verify")
    for key in ("enabled", "timeout_s"):
        if verify is not None and key in verify.model_fields_set and getattr(verify, key) is not False:
            out.append(f"{NAMESPACE}:verify.{key}: the post-deploy check runs only on the docker "
                       f"platform (got {_show(getattr(verify, key))}); "
                       f"{rm.format(f'verify.{key}')} and check a kubernetes stack with wsk (see "
                       f"the README, Kubernetes)")
    logs = s.get("logs")
    for key in sorted(logs.model_fields_set if logs is not None else ()):
        out.append(f"{NAMESPACE}:logs.{key}: log bounds of Docker hosts; on kubernetes the kubelet "
                   f"rotates container logs by its own settings (got "
                   f"{_show(getattr(logs, key).model_dump())}); {rm.format(f'logs.{key}')}")
    for section, key in (("couchdb", "port"), ("controller", "http_port"),
                         ("scheduler", "http_port"), ("invoker", "http_port")):
        model = s.get(section)
        if model is not None and key in model.model_fields_set:
            out.append(f"{NAMESPACE}:{section}.{key}: a port published on a Docker host; on "
                       f"kubernetes components reach each other at their container ports (got "
                       f"{getattr(model, key)}); {rm.format(f'{section}.{key}')}")
    invoker = s.get("invoker")
    if invoker is not None and factory == "kubernetes":
        for key in ("docker_root", "runc_state_dir"):
            if key in invoker.model_fields_set:
                out.append(f"{NAMESPACE}:invoker.{key}: used only with the docker container "
                           f"factory (got {getattr(invoker, key)!r}); "
                           f"{rm.format(f'invoker.{key}')} or set invoker.container_factory: "
                           f"docker")
    return out


def _seed_count_check(controller: Controller | None, controllers: int, more: str) -> list[str]:
    if controller is not None and controller.seed_count and controllers \
            and controller.seed_count > controllers:
        return [f"{NAMESPACE}:controller.seed_count: seed nodes are chosen among the "
                f"{controllers} controller(s), so at most {controllers} (got "
                f"{controller.seed_count}); lower it or {more}"]
    return []


def _replication_check(kafka: Kafka | None, brokers: int, more: str) -> list[str]:
    if kafka is not None and brokers and kafka.replication_factor > brokers:
        return [f"{NAMESPACE}:kafka.replication_factor: more than the number of Kafka brokers, "
                f"{brokers} (got {kafka.replication_factor}); lower it to at most {brokers} or "
                f"{more}"]
    return []


def _extra_env_checks(s: dict[str, Any], mode: str | None) -> list[str]:
    """Each refused key of the components' extra_env (rules and reasons in extra_env.py)."""
    out: list[str] = []
    version: Version | None = s.get("version")
    family = tag = None
    if version is not None:
        family = version.actor_system or (version.known.actor_system if version.known else None)
        tag = version.tag
    for section in env_rules.SECTIONS:
        model = s.get(section)
        if model is None:
            continue
        where = f"{NAMESPACE}:{section}.extra_env"
        if section == "scheduler" and mode == "classic" and model.extra_env:
            out.append(f"{where}: the stack runs in classic mode, which has no scheduler (got "
                       f"{_show(sorted(model.extra_env))}); remove it or set version.mode: "
                       f"scheduler")
            continue
        for key, value in model.extra_env.items():
            if section == "invoker" and key in env_rules.TRANSLATED:
                explicit = model.use_runc if "use_runc" in model.model_fields_set else None
                found = env_rules.use_runc_problem(value, explicit)
            else:
                found = env_rules.check(section, key, value, family, tag)
            if found is None:
                continue
            path = where if found.got else f"{where}.{key}"
            got = found.got or ("a hidden value" if env_rules.looks_secret(key) else _show(value))
            out.append(f"{path}: {found.what} (got {got}); {found.fix}")
    return out


def _ssh_key_checks(hosts: tuple[Host, ...], ssh: Ssh | None, supplied: frozenset[str]) -> list[str]:
    over_ssh = [repr(h.name) for h in hosts if docker_endpoint(h, ssh).startswith("ssh://")]
    key = f"{NAMESPACE}:ssh_private_key"
    if over_ssh and "ssh_private_key" not in supplied:
        which = f"host {over_ssh[0]} is" if len(over_ssh) == 1 else \
            f"hosts {', '.join(over_ssh)} are"
        return [f"{key}: required because {which} reached over ssh:// (got none); set it with "
                f"pulumi config set --secret ssh_private_key < ~/.ssh/id_ed25519 (the private key "
                f"the ssh user logs in with)"]
    if not over_ssh and "ssh_private_key" in supplied:
        return [f"{key}: set, but no host is reached over ssh://, so it would be ignored (got a "
                f"secret value); set {NAMESPACE}:ssh to reach the hosts over ssh, or remove it "
                f"(pulumi config rm {key})"]
    return [f"{NAMESPACE}:hosts[{i}].ssh_host_key: host {h.name!r} is not reached over ssh://, so "
            f"the key would be ignored (got {h.ssh_host_key[:20] + '...'!r}); remove it"
            for i, h in enumerate(hosts)
            if h.ssh_host_key and not docker_endpoint(h, ssh).startswith("ssh://")]


def _monitoring_checks(monitoring: Monitoring | None, version: Version, platform: str | None,
                       registry: Registry | None) -> list[str]:
    """Grafana's image is built with the dashboards of the tag's commit: it needs a pin for
    the tag and, on Kubernetes, a registry to push it to, unless a prebuilt one is given."""
    if monitoring is None or not monitoring.enabled or monitoring.grafana_image is not None:
        return []
    out: list[str] = []
    if version.known is None and "DASHBOARDS_URL" not in monitoring.build_args:
        out.append(f"{NAMESPACE}:monitoring.build_args: the OpenWhisk dashboards are pinned for "
                   f"the known tags only, and version.tag is not one (got {version.tag!r}); set "
                   f"DASHBOARDS_URL, DASHBOARDS_DIGEST and DASHBOARDS_COMMIT to the archive of "
                   f"that OpenWhisk commit and its content digest (components/assets/catalog/"
                   f"tree_digest.py), or monitoring.grafana_image to a prebuilt image")
    if platform == "kubernetes" and (registry is None or registry.mode == "none"):
        out.append(f"{NAMESPACE}:monitoring.grafana_image: on kubernetes the Grafana image with "
                   f"the dashboards is built on registry.builder and pushed for the cluster to "
                   f"pull, and this stack has no registry (got none); set registry (mode "
                   f"external, with builder), or monitoring.grafana_image to a prebuilt image "
                   f"that holds them at /etc/grafana/dashboards/openwhisk")
    return out


def _version_checks(version: Version, images: Images | None,
                    registry: Registry | None, catalog: Catalog | None = None,
                    monitoring: Monitoring | None = None) -> list[str]:
    out: list[str] = []
    known = version.known
    if version.tag in MUTABLE_TAGS and not version.allow_mutable_tags:
        out.append(f"{NAMESPACE}:version.tag: a mutable tag, so each host keeps whatever image it "
                   f"pulled last (got {version.tag!r}); pin a release tag (a short commit SHA such "
                   f"as '1fae641') or set version.allow_mutable_tags: true")
    if known is None:
        unknown = (f"required for tag {version.tag!r}, which is none of the known tags "
                   f"{', '.join(list(KNOWN_TAGS)[:-1])} and {list(KNOWN_TAGS)[-1]}")
        if version.actor_system is None:
            out.append(f"{NAMESPACE}:version.actor_system: {unknown} (got none); set it to 'pekko' "
                       f"for images built since 2025-10-19 (7538ced), else 'akka'")
        if version.mode is None:
            out.append(f"{NAMESPACE}:version.mode: {unknown} (got none); set it to 'scheduler' "
                       f"(the default since 2.0.0) or 'classic'")
    elif version.actor_system and version.actor_system != known.actor_system:
        out.append(f"{NAMESPACE}:version.actor_system: tag {version.tag!r} reads "
                   f"{known.actor_system} keys (got {version.actor_system!r}); remove the setting "
                   f"or set it to {known.actor_system!r}")
    # Every image reference the config holds: the third-party images and the deployed registry's.
    refs = {f"images.{k}": ref for k, ref in (images.model_dump() if images else {}).items()}
    if registry is not None:
        refs["registry.image"] = registry.image
    if catalog is not None and catalog.image is not None:
        refs["catalog.image"] = catalog.image
    if monitoring is not None and monitoring.grafana_image is not None:
        refs["monitoring.grafana_image"] = monitoring.grafana_image
    if not version.allow_mutable_tags:
        for path, ref in refs.items():
            tag = _tag_of(ref)
            if tag in MUTABLE_TAGS:
                what = f"'{tag}' is a mutable tag" if ":" in ref.rsplit("/", 1)[-1] else \
                    "no tag means 'latest', a mutable tag"
                out.append(f"{NAMESPACE}:{path}: {what} (got {ref!r}); pin a version tag or "
                           f"a digest, or set version.allow_mutable_tags: true")
            elif tag is not None and FLOATING_TAG.fullmatch(tag):
                out.append(f"{NAMESPACE}:{path}: the tag '{tag}' names a release line, which moves "
                           f"to each new release (got {ref!r}); pin a full release tag (major.minor.patch) "
                           f"or a digest, or set version.allow_mutable_tags: true")
    return out


def _registry_checks(hosts: tuple[Host, ...], registry: Registry | None,
                     builds: dict[str, Build] | None, supplied: frozenset[str],
                     base_dir: Path) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:registry"
    carriers = [(i, h) for i, h in enumerate(hosts) if "registry" in h.roles]
    if registry is not None:
        if registry.mode == "deploy" and len(carriers) != 1:
            got = ", ".join(repr(h.name) for _, h in carriers) or "none"
            out.append(f"{where}.mode: deploy needs exactly one host with the role 'registry' (got "
                       f"{got}); give the role to one host")
        if registry.mode != "deploy":
            out += [f"{NAMESPACE}:hosts[{i}].roles: role 'registry' is used only with "
                    f"registry.mode: deploy (got mode {registry.mode!r}); remove the role or set "
                    f"registry.mode: deploy" for i, _ in carriers]
        out += _external_registry_checks(registry, supplied)
        if registry.ca_cert is not None and registry.mode != "external":
            out.append(f"{where}.ca_cert: used only with mode external (got a certificate); "
                       f"remove it (deploy mode makes its own CA)")
        names = [h.name for h in hosts]
        if registry.build_host is not None and registry.build_host not in names:
            out.append(f"{where}.build_host: no such host (got {registry.build_host!r}); use one "
                       f"of {', '.join(names)}")
        if registry.build_host is not None and registry.mode == "none":
            out.append(f"{where}.build_host: used only with a registry (got "
                       f"{registry.build_host!r}); remove it or set registry.mode")
    return out + _build_checks(registry, builds, base_dir, "deploy or external")


def _external_registry_checks(registry: Registry, supplied: frozenset[str]) -> list[str]:
    """What external mode needs, and what only it uses (both platforms)."""
    out = []
    where = f"{NAMESPACE}:registry"
    if registry.mode == "external":
        if registry.address is None:
            out.append(f"{where}.address: required with mode external (got none); set it "
                       f"with pulumi config set --path 'registry.address' host:port")
        if "registry_password" not in supplied:
            out.append(f"{NAMESPACE}:registry_password: required with registry.mode: external "
                       f"(got none); set it with pulumi config set --secret registry_password")
    elif registry.address is not None:
        out.append(f"{where}.address: used only with mode external (got "
                   f"{registry.address!r}); remove it or set registry.mode: external")
    if registry.mode != "external" and "registry_password" in supplied:
        out.append(f"{NAMESPACE}:registry_password: used only with registry.mode: external "
                   f"(got a secret value); remove it (pulumi config rm "
                   f"{NAMESPACE}:registry_password); deploy mode generates its own")
    return out


def _build_checks(registry: Registry | None, builds: dict[str, Build] | None, base_dir: Path,
                  modes: str) -> list[str]:
    out = []
    if builds and registry is not None and registry.mode == "none":
        out.append(f"{NAMESPACE}:builds: built images reach the hosts through a registry (got "
                   f"builds for {', '.join(sorted(builds))} with registry.mode 'none'); set "
                   f"registry.mode: {modes}")
    for key, build in sorted((builds or {}).items()):
        context = Path(base_dir) / build.context
        if not context.is_dir():
            out.append(f"{NAMESPACE}:builds.{key}.context: not a directory (got "
                       f"{build.context!r}); point it at the build context, relative to the "
                       f"project directory")
        elif not (context / (build.dockerfile or "Dockerfile")).is_file():
            out.append(f"{NAMESPACE}:builds.{key}.dockerfile: no such file in the context (got "
                       f"{build.dockerfile or 'Dockerfile'!r}); set dockerfile relative to "
                       f"{build.context!r}")
    return out


REQUIRED_ROLES = ("couchdb", "zookeeper", "kafka", "controller", "invoker", "edge")
SCHEDULER_ROLES = ("etcd", "scheduler")
SINGLE_ROLES = ("couchdb", "edge")


def _free_ids(taken: set[int]):
    """The ids not in `taken`, lowest first."""
    n = 0
    while True:
        if n not in taken:
            yield n
        n += 1


def _host_checks(hosts: tuple[Host, ...], mode: str | None,
                 store: ActivationStore | None) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:hosts"
    if not hosts:
        return [f"{where}: no hosts (got none); list at least one host with its name, address "
                f"and roles"]
    for field in ("name", "address"):
        seen: dict[str, int] = {}
        for i, h in enumerate(hosts):
            value = getattr(h, field)
            if value.lower() in seen:
                out.append(f"{where}[{i}].{field}: hosts[{seen[value.lower()]}] has the same "
                           f"{field} (got {value!r}); give every host a unique {field}")
            seen.setdefault(value.lower(), i)
    if len(hosts) > 1:
        free = _free_ids({h.id for h in hosts if h.id is not None})
        ids: dict[int, int] = {}
        for i, h in enumerate(hosts):
            if h.id is None:
                out.append(f"{where}[{i}].id: required when the stack has several hosts (got none); "
                           f"give host {h.name!r} a number that never changes, e.g. {next(free)}")
            elif h.id in ids:
                out.append(f"{where}[{i}].id: hosts[{ids[h.id]}] has the same id (got {h.id}); "
                           f"give every host a unique id, e.g. {next(free)}")
            else:
                ids[h.id] = i
    out += _role_id_checks(hosts)
    # Checked here, not on the field, so that a too-small override on one host does not hide the
    # stem-cell rule's findings on the others (which needs the hosts section valid).
    out += [f"{where}[{i}].user_memory_mb: must be at least {MIN_MEMORY_MB} (got {h.user_memory_mb}); "
            f"set it with pulumi config set --path 'hosts[{i}].user_memory_mb' <integer>"
            for i, h in enumerate(hosts)
            if h.user_memory_mb is not None and h.user_memory_mb < MIN_MEMORY_MB]
    present = [r for r in get_args(Role) if any(r in h.roles for h in hosts)]
    needed = [(r, "every stack needs") for r in REQUIRED_ROLES]
    if mode == "scheduler":
        needed += [(r, "scheduler mode needs") for r in SCHEDULER_ROLES]
    for role, why in needed:
        if role not in present:
            out.append(f"{where}: no host has the role {role!r}, which {why} (got roles "
                       f"{', '.join(present)}); add {role!r} to the roles of one host")
    for role in SINGLE_ROLES:
        carriers = [repr(h.name) for h in hosts if role in h.roles]
        if len(carriers) > 1:
            out.append(f"{where}: role {role!r} is on {len(carriers)} hosts (got hosts "
                       f"{', '.join(carriers)}); keep it on exactly one host")
    if mode == "classic":
        for i, h in enumerate(hosts):
            for role in SCHEDULER_ROLES:
                if role in h.roles:
                    out.append(f"{where}[{i}].roles: role {role!r} is used only in scheduler mode, "
                               f"but the stack runs in classic mode (got {role!r}); remove the role "
                               f"or set version.mode: scheduler")
    for role in ("zookeeper", "etcd"):
        carriers = [repr(h.name) for h in hosts if role in h.roles]
        n = len(carriers)
        if n % 2 == 0 and n:
            out.append(f"{where}: an even number of hosts have the role {role!r}, but a quorum needs "
                       f"an odd number (got {n} hosts: {', '.join(carriers)}); give the role to "
                       f"{n - 1} or {n + 1} hosts")
    if store is not None:
        es_hosts = [i for i, h in enumerate(hosts) if "elasticsearch" in h.roles]
        if store.backend == "elasticsearch" and not es_hosts:
            out.append(f"{NAMESPACE}:activation_store.backend: no host has the role "
                       f"'elasticsearch' (got 'elasticsearch'); add 'elasticsearch' to the roles "
                       f"of one host or use backend: couchdb")
        if store.backend == "couchdb":
            out += [f"{where}[{i}].roles: role 'elasticsearch' is used only with "
                    f"activation_store.backend: elasticsearch (got backend 'couchdb'); remove the "
                    f"role or set activation_store.backend: elasticsearch" for i in es_hosts]
    out += _invoker_id_checks(hosts)
    return out


#: Roles whose service takes its id from the host id, with the highest id it accepts and why.
ROLE_ID_LIMITS = {
    "zookeeper": (254, "ZooKeeper's myid is the host id plus one and at most 255"),
}


def _role_id_checks(hosts: tuple[Host, ...]) -> list[str]:
    """Host ids are otherwise unbounded; only the roles that turn them into a service id limit them."""
    out: list[str] = []
    taken = {h.id for h in hosts if h.id is not None}
    for i, h in enumerate(hosts):
        for role, (most, why) in ROLE_ID_LIMITS.items():
            if role in h.roles and h.id is not None and h.id > most:
                free = next(_free_ids(taken))
                fix = (f"give host {h.name!r} a free id from 0 to {most}, e.g. {free}" if free <= most
                       else f"move the role {role!r} to a host with an id from 0 to {most}")
                out.append(f"{NAMESPACE}:hosts[{i}].id: host {h.name!r} has the role {role!r}: "
                           f"{why} (got {h.id}); {fix}")
    return out


def _invoker_id_checks(hosts: tuple[Host, ...]) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:hosts"
    carriers = [(i, h) for i, h in enumerate(hosts) if "invoker" in h.roles]
    free = _free_ids({n for _, h in carriers for n in (h.invoker_ids or ())})
    owner: dict[int, int] = {}
    for i, h in enumerate(hosts):
        if h.invoker_ids is not None and "invoker" not in h.roles:
            out.append(f"{where}[{i}].invoker_ids: host {h.name!r} has no 'invoker' role (got "
                       f"{list(h.invoker_ids)}); add the role or remove invoker_ids")
    for i, h in carriers:
        for n in h.invoker_ids or ():
            if n in owner:
                out.append(f"{where}[{i}].invoker_ids: invoker id {n} is also on "
                           f"hosts[{owner[n]}] (got {list(h.invoker_ids or ())}); give every "
                           f"invoker its own id, e.g. {next(free)}")
            owner.setdefault(n, i)
    if len(carriers) > 1:
        for i, h in carriers:
            if h.invoker_ids is None:
                out.append(f"{where}[{i}].invoker_ids: required when several hosts run invokers "
                           f"(got none); ids stay with their host, so set e.g. [{next(free)}]")
    return out


def _memory_checks(hosts: tuple[Host, ...], invoker: Invoker, manifest: runtimes.Manifest,
                   manifest_path: str) -> list[str]:
    need = runtimes.stem_cell_memory_mb(manifest)
    short: dict[str, list[str]] = {}  # config path -> names of the invoker hosts it leaves short
    for i, h in enumerate(hosts):
        have = invoker.user_memory_mb if h.user_memory_mb is None else h.user_memory_mb
        if "invoker" in h.roles and need > have >= MIN_MEMORY_MB:
            where = "invoker.user_memory_mb" if h.user_memory_mb is None else f"hosts[{i}].user_memory_mb"
            short.setdefault(where, []).append(h.name)
    out = []
    for where, names in short.items():
        have = invoker.user_memory_mb if where.startswith("invoker.") else \
            hosts[int(where[6:where.index("]")])].user_memory_mb
        out.append(f"{NAMESPACE}:{where}: less than the {need} MB that the stem cells of the "
                   f"runtime manifest take when an invoker starts on host"
                   f"{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} (got "
                   f"{have}); raise it to at least {need} or lower stemCells in {manifest_path}")
    return out
