"""Grafana stand-in for the engine tier. TEST STAND-IN ONLY: a small subset of Grafana's HTTP API.

Reads the upstream image's environment: GF_SERVER_HTTP_PORT (3000), GF_PATHS_PROVISIONING
(/etc/grafana/provisioning), GF_PATHS_DATA (/var/lib/grafana), GF_SECURITY_ADMIN_USER (admin) and
the admin password from GF_SECURITY_ADMIN_PASSWORD, or from the file GF_SECURITY_ADMIN_PASSWORD__FILE
names (every `GF_<X>__FILE` is resolved as upstream's run.sh does: the file's content, trailing
newlines stripped; both set is an error). Stricter than Grafana, so that the tests prove the wiring:
no admin password (Grafana would fall back to admin/admin), a `__FILE` it cannot read, an unwritable
data directory, a provisioning file it cannot read, a dashboard provider path that does not exist,
or a dashboard panel naming a datasource no provisioned datasource has: a log line and exit 1.

Like Grafana, the admin password from the environment applies only when the database is created
(the first start on a volume); later starts keep the stored one (a salted hash in grafana.db), and
`grafana cli [--homepath H] [--config C] admin reset-admin-password --password-from-stdin` (or
the password as an argument) changes it, also before the first start (Grafana's CLI creates the
database and its admin user first).

At startup: provisions `<prov>/datasources/*.yaml` (apiVersion 1, `datasources: [{name, type,
access, url, uid?, isDefault?}]`) and `<prov>/dashboards/*.yaml` (`providers: [{name, type: file,
folder?, options: {path}}]`), loads every `*.json` under each provider path, and writes grafana.db
(JSON: how often it started) into the data directory. Serves:

  GET /api/health                           no auth: {"database": "ok", "version": "standin"}
  GET /api/search[?query=]                  basic auth admin:<password>, else 401
  GET /api/dashboards/uid/<uid>
  GET /api/datasources   GET /api/datasources/uid/<uid>   GET /api/datasources/name/<name>
  GET /api/datasources/uid/<uid>/health     prometheus: GET <url>/api/v1/query?query=1%2B1 (5 s)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

sys.path.insert(0, "/standin")
from standin import Reply, Request, die, exit_on_signal, http_call, log, serve_http  # noqa: E402

PORT = int(os.environ.get("GF_SERVER_HTTP_PORT") or 3000)
PROVISIONING = Path(os.environ.get("GF_PATHS_PROVISIONING") or "/etc/grafana/provisioning")
DATA = Path(os.environ.get("GF_PATHS_DATA") or "/var/lib/grafana")
ADMIN_USER = os.environ.get("GF_SECURITY_ADMIN_USER") or "admin"
# Names that are not provisioned datasources but Grafana's own (or a template variable).
BUILTIN_DATASOURCES = {"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"}

DATASOURCES: list[dict[str, Any]] = []
DASHBOARDS: list[dict[str, Any]] = []


def resolve_file_variables() -> None:
    """Grafana's `__FILE` convention (upstream run.sh): every GF_<X>__FILE names a file whose
    content, trailing newlines stripped, becomes GF_<X>; setting both is an error. Stricter than
    run.sh: a file it cannot read is an error too (run.sh would go on with an empty value)."""
    for name in sorted(k for k in os.environ if re.fullmatch(r"GF_\w+__FILE", k)):
        target, path = name.removesuffix("__FILE"), os.environ[name]
        if not path:
            continue
        if os.environ.get(target):
            die(f"ERROR: Both {target} and {name} are set (but are exclusive)")
        try:
            value = Path(path).read_text().rstrip("\n")
        except OSError as err:
            die(f"{name}={path}: cannot read the file ({err.strerror})")
        log(f"Getting secret {target} from {path}")
        os.environ[target] = value
        del os.environ[name]
        os.environ[f"OW_STANDIN_{target}_FROM"] = f"{name}={path}"


def admin_password() -> str:
    password = os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "")
    if not password:
        source = os.environ.get("OW_STANDIN_GF_SECURITY_ADMIN_PASSWORD_FROM")
        die(f"no admin password (GF_SECURITY_ADMIN_PASSWORD__FILE or GF_SECURITY_ADMIN_PASSWORD "
            f"must give a non-empty one; {source + ' is empty' if source else 'neither is set'}): "
            f"the real Grafana would fall back to admin/admin")
    return password


def _expand(text: str) -> str:
    """Grafana expands $VAR and ${VAR} from the environment in provisioning files."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))",
                  lambda m: os.environ.get(m.group(1) or m.group(2), ""), text)


def _yaml_files(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    folder = PROVISIONING / kind
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        try:
            doc = yaml.safe_load(_expand(path.read_text())) or {}
        except (OSError, yaml.YAMLError) as err:
            die(f"provisioning {kind}: cannot read {path}: {err}")
        if not isinstance(doc, dict):
            die(f"provisioning {kind}: {path} is not a YAML mapping")
        out.append((path, doc))
    return out


def _uid_of(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-").lower()[:40] or "datasource"


def provision_datasources() -> None:
    for path, doc in _yaml_files("datasources"):
        for entry in doc.get("datasources") or []:
            if not isinstance(entry, dict) or not entry.get("name") or not entry.get("type"):
                die(f"provisioning datasources: {path}: every datasource needs a name and a type "
                    f"(got {entry!r})")
            if any(d["name"] == entry["name"] for d in DATASOURCES):
                die(f"provisioning datasources: {path}: datasource {entry['name']!r} provisioned twice")
            DATASOURCES.append({
                "id": len(DATASOURCES) + 1, "uid": str(entry.get("uid") or _uid_of(entry["name"])),
                "orgId": int(entry.get("orgId", 1)), "name": entry["name"], "type": entry["type"],
                "url": entry.get("url", ""), "access": entry.get("access", "proxy"),
                "isDefault": bool(entry.get("isDefault", False)),
                "jsonData": entry.get("jsonData") or {}, "readOnly": not entry.get("editable", False)})
    defaults = [d["name"] for d in DATASOURCES if d["isDefault"]]
    if len(defaults) > 1:
        die(f"provisioning datasources: datasource.yaml config is invalid. Only one datasource per "
            f"organization can be marked as default (got {defaults})")
    for d in DATASOURCES:
        log(f"datasource {d['name']!r} (uid {d['uid']}, {d['type']}, {d['access']}) -> {d['url'] or '-'}")


def _panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a dashboard, those in rows (old schema) and collapsed rows included."""
    out, todo = [], list(doc.get("panels") or []) + [p for r in doc.get("rows") or []
                                                      for p in r.get("panels") or []]
    while todo:
        panel = todo.pop(0)
        if isinstance(panel, dict):
            out.append(panel)
            todo += panel.get("panels") or []
    return out


def _missing_datasource(panel: dict[str, Any]) -> str | None:
    """The datasource a panel (or one of its targets) names that is not provisioned, or None."""
    names = {d["name"] for d in DATASOURCES}
    uids = {d["uid"] for d in DATASOURCES}
    for ref in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets") or []
                                            if isinstance(t, dict)]:
        if isinstance(ref, str) and ref and not ref.startswith("$") \
                and ref not in BUILTIN_DATASOURCES and ref not in names:
            return ref
        if isinstance(ref, dict):
            uid = str(ref.get("uid") or "")
            if uid and not uid.startswith("$") and uid not in BUILTIN_DATASOURCES and uid not in uids:
                return f"uid {uid}"
    return None


def provision_dashboards() -> None:
    for path, doc in _yaml_files("dashboards"):
        for provider in doc.get("providers") or []:
            if not isinstance(provider, dict) or provider.get("type", "file") != "file":
                die(f"provisioning dashboards: {path}: only `type: file` providers are supported "
                    f"(got {provider!r})")
            folder = Path(str((provider.get("options") or {}).get("path") or ""))
            if not folder.is_dir():
                die(f"provisioning dashboards: provider {provider.get('name')!r} of {path}: "
                    f"options.path {str(folder)!r} is not a directory")
            files = sorted(folder.rglob("*.json"))
            for file in files:
                try:
                    dash = json.loads(file.read_text())
                except (OSError, ValueError) as err:
                    die(f"dashboard {file}: not valid JSON: {err}")
                if not isinstance(dash, dict) or not dash.get("title"):
                    die(f"dashboard {file}: no title")
                for panel in _panels(dash):
                    missing = _missing_datasource(panel)
                    if missing is not None:
                        die(f"dashboard {dash['title']!r} ({file}): panel {panel.get('title')!r} "
                            f"uses datasource {missing!r}, which no provisioned datasource is "
                            f"(provisioned: {[d['name'] for d in DATASOURCES] or 'none'})")
                uid = str(dash.get("uid") or _uid_of(dash["title"]))
                if any(d["uid"] == uid for d in DASHBOARDS):
                    die(f"dashboard {file}: uid {uid!r} is used by another provisioned dashboard")
                DASHBOARDS.append({"id": len(DASHBOARDS) + 1, "uid": uid, "title": dash["title"],
                                   "tags": dash.get("tags") or [], "folder": provider.get("folder") or "",
                                   "file": str(file), "json": {**dash, "uid": uid}})
            log(f"dashboard provider {provider.get('name')!r}: {len(files)} dashboards from {folder}")


DB = DATA / "grafana.db"


def _hash(password: str) -> str:
    return hashlib.sha256(f"stand-in-salt:{password}".encode()).hexdigest()


def read_db() -> dict[str, Any]:
    try:
        return json.loads(DB.read_text()) if DB.exists() else {}
    except (OSError, ValueError) as err:
        die(f"{DB}: cannot read the database ({err})")
        return {}


def write_db(state: dict[str, Any]) -> None:
    try:
        DB.write_text(json.dumps({"stand-in": True, **state}) + "\n")
    except OSError as err:
        die(f"GF_PATHS_DATA={DATA!s} is not writable ({err}); "
            f"you may have to change the owner of the volume to uid 472")


def record_start() -> int:
    """Counts the start; on a new database, stores the admin password from the environment."""
    state = read_db()
    if "admin_password" not in state:
        state["admin_password"] = _hash(admin_password())
        log(f"created admin user {ADMIN_USER!r} with the password from the environment")
    elif os.environ.get("GF_SECURITY_ADMIN_PASSWORD"):
        log("admin user exists: GF_SECURITY_ADMIN_PASSWORD applies to a new database only")
    state |= {"starts": int(state.get("starts", 0)) + 1,
              "last_start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_db(state)
    return state["starts"]


def cli(args: list[str]) -> None:
    """`grafana cli [--homepath H] [--config C] admin reset-admin-password (--password-from-stdin
    | <password>)`, the one command the stand-in knows."""
    rest = []
    it = iter(args)
    for arg in it:
        if arg in ("--homepath", "--config"):
            next(it, None)
        elif not arg.startswith(("--homepath=", "--config=")):
            rest.append(arg)
    if rest[:2] != ["admin", "reset-admin-password"]:
        die(f"grafana cli stand-in: unknown command {' '.join(rest)!r}")
    if "--password-from-stdin" in rest:
        password = sys.stdin.read().rstrip("\n")
    elif len(rest) == 3:
        password = rest[2]
    else:
        die("grafana cli stand-in: reset-admin-password needs a password or --password-from-stdin")
    if not password:
        die("New password is too short")
    write_db(read_db() | {"admin_password": _hash(password)})
    print("Admin password changed successfully ✔")
    sys.exit(0)


def _datasource_health(ds: dict[str, Any]) -> Reply:
    if ds["type"] != "prometheus":
        return Reply(400, {"status": "ERROR",
                           "message": f"the stand-in checks prometheus datasources only ({ds['type']})"})
    url = ds["url"].rstrip("/") + "/api/v1/query?query=" + quote("1+1")
    try:
        status, body = http_call("GET", url, timeout=5)
    except OSError as err:
        return Reply(400, {"status": "ERROR", "message": f"Get \"{url}\": {err}"})
    if status == 200 and isinstance(body, dict) and body.get("status") == "success":
        return Reply(200, {"status": "OK", "message": "Successfully queried the Prometheus API."})
    return Reply(400, {"status": "ERROR",
                       "message": f"Prometheus answered HTTP {status}: {str(body)[:200]}"})


def _public(ds: dict[str, Any]) -> dict[str, Any]:
    return {k: ds[k] for k in ("id", "uid", "orgId", "name", "type", "url", "access", "isDefault",
                               "jsonData", "readOnly")}


def handler() -> Any:
    def authorized(req: Request) -> bool:
        given = req.basic_auth()
        return given is not None and given[0] == ADMIN_USER and \
            _hash(given[1]) == read_db().get("admin_password")

    def handle(req: Request) -> Reply:
        path = req.path.rstrip("/") or "/"
        if path == "/api/health":
            return Reply(200, {"commit": "standin", "database": "ok", "version": "standin"})
        if not path.startswith("/api/"):
            return Reply(200 if path == "/" else 404, "Grafana stand-in (tests only)\n")
        if not authorized(req):
            return Reply(401, {"message": "Invalid username or password"
                               if req.basic_auth() else "Unauthorized"})
        if req.method != "GET":
            return Reply(405, {"message": "the stand-in serves GET only"})
        if path == "/api/search":
            query = req.query.get("query", "").lower()
            return Reply(200, [{"id": d["id"], "uid": d["uid"], "title": d["title"],
                                "uri": f"db/{_uid_of(d['title'])}", "url": f"/d/{d['uid']}",
                                "type": "dash-db", "tags": d["tags"], "isStarred": False,
                                **({"folderTitle": d["folder"]} if d["folder"] else {})}
                               for d in DASHBOARDS if query in d["title"].lower()])
        found = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if found:
            dash = next((d for d in DASHBOARDS if d["uid"] == found.group(1)), None)
            if dash is None:
                return Reply(404, {"message": "Dashboard not found"})
            return Reply(200, {"dashboard": {**dash["json"], "id": dash["id"]},
                               "meta": {"provisioned": True, "provisionedExternalId": dash["file"],
                                        "folderTitle": dash["folder"] or "General"}})
        if path == "/api/datasources":
            return Reply(200, [_public(d) for d in DATASOURCES])
        found = re.fullmatch(r"/api/datasources/(uid|name)/([^/]+)(/health)?", path)
        if found:
            ds = next((d for d in DATASOURCES if d[found.group(1)] == found.group(2)), None)
            if ds is None:
                return Reply(404, {"message": "Data source not found"})
            return _datasource_health(ds) if found.group(3) else Reply(200, _public(ds))
        return Reply(404, {"message": "Not found"})

    return handle


def main() -> None:
    if sys.argv[1:2] == ["cli"]:
        cli(sys.argv[2:])
    exit_on_signal()
    resolve_file_variables()
    if not DATA.is_dir():
        die(f"GF_PATHS_DATA={DATA!s} is not a directory")
    provision_datasources()
    provision_dashboards()
    starts = record_start()
    serve_http(PORT, handler())
    log(f"HTTP on {PORT}, admin user {ADMIN_USER!r}, {len(DATASOURCES)} datasources, "
        f"{len(DASHBOARDS)} dashboards, data in {DATA} (start {starts})")
    threading.Event().wait()


if __name__ == "__main__":
    main()
