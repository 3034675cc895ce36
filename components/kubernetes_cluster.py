"""KubernetesCluster: the connection to the cluster and the namespace-wide objects.

Creates the explicit `kubernetes.Provider` (context and kubeconfig from the plan, the namespace as
its default, and with a context `cluster_identifier` so that only a change of context replaces it), the Namespace
(retained: deleting a namespace deletes every claim in it), the image pull Secret of the private
registry (`kubernetes.io/dockerconfigjson`) when there is one, one auto-named ConfigMap per
namespace-wide value (the runtime manifest), so that a changed value rolls the pods that read it,
and the planned NetworkPolicies (planner/netpol.py).
Exposes `provider`, `namespace` (its name, an Output that orders objects after the Namespace),
`pull_secret` and `config_maps` (logical name -> ConfigMap name).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components._values import RegistryAuth, resolve
from planner.model import KubeNetworkPolicy, KubePeer, KubeRule, KubernetesPlan


@dataclass(frozen=True, kw_only=True)
class KubernetesClusterArgs:
    plan: KubernetesPlan
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret name -> secret Output, for values built from secrets."""
    digests: Mapping[str, pulumi.Output[str]]
    """Image key -> digest, for values that name images by digest (the runtime manifest)."""
    registry: RegistryAuth | None = None
    """Credentials of the private registry; the pull Secret is declared only with them."""


class KubernetesCluster(pulumi.ComponentResource):
    provider: k8s.Provider
    namespace: pulumi.Output[str]
    pull_secret: pulumi.Output[str] | None
    config_maps: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: KubernetesClusterArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:KubernetesCluster", name, None, opts)
        plan = args.plan
        labels = dict(plan.labels)
        self.provider = k8s.Provider(
            "kubernetes", context=plan.context, kubeconfig=plan.kubeconfig,
            namespace=plan.namespace, cluster_identifier=plan.cluster_identifier,
            opts=pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)
        namespace = k8s.core.v1.Namespace(
            "namespace", metadata={"name": plan.namespace, "labels": labels},
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(
                retain_on_delete=True)))
        self.namespace = namespace.metadata.name
        self.pull_secret = None
        if plan.pull_secret is not None and args.registry is not None:
            self.pull_secret = k8s.core.v1.Secret(
                "registry-pull-secret", type="kubernetes.io/dockerconfigjson",
                metadata={"name": plan.pull_secret, "namespace": self.namespace,
                          "labels": {**labels, "app.kubernetes.io/component": "pull-secret"}},
                string_data={".dockerconfigjson": _docker_config(args.registry)},
                opts=on_cluster).metadata.name
        self.config_maps = {}
        for logical, entries in plan.config_maps.items():
            self.config_maps[logical] = k8s.core.v1.ConfigMap(
                logical,
                metadata={"namespace": self.namespace,
                          "labels": {**labels, "app.kubernetes.io/component": logical}},
                data={key: resolve(value, args.secrets, args.digests) for key, value in entries},
                opts=on_cluster).metadata.name
        for policy in plan.network_policies:
            k8s.networking.v1.NetworkPolicy(
                f"netpol-{policy.name}",
                metadata={"name": policy.name, "namespace": self.namespace,
                          "labels": dict(policy.labels)},
                spec=_policy_spec(policy), opts=on_cluster)
        self.register_outputs({"namespace": self.namespace, "config_maps": self.config_maps})


def _policy_spec(policy: KubeNetworkPolicy) -> dict:
    def peer(p: KubePeer) -> dict:
        if p.cidr is not None:
            return {"ipBlock": {"cidr": p.cidr, **({"except": list(p.excepted)} if p.excepted else {})}}
        if p.all_namespaces:
            return {"namespaceSelector": {}}
        return {"podSelector": {"matchLabels": dict(p.pods)}}

    def rules(rs: tuple[KubeRule, ...], side: str) -> list[dict]:
        return [{side: [peer(p) for p in r.peers],
                 **({"ports": [{"protocol": pr, "port": n} for pr, n in r.ports]} if r.ports else {})}
                for r in rs]
    spec = {"podSelector": {"matchLabels": dict(policy.selector)},
            "policyTypes": ["Ingress", *(["Egress"] if policy.egress is not None else [])],
            "ingress": rules(policy.ingress, "from")}
    if policy.egress is not None:
        spec["egress"] = rules(policy.egress, "to")
    return spec


def _docker_config(reg: RegistryAuth) -> pulumi.Output[str]:
    """A Docker config.json holding the registry login; a secret."""
    def render(password: str) -> str:
        auth = base64.b64encode(f"{reg.username}:{password}".encode()).decode()
        return json.dumps({"auths": {reg.address: {"username": reg.username, "password": password,
                                                    "auth": auth}}}, sort_keys=True)
    return pulumi.Output.secret(pulumi.Output.from_input(reg.password).apply(render))
