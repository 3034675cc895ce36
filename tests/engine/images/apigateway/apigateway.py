"""OpenWhisk API gateway stand-in. TEST STAND-IN ONLY, not openwhisk/apigateway.

Reads the upstream image's environment: REDIS_HOST, REDIS_PORT, REDIS_PASS (optional),
PUBLIC_MANAGEDURL_HOST, PUBLIC_MANAGEDURL_PORT. Exits at startup, with a log line saying so, when
Redis refuses the password (or never answers within REDIS_WAIT_S, default 60 s). Serves the same
handler on 8080 and 9000:

  GET  /v1/apis, /v1/health-check        200 JSON list of every stored API (the health check)
  GET  /v2/<tenant>/apis[/<id>]          the tenant's APIs (?basePath= filters), or one
  PUT|POST /v2/<tenant>/apis[/<id>]      store an API: {"apidoc": doc} or the doc itself
  DELETE /v2/<tenant>/apis/<id>          (or ?basePath=) delete
  *    /api/<tenant>/<basePath>/<path>   forward to the operation's backend URL

APIs live in the real Redis, hash `standin:apis:<tenant>` (id -> JSON). A doc is an OpenAPI doc
(`basePath`, `paths.<path>.<method>.x-openwhisk.url`) or a route-management apidoc
(`gatewayBasePath`, `gatewayPath`, `gatewayMethod`, `action.backendUrl`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote

import redis

sys.path.insert(0, "/standin")
from standin import Reply, Request, die, exit_on_signal, http_call, log, serve_http  # noqa: E402

ENV = os.environ
PORTS = (8080, 9000)


def connect() -> redis.Redis:
    host, port = ENV.get("REDIS_HOST", "redis"), int(ENV.get("REDIS_PORT") or 6379)
    db = redis.Redis(host=host, port=port, password=ENV.get("REDIS_PASS") or None,
                     socket_timeout=5, decode_responses=True)
    deadline = time.monotonic() + float(ENV.get("REDIS_WAIT_S") or 60)
    while True:
        try:
            db.ping()
            log(f"connected to Redis at {host}:{port}")
            return db
        except (redis.AuthenticationError, redis.ResponseError) as err:  # WRONGPASS, NOAUTH
            what = "the password in REDIS_PASS" if ENV.get("REDIS_PASS") else \
                "the connection without a password (REDIS_PASS is empty)"
            die(f"Redis at {host}:{port} refused {what}: {err}; exiting")
        except redis.ConnectionError as err:
            if time.monotonic() > deadline:
                die(f"Redis at {host}:{port} does not answer: {err}; exiting")
            time.sleep(1)


def doc_of(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict) and isinstance(body.get("apidoc"), dict):
        return body["apidoc"]
    return body if isinstance(body, dict) else None


def base_path(doc: dict[str, Any]) -> str:
    return "/" + str(doc.get("basePath") or doc.get("gatewayBasePath") or "").strip("/")


def operations(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, backend URL, backend method) of each operation of a stored doc."""
    if "gatewayPath" in doc:
        method, action = str(doc.get("gatewayMethod", "GET")).upper(), doc.get("action") or {}
        return [(method, "/" + doc["gatewayPath"].strip("/"), action.get("backendUrl", ""),
                 str(action.get("backendMethod") or method).upper())]
    return [(method.upper(), "/" + path.strip("/"), (op.get("x-openwhisk") or {}).get("url", ""),
             method.upper())
            for path, ops in (doc.get("paths") or {}).items() for method, op in ops.items()
            if isinstance(op, dict)]


class Gateway:
    def __init__(self, db: redis.Redis) -> None:
        self.db = db

    def apis(self, tenant: str) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in sorted(self.db.hgetall(f"standin:apis:{tenant}").items())]

    def all_apis(self) -> list[dict[str, Any]]:
        return [api for key in sorted(self.db.scan_iter("standin:apis:*"))
                for api in self.apis(key.removeprefix("standin:apis:"))]

    def record(self, tenant: str, api_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        host = ENV.get("PUBLIC_MANAGEDURL_HOST") or "localhost"
        port = ENV.get("PUBLIC_MANAGEDURL_PORT") or "9000"
        return {"artifact_id": api_id, "tenant": tenant, "open_api_doc": doc,
                "managed_url": f"{'https' if port == '443' else 'http'}://{host}:{port}/api/{tenant}"
                               f"{base_path(doc)}"}

    def handle(self, req: Request) -> Reply:
        parts = [unquote(p) for p in req.raw_path.split("/") if p]  # an id may hold a %2F
        if req.method == "GET" and parts in (["v1", "apis"], ["v1", "health-check"]):
            return Reply(200, self.all_apis())
        if len(parts) in (3, 4) and parts[0] == "v2" and parts[2] == "apis":
            return self.manage(req, parts[1], parts[3] if len(parts) == 4 else None)
        if len(parts) >= 2 and parts[0] == "api":
            return self.route(req, parts[1], "/" + "/".join(parts[2:]))
        return Reply(404, {"status": 404, "message": f"no route for {req.method} {req.path}"})

    def manage(self, req: Request, tenant: str, api_id: str | None) -> Reply:
        key = f"standin:apis:{tenant}"
        if req.method == "GET":
            if api_id:
                raw = self.db.hget(key, api_id)
                return Reply(200, json.loads(raw)) if raw else Reply(404, {"status": 404, "message": "no such API"})
            wanted = req.query.get("basePath")
            return Reply(200, [a for a in self.apis(tenant)
                               if not wanted or base_path(a["open_api_doc"]) == base_path({"basePath": wanted})])
        if req.method in ("PUT", "POST"):
            doc = doc_of(req.json())
            if doc is None:
                return Reply(400, {"status": 400, "message": "body must be a JSON API doc"})
            api_id = api_id or str(doc.get("id") or uuid.uuid4())
            rec = self.record(tenant, api_id, doc)
            self.db.hset(key, api_id, json.dumps(rec))
            log(f"stored API {api_id} of {tenant} at {base_path(doc)}")
            return Reply(200, rec)
        if req.method == "DELETE":
            ids = [api_id] if api_id else [a["artifact_id"] for a in self.apis(tenant)
                                           if base_path(a["open_api_doc"]) == base_path({"basePath": req.query.get("basePath", "")})]
            gone = self.db.hdel(key, *ids) if ids else 0
            return Reply(200, {}) if gone else Reply(404, {"status": 404, "message": "no such API"})
        return Reply(405, {"status": 405, "message": "method not allowed"})

    def route(self, req: Request, tenant: str, rest: str) -> Reply:
        for api in self.apis(tenant):
            base = base_path(api["open_api_doc"]).rstrip("/")
            for method, path, url, backend_method in operations(api["open_api_doc"]):
                if req.method == method and rest.rstrip("/") == (base + path).rstrip("/") and url:
                    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in req.query.items())
                    target = url + ("&" if "?" in url else "?") + query if query else url
                    try:
                        status, answer = http_call(backend_method, target, raw=req.body or None,
                                                   timeout=60)
                    except OSError as err:
                        return Reply(502, {"status": 502, "message": f"backend {url}: {err}"})
                    return Reply(status, answer)
        return Reply(404, {"status": 404, "message": f"no API of {tenant} serves {req.method} {rest}"})


def main() -> None:
    exit_on_signal()
    gateway = Gateway(connect())
    for port in PORTS:
        serve_http(port, gateway.handle)
    log(f"API gateway stand-in serves {PORTS}; managed URLs on "
        f"{ENV.get('PUBLIC_MANAGEDURL_HOST')}:{ENV.get('PUBLIC_MANAGEDURL_PORT')}")
    threading.Event().wait()


if __name__ == "__main__":
    main()
