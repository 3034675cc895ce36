"""The `whisk.system` catalog: its installer image and the one-shot step that runs it. Pure.

The image holds content only (the catalog release and route management, fetched once at build
time from pinned archives and checked against content digests); the installer,
components/assets/catalog/install.py, is written into the step's container by the deployment, so
the step re-runs whenever the installer, the image or what it is told to install changes.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from config import StackConfig
from planner.images import built_image, mirrored_image
from planner.model import Container, File, ImagePlan, Secret, Value
from planner.placement import PREFIX, Placed

ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets" / "catalog"
#: The build context of the installer image (install.py is not in it: see the module docstring).
CONTEXT = ("Dockerfile", "tree_digest.py")
LOCAL_REPO = "openwhisk-pulumi/catalog"


@cache
def pins() -> dict:
    return json.loads((ASSETS / "pins.json").read_text())


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text()


def build_args(cfg: StackConfig) -> dict[str, str]:
    """The Dockerfile's archive pins for the stack's OpenWhisk tag, then the stack's overrides."""
    cat = pins()["catalog"]
    out = {"CATALOG_VERSION": cat["version"], "CATALOG_URL": cat["url"],
           "CATALOG_DIGEST": cat["digest"]}
    route = pins()["routemgmt"].get(cfg.version.tag)
    if route is not None:
        out |= {"ROUTEMGMT_COMMIT": route["commit"], "ROUTEMGMT_URL": route["url"],
                "ROUTEMGMT_DIGEST": route["digest"]}
    return dict(sorted((out | cfg.catalog.build_args).items()))


def skipped(cfg: StackConfig, registry: str | None) -> str | None:
    """Why the catalog is left out although enabled (a plan warning), or None."""
    c = cfg.catalog
    if c.enabled and c.image is None and registry is None and cfg.platform == "kubernetes":
        return ("openwhisk:catalog: not installed: on kubernetes the installer image is built on "
                "registry.builder and pushed for the cluster to pull, and this stack has no "
                "registry (got registry.mode: none); set registry (mode external, with builder), "
                "or catalog.image to a prebuilt installer image, or catalog.enabled: false to "
                "silence this")
    return None


def routemgmt_missing(cfg: StackConfig) -> str | None:
    """Why route management is left out although the gateway runs (a plan warning), or None."""
    if cfg.catalog.enabled and cfg.catalog.image is None and cfg.apigateway.enabled and \
            cfg.version.tag not in pins()["routemgmt"] and "ROUTEMGMT_URL" not in cfg.catalog.build_args:
        return (f"openwhisk:catalog.build_args: route management (package apimgmt, which `wsk "
                f"api` calls) is pinned for the known tags only, and version.tag is not one (got "
                f"{cfg.version.tag!r}), so it is not installed; set ROUTEMGMT_URL, "
                f"ROUTEMGMT_DIGEST and ROUTEMGMT_COMMIT to the archive of that OpenWhisk commit "
                f"and its content digest (components/assets/catalog/tree_digest.py)")
    return None


def image(cfg: StackConfig, registry: str | None) -> ImagePlan | None:
    """The installer image: `catalog.image` as given (mirrored like any upstream image), else
    built from components/assets/catalog, tagged with a hash of its context and args. None when
    the catalog is off, or cannot be built (skipped)."""
    c = cfg.catalog
    if not c.enabled or skipped(cfg, registry):
        return None
    if c.image is not None:
        return mirrored_image("catalog", c.image, registry)
    return built_image("catalog", LOCAL_REPO, pins()["catalog"]["version"],
                       tuple((n, _asset(n)) for n in CONTEXT), tuple(build_args(cfg).items()),
                       registry)


def container(cfg: StackConfig, where: Placed, api_url: str, gateway_url: str | None,
              depends_on: tuple[str, ...]) -> Container:
    """The one-shot step on the edge's host (its pod on Kubernetes), after the controllers (and
    the gateway, whose address route management is given)."""
    env: dict[str, Value] = {
        "OW_API_URL": api_url,
        "OW_AUTH_FILE": "/ow-catalog/system.auth",
        "OW_PACKAGES": " ".join(cfg.catalog.packages),
        "OW_APIGW_URL": gateway_url or "",
        "OW_TIMEOUT_S": "300",
    }
    return Container(
        key=f"catalog-{where.name}", service="catalog", host=where.host_name,
        name=f"{PREFIX}-catalog", image="catalog",
        entrypoint=("python3", "/ow-catalog/install.py"), env=tuple(sorted(env.items())),
        files=(File("/ow-catalog/install.py", _asset("install.py")),
               File("/ow-catalog/system.auth", Secret.of("system_auth"))),
        one_shot=True, depends_on=depends_on)
