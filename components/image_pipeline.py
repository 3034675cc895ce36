"""ImagePipeline: puts every image into the private registry and reports it by digest.

On the build host's Docker daemon, each upstream image is pulled (`RemoteImage`), tagged into the
registry (`Tag`) and pushed (`RegistryImage`, kept in the registry when the resource goes away);
each image with a local build context is built and pushed (`Image`). Exposes `refs` (image key ->
`registry/path@sha256:...`) and `digests` (image key -> `sha256:...`). A rebuilt image gets a new
digest, which replaces exactly the pulls and containers that use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from planner.model import ImagePlan


@dataclass(frozen=True, kw_only=True)
class ImagePipelineArgs:
    images: tuple[ImagePlan, ...]
    """The images to mirror or build; those without a target are skipped."""
    provider: docker.Provider
    """Provider of the build host, holding the registry's credentials."""
    registry: str
    username: str
    password: pulumi.Input[str]
    after: Sequence[pulumi.Resource] = ()
    """Resources the registry needs first (its container, the build host's CA trust)."""


class ImagePipeline(pulumi.ComponentResource):
    refs: dict[str, pulumi.Output[str]]
    digests: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ImagePipelineArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:ImagePipeline", name, None, opts)
        on_host = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                         depends_on=list(args.after))
        self.refs, self.digests = {}, {}
        for image in args.images:
            if image.target is None:
                continue
            repo = image.target.rsplit(":", 1)[0] if image.target.rfind(":") > \
                image.target.rfind("/") else image.target
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
            pulled = docker.RemoteImage(f"mirror-{image.key}", name=image.ref, keep_locally=True,
                                        opts=on_host)
            tagged = docker.Tag(f"mirror-{image.key}", source_image=pulled.image_id,
                                target_image=image.target, opts=on_host)
            pushed = docker.RegistryImage(
                f"mirror-{image.key}", name=tagged.target_image, keep_remotely=True,
                triggers={"source": pulled.image_id}, opts=on_host)
            self.digests[image.key] = pushed.sha256_digest
            self.refs[image.key] = pulumi.Output.concat(repo, "@", pushed.sha256_digest)
        self.register_outputs({"refs": self.refs})
