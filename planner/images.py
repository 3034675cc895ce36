"""Image planning: where each image comes from and the reference its consumers use.

Without a registry every host pulls the upstream images by their pinned tags. With one, each image
is mirrored into the registry (or built from a local context and pushed there) and consumers pull it
by digest, so a rebuilt image replaces exactly the containers that run it. The runtime manifest then
names the runtime images by digest too (`tag@sha256:...`, resolved under the runtimes registry).
"""

from __future__ import annotations

import re

import runtimes
from config import StackConfig
from planner.model import BuildPlan, Digests, ImagePlan, Value

DIGEST_MARK = "@@digest-of:"


def ident(key: str) -> str:
    """The template placeholder name of an image key's digest."""
    return "digest_" + re.sub(r"\W", "_", key)


def repo_path(ref: str) -> str:
    """The repository path and tag of a reference without its registry host."""
    first, _, rest = ref.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else ref


def runtime_key(img: runtimes.ImageName) -> str:
    return "runtime-" + "-".join(x for x in (img.prefix, img.name) if x).replace("/", "-")


def plan_images(cfg: StackConfig, manifest: runtimes.Manifest, keys: list[str],
                registry: str | None) -> tuple[ImagePlan, ...]:
    """Every image in use: core and service images by key, then each runtime image."""
    v = cfg.version
    upstream = {k: f"{v.image_prefix}/{k}:{v.tag}" for k in ("controller", "invoker", "scheduler")}
    upstream |= cfg.images.model_dump()
    out: list[ImagePlan] = []
    for key in keys:
        kind = "core" if key in ("controller", "invoker", "scheduler") else "service"
        build = cfg.builds.get(key)  # type: ignore[call-overload]
        if registry is None:
            out.append(ImagePlan(key, upstream[key], kind))
        elif build is not None:
            out.append(ImagePlan(key, upstream[key], kind, target=f"{registry}/builds/{key}:{v.tag}",
                                 build=BuildPlan(build.context, build.dockerfile,
                                                 tuple(sorted(build.args.items())), build.target,
                                                 build.platform)))
        else:
            out.append(ImagePlan(key, upstream[key], kind,
                                 target=f"{registry}/{repo_path(upstream[key])}"))
    seen: set[str] = set()
    for img in runtimes.images(manifest):
        key = runtime_key(img)
        if key in seen:
            key = f"{key}-{img.tag}"
        seen.add(key)
        ref = runtimes.image_ref(img)
        bare = img.model_copy(update={"registry": None})
        target = f"{registry}/{runtimes.image_ref(bare)}" if registry else None
        out.append(ImagePlan(key, ref, "runtime", target=target))
    return tuple(out)


def manifest_value(manifest: runtimes.Manifest, images: tuple[ImagePlan, ...],
                   registry: str | None) -> Value:
    """RUNTIMES_MANIFEST: plain JSON, or with a registry, JSON naming every image by digest."""
    if registry is None:
        return runtimes.render(manifest)
    by_ref = {i.ref: i.key for i in images if i.kind == "runtime"}
    overrides: dict[str, runtimes.ImageName] = {}

    def pinned(img: runtimes.ImageName) -> runtimes.ImageName:
        mark = f"{img.tag}{DIGEST_MARK}{by_ref[runtimes.image_ref(img)]}"
        # model_copy skips validation on purpose: the mark is replaced below.
        return img.model_copy(update={"registry": None, "tag": mark})

    for kinds in manifest.runtimes.values():
        for k in kinds:
            overrides[k.kind] = pinned(k.image)
    for b in manifest.blackboxes:
        overrides[f"{b.prefix}/{b.name}" if b.prefix else b.name] = pinned(b)
    text = runtimes.render(manifest, image_overrides=overrides).replace("$", "$$")
    text = re.sub(re.escape(DIGEST_MARK) + r"([^\"]+)",
                  lambda m: "@${" + ident(m.group(1)) + "}", text)
    return Digests(text)
