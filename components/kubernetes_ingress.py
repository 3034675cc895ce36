"""KubernetesIngress: the edge behind an Ingress, which terminates TLS with the edge certificate.

Creates the `kubernetes.io/tls` Secret holding the edge certificate and key (auto-named, so a new
certificate is a new Secret the Ingress switches to) and the Ingress for the planned host, routing
every path to the edge's plain-HTTP backend Service. The Ingress is not awaited: whether and when
an ingress controller publishes an address differs between controllers. Exposes `host`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from planner.model import IngressPlan


@dataclass(frozen=True, kw_only=True)
class KubernetesIngressArgs:
    ingress: IngressPlan
    namespace: pulumi.Input[str]
    certificate: pulumi.Input[str]
    """PEM certificate of the edge (for the ingress host)."""
    private_key: pulumi.Input[str]
    """PEM private key of the certificate; a secret."""


class KubernetesIngress(pulumi.ComponentResource):
    host: pulumi.Output[str]

    def __init__(self, name: str, args: KubernetesIngressArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:KubernetesIngress", name, None, opts)
        plan = args.ingress
        child = pulumi.ResourceOptions(parent=self)
        labels = dict(plan.labels)
        tls = k8s.core.v1.Secret(
            f"{name}-tls", type="kubernetes.io/tls",
            metadata={"namespace": args.namespace, "labels": labels},
            string_data={"tls.crt": args.certificate,
                         "tls.key": pulumi.Output.secret(args.private_key)}, opts=child)
        k8s.networking.v1.Ingress(name, metadata={
            "name": plan.name, "namespace": args.namespace, "labels": labels,
            "annotations": {"pulumi.com/skipAwait": "true"},
        }, spec={
            "ingress_class_name": plan.class_name,
            "tls": [{"hosts": [plan.host], "secret_name": tls.metadata.name}],
            "rules": [{"host": plan.host, "http": {"paths": [{
                "path": "/", "path_type": "Prefix",
                "backend": {"service": {"name": plan.service, "port": {"name": plan.port}}},
            }]}}],
        }, opts=child)
        self.host = pulumi.Output.from_input(plan.host)
        self.register_outputs({"host": self.host})
