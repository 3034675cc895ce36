"""DockerHost: the Docker provider of one host, and what its containers wait for.

Creates a `docker.Provider` for the host's endpoint (`unix://` socket, or `ssh://user@host:port`
through the system ssh client with the planned ssh options), with the private registry's
credentials when there is one. Exposes `provider`, with which the services on the host declare
their image pulls and containers, `host` (its plan), and `ready`, the host's preparation they
wait for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components._values import RegistryAuth
from planner.model import HostPlan


@dataclass(frozen=True, kw_only=True)
class DockerHostArgs:
    host: HostPlan
    registry: RegistryAuth | None = None
    """Credentials the provider uses to pull from (and push to) the private registry."""
    ready: pulumi.Resource | None = None
    """The host's preparation (a HostPrep), if it has any; pulls and containers wait for it."""


class DockerHost(pulumi.ComponentResource):
    provider: docker.Provider
    host: HostPlan
    ready: pulumi.Resource | None
    """What the host's pulls and containers must wait for besides their inputs (None: nothing)."""

    def __init__(self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:DockerHost", name, None, opts)
        auth = args.registry and [docker.ProviderRegistryAuthArgs(
            address=args.registry.address, username=args.registry.username,
            password=args.registry.password)]
        self.provider = docker.Provider(
            f"{name}-docker", host=args.host.docker, ssh_opts=list(args.host.ssh_opts) or None,
            registry_auth=auth or None, opts=pulumi.ResourceOptions(parent=self))
        self.host = args.host
        self.ready = args.ready
        self.register_outputs({"address": args.host.address})
