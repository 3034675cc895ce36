"""A small in-memory stand-in for CouchDB, just enough for components/assets/couchdb/init.sh.

Supported (everything else answers 405 and is still recorded):

* ``GET /_up``
* ``PUT /<db>`` (201, or 412 when it exists) and ``GET /<db>``
* ``GET /<db>/<docid>`` and ``PUT /<db>/<docid>`` with revision checks (409 when the
  ``_rev`` is missing for an existing document, stale, or given for a new one)
* ``GET``/``PUT /<db>/_security``
* ``PUT /_node/_local/_config/<section>/<key>``
* HTTP basic auth against one admin user (401 otherwise; ``/_up`` works without credentials,
  as in CouchDB, but wrong credentials are rejected there too)

Documents are returned like CouchDB does: compact JSON with ``_id`` and ``_rev`` first.
``_users`` documents get their ``password`` replaced by a salted hash. Every request is
recorded as ``(method, path)`` in :attr:`FakeCouchDB.requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

_DB_NAME = re.compile(r"^(_users|_replicator|_global_changes|[a-z][a-z0-9_$()+/-]*)$")


def _password_hash(salt: str, password: str) -> str:
    return hashlib.sha256((salt + password).encode()).hexdigest()


class FakeCouchDB:
    """In-memory CouchDB serving HTTP on 127.0.0.1 from a background thread."""

    def __init__(self, admin_user: str, admin_password: str) -> None:
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.databases: dict[str, dict[str, dict[str, Any]]] = {}
        self.security: dict[str, dict[str, Any]] = {}
        self.config: dict[tuple[str, str], str] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "FakeCouchDB":
        handler = type("Handler", (_Handler,), {"couch": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeCouchDB":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- direct access for tests -------------------------------------------
    def seed(self, db: str, doc: dict[str, Any]) -> str:
        """Store a document directly (creating the database if needed); returns its _rev."""
        with self.lock:
            docs = self.databases.setdefault(db, {})
            body = {k: v for k, v in doc.items() if k not in ("_id", "_rev")}
            rev = self._next_rev(None, body)
            docs[doc["_id"]] = {"_id": doc["_id"], "_rev": rev, **body}
            return rev

    def doc(self, db: str, docid: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.databases.get(db, {}).get(docid)
            return json.loads(json.dumps(found)) if found is not None else None

    def check_password(self, name: str, password: str) -> bool:
        user = self.doc("_users", f"org.couchdb.user:{name}")
        if user is None or "password" in user:
            return False
        return user.get("derived_key") == _password_hash(user["salt"], password)

    # -- internals -----------------------------------------------------------
    @staticmethod
    def _next_rev(current: str | None, body: dict[str, Any]) -> str:
        generation = int(current.split("-", 1)[0]) + 1 if current else 1
        digest = hashlib.md5(json.dumps(body, sort_keys=True).encode() + secrets.token_bytes(4)).hexdigest()
        return f"{generation}-{digest}"


class _Handler(BaseHTTPRequestHandler):
    couch: FakeCouchDB
    protocol_version = "HTTP/1.1"
    timeout = 5  # seconds a connection may stay idle; keeps a stuck client from pinning a thread

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    # -- plumbing ------------------------------------------------------------
    def _send(self, status: int, payload: Any) -> None:
        body = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, error: str, reason: str) -> None:
        self._send(status, {"error": error, "reason": reason})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorised(self) -> bool | None:
        """True: admin; False: credentials given but wrong; None: no credentials."""
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user == self.couch.admin_user and password == self.couch.admin_password

    def _dispatch(self, method: str) -> None:
        raw_path = urlsplit(self.path).path
        body = self._body()
        with self.couch.lock:
            self.couch.requests.append((method, unquote(raw_path)))
        auth = self._authorised()
        if auth is False:
            return self._error(401, "unauthorized", "Name or password is incorrect.")
        segments = [unquote(s) for s in raw_path.strip("/").split("/")] if raw_path.strip("/") else []
        if segments == ["_up"] and method == "GET":
            return self._send(200, {"status": "ok"})
        if auth is None:
            return self._error(401, "unauthorized", "You are not a server admin.")
        with self.couch.lock:
            self._route(method, segments, body)

    def _route(self, method: str, seg: list[str], body: bytes) -> None:
        couch = self.couch
        if len(seg) == 5 and seg[:3] == ["_node", "_local", "_config"] and method == "PUT":
            value = json.loads(body)
            if not isinstance(value, str):
                return self._error(400, "bad_request", "config value must be a JSON string")
            old = couch.config.get((seg[3], seg[4]), "")
            couch.config[(seg[3], seg[4])] = value
            return self._send(200, old)
        if len(seg) == 1 and method == "PUT":
            if not _DB_NAME.match(seg[0]):
                return self._error(400, "illegal_database_name", f"Name: '{seg[0]}'.")
            if seg[0] in couch.databases:
                return self._error(412, "file_exists", "The database could not be created, the file already exists.")
            couch.databases[seg[0]] = {}
            return self._send(201, {"ok": True})
        if len(seg) == 1 and method == "GET":
            if seg[0] not in couch.databases:
                return self._error(404, "not_found", "Database does not exist.")
            return self._send(200, {"db_name": seg[0], "doc_count": len(couch.databases[seg[0]])})
        if len(seg) >= 2:
            db = seg[0]
            if db not in couch.databases:
                return self._error(404, "not_found", "Database does not exist.")
            if seg[1] == "_design" and len(seg) == 3:
                docid = f"_design/{seg[2]}"
            elif len(seg) == 2:
                docid = seg[1]
            else:
                return self._error(405, "method_not_allowed", "unsupported path")
            if docid == "_security":
                return self._security(method, db, body)
            if method == "GET":
                return self._get_doc(db, docid)
            if method == "PUT":
                return self._put_doc(db, docid, body)
        return self._error(405, "method_not_allowed", f"{method} is not supported here")

    def _security(self, method: str, db: str, body: bytes) -> None:
        if method == "GET":
            return self._send(200, self.couch.security.get(db, {}))
        if method == "PUT":
            self.couch.security[db] = json.loads(body)
            return self._send(200, {"ok": True})
        return self._error(405, "method_not_allowed", "unsupported")

    def _get_doc(self, db: str, docid: str) -> None:
        found = self.couch.databases[db].get(docid)
        if found is None:
            return self._error(404, "not_found", "missing")
        return self._send(200, found)

    def _put_doc(self, db: str, docid: str, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
        except ValueError:
            return self._error(400, "bad_request", "invalid UTF-8 JSON")
        if not isinstance(doc, dict):
            return self._error(400, "bad_request", "Document must be a JSON object")
        if doc.get("_id", docid) != docid:
            return self._error(400, "bad_request", "Document id must match the URL")
        docs = self.couch.databases[db]
        current = docs.get(docid)
        given = doc.get("_rev")
        if current is None and given is not None:
            return self._error(409, "conflict", "Document update conflict.")
        if current is not None and given != current["_rev"]:
            return self._error(409, "conflict", "Document update conflict.")
        body = {k: v for k, v in doc.items() if k not in ("_id", "_rev")}
        if db == "_users":
            problem = self._validate_user(docid, body)
            if problem:
                return self._error(403, "forbidden", problem)
            if "password" in body:
                salt = secrets.token_hex(8)
                body["derived_key"] = _password_hash(salt, body.pop("password"))
                body["salt"] = salt
                body["password_scheme"] = "fake-sha256"
            elif current is not None:
                for field in ("derived_key", "salt", "password_scheme"):
                    if field in current:
                        body[field] = current[field]
        rev = FakeCouchDB._next_rev(given, body)
        docs[docid] = {"_id": docid, "_rev": rev, **body}
        return self._send(201, {"ok": True, "id": docid, "rev": rev})

    @staticmethod
    def _validate_user(docid: str, body: dict[str, Any]) -> str | None:
        prefix = "org.couchdb.user:"
        if not docid.startswith(prefix):
            return "Document id must begin with org.couchdb.user:"
        if body.get("name") != docid[len(prefix):]:
            return "Document id must match the user name"
        if body.get("type") != "user":
            return "doc.type must be user"
        if not isinstance(body.get("roles"), list):
            return "doc.roles must be an array"
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_COPY(self) -> None:  # noqa: N802
        self._dispatch("COPY")
