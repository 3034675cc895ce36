"""Build every image the engine tier's test stack runs, locally and without any registry.

    python -m tests.engine.images.build [--only KEY ...] [--rebuild] [--quiet]

or, from a test, `ensure_images()` -> {image key: local ref}. Standard library only.

1. A Debian base image: `debootstrap --variant=minbase` of the machine's own suite from the mirror
   its apt uses, then every package the images need installed into that rootfs with the chroot's
   apt (containers need no network at build time). The rootfs is cached as a tarball outside the
   work tree (CACHE_DIR) and imported with `docker import` as `owtest/debian-base:<suite>`.
2. Every image under this directory, FROM that base, with `docker build --pull=false` (classic
   builder, DOCKER_BUILDKIT=0). An image whose ref exists with the label CONTEXT_LABEL equal to the
   hash of its build context (files, Dockerfile, build args and the base image id) is not rebuilt,
   so a warm run only inspects images.

STACK_IMAGES holds the stack config values that point a test stack at these images, and
manifest.json (next to this file) is the runtime manifest naming the stand-in runtime images.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIX = "owtest"
CACHE_DIR = Path(os.environ.get("OW_ENGINE_IMAGE_CACHE", "/var/cache/openwhisk-pulumi/images"))
CONTEXT_LABEL = "org.openwhisk-pulumi.context-hash"
BASE_LABEL = "org.openwhisk-pulumi.base-key"
STANDIN_LABEL = "org.openwhisk-pulumi.stand-in"

# Installed into the debootstrap rootfs. The stand-ins need python3 (+ kazoo for ZooKeeper, redis
# for the API gateway's store, yaml for the catalog installer and Grafana's provisioning), the
# planned health checks need curl, wget (Prometheus, Grafana), bash and net-tools (netstat), the
# rest is the real software.
BASE_PACKAGES = (
    # tools every image and health check uses
    "bash", "ca-certificates", "curl", "iproute2", "net-tools", "netcat-openbsd", "procps",
    "python3", "python3-kazoo", "openssl", "wget",
    # real software
    "nginx", "zookeeper", "etcd-server", "etcd-client", "docker-registry", "redis-server",
    "prometheus",
    # the API gateway stand-in stores APIs in the real Redis; the catalog installer and the Grafana
    # stand-in read YAML
    "python3-redis", "python3-yaml",
    # runs the code of nodejs actions in the stand-in action runtime
    "nodejs",
)
# Bumped when the way the base is made changes (the package list is hashed anyway).
BASE_RECIPE = "1"

# Core image tags with known key sets (config.KNOWN_TAGS): one stand-in image of each JVM component
# per tag, so that a stack can pin any of them. The stand-in reads its tag from OW_STANDIN_TAG.
CORE_TAGS = ("ef725a6", "4fac03a", "7538ced", "1fae641")


@dataclass(frozen=True)
class Image:
    key: str
    """Image key: a stack config key (controller, couchdb, ...) or runtime-<name>."""
    ref: str
    context: str
    """Directory under tests/engine/images/ holding the Dockerfile."""
    args: tuple[tuple[str, str], ...] = ()
    shared: tuple[str, ...] = field(default=("lib",))
    """Directories under tests/engine/images/ copied into the build context too."""


def _images() -> list[Image]:
    out = [
        Image("couchdb", f"{PREFIX}/couchdb:standin", "couchdb"),
        Image("zookeeper", f"{PREFIX}/zookeeper:3.8-debian", "zookeeper", shared=()),
        Image("kafka", f"{PREFIX}/kafka:standin", "kafka"),
        Image("etcd", f"{PREFIX}/etcd:3.4-debian", "etcd", shared=()),
        Image("elasticsearch", f"{PREFIX}/elasticsearch:standin", "elasticsearch"),
        Image("nginx", f"{PREFIX}/nginx:1.22-debian", "nginx", shared=()),
        Image("registry", f"{PREFIX}/registry:2.8-debian", "registry", shared=()),
        Image("redis", f"{PREFIX}/redis:7-debian", "redis", shared=()),
        Image("apigateway", f"{PREFIX}/apigateway:standin", "apigateway"),
        Image("catalog", f"{PREFIX}/catalog:standin", "catalog", shared=()),
        Image("prometheus", f"{PREFIX}/prometheus:2.42-debian", "prometheus", shared=()),
        Image("grafana", f"{PREFIX}/grafana:standin", "grafana"),
        Image("runtime-action-nodejs-v20", f"{PREFIX}/action-nodejs-v20:standin", "runtime",
              (("FAMILY", "nodejs"),)),
        Image("runtime-action-python-v3.11", f"{PREFIX}/action-python-v3.11:standin", "runtime",
              (("FAMILY", "python"),)),
    ]
    for tag in CORE_TAGS:
        for component in ("controller", "invoker", "scheduler"):
            key = component if tag == CORE_TAGS[0] else f"{component}@{tag}"
            out.append(Image(key, f"{PREFIX}/{component}:{tag}", "openwhisk",
                             (("COMPONENT", component), ("TAG", tag))))
        key = "user-events" if tag == CORE_TAGS[0] else f"user-events@{tag}"
        out.append(Image(key, f"{PREFIX}/user-events:{tag}", "user-events", (("TAG", tag),)))
    return out


IMAGES = _images()

STACK_IMAGES: dict[str, object] = {
    "version.image_prefix": PREFIX,
    "images.couchdb": f"{PREFIX}/couchdb:standin",
    "images.zookeeper": f"{PREFIX}/zookeeper:3.8-debian",
    "images.kafka": f"{PREFIX}/kafka:standin",
    "images.etcd": f"{PREFIX}/etcd:3.4-debian",
    "images.elasticsearch": f"{PREFIX}/elasticsearch:standin",
    "images.nginx": f"{PREFIX}/nginx:1.22-debian",
    "registry.image": f"{PREFIX}/registry:2.8-debian",
    "images.redis": f"{PREFIX}/redis:7-debian",
    "images.apigateway": f"{PREFIX}/apigateway:standin",
    "catalog.image": f"{PREFIX}/catalog:standin",
    "images.prometheus": f"{PREFIX}/prometheus:2.42-debian",
    "monitoring.grafana_image": f"{PREFIX}/grafana:standin",
    # The package directories the stand-in catalog tree has (the release has more).
    "catalog.packages": ["utils", "samples", "websocket"],
    "runtimes.manifest": str(HERE / "manifest.json"),
}
"""Stack config values (paths under `openwhisk:`) that make a test stack use the images built here;
`version.tag` may be any of CORE_TAGS."""


def say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"images: {msg}", flush=True)


def _docker_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}


def _docker(*args: str, check: bool = True, capture: bool = True,
            stdin: object = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=_docker_env(), check=check, text=True,
                          capture_output=capture, stdin=stdin)


def _label(ref: str, label: str) -> str | None:
    """The label's value on a local image; None when the image is missing."""
    res = _docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', ref,
                  check=False)
    return res.stdout.strip() if res.returncode == 0 else None


# --------------------------------------------------------------------------------------------
# The debootstrap base


def apt_suite() -> str:
    """The machine's Debian suite (VERSION_CODENAME of /etc/os-release)."""
    text = Path("/etc/os-release").read_text()
    found = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.M)
    if not found:
        raise SystemExit("images: cannot tell the Debian suite from /etc/os-release")
    return found.group(1)


def apt_sources(suite: str) -> list[tuple[str, str]]:
    """(URI, suite) pairs of the machine's enabled apt sources for `suite` and its -updates and
    -security suites, read from sources.list(.d) in both formats; the main suite comes first."""
    out: list[tuple[str, str]] = []
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for f in files:
        if not f.is_file() or f.suffix not in (".list", ".sources"):
            continue
        text = f.read_text()
        if f.suffix == ".list":
            for line in text.splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    out.append((parts[1], parts[2]))
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            if "deb" not in fields.get("Types", "").split() or fields.get("Enabled", "yes") == "no":
                continue
            for uri in fields.get("URIs", "").split():
                out += [(uri, s) for s in fields.get("Suites", "").split()]
    mine = [(u.rstrip("/"), s) for u, s in out
            if (s == suite or s.startswith(suite + "-")) and u.startswith(("http://", "https://"))]
    mine.sort(key=lambda us: us[1] != suite)
    if not mine or mine[0][1] != suite:
        raise SystemExit(f"images: no apt source for suite {suite} in /etc/apt; cannot debootstrap")
    return list(dict.fromkeys(mine))


def base_ref(suite: str) -> str:
    return f"{PREFIX}/debian-base:{suite}"


def base_key(suite: str, sources: list[tuple[str, str]]) -> str:
    text = json.dumps([BASE_RECIPE, suite, sorted(BASE_PACKAGES), sources])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run(cmd: list[str], log: Path, **kw: object) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
    if res.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SystemExit(f"images: {' '.join(cmd[:3])}... failed (exit {res.returncode}); "
                         f"log: {log}\n{tail}")


def _make_rootfs_tarball(suite: str, sources: list[tuple[str, str]], tarball: Path,
                         quiet: bool) -> None:
    if os.geteuid() != 0:
        raise SystemExit("images: building the base rootfs needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        say("installing debootstrap", quiet)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        log = CACHE_DIR / "apt-host.log"
        _run(["apt-get", "update", "-q"], log, env=env)
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], log, env=env)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE_DIR))
    rootfs, log = work / "rootfs", CACHE_DIR / f"debian-{suite}-base.log"
    log.write_text("")
    mirror = sources[0][0]
    proc_mounted = False
    try:
        say(f"debootstrap {suite} from {mirror} (log: {log})", quiet)
        _run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror], log)
        lines = [f"deb {uri} {s} main" for uri, s in sources]
        (rootfs / "etc/apt/sources.list").write_text("\n".join(lines) + "\n")
        # No service may start inside the chroot while packages install.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
        subprocess.run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], check=True)
        proc_mounted = True
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
               "LANG": "C.UTF-8", "HOME": "/root"}
        say(f"installing {len(BASE_PACKAGES)} packages into the rootfs", quiet)
        _run(["chroot", str(rootfs), "apt-get", "update", "-q"], log, env=env)
        _run(["chroot", str(rootfs), "apt-get", "install", "-y", "-q", "--no-install-recommends",
              *BASE_PACKAGES], log, env=env)
        _run(["chroot", str(rootfs), "apt-get", "clean"], log, env=env)
        subprocess.run(["umount", str(rootfs / "proc")], check=True)
        proc_mounted = False
        policy.unlink()
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
        (rootfs / "etc/resolv.conf").write_text("")  # docker bind-mounts its own at run time
        say(f"writing {tarball}", quiet)
        partial = tarball.with_suffix(".tar.partial")
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], log)
        partial.replace(tarball)
    finally:
        if proc_mounted:
            subprocess.run(["umount", "-l", str(rootfs / "proc")], check=False)
        shutil.rmtree(work, ignore_errors=True)


def ensure_base(*, rebuild: bool = False, quiet: bool = False) -> str:
    """The base image ref, built (debootstrap, cached tarball) and imported when needed."""
    suite = apt_suite()
    sources = apt_sources(suite)
    key = base_key(suite, sources)
    ref = base_ref(suite)
    if not rebuild and _label(ref, BASE_LABEL) == key:
        return ref
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = CACHE_DIR / f"debian-{suite}-base-{key}.tar"
    if rebuild or not tarball.exists():
        for old in CACHE_DIR.glob(f"debian-{suite}-base-*.tar"):
            old.unlink()
        _make_rootfs_tarball(suite, sources, tarball, quiet)
    say(f"importing {tarball.name} as {ref}", quiet)
    with tarball.open("rb") as f:
        _docker("import", "--change", f"LABEL {BASE_LABEL}={key}",
                "--change", 'CMD ["/bin/bash"]', "--change", "ENV LANG=C.UTF-8",
                "-", ref, stdin=f)
    return ref


# --------------------------------------------------------------------------------------------
# The images


def _assemble(img: Image, into: Path) -> None:
    shutil.copytree(HERE / img.context, into, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for shared in img.shared:
        shutil.copytree(HERE / shared, into / shared, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def context_hash(img: Image, base_id: str, context: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([base_id, img.ref, list(img.args)]).encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        h.update(f"\0{rel}\0{path.stat().st_mode & 0o111}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:24]


def build_image(img: Image, base: str, base_id: str, *, rebuild: bool = False,
                quiet: bool = False) -> bool:
    """Build one image unless it is up to date; True when it was built."""
    with tempfile.TemporaryDirectory(prefix=f"owtest-{img.context}-") as tmp:
        context = Path(tmp)
        _assemble(img, context)
        digest = context_hash(img, base_id, context)
        if not rebuild and _label(img.ref, CONTEXT_LABEL) == digest:
            return False
        say(f"building {img.ref}", quiet)
        cmd = ["build", "--pull=false", "--rm", "--force-rm", "-t", img.ref,
               "--label", f"{CONTEXT_LABEL}={digest}", "--build-arg", f"BASE={base}"]
        for name, value in img.args:
            cmd += ["--build-arg", f"{name}={value}"]
        res = _docker(*cmd, str(context), check=False)
        if res.returncode != 0:
            raise SystemExit(f"images: building {img.ref} failed:\n{res.stdout[-3000:]}"
                             f"{res.stderr[-3000:]}")
        return True


def ensure_images(keys: list[str] | None = None, *, rebuild: bool = False,
                  quiet: bool = True) -> dict[str, str]:
    """Build what is missing or stale; returns image key -> local ref (all keys, or `keys`).

    Keys are the stack config's (controller, invoker, scheduler, couchdb, ...; core images of the
    other CORE_TAGS as `controller@<tag>`), `registry`, `runtime-<name>` and `base`."""
    if shutil.which("docker") is None:
        raise SystemExit("images: no docker client on PATH")
    if _docker("info", check=False).returncode != 0:
        raise SystemExit("images: no Docker daemon answers; run tests/engine/dockerd.sh start")
    base = ensure_base(rebuild=rebuild, quiet=quiet)
    base_id = _docker("image", "inspect", "--format", "{{.Id}}", base).stdout.strip()
    wanted = [i for i in IMAGES if keys is None or i.key in keys]
    unknown = set(keys or ()) - {i.key for i in IMAGES} - {"base"}
    if unknown:
        raise SystemExit(f"images: unknown image keys {sorted(unknown)}; known: "
                         f"{', '.join(i.key for i in IMAGES)}")
    built = [img for img in wanted if build_image(img, base, base_id, rebuild=rebuild, quiet=quiet)]
    if built:  # the untagged images that the rebuilt ones replaced
        _docker("image", "prune", "-f", "--filter", f"label={CONTEXT_LABEL}", check=False)
    return {"base": base, **{i.key: i.ref for i in wanted}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.engine.images.build",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", metavar="KEY", help="build only these image keys")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the base rootfs and every image even when up to date")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--json", action="store_true", help="print key -> ref as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    refs = ensure_images(args.only, rebuild=args.rebuild, quiet=args.quiet)
    if args.json:
        print(json.dumps(refs, indent=2))
    else:
        say(f"{len(refs)} images ready in {time.monotonic() - started:.1f}s", args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
