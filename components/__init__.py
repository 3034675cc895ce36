"""Pulumi components; each declares resources from a slice of the plan and reads no config."""

from components.docker_host import DockerHost, DockerHostArgs
from components.docker_service import DockerService, DockerServiceArgs
from components.host_prep import HostPrep, HostPrepArgs
from components.openwhisk import OpenWhisk, OpenWhiskArgs
from components.secrets import Secrets, SecretsArgs
from components.verification import Verification, VerificationArgs

__all__ = [
    "DockerHost", "DockerHostArgs", "DockerService", "DockerServiceArgs", "HostPrep",
    "HostPrepArgs", "OpenWhisk", "OpenWhiskArgs", "Secrets", "SecretsArgs", "Verification",
    "VerificationArgs",
]
