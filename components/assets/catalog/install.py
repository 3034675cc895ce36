"""Install the whisk.system catalog packages and the API gateway's route management actions.

Runs as a one-shot container of the catalog image (see Dockerfile) once OpenWhisk is deployed:
`python3 /ow-catalog/install.py`. Python 3 standard library plus PyYAML. It reads only local
files (the image's /catalog/packages and /routemgmt) and talks only to the controller: nothing
is fetched from the internet. Every input comes from the environment; secrets come from files:

  OW_API_URL              controller URL, e.g. http://10.0.0.5:10001 (required)
  OW_INSECURE             "true": do not verify the controller's TLS certificate (https only)
  OW_AUTH_FILE            file holding the whisk.system key `uuid:key` (required; never printed)
  OW_CATALOG_DIR          catalog packages directory (default /catalog/packages)
  OW_PACKAGES             space-separated package directories under OW_CATALOG_DIR, installed
                          in that order (e.g. "utils samples websocket github slack"); empty:
                          none
  OW_ROUTEMGMT_DIR        route management directory (default /routemgmt)
  OW_APIGW_URL            gwUrlV2 of package apimgmt, e.g. http://10.0.0.7:9000/v2; empty: do
                          not install apimgmt
  OW_APIGW_USER           gwUser of package apimgmt (default "")
  OW_APIGW_PASSWORD_FILE  file holding gwPwd of package apimgmt (default "": empty password;
                          never printed)
  OW_TIMEOUT_S            how long to wait for the controller, and to retry each request on a
                          connection error or HTTP 502/503/504 (default 300)

What it does:
  1. waits until GET /ping answers pong and GET /api/v1/namespaces/_/packages answers 200 with
     the key; reads the runtime manifest from GET / (`runtimes`: family -> [{kind, ...}]);
  2. for each directory of OW_PACKAGES, reads its wskdeploy manifest.yaml and puts each package
     (public -> publish, annotations, inputs -> parameters) and then each action whose kind the
     deployment runs; an action of another kind is reported as skipped;
  3. when OW_APIGW_URL is set, puts package apimgmt (not shared; parameters gwUser, gwPwd,
     gwUrlV2) and its actions getApi, createApi, deleteApi (nodejs:default zips, web-export and
     final).

Action kind: the manifest's `runtime`, else from the file's extension (.js nodejs, .py python,
.swift swift, .java/.jar java, .go go, .php php, .rb ruby, all `:default`). A .zip needs
`runtime`, except that a .zip built from a directory with package.json (below) is nodejs:default.
An action is installed when its kind's family (the part before ':') is in the runtime manifest
and, for a kind other than `<family>:default`, that kind is listed in the family.

Code: a text file goes as `exec.code`; a .zip as base64 with `binary: true`. When the manifest
names a .zip that does not exist and its directory has package.json (the websocket package,
which upstream zips after `npm install`), the zip is built in memory from that directory, like
upstream's `zip -r x.zip *`: every file, recursively, except top-level names starting with '.'
and the .zip itself. Each route management action is zipped the same way from its directory,
with common/*.js added at the top when the directory does not already hold them (the image
copies them in before `npm install`). Built zips are deterministic: entries sorted, timestamps
1980-01-01 00:00, permissions 0644, deflate level 9, no directory entries. Symbolic links under
node_modules/.bin (npm's command-line shims, which an action never runs) are left out; any other
symbolic link is an error.

Idempotent: each package and action carries the annotation `openwhisk-pulumi/digest`, the sha256
of its canonical JSON body (sorted keys, no spaces, UTF-8) without that annotation. Before each
PUT (always ?overwrite=true) the entity is read back (actions with ?code=false); when the
annotation matches, the entity is left alone and reported unchanged, so a second run sends no
PUT.

Manifest keys other than those used here (sequences, triggers, rules, apis, web, ...) are refused
rather than ignored. Output on stdout, one line per entity in order:
  catalog install: package <p> created or updated|unchanged
  catalog install: package <p> action <a> created or updated|unchanged
  catalog install: skipped <p>/<a>: kind <kind> is not in this deployment's runtime manifest
then `catalog install: N created or updated, M unchanged, K skipped (<p>, <p>, ...)` ("no
packages" when none). Exit status 0, or 1 with one line on stderr, e.g.
`catalog install: FAILED: package websocket action send: controller answered HTTP 400: <error>`.
Neither the key nor the gateway password is ever printed (any echo of them is replaced by ***).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import ssl
import stat
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, TextIO, TypeVar

import yaml

PREFIX = "catalog install: "
DIGEST_KEY = "openwhisk-pulumi/digest"
NAMESPACE = "/api/v1/namespaces/_"
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 10.0
REQUEST_TIMEOUT_S = 60.0
TRANSIENT = {502, 503, 504}
KIND_BY_EXT = {
    ".js": "nodejs:default", ".py": "python:default", ".swift": "swift:default",
    ".java": "java:default", ".jar": "java:default", ".go": "go:default",
    ".php": "php:default", ".rb": "ruby:default",
}
PACKAGE_KEYS = {"version", "license", "public", "annotations", "inputs", "actions"}
ACTION_KEYS = {"version", "license", "function", "runtime", "main", "annotations", "inputs"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
ROUTEMGMT_PACKAGE = "apimgmt"
ROUTEMGMT_ACTIONS = {  # upstream's installRouteMgmt.sh order
    "getApi": "Reads the configuration of a gateway API",
    "createApi": "Creates or updates a gateway API and its routes",
    "deleteApi": "Deletes a gateway API or some of its routes",
}
ROUTEMGMT_DESCRIPTION = "Manages the API gateway's configuration of APIs and routes"

T = TypeVar("T")


class Failure(Exception):
    """One line after `FAILED: `."""


class HttpError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"controller answered HTTP {status}: {text}")
        self.status = status


# ---------------------------------------------------------------- controller client


class Controller:
    def __init__(self, url: str, auth: str, insecure: bool, timeout_s: float,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url.rstrip("/")
        self.header = "Basic " + base64.b64encode(auth.encode()).decode()
        self.context: ssl.SSLContext | None = None
        if insecure and self.url.startswith("https:"):
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.clock = clock

    def once(self, method: str, path: str, body: Any = None,
             auth: bool = True) -> tuple[int, bytes]:
        """One request; (status, body) for any HTTP answer, OSError when there is none."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth:
            req.add_header("Authorization", self.header)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S,
                                        context=self.context) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def retrying(self, attempt: Callable[[], T], deadline: float | None = None) -> T:
        """attempt() until it returns; _Retry and OSError are retried with backoff."""
        deadline = self.clock() + self.timeout_s if deadline is None else deadline
        delay = FIRST_DELAY_S
        while True:
            try:
                return attempt()
            except (_Retry, OSError) as e:
                last = e
            left = deadline - self.clock()
            if left <= 0:
                raise Failure(f"{_reason(last)} (gave up after {self.timeout_s:g} s)")
            self.sleep(min(delay, left))
            delay = min(delay * 2, MAX_DELAY_S)

    def request(self, method: str, path: str, body: Any = None,
                ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        """(status, parsed JSON) for a status in ok; HttpError for any other final answer."""
        def attempt() -> tuple[int, Any]:
            status, raw = self.once(method, path, body)
            if status in TRANSIENT:
                raise _Retry(f"{method} {path}: controller answered HTTP {status}: "
                             f"{_error_text(raw)}")
            if status not in ok:
                raise HttpError(status, _error_text(raw))
            return status, _json(raw)
        return self.retrying(attempt)


class _Retry(Exception):
    pass


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and e.reason is not None:
        return f"cannot connect: {e.reason}"
    return str(e) if isinstance(e, _Retry) else f"cannot connect: {e}"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _error_text(raw: bytes) -> str:
    parsed = _json(raw)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed["error"]
    text = raw.decode("utf-8", "replace").strip()
    return " ".join(text.split())[:300] or "(empty body)"


def wait_ready(ow: Controller) -> dict[str, list[dict[str, Any]]]:
    """Wait for /ping and an authenticated package listing; the runtime manifest of GET /."""
    def ping() -> None:
        status, raw = ow.once("GET", "/ping", auth=False)
        text = raw.decode("utf-8", "replace").strip().strip('"')
        if status != 200 or text != "pong":
            raise _Retry(f"controller {ow.url} did not answer GET /ping with pong "
                         f"(HTTP {status}: {text[:100]})")

    def packages() -> None:
        status, raw = ow.once("GET", NAMESPACE + "/packages?limit=1")
        if status in TRANSIENT:
            raise _Retry(f"GET {NAMESPACE}/packages: controller answered HTTP {status}")
        if status != 200:
            raise Failure(f"controller {ow.url} refused the whisk.system key on GET "
                          f"{NAMESPACE}/packages: HTTP {status}: {_error_text(raw)}")

    deadline = ow.clock() + ow.timeout_s
    ow.retrying(ping, deadline)
    ow.retrying(packages, deadline)
    try:
        _, info = ow.request("GET", "/")
    except HttpError as e:
        raise Failure(f"GET / (runtime manifest): {e}") from None
    runtimes = info.get("runtimes") if isinstance(info, dict) else None
    if not isinstance(runtimes, dict):
        raise Failure(f"GET {ow.url}/ has no runtimes manifest")
    return runtimes


def kind_supported(kind: str, runtimes: Mapping[str, Any]) -> bool:
    family, _, version = kind.partition(":")
    if family not in runtimes:
        return False
    if version in ("", "default"):
        return True
    return any(isinstance(r, dict) and r.get("kind") == kind for r in runtimes[family] or [])


# ---------------------------------------------------------------- entities


def canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def with_digest(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    digest = "sha256:" + hashlib.sha256(canonical(body)).hexdigest()
    out = dict(body)
    out["annotations"] = list(body["annotations"]) + [{"key": DIGEST_KEY, "value": digest}]
    return out, digest


def keyvalues(mapping: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": v} for k, v in (mapping or {}).items()]


def inputs_to_parameters(inputs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """wskdeploy inputs: `name: value` or `name: {type?, value?, default?, description?}`."""
    out = []
    for name, spec in (inputs or {}).items():
        if isinstance(spec, dict) and set(spec) <= {"type", "value", "default", "description",
                                                     "required"}:
            value = spec.get("value", spec.get("default", ""))
        else:
            value = spec
        out.append({"key": str(name), "value": value})
    return out


class Entity:
    """A package or action to put: its label in messages, path, and body."""

    def __init__(self, label: str, path: str, body: dict[str, Any], get_query: str = "") -> None:
        self.label = label
        self.path = path
        self.body, self.digest = with_digest(body)
        self.get_query = get_query


def sync(ow: Controller, entity: Entity) -> bool:
    """Put entity unless the controller holds it with the same digest; True when it was put."""
    try:
        status, current = ow.request("GET", entity.path + entity.get_query, ok=(200, 404))
        if status == 200 and isinstance(current, dict):
            for a in current.get("annotations") or []:
                if isinstance(a, dict) and a.get("key") == DIGEST_KEY \
                        and a.get("value") == entity.digest:
                    return False
        ow.request("PUT", entity.path + "?overwrite=true", entity.body)
    except (HttpError, Failure) as e:
        raise Failure(f"{entity.label}: {e}") from None
    return True


# ---------------------------------------------------------------- code and zips


def _zip_entries(root: str, exclude_top: set[str]) -> dict[str, str]:
    """{archive name: file path} of a directory, the way `zip -r x.zip *` picks files."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            filenames = [f for f in filenames if not f.startswith(".") and f not in exclude_top]
        for name in list(dirnames) + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                parts = rel.split("/")
                if len(parts) >= 3 and parts[-3] == "node_modules" and parts[-2] == ".bin":
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                raise Failure(f"{path} is a symbolic link; only node_modules/.bin links are "
                              f"left out of a zip")
            if stat.S_ISREG(mode):
                out[rel] = path
    return out


def build_zip(entries: Mapping[str, str]) -> bytes:
    """Deterministic zip of {archive name: file path}: the same files give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries, key=lambda n: n.encode("utf-8")):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            with open(entries[name], "rb") as f:
                zf.writestr(info, f.read(), compresslevel=9)
    return buf.getvalue()


def zip_dir(root: str, zip_name: str, extra: Mapping[str, str] | None = None) -> bytes:
    entries = _zip_entries(root, {zip_name})
    for name, path in (extra or {}).items():
        entries.setdefault(name, path)
    return build_zip(entries)


def action_exec(pkg_dir: str, function: str, runtime: str | None,
                main: str | None) -> dict[str, Any]:
    path = os.path.normpath(os.path.join(pkg_dir, function))
    ext = os.path.splitext(function)[1].lower()
    if ext == ".zip":
        fn_dir = os.path.dirname(path)
        has_package_json = os.path.isfile(os.path.join(fn_dir, "package.json"))
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
        elif has_package_json:
            data = zip_dir(fn_dir, os.path.basename(path))
        else:
            raise Failure(f"{function} does not exist and {fn_dir} has no package.json to "
                          f"build it from")
        if not runtime and not has_package_json:
            raise Failure(f"{function} needs a `runtime` in the manifest")
        ex: dict[str, Any] = {"kind": runtime or "nodejs:default",
                              "code": base64.b64encode(data).decode(), "binary": True}
    else:
        kind = runtime or KIND_BY_EXT.get(ext)
        if not kind:
            raise Failure(f"cannot tell the kind of {function}; set `runtime` in the manifest")
        if ext == ".jar":
            with open(path, "rb") as f:
                ex = {"kind": kind, "code": base64.b64encode(f.read()).decode(), "binary": True}
        else:
            try:
                with open(path, encoding="utf-8") as f:
                    ex = {"kind": kind, "code": f.read()}
            except FileNotFoundError:
                raise Failure(f"{function} does not exist") from None
    if main:
        ex["main"] = str(main)
    return ex


# ---------------------------------------------------------------- plans


class Plan:
    """What to install: entities in order, plus skipped actions as (label, kind)."""

    def __init__(self) -> None:
        # an entity to put, or a skipped action as (package/action, kind)
        self.steps: list[Entity | tuple[str, str]] = []
        self.packages: list[str] = []


def _manifest_packages(pkg_dir: str) -> dict[str, Any]:
    path = os.path.join(pkg_dir, "manifest.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except FileNotFoundError:
        raise Failure(f"{path} does not exist") from None
    except yaml.YAMLError as e:
        raise Failure(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    if isinstance(doc, dict) and isinstance(doc.get("project"), dict):
        doc = doc["project"]
    packages = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(packages, dict) or not packages:
        raise Failure(f"{path} defines no packages")
    return packages


def plan_catalog(plan: Plan, catalog_dir: str, dirs: list[str],
                 runtimes: Mapping[str, Any]) -> None:
    for d in dirs:
        pkg_dir = os.path.join(catalog_dir, d)
        try:
            packages = _manifest_packages(pkg_dir)
        except Failure as e:
            raise Failure(f"package directory {d}: {e}") from None
        for name, spec in packages.items():
            label = f"package {name}"
            spec = spec or {}
            unknown = sorted(set(spec) - PACKAGE_KEYS)
            if unknown:
                raise Failure(f"{label}: manifest key(s) {', '.join(unknown)} are not supported")
            body = {"publish": bool(spec.get("public", False)),
                    "annotations": keyvalues(spec.get("annotations")),
                    "parameters": inputs_to_parameters(spec.get("inputs"))}
            plan.steps.append(Entity(label, f"{NAMESPACE}/packages/{name}", body))
            plan.packages.append(name)
            for action, aspec in (spec.get("actions") or {}).items():
                alabel = f"package {name} action {action}"
                aspec = aspec or {}
                unknown = sorted(set(aspec) - ACTION_KEYS)
                if unknown:
                    raise Failure(f"{alabel}: manifest key(s) {', '.join(unknown)} are not "
                                  f"supported")
                if not aspec.get("function"):
                    raise Failure(f"{alabel}: the manifest names no function")
                try:
                    ex = action_exec(pkg_dir, str(aspec["function"]), aspec.get("runtime"),
                                     aspec.get("main"))
                except (Failure, OSError, ValueError) as e:
                    raise Failure(f"{alabel}: {e}") from None
                if not kind_supported(ex["kind"], runtimes):
                    plan.steps.append((f"{name}/{action}", ex["kind"]))
                    continue
                abody = {"exec": ex, "annotations": keyvalues(aspec.get("annotations")),
                         "parameters": inputs_to_parameters(aspec.get("inputs"))}
                plan.steps.append(Entity(alabel, f"{NAMESPACE}/actions/{name}/{action}", abody,
                                         "?code=false"))


def plan_routemgmt(plan: Plan, root: str, gw_url: str, gw_user: str, gw_pwd: str,
                   runtimes: Mapping[str, Any]) -> None:
    name = ROUTEMGMT_PACKAGE
    body = {"publish": False,
            "annotations": [{"key": "description", "value": ROUTEMGMT_DESCRIPTION}],
            "parameters": [{"key": "gwUser", "value": gw_user},
                           {"key": "gwPwd", "value": gw_pwd},
                           {"key": "gwUrlV2", "value": gw_url}]}
    plan.steps.append(Entity(f"package {name}", f"{NAMESPACE}/packages/{name}", body))
    plan.packages.append(name)
    common_dir = os.path.join(root, "common")
    try:
        common = {f: os.path.join(common_dir, f) for f in sorted(os.listdir(common_dir))
                  if f.endswith(".js") and os.path.isfile(os.path.join(common_dir, f))}
    except OSError as e:
        raise Failure(f"package {name}: cannot read {common_dir}: {e.strerror}") from None
    for action, description in ROUTEMGMT_ACTIONS.items():
        label = f"package {name} action {action}"
        kind = "nodejs:default"
        if not kind_supported(kind, runtimes):
            plan.steps.append((f"{name}/{action}", kind))
            continue
        action_dir = os.path.join(root, action)
        if not os.path.isfile(os.path.join(action_dir, "package.json")):
            raise Failure(f"{label}: {action_dir}/package.json does not exist")
        try:
            data = zip_dir(action_dir, f"{action}.zip", common)
        except OSError as e:
            raise Failure(f"{label}: {e}") from None
        abody = {"exec": {"kind": kind, "code": base64.b64encode(data).decode(), "binary": True},
                 "annotations": [{"key": "description", "value": description},
                                 {"key": "web-export", "value": True},
                                 {"key": "final", "value": True}],
                 "parameters": []}
        plan.steps.append(Entity(label, f"{NAMESPACE}/actions/{name}/{action}", abody,
                                 "?code=false"))


# ---------------------------------------------------------------- main


def _read_secret(environ: Mapping[str, str], var: str, required: bool) -> str:
    path = environ.get(var, "")
    if not path:
        if required:
            raise Failure(f"{var} is not set")
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise Failure(f"cannot read {var} {path}: {e.strerror}") from None


def run(environ: Mapping[str, str], out: TextIO,
        sleep: Callable[[float], None] = time.sleep) -> None:
    url = environ.get("OW_API_URL", "")
    if not url.startswith(("http://", "https://")):
        raise Failure("OW_API_URL must be an http:// or https:// URL")
    auth = _read_secret(environ, "OW_AUTH_FILE", True)
    if ":" not in auth:
        raise Failure("OW_AUTH_FILE does not hold a key of the form uuid:key")
    try:
        timeout_s = float(environ.get("OW_TIMEOUT_S") or 300)
    except ValueError:
        raise Failure("OW_TIMEOUT_S must be a number of seconds") from None
    gw_url = environ.get("OW_APIGW_URL", "")
    gw_pwd = _read_secret(environ, "OW_APIGW_PASSWORD_FILE", False) if gw_url else ""
    ow = Controller(url, auth, environ.get("OW_INSECURE", "").lower() == "true", timeout_s,
                    sleep=sleep)

    runtimes = wait_ready(ow)
    plan = Plan()
    plan_catalog(plan, environ.get("OW_CATALOG_DIR") or "/catalog/packages",
                 environ.get("OW_PACKAGES", "").split(), runtimes)
    if gw_url:
        plan_routemgmt(plan, environ.get("OW_ROUTEMGMT_DIR") or "/routemgmt", gw_url,
                       environ.get("OW_APIGW_USER", ""), gw_pwd, runtimes)

    changed = unchanged = skipped = 0
    for entity in plan.steps:
        if isinstance(entity, tuple):
            what, kind = entity
            print(f"{PREFIX}skipped {what}: kind {kind} is not in this deployment's runtime "
                  f"manifest", file=out)
            skipped += 1
        elif sync(ow, entity):
            print(f"{PREFIX}{entity.label} created or updated", file=out)
            changed += 1
        else:
            print(f"{PREFIX}{entity.label} unchanged", file=out)
            unchanged += 1
    names = ", ".join(plan.packages) or "no packages"
    print(f"{PREFIX}{changed} created or updated, {unchanged} unchanged, {skipped} skipped "
          f"({names})", file=out)


def main(environ: Mapping[str, str], out: TextIO, err: TextIO,
         sleep: Callable[[float], None] = time.sleep) -> int:
    secrets = []
    try:
        secrets = [s for s in (_secret_or_none(environ, "OW_AUTH_FILE"),
                               _secret_or_none(environ, "OW_APIGW_PASSWORD_FILE")) if s]
        run(environ, _Redacting(out, secrets), sleep)
        return 0
    except Failure as e:
        print(_redact(f"{PREFIX}FAILED: {e}", secrets), file=err)
        return 1


def _secret_or_none(environ: Mapping[str, str], var: str) -> str | None:
    try:
        return _read_secret(environ, var, False) or None
    except Failure:
        return None


def _redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        for part in (s, s.partition(":")[2]):
            if len(part) >= 4:
                text = text.replace(part, "***")
    return text


class _Redacting:
    def __init__(self, out: TextIO, secrets: list[str]) -> None:
        self.out, self.secrets = out, secrets

    def write(self, text: str) -> int:
        return self.out.write(_redact(text, self.secrets))

    def flush(self) -> None:
        self.out.flush()


if __name__ == "__main__":
    sys.exit(main(os.environ, sys.stdout, sys.stderr))
