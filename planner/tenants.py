"""Tenants: the namespaces of `openwhisk:namespaces` as one step after the CouchDB init. Pure.

The step (components/assets/tenants/tenants.sh) runs in the CouchDB image, like the init step:
each namespace gets its subject (its key from a generated secret, in a file) and its limits
document; namespaces it created before and no longer configured are blocked, nothing is deleted.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from config import StackConfig, namespace_secret
from planner.model import Container, File, SecretSpec, Secret
from planner.placement import PREFIX, Placed

ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets"
SCRIPT = ASSETS / "tenants" / "tenants.sh"
#: The request helpers it shares with the CouchDB init step.
HTTP_LIB = ASSETS / "couchdb" / "http.sh"
DIR = "/ow-tenants"


@cache
def _script() -> str:
    return SCRIPT.read_text()


@cache
def _lib() -> str:
    return HTTP_LIB.read_text()


def secret_specs(cfg: StackConfig) -> list[SecretSpec]:
    """One generated key per namespace; `rotate` is its generation."""
    return [SecretSpec(namespace_secret(ns.name), "auth", generation=ns.rotate)
            for ns in cfg.namespaces]


def limits_document(fields: dict[str, object]) -> str:
    """The limits document's fields as one compact JSON object, `{}` when there are none (sorted:
    stable bytes; never empty, which the Docker provider refuses as an upload)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def container(cfg: StackConfig, couch: Placed, init_key: str, couch_url: str,
              admin_user: str) -> Container:
    """The one-shot step; it re-runs whenever a namespace, its limits or its key changes."""
    names = [ns.name for ns in cfg.namespaces]
    env = {
        "COUCHDB_URL": couch_url,
        "COUCHDB_ADMIN_USER": admin_user,
        "COUCHDB_ADMIN_PASSWORD": Secret.of("couchdb_admin_password"),
        "DB_PREFIX": cfg.couchdb.db_prefix,
        "NAMESPACES": " ".join(names),
        "TENANTS_DIR": DIR,
    }
    files = [File(f"{DIR}/tenants.sh", _script()), File(f"{DIR}/http.sh", _lib())]
    for ns in cfg.namespaces:
        files += [File(f"{DIR}/{ns.name}.auth", Secret.of(namespace_secret(ns.name))),
                  File(f"{DIR}/{ns.name}.limits", limits_document(ns.limits.document()))]
    return Container(
        key=f"couchdb-tenants-{couch.name}", service="couchdb", host=couch.host_name,
        name=f"{PREFIX}-couchdb-tenants", image="couchdb",
        entrypoint=("/bin/sh", f"{DIR}/tenants.sh"), env=tuple(sorted(env.items())),  # type: ignore[arg-type]
        files=tuple(files), one_shot=True, depends_on=(init_key,))
