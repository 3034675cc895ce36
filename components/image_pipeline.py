"""ImagePipeline: puts every image into the private registry and reports it by digest.

Each upstream image is mirrored by one command on the build host (`mirror-<key>`): pull unless
present, tag into the registry, push, and print the digest the registry reports. The push and the
digest read go through the build host's daemon, which trusts the registry's CA and is logged in to
it, so the machine running Pulumi needs no route to the registry and no trust in its CA, and no
registry credential is part of any provider's configuration. The command's triggers are the
upstream reference and the target: a new version mirrors again; a refresh reads nothing and keeps
it. An image the plan builds from an inline context (the catalog installer) is built, pushed and
reported the same way by a command on the build host (`build-<key>`), rebuilt when its tag (a hash
of the context) changes. Each image with a local build context is built and pushed (`Image`). Exposes `refs` (image
key -> `registry/path@sha256:...`) and `digests` (image key -> `sha256:...`). A rebuilt image
gets a new digest, which replaces exactly the pulls and containers that use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components._commands import host_command
from planner.images import build_push_script, mirror_script, repository
from planner.model import HostPlan, ImagePlan


@dataclass(frozen=True, kw_only=True)
class ImagePipelineArgs:
    images: tuple[ImagePlan, ...]
    """The images to mirror or build; those without a target are skipped."""
    host: HostPlan
    """The build host: mirror commands run there (over ssh, or locally against its endpoint)."""
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret name -> value, for the build host's ssh key."""
    provider: docker.Provider
    """Docker provider of the build host, for builds."""
    registry: str
    username: str
    password: pulumi.Input[str]
    """Credentials of builds' pushes (mirror commands use the build host's login)."""
    after: Sequence[pulumi.Resource] = ()
    """What the mirrors need first: the running registry, the build host's CA trust and login."""


class ImagePipeline(pulumi.ComponentResource):
    refs: dict[str, pulumi.Output[str]]
    digests: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ImagePipelineArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:ImagePipeline", name, None, opts)
        on_host = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                         depends_on=list(args.after))
        self.refs, self.digests = {}, {}
        commands: command.Provider | None = None
        for image in args.images:
            if image.target is None:
                continue
            if image.build is not None:
                b = image.build
                built = docker.Image(
                    f"build-{image.key}", image_name=image.target,
                    build=docker.DockerBuildArgs(context=b.context, dockerfile=b.dockerfile,
                                                 args=dict(b.args) or None, target=b.target,
                                                 platform=b.platform),
                    registry=docker.RegistryArgs(server=args.registry, username=args.username,
                                                 password=args.password),
                    opts=on_host)
                self.refs[image.key] = built.repo_digest
                self.digests[image.key] = built.repo_digest.apply(lambda r: r.split("@", 1)[1])
                continue
            commands = commands or command.Provider(
                "mirror", opts=pulumi.ResourceOptions(parent=self))
            inline = image.inline is not None
            mirrored = host_command(
                f"{'build' if inline else 'mirror'}-{image.key}", args.host, args.secrets,
                script=(build_push_script if inline else mirror_script)(args.host.docker_cli, image),
                triggers=[image.ref, image.target],
                opts=pulumi.ResourceOptions(parent=self, provider=commands,
                                            depends_on=list(args.after)))
            self.digests[image.key] = mirrored.stdout
            self.refs[image.key] = pulumi.Output.concat(repository(image.target), "@",
                                                        mirrored.stdout)
        self.register_outputs({"refs": self.refs})
