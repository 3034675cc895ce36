"""KubernetesInvokerRbac: what the invokers' KubernetesContainerFactory may do, and nothing more.

Creates the invokers' ServiceAccount, a Role in their namespace holding exactly the planned rules
(rights on pods and pods/log, each explained in planner/kubernetes.py POD_VERBS; no cluster-wide
rights, no other resources) and the RoleBinding between them, all named as the plan says. Invokers
with the docker container factory get none of this. Exposes `service_account` (its name).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from planner.model import InvokerRbac


@dataclass(frozen=True, kw_only=True)
class KubernetesInvokerRbacArgs:
    rbac: InvokerRbac
    namespace: pulumi.Input[str]


class KubernetesInvokerRbac(pulumi.ComponentResource):
    service_account: pulumi.Output[str]

    def __init__(self, name: str, args: KubernetesInvokerRbacArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:KubernetesInvokerRbac", name, None, opts)
        rbac = args.rbac
        child = pulumi.ResourceOptions(parent=self)
        meta = {"name": rbac.name, "namespace": args.namespace, "labels": dict(rbac.labels)}
        account = k8s.core.v1.ServiceAccount(name, metadata=meta, opts=child)
        role = k8s.rbac.v1.Role(name, metadata=meta, rules=[
            {"api_groups": list(r.api_groups), "resources": list(r.resources),
             "verbs": list(r.verbs)} for r in rbac.rules], opts=child)
        k8s.rbac.v1.RoleBinding(
            name, metadata=meta,
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role",
                      "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": account.metadata.name,
                       "namespace": args.namespace}], opts=child)
        self.service_account = account.metadata.name
        self.register_outputs({"service_account": self.service_account})
