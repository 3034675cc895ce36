"""DockerHost: the Docker provider of one host and the images pulled onto it.

Creates a `docker.Provider` for the host's endpoint (`unix://` socket, or `ssh://user@host:port`
through the system ssh client with the planned ssh options) and one `RemoteImage` per image the
host needs, kept locally when the resource goes away. Exposes `provider` and `image_ids` (image
key -> image ID), which containers use as their image so that a new image digest replaces
exactly its containers.
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


class DockerHost(pulumi.ComponentResource):
    provider: docker.Provider
    image_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:DockerHost", name, None, opts)
        self.provider = docker.Provider(
            f"{name}-docker", host=args.host.docker, ssh_opts=list(args.host.ssh_opts) or None,
            opts=pulumi.ResourceOptions(parent=self))
        pull = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.image_ids = {
            key: docker.RemoteImage(f"{name}-{key}", name=args.images[key], keep_locally=True,
                                    opts=pull).image_id
            for key in args.host.images
        }
        self.register_outputs({"address": args.host.address, "image_ids": self.image_ids})
