"""Image planning: where each image comes from and the reference its consumers use.

Without a registry every host pulls the upstream images by their pinned tags. With one, each image
is mirrored into the registry (or built from a local context and pushed there) and consumers pull it
by digest, so a rebuilt image replaces exactly the containers that run it. The runtime manifest then
names the runtime images by digest too (`tag@sha256:...`, resolved under the runtimes registry).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex

import runtimes
from config import StackConfig
from planner.model import BuildPlan, Digests, ImagePlan, InlineBuild, Value

DIGEST_MARK = "@@digest-of:"
#: OpenWhisk's own images: `<version.image_prefix>/<key>:<version.tag>`.
CORE = ("controller", "invoker", "scheduler", "user-events")


def ident(key: str) -> str:
    """The template placeholder name of an image key's digest."""
    return "digest_" + re.sub(r"\W", "_", key)


def repo_path(ref: str) -> str:
    """The repository path and tag of a reference without its registry host."""
    first, _, rest = ref.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else ref


def mirrored_image(key: str, ref: str, registry: str | None) -> ImagePlan:
    """An upstream (or prebuilt) image pulled as given, or mirrored into the registry."""
    return ImagePlan(key, ref, "service", target=f"{registry}/{repo_path(ref)}" if registry else None)


def built_image(key: str, repo: str, version: str, files: tuple[tuple[str, str], ...],
                args: tuple[tuple[str, str], ...], registry: str | None) -> ImagePlan:
    """An image built from the project's own context (`files`, `args`), tagged `<version>-<hash
    of context and args>`: another Dockerfile, file or pin is another tag. Built where it runs,
    or once and pushed to the registry's `builds/<key>`."""
    digest = hashlib.sha256(json.dumps([files, args]).encode()).hexdigest()[:12]
    tag = f"{version}-{digest}"
    return ImagePlan(key, f"{repo}:{tag}", "service",
                     target=f"{registry}/builds/{key}:{tag}" if registry else None,
                     inline=InlineBuild(files, args))


def runtime_key(img: runtimes.ImageName) -> str:
    return "runtime-" + "-".join(x for x in (img.prefix, img.name) if x).replace("/", "-")


def plan_images(cfg: StackConfig, manifest: runtimes.Manifest, keys: list[str],
                registry: str | None) -> tuple[ImagePlan, ...]:
    """Every image in use: core and service images by key, then each runtime image."""
    v = cfg.version
    upstream = {k: f"{v.image_prefix}/{k}:{v.tag}" for k in CORE}
    upstream |= cfg.images.model_dump()
    out: list[ImagePlan] = []
    for key in keys:
        kind = "core" if key in CORE else "service"
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


def repository(ref: str) -> str:
    """The repository of a reference: `reg:5000/a/b@sha256:..` and `reg:5000/a/b:1` -> `reg:5000/a/b`."""
    name = ref.split("@", 1)[0]
    return name.rsplit(":", 1)[0] if name.rfind(":") > name.rfind("/") else name


def mirror_script(docker: str, image: ImagePlan) -> str:
    """Mirrors one image on the build host and prints its digest in the registry (`sha256:...`).

    The push and the digest read both happen on the build host, through its daemon, which trusts
    the registry's CA (host preparation) and is logged in to it (the login step): the machine
    running Pulumi never talks to the registry. An upstream image already on the build host is
    used as it is, like a pull of a pinned tag.
    """
    assert image.target is not None and image.build is None, image.key
    ref = image.ref
    return f"""set -eu
{docker} image inspect {ref} >/dev/null 2>&1 || {docker} pull -q {ref} >/dev/null
{_push_lines(docker, ref, image.target)}"""


def _push_lines(docker: str, ref: str, target: str) -> str:
    """Tags the local image `ref` as `target`, pushes it and prints its digest in the registry."""
    repo = repository(target)
    return f"""{docker} tag {ref} {target}
{docker} push -q {target} >/dev/null
digest=$({docker} image inspect --format '{{{{range .RepoDigests}}}}{{{{println .}}}}{{{{end}}}}' {target} \\
  | sed -n 's|^{repo}@||p' | head -n 1)
[ -n "$digest" ] || {{ echo "pushed {target} but the registry reported no digest" >&2; exit 1; }}
echo "$digest"
"""


#: Local-only repository whose tags `<key>-current` and `<key>-previous` mark, on each host, the
#: image a pull put in use and the one before it.
KEEP_REPO = "openwhisk-pulumi/in-use"


def pull_script(docker: str, key: str, ref: str) -> str:
    """Pulls `ref` on a host (with the host's registry login) and prints its image ID.

    Retention: the host keeps the image now in use and the one in use before it (for a rollback),
    marked by local tags; every other image of the same repository is removed, unless a
    container still uses it.
    """
    cur, prev = f"{KEEP_REPO}:{key}-current", f"{KEEP_REPO}:{key}-previous"
    fmt_id = "--format '{{.Id}}'"
    return f"""set -eu
ref={ref}
{docker} image inspect "$ref" >/dev/null 2>&1 || {docker} pull -q "$ref" >/dev/null
id=$({docker} image inspect {fmt_id} "$ref")
cur=$({docker} image inspect {fmt_id} {cur} 2>/dev/null || true)
if [ "$cur" != "$id" ]; then
  if [ -n "$cur" ]; then {docker} tag "$cur" {prev}; fi
  {docker} tag "$id" {cur}
fi
prev=$({docker} image inspect {fmt_id} {prev} 2>/dev/null || true)
{docker} image ls --no-trunc --digests --format '{{{{.ID}}}} {{{{.Repository}}}}@{{{{.Digest}}}}' {repository(ref)} |
while read -r image name; do
  [ "$image" = "$id" ] || [ "$image" = "$prev" ] || {docker} rmi "$name" >/dev/null 2>&1 || true
done
echo "$id"
"""


def _context_script(image: ImagePlan) -> str:
    """Shell lines that write an inline build's context into "$ctx" (quoted heredocs: verbatim)."""
    assert image.inline is not None, image.key
    out = ['ctx=$(mktemp -d)', "trap 'rm -rf \"$ctx\"' EXIT"]
    for name, content in image.inline.files:
        mark = "OW_CONTEXT_" + hashlib.sha256(content.encode()).hexdigest()[:12].upper()
        assert mark not in content
        out.append(f"cat > \"$ctx/{name}\" <<'{mark}'\n{content.rstrip(chr(10))}\n{mark}")
    return "\n".join(out)


def _build_args(image: ImagePlan) -> str:
    assert image.inline is not None, image.key
    return "".join(f" --build-arg {shlex.quote(f'{k}={v}')}" for k, v in image.inline.args)


def _build_lines(docker: str, image: ImagePlan) -> str:
    """Builds the image as `ref` unless that tag is there (it hashes the context and args); the
    build's own output goes to stderr, where a failed build shows it."""
    return f"""if ! {docker} image inspect {image.ref} >/dev/null 2>&1; then
{_context_script(image)}
{docker} build -q{_build_args(image)} -t {image.ref} "$ctx" >&2
fi"""


def build_script(docker: str, image: ImagePlan) -> str:
    """Builds an inline image on the host that runs it and prints its image ID, like pull_script."""
    return f"""set -eu
{_build_lines(docker, image)}
{docker} image inspect --format '{{{{.Id}}}}' {image.ref}
"""


def build_push_script(docker: str, image: ImagePlan) -> str:
    """Builds an inline image on the build host, pushes it to the registry and prints its digest
    there, like mirror_script."""
    assert image.target is not None, image.key
    return f"""set -eu
{_build_lines(docker, image)}
{_push_lines(docker, image.ref, image.target)}"""
