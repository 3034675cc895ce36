"""KubernetesService: one planned service as Kubernetes objects.

For each planned container, the workload the plan names (a single-replica StatefulSet with its
claim templates, kept as first made, see CLAIM_TEMPLATES; a Job for a one-shot step, a Deployment
for the edge, a DaemonSet for docker-factory invokers), with an auto-named Secret holding its
secret environment values and secret files (read with secretKeyRef and mounted with subPath) and
an auto-named ConfigMap for its plain files: a changed value gets a new name, which rolls the pods.
Then the service's Services (explicitly named, as DNS reaches them) and its PodDisruptionBudget.
Each workload waits for the workloads it depends on, which Pulumi considers created only once
ready (Jobs: complete), so the plan's dependencies order the start. Exposes `workloads` (container
key -> workload).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._values import resolve, rolling
from planner import env as jvm
from planner.model import (
    ConfigMapRef, Container, FieldRef, Health, KubeBudget, KubernetesPlan, KubeService,
    KubeWorkload, Secret, Service,
)

JOB_TIMEOUT = "20m"
JOB_RETRIES = 4
DOCKER_CONFIG_DIR = "/ow-docker"
CLAIM_TEMPLATES = "spec.volumeClaimTemplates"
"""The StatefulSet property whose changes are ignored, by its name on the wire (the engine
matches ignore_changes paths against the camelCase inputs)."""


@dataclass(frozen=True, kw_only=True)
class KubernetesServiceArgs:
    service: Service
    kube: KubernetesPlan
    namespace: pulumi.Input[str]
    images: Mapping[str, pulumi.Input[str]]
    """Image key -> reference: a pinned tag, or a registry digest."""
    secrets: Mapping[str, pulumi.Output[str]]
    config_maps: Mapping[str, pulumi.Input[str]]
    """Logical name -> name of the namespace-wide ConfigMap (for ConfigMapRef values)."""
    after: Mapping[str, pulumi.Resource]
    """Container key -> workload of services declared earlier, for depends_on."""
    digests: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    pull_secret: pulumi.Input[str] | None = None
    """Name of the image pull Secret every pod uses, if any."""
    ready: Sequence[pulumi.Resource] = ()
    """What every workload waits for besides its dependencies (the invokers' RBAC)."""
    deployed: pulumi.Input[Sequence[str] | None] = None
    """Ids of the quorum members the last deployment ran (Container.member_id); None: none."""


class KubernetesService(pulumi.ComponentResource):
    workloads: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: KubernetesServiceArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:KubernetesService", name, None, opts)
        kube = args.kube
        self.workloads = {}
        for c in args.service.containers:
            deps = [self.workloads.get(k) or args.after[k] for k in c.depends_on]
            self.workloads[c.key] = self._workload(c, kube.workloads[c.key], args, rolling(
                c, deps + list(args.ready), self.workloads, args.deployed))
        child = pulumi.ResourceOptions(parent=self)
        for svc in kube.services.get(args.service.name, ()):
            # Headless Services come first (quorum members and brokers resolve each other before
            # they can be ready; the provider does not await them), and so do Services that pods
            # address by name, unawaited. The others are awaited until they have endpoints (and a
            # load balancer its address), so they follow their pods.
            first = svc.type is None or svc.early
            meta = _meta(svc.name, args, svc.labels)
            if svc.type is not None and svc.early:
                meta["annotations"] = {"pulumi.com/skipAwait": "true"}
            k8s.core.v1.Service(_short(svc.name, kube), metadata=meta, spec=service_spec(svc),
                                opts=pulumi.ResourceOptions(
                                    parent=self,
                                    depends_on=None if first else list(self.workloads.values())))
        budget = kube.budgets.get(args.service.name)
        if budget is not None:
            k8s.policy.v1.PodDisruptionBudget(
                _short(budget.name, kube), metadata=_meta(budget.name, args, budget.labels),
                spec=budget_spec(budget), opts=child)
        self.register_outputs({"workloads": {k: w.metadata.name for k, w in self.workloads.items()}})

    def _workload(self, c: Container, w: KubeWorkload, args: KubernetesServiceArgs,
                  depends_on: pulumi.Input[list[pulumi.Resource]]) -> pulumi.CustomResource:
        child = pulumi.ResourceOptions(parent=self)
        labels = dict(w.labels)
        secret_data = {key: resolve(value, args.secrets, args.digests)
                       for key, value in _secret_entries(c)}
        secret = secret_data and k8s.core.v1.Secret(
            f"{c.key}-secrets", metadata=_meta(None, args, w.labels), string_data=secret_data,
            opts=child).metadata.name
        plain_files = {_file_key(f.path): f.content for f in c.files if isinstance(f.content, str)}
        files = plain_files and k8s.core.v1.ConfigMap(
            f"{c.key}-files", metadata=_meta(None, args, w.labels), data=plain_files,
            opts=child).metadata.name
        template = {"metadata": {"labels": labels},
                    "spec": pod_spec(c, w, args, secret or None, files or None)}
        meta = _meta(w.name, args, w.labels)
        opts = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        selector = {"match_labels": dict(w.selector)}
        if w.kind == "Job":
            return k8s.batch.v1.Job(c.key, metadata=meta, spec={
                # No ttlSecondsAfterFinished: a Job Kubernetes deletes would be re-created by the
                # next refresh. The name changes with the inputs, so a finished Job stays done.
                "backoff_limit": JOB_RETRIES, "template": template,
            }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                custom_timeouts=pulumi.CustomTimeouts(create=JOB_TIMEOUT, update=JOB_TIMEOUT))))
        if w.kind == "Deployment":
            return k8s.apps.v1.Deployment(c.key, metadata=meta, spec={
                "replicas": 1, "selector": selector, "template": template,
                "strategy": {"type": "RollingUpdate",
                             "rolling_update": {"max_surge": 1, "max_unavailable": 0}},
            }, opts=opts)
        if w.kind == "DaemonSet":
            return k8s.apps.v1.DaemonSet(c.key, metadata=meta, spec={
                "selector": selector, "template": template,
                "update_strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 1}},
            }, opts=opts)
        claims = claim_templates(c, args)
        if claims:
            # Kubernetes cannot change a StatefulSet's claim templates, so a new storage class or
            # size would replace it (restarting its pod). Pulumi keeps the templates it was made
            # with instead: the new values reach only claims made from then on (new instances),
            # and the program warns when they differ from the last deployment's (__main__.py).
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                ignore_changes=[CLAIM_TEMPLATES]))
        return k8s.apps.v1.StatefulSet(c.key, metadata=meta, spec={
            "service_name": w.service_name, "replicas": 1, "selector": selector,
            "template": template, "update_strategy": {"type": "RollingUpdate"},
            "volume_claim_templates": claims,
            # Claims outlive the StatefulSet: deleting or replacing it keeps the data.
            "persistent_volume_claim_retention_policy": {"when_deleted": "Retain",
                                                         "when_scaled": "Retain"},
        }, opts=opts)


# --------------------------------------------------------------------------------------------
# Spec builders (pure functions of the plan, apart from the Outputs they are handed)


def _short(name: str, kube: KubernetesPlan) -> str:
    """Logical name of a named object: its name without the release prefix, so that the URNs stay
    the same whatever the release."""
    return name.removeprefix(f"{kube.release}-")


def _meta(name: str | None, args: KubernetesServiceArgs,
          labels: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": args.namespace, "labels": dict(labels)}
    if name is not None:
        meta["name"] = name
    return meta


def _file_key(path: str) -> str:
    return PurePosixPath(path).name


def _secret_entries(c: Container) -> list[tuple[str, Secret]]:
    """(Secret key, value) of every secret env value and secret file of a container."""
    out = [(k, v) for k, v in c.env if isinstance(v, Secret)]
    out += [(_file_key(f.path), f.content) for f in c.files if isinstance(f.content, Secret)]
    keys = [k for k, _ in out]
    assert len(set(keys)) == len(keys), f"{c.key}: secret keys collide: {keys}"
    return out  # type: ignore[return-value]


def env_entries(c: Container, secret: pulumi.Input[str] | None,
                config_maps: Mapping[str, pulumi.Input[str]],
                digests: Mapping[str, pulumi.Output[str]]) -> list[dict[str, Any]]:
    """The container's env: plain values inline, secrets by secretKeyRef, namespace-wide values
    by configMapKeyRef, pod fields by fieldRef."""
    out: list[dict[str, Any]] = []
    for key, value in c.env:
        if isinstance(value, Secret):
            out.append({"name": key, "value_from": {"secret_key_ref": {"name": secret, "key": key}}})
        elif isinstance(value, ConfigMapRef):
            out.append({"name": key, "value_from": {"config_map_key_ref": {
                "name": config_maps[value.name], "key": value.key}}})
        elif isinstance(value, FieldRef):
            out.append({"name": key, "value_from": {"field_ref": {"field_path": value.path}}})
        else:
            out.append({"name": key, "value": resolve(value, {}, digests)})
    return out


PING_CHECK = {"http_get": {"path": "/ping", "port": jvm.JVM_PORT}}
"""The JVM components' probe: their HTTP port answers GET /ping."""


def readiness_probe(c: Container) -> dict[str, Any] | None:
    """The planned health check as a readiness probe: JVM components answer GET /ping; other
    checks run as they do on Docker; without one, the first port must accept connections."""
    timing = {"period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 3}
    health: Health | None = c.health
    if health is not None and health != jvm.PING:
        kind, *cmd = health.test
        command = ["/bin/sh", "-c", cmd[0]] if kind == "CMD-SHELL" else cmd
        return {"exec": {"command": command}, **timing}
    check = PING_CHECK if health == jvm.PING else liveness_check(c)
    return None if check is None else {**check, **timing}


def liveness_check(c: Container) -> dict[str, Any] | None:
    """What shows that the process itself still answers: GET /ping for the JVM components, else
    the first port accepting connections. Never the readiness check, which may wait for other
    services (a ZooKeeper member waiting for its quorum must not be restarted for it)."""
    if c.one_shot:
        return None
    if c.health == jvm.PING:
        return PING_CHECK
    if c.ports:
        return {"tcp_socket": {"port": c.ports[0].container}}
    return None


def liveness_probes(c: Container) -> dict[str, Any]:
    """The liveness probe (restart after a minute without an answer) and the startup probe that
    holds it off for up to ten minutes while the container starts (JVMs, a store replaying its
    log)."""
    check = liveness_check(c)
    if check is None:
        return {}
    return {"startup_probe": {**check, "period_seconds": 10, "timeout_seconds": 5,
                              "failure_threshold": 60},
            "liveness_probe": {**check, "period_seconds": 20, "timeout_seconds": 5,
                               "failure_threshold": 3}}


def resources_spec(w: KubeWorkload) -> dict[str, Any] | None:
    r = w.resources
    if r is None:
        return None
    limits = {"memory": r.memory} | ({"cpu": r.cpu_limit} if r.cpu_limit else {})
    return {"requests": {"cpu": r.cpu, "memory": r.memory}, "limits": limits}


def affinity_spec(w: KubeWorkload) -> dict[str, Any] | None:
    """Keeps the instances of a role on different nodes (by hostname), as a rule or a preference."""
    if not w.spread:
        return None
    term = {"label_selector": {"match_labels": dict(w.spread)}, "topology_key": "kubernetes.io/hostname"}
    if w.spread_required:
        rule = {"required_during_scheduling_ignored_during_execution": [term]}
    else:
        rule = {"preferred_during_scheduling_ignored_during_execution": [
            {"weight": 100, "pod_affinity_term": term}]}
    return {"pod_anti_affinity": rule}


def pod_spec(c: Container, w: KubeWorkload, args: KubernetesServiceArgs,
             secret: pulumi.Input[str] | None, files: pulumi.Input[str] | None) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for f in c.files:
        volume = "secrets" if isinstance(f.content, Secret) else "files"
        mounts.append({"name": volume, "mount_path": f.path, "sub_path": _file_key(f.path),
                       "read_only": True})
    if secret is not None and any(isinstance(f.content, Secret) for f in c.files):
        volumes.append({"name": "secrets", "secret": {"secret_name": secret, "items": [
            {"key": _file_key(f.path), "path": _file_key(f.path)}
            for f in c.files if isinstance(f.content, Secret)]}})
    if files is not None:
        volumes.append({"name": "files", "config_map": {"name": files}})
    for i, m in enumerate(c.mounts):
        if m.volume:
            mounts.append({"name": _claim(m.volume, args), "mount_path": m.target})
        else:
            volumes.append({"name": f"host-{i}", "host_path": {"path": m.host_path}})
            mounts.append({"name": f"host-{i}", "mount_path": m.target,
                           "read_only": m.read_only or None})
    container: dict[str, Any] = {
        "name": w.component, "image": args.images[c.image],
        "env": env_entries(c, secret, args.config_maps, args.digests) or None,
        "command": list(c.entrypoint) or None, "args": list(c.command) or None,
        "ports": [{"name": p.name, "container_port": p.container} for p in c.ports] or None,
        "volume_mounts": mounts or None, "readiness_probe": readiness_probe(c),
        **liveness_probes(c), "resources": resources_spec(w),
        "security_context": {"privileged": True} if c.privileged else None,
    }
    spec: dict[str, Any] = {
        "containers": [container], "volumes": volumes or None,
        # Service links would add <SERVICE>_PORT variables, which images that read every
        # KAFKA_* or ZOO_* variable take as settings.
        "enable_service_links": False,
        "service_account_name": w.service_account,
        "automount_service_account_token": w.service_account is not None,
        "host_pid": c.host_pid or None,
        "node_selector": dict(w.node_selector) or None,
        "tolerations": [{k: v for k, v in asdict(t).items() if v is not None}
                        for t in w.tolerations] or None,
        "affinity": affinity_spec(w),
        "image_pull_secrets": [{"name": args.pull_secret}] if args.pull_secret else None,
    }
    if c.one_shot:
        spec["restart_policy"] = "Never"  # failed attempts stay, with their logs
    if w.fs_group is not None:
        spec["security_context"] = {"fs_group": w.fs_group,
                                    "fs_group_change_policy": "OnRootMismatch"}
    init = [sysctl_container(c, w, args)] if w.node_sysctls else []
    if w.pull_images:
        init.append(pull_container(c, w, args))
        if args.pull_secret:
            volumes.append({"name": "docker-config", "secret": {
                "secret_name": args.pull_secret,
                "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}})
            spec["volumes"] = volumes
    if init:
        spec["init_containers"] = init
    return spec


def sysctl_container(c: Container, w: KubeWorkload, args: KubernetesServiceArgs) -> dict[str, Any]:
    """Raises node kernel settings to the minimum the image needs, never lowers them (a node whose
    administrator chose a higher value keeps it). Runs the workload's own image, privileged."""
    script = "set -e\n" + "".join(
        f'[ "$(cat /proc/sys/{key.replace(".", "/")})" -ge {value} ] || '
        f'echo {value} > /proc/sys/{key.replace(".", "/")}\n' for key, value in w.node_sysctls)
    return {"name": "sysctl", "image": args.images[c.image], "command": ["/bin/sh", "-c", script],
            "security_context": {"privileged": True}}


def pull_container(c: Container, w: KubeWorkload, args: KubernetesServiceArgs) -> dict[str, Any]:
    """Pulls the runtime images with the node's Docker daemon before the invoker starts: the
    invoker never pulls managed runtime images itself."""
    refs = [args.images[k] for k in w.pull_images]
    socket = next(i for i, m in enumerate(c.mounts) if m.target == "/var/run/docker.sock")
    mounts = [{"name": f"host-{socket}", "mount_path": "/var/run/docker.sock"}]
    env = None
    if args.pull_secret:
        mounts.append({"name": "docker-config", "mount_path": DOCKER_CONFIG_DIR, "read_only": True})
        env = [{"name": "DOCKER_CONFIG", "value": DOCKER_CONFIG_DIR}]
    return {"name": "pull-runtimes", "image": args.images[c.image], "env": env,
            "command": ["/bin/sh", "-c", 'for image in "$@"; do docker pull "$image" || exit 1; done',
                        "pull-runtimes", *refs],
            "volume_mounts": mounts}


def _claim(volume_key: str, args: KubernetesServiceArgs) -> str:
    return next(v.name for v in args.service.volumes if v.key == volume_key)


def claim_templates(c: Container, args: KubernetesServiceArgs) -> list[dict[str, Any]] | None:
    keys = [m.volume for m in c.mounts if m.volume]
    claims = [v for v in args.service.volumes if v.key in keys]
    return [{"metadata": {"name": v.name, "labels": dict(args.kube.workloads[c.key].labels)},
             "spec": {"access_modes": ["ReadWriteOnce"], "storage_class_name": args.kube.storage_class,
                      "resources": {"requests": {"storage": v.size}}}}
            for v in claims] or None


def service_spec(svc: KubeService) -> dict[str, Any]:
    ports = [{"name": p.name, "port": p.port, "target_port": p.target, "node_port": p.node_port}
             for p in svc.ports]
    if svc.type is None:
        # Headless: DNS names for the pods, published before they are ready, since quorum
        # members and brokers must find each other to become ready at all.
        return {"cluster_ip": "None", "publish_not_ready_addresses": True,
                "selector": dict(svc.selector), "ports": ports}
    return {"type": svc.type, "selector": dict(svc.selector), "ports": ports}


def budget_spec(budget: KubeBudget) -> dict[str, Any]:
    return {"max_unavailable": budget.max_unavailable,
            "selector": {"match_labels": dict(budget.selector)}}
