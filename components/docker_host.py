"""DockerHost: the Docker provider of one host, and what its containers wait for.

Creates a `docker.Provider` for the host's endpoint (`unix://` socket, or `ssh://user@host:port`
through the system ssh client with the planned ssh options, which multiplex its connections).
It holds no registry credentials: images from the private registry are pulled on the host with
its own login (DockerService), so nothing in the provider's configuration is unknown at preview,
even while a rotated registry password is. Exposes `provider`, with which the services on the host declare
their image pulls and containers, `host` (its plan), and `ready`, the host's preparation they
wait for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from planner.model import HostPlan


@dataclass(frozen=True, kw_only=True)
class DockerHostArgs:
    host: HostPlan
    ready: pulumi.Resource | None = None
    """The host's preparation (a HostPrep), if it has any; pulls and containers wait for it."""


class DockerHost(pulumi.ComponentResource):
    provider: docker.Provider
    host: HostPlan
    ready: pulumi.Resource | None
    """What the host's pulls and containers must wait for besides their inputs (None: nothing)."""

    def __init__(self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:DockerHost", name, None, opts)
        self.provider = docker.Provider(
            f"{name}-docker", host=args.host.docker, ssh_opts=list(args.host.ssh_opts) or None,
            opts=pulumi.ResourceOptions(parent=self))
        self.host = args.host
        self.ready = args.ready
        self.register_outputs({"address": args.host.address})
