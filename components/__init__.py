"""Pulumi components; each declares resources from a slice of the plan and reads no config."""

from components.docker_host import DockerHost, DockerHostArgs
from components.docker_service import DockerService, DockerServiceArgs
from components.host_prep import HostPrep, HostPrepArgs
from components.kubernetes_cluster import KubernetesCluster, KubernetesClusterArgs
from components.kubernetes_ingress import KubernetesIngress, KubernetesIngressArgs
from components.kubernetes_invoker_rbac import KubernetesInvokerRbac, KubernetesInvokerRbacArgs
from components.kubernetes_service import KubernetesService, KubernetesServiceArgs
from components.openwhisk import OpenWhisk, OpenWhiskArgs
from components.secrets import Secrets, SecretsArgs
from components.verification import Verification, VerificationArgs

__all__ = [
    "DockerHost", "DockerHostArgs", "DockerService", "DockerServiceArgs", "HostPrep",
    "HostPrepArgs", "KubernetesCluster", "KubernetesClusterArgs", "KubernetesIngress",
    "KubernetesIngressArgs", "KubernetesInvokerRbac", "KubernetesInvokerRbacArgs",
    "KubernetesService", "KubernetesServiceArgs", "OpenWhisk", "OpenWhiskArgs", "Secrets",
    "SecretsArgs", "Verification", "VerificationArgs",
]
