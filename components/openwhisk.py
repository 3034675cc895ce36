"""OpenWhisk: the composition root that declares a whole deployment from its plan.

Creates the Secrets, then by the plan's platform either the Docker rendering (a HostPrep for each
host with preparation steps, one DockerHost per host, the private registry and image pipeline when
the plan has one, one DockerService per planned service in dependency order, then the
Verification when the plan has one) or the Kubernetes rendering (the image pipeline on the
builder when there is a registry, the KubernetesCluster, the invokers' RBAC, one
KubernetesService per planned service in dependency order, and the Ingress). Exposes the API host,
the `wskprops` file contents (secret), the guest and system auth keys (secret), each tenant
namespace's key and wskprops (secret), the CouchDB admin login (secret), the edge
certificate, every component's endpoint and the image references in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from components._values import RegistryAuth
from components.docker_host import DockerHost, DockerHostArgs
from components.docker_service import DockerService, DockerServiceArgs
from components.host_prep import HostPrep, HostPrepArgs
from components.image_pipeline import ImagePipeline, ImagePipelineArgs
from components.kubernetes_cluster import KubernetesCluster, KubernetesClusterArgs
from components.kubernetes_ingress import KubernetesIngress, KubernetesIngressArgs
from components.kubernetes_invoker_rbac import KubernetesInvokerRbac, KubernetesInvokerRbacArgs
from components.kubernetes_service import KubernetesService, KubernetesServiceArgs
from components.secrets import Secrets, SecretsArgs
from components.verification import Verification, VerificationArgs
from planner import COUCHDB_ADMIN_USER, monitoring
from planner.model import KubernetesPlan, Plan, Service


@dataclass(frozen=True, kw_only=True)
class OpenWhiskArgs:
    plan: Plan
    supplied_secrets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secrets read from the stack config (the rest are generated)."""
    stack: str = "openwhisk"
    """Stack name, shown in the wskprops comment line."""
    deployed: pulumi.Input[Sequence[str] | None] = None
    """Ids of the quorum members the last deployment ran (planner.quorum_members), so that
    they roll one at a time (Container.rolls_after); None for a new stack."""


class OpenWhisk(pulumi.ComponentResource):
    api_host: pulumi.Output[str]
    wskprops: pulumi.Output[str]
    guest_auth: pulumi.Output[str]
    system_auth: pulumi.Output[str]
    couchdb_admin: pulumi.Output[dict]
    namespaces: pulumi.Output[dict]
    edge_certificate: pulumi.Output[str]
    endpoints: dict[str, object]
    images: dict[str, pulumi.Input[str]]

    def __init__(self, name: str, args: OpenWhiskArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:OpenWhisk", name, None, opts)
        plan = args.plan
        child = pulumi.ResourceOptions(parent=self)
        secrets = Secrets("secrets", SecretsArgs(specs=plan.secrets, supplied=args.supplied_secrets,
                                                 stack=args.stack), opts=child)
        # Supplied secrets that are not generated ones (the ssh key) are used as they are.
        values = {**{k: pulumi.Output.secret(v) for k, v in args.supplied_secrets.items()},
                  **secrets.values}
        reg = plan.registry
        auth = reg and RegistryAuth(address=reg.address, username=reg.username,
                                    password=secrets.values["registry_password"])
        self.images = {i.key: i.ref for i in plan.images}
        if plan.kubernetes is not None:
            self._declare_kubernetes(plan, plan.kubernetes, values, auth, args.deployed)
        else:
            self._declare_docker(plan, values, auth, args.deployed)

        self.api_host = pulumi.Output.from_input(str(plan.endpoints["apiHost"]))
        self.guest_auth = secrets.values["guest_auth"]
        self.system_auth = secrets.values["system_auth"]
        # For operators (wskadmin, backups): secret as a whole, like the keys.
        self.couchdb_admin = pulumi.Output.secret({
            "url": plan.endpoints["couchdb"], "username": COUCHDB_ADMIN_USER,
            "password": secrets.values["couchdb_admin_password"]})
        # Monitoring (when on): Grafana's URL and its generated admin login, secret as a whole.
        self.grafana = pulumi.Output.secret({
            "url": plan.endpoints["grafana"], "username": monitoring.ADMIN_USER,
            "password": secrets.values["grafana_admin_password"]}) \
            if "grafana" in plan.endpoints else None
        self.edge_certificate = pulumi.Output.unsecret(secrets.values["edge_tls_cert"])
        self.endpoints = plan.endpoints
        note = (f"# OpenWhisk stack {args.stack}: the edge certificate is self-signed, so run wsk "
                f"with -i (--insecure)\n" if plan.insecure_tls else "")

        def wskprops(auth: pulumi.Output[str], *more: str) -> pulumi.Output[str]:
            return pulumi.Output.concat(note, "APIHOST=", plan.endpoints["apiHost"], "\nAUTH=",
                                        auth, "\n", *more)

        self.wskprops = pulumi.Output.secret(wskprops(self.guest_auth))
        # Each tenant's key and a ready wskprops for it: secret as a whole.
        self.namespaces = pulumi.Output.secret({
            name: {"auth": secrets.values[key],
                   "wskprops": wskprops(secrets.values[key], f"NAMESPACE={name}\n")}
            for name, key in plan.namespaces})
        self.register_outputs({
            "api_host": self.api_host, "wskprops": self.wskprops, "guest_auth": self.guest_auth,
            "system_auth": self.system_auth, "couchdb_admin": self.couchdb_admin,
            "namespaces": self.namespaces, "grafana": self.grafana,
            "edge_certificate": self.edge_certificate,
            "endpoints": self.endpoints, "images": self.images,
        })

    def _declare_docker(self, plan: Plan, values: dict[str, pulumi.Output[str]],
                        auth: RegistryAuth | None,
                        deployed: pulumi.Input[Sequence[str] | None]) -> None:
        """Hosts (preparation, Docker providers), the registry and image pipeline, a DockerService
        per planned service in dependency order, then the verification."""
        child = pulumi.ResourceOptions(parent=self)
        reg = plan.registry
        preps = {h.name: HostPrep(h.name, HostPrepArgs(host=h, secrets=values), opts=child)
                 for h in plan.hosts if h.prep}
        hosts = {h.name: DockerHost(h.name, DockerHostArgs(host=h, ready=preps.get(h.name)),
                                    opts=child) for h in plan.hosts}
        declared: dict[str, pulumi.Resource] = {}
        digests: dict[str, pulumi.Output[str]] = {}
        logins: dict[str, pulumi.Resource] = {}
        local_builds = {i.key: i for i in plan.images if i.inline is not None and i.target is None}

        pulled: dict[tuple[str, str], pulumi.Output[str]] = {}

        def declare(s: Service) -> None:
            service = DockerService(s.name, DockerServiceArgs(
                service=s, hosts=hosts, images=dict(self.images), secrets=values,
                after=dict(declared), digests=digests, deployed=deployed, logins=logins,
                local_builds=local_builds, log_options=dict(plan.log_options),
                pulled=dict(pulled)), opts=child)
            declared.update(service.ready)
            pulled.update(service.image_ids)

        if reg is not None:
            # The registry runs first (from upstream images); the hosts log in once it runs, and
            # every image goes into it; everything else is then pulled by digest, with the logins.
            for s in plan.services:
                if s.name == "registry":
                    declare(s)
            running = [r for k, r in declared.items() if k.startswith("registry-")]
            for h in plan.hosts:
                if h.login:
                    logins[h.name] = HostPrep(f"{h.name}-registry", HostPrepArgs(
                        host=h, secrets=values, steps=h.login, after=running), opts=child)
            build_host = hosts[reg.build_host]
            pipeline = ImagePipeline("images", ImagePipelineArgs(
                images=plan.images, host=build_host.host, secrets=values,
                provider=build_host.provider, registry=reg.address, username=reg.username,
                password=values["registry_password"],
                after=running + [r for r in (build_host.ready, logins.get(reg.build_host)) if r]),
                opts=child)
            self.images |= pipeline.refs
            digests = pipeline.digests
        for s in plan.services:
            if s.name != "registry":
                declare(s)
        if plan.verify is not None:
            Verification("verify", VerificationArgs(
                plan=plan.verify, secrets=values, containers=declared), opts=child)

    def _declare_kubernetes(self, plan: Plan, kube: KubernetesPlan,
                            values: dict[str, pulumi.Output[str]], auth: RegistryAuth | None,
                            deployed: pulumi.Input[Sequence[str] | None]) -> None:
        """The image pipeline on the builder (with a registry), the cluster (provider, namespace,
        pull secret, runtime manifest), the invokers' RBAC, a KubernetesService per planned
        service in dependency order, and the Ingress. No verification on Kubernetes."""
        child = pulumi.ResourceOptions(parent=self)
        digests: dict[str, pulumi.Output[str]] = {}
        if plan.registry is not None:
            host = plan.hosts[0]
            builder = DockerHost(plan.registry.build_host, DockerHostArgs(host=host), opts=child)
            login = HostPrep(f"{host.name}-registry", HostPrepArgs(
                host=host, secrets=values, steps=host.login), opts=child)
            pipeline = ImagePipeline("images", ImagePipelineArgs(
                images=plan.images, host=host, secrets=values, provider=builder.provider,
                registry=plan.registry.address, username=plan.registry.username,
                password=values["registry_password"], after=[login]), opts=child)
            self.images |= pipeline.refs
            digests = pipeline.digests
        cluster = KubernetesCluster("cluster", KubernetesClusterArgs(
            plan=kube, secrets=values, digests=digests, registry=auth), opts=child)
        on_cluster = pulumi.ResourceOptions(parent=self, providers=[cluster.provider])
        ready: list[pulumi.Resource] = []
        if kube.rbac is not None:
            ready.append(KubernetesInvokerRbac("invoker", KubernetesInvokerRbacArgs(
                rbac=kube.rbac, namespace=cluster.namespace), opts=on_cluster))
        declared: dict[str, pulumi.Resource] = {}
        for s in plan.services:
            declared |= KubernetesService(s.name, KubernetesServiceArgs(
                service=s, kube=kube, namespace=cluster.namespace, images=dict(self.images),
                secrets=values, config_maps=cluster.config_maps, after=dict(declared),
                digests=digests, pull_secret=cluster.pull_secret,
                ready=ready if s.name == "invoker" else (), deployed=deployed),
                opts=on_cluster).workloads
        if kube.ingress is not None:
            KubernetesIngress("edge-ingress", KubernetesIngressArgs(
                ingress=kube.ingress, namespace=cluster.namespace,
                certificate=values["edge_tls_cert"], private_key=values["edge_tls_key"]),
                opts=on_cluster)
