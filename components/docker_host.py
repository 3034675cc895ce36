"""DockerHost: the Docker provider of one host and the images pulled onto it.

Creates a `docker.Provider` for the host's endpoint (`unix://` socket, or `ssh://user@host:port`
through the system ssh client with the planned ssh options) and one `RemoteImage` per image the
host needs, kept locally when the resource goes away; the pulls wait for the host's preparation.
Exposes `provider`, `image_ids` (image key -> image ID), which containers use as their image so
that a new image digest replaces exactly its containers, and `ready`, what containers wait for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from planner.model import HostPlan


@dataclass(frozen=True, kw_only=True)
class DockerHostArgs:
    host: HostPlan
    images: dict[str, pulumi.Input[str]]
    """Image key -> reference to pull (a pinned tag or digest)."""
    ready: pulumi.Resource | None = None
    """The host's preparation (a HostPrep), if it has any; pulls and containers wait for it."""


class DockerHost(pulumi.ComponentResource):
    provider: docker.Provider
    image_ids: dict[str, pulumi.Output[str]]
    ready: pulumi.Resource | None
    """What the host's containers must wait for besides their images (None: nothing)."""

    def __init__(self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:DockerHost", name, None, opts)
        self.provider = docker.Provider(
            f"{name}-docker", host=args.host.docker, ssh_opts=list(args.host.ssh_opts) or None,
            opts=pulumi.ResourceOptions(parent=self))
        self.ready = args.ready
        pull = pulumi.ResourceOptions(parent=self, provider=self.provider,
                                      depends_on=[args.ready] if args.ready else None)
        self.image_ids = {
            key: docker.RemoteImage(f"{name}-{key}", name=args.images[key], keep_locally=True,
                                    opts=pull).image_id
            for key in args.host.images
        }
        self.register_outputs({"address": args.host.address, "image_ids": self.image_ids})
