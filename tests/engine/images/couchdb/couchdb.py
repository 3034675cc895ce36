"""CouchDB stand-in for the engine tier. TEST STAND-IN ONLY: a CouchDB-compatible HTTP subset.

Serves what components/assets/couchdb/init.sh and the OpenWhisk stand-ins use, on port 5984:

  GET /  GET /_up  GET /_all_dbs  GET|PUT /_node/_local/_config/<section>/<key>
  PUT|GET|HEAD|DELETE /<db>   GET|PUT /<db>/_security   GET /<db>/_all_docs[?include_docs=true]
  GET|HEAD|PUT|DELETE /<db>/<docid> and /<db>/_design/<name>

Like CouchDB 2.x: the admin comes from COUCHDB_USER / COUCHDB_PASSWORD; other users are the
documents of `_users` (their `password` is replaced by a PBKDF2 derived_key on write); wrong
credentials get 401 everywhere, /_up included; a database whose `_security` lists members is open
only to those members (by name or role) and the admin, one without members to everyone; only the
admin creates databases, sets `_security` and writes design documents; documents carry `_rev`
(`<generation>-<hash>`) and a stale or missing `_rev` is a 409 conflict. No views run.

Data lives in DATA_DIR (the planned volume /opt/couchdb/data): one JSON file per database, so it
survives the container's replacement.

Test switch: while DATA_DIR/.standin-refuse-writes exists, every PUT and DELETE answers 500 (the
engine tier's failing init step).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, "/standin")
from standin import Reply, Request, exit_on_signal, log, serve_http  # noqa: E402

DATA_DIR = Path(os.environ.get("COUCHDB_DATA_DIR", "/opt/couchdb/data"))
PORT = int(os.environ.get("COUCHDB_PORT", "5984"))
DB_NAME = re.compile(r"^(_users|_replicator|_global_changes|[a-z][a-z0-9_$()+/-]*)$")
ITERATIONS = 10  # CouchDB 2.x's default pbkdf2 iterations
REFUSE_WRITES = ".standin-refuse-writes"


def compact(payload: Any) -> bytes:
    """CouchDB answers compact JSON and a newline."""
    return (json.dumps(payload, separators=(",", ":")) + "\n").encode()


def answer(status: int, payload: Any) -> Reply:
    return Reply(status, compact(payload), {"Content-Type": "application/json"})


def error(status: int, err: str, reason: str) -> Reply:
    return answer(status, {"error": err, "reason": reason})


class Store:
    """Databases as JSON files: {"docs": {id: doc}, "security": {...}}; the node config too."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()
        self.dbs: dict[str, dict[str, Any]] = {}
        for f in sorted(root.glob("*.couch.json")):
            self.dbs[json.loads(f.read_text())["name"]] = json.loads(f.read_text())
        cfg = root / "_node_config.json"
        self.config: dict[str, dict[str, str]] = json.loads(cfg.read_text()) if cfg.exists() else {}

    def _file(self, name: str) -> Path:
        return self.root / (name.replace("/", "%2F") + ".couch.json")

    def save(self, name: str) -> None:
        path = self._file(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.dbs[name]))
        tmp.replace(path)

    def save_config(self) -> None:
        (self.root / "_node_config.json").write_text(json.dumps(self.config))

    def create(self, name: str) -> None:
        self.dbs[name] = {"name": name, "docs": {}, "security": {}}
        self.save(name)

    def drop(self, name: str) -> None:
        del self.dbs[name]
        self._file(name).unlink(missing_ok=True)


class Couch:
    def __init__(self, store: Store, admin: str, password: str) -> None:
        self.store, self.admin, self.password = store, admin, password

    # -- who is asking ---------------------------------------------------------------------------

    def user(self, req: Request) -> tuple[str, list[str]] | None | bool:
        """(name, roles) of valid credentials; None without credentials; False when wrong."""
        creds = req.basic_auth()
        if creds is None:
            return None
        name, password = creds
        if name == self.admin and password == self.password:
            return name, ["_admin"]
        doc = self.store.dbs.get("_users", {}).get("docs", {}).get(f"org.couchdb.user:{name}")
        if doc and "derived_key" in doc and hashlib.pbkdf2_hmac(
                "sha1", password.encode(), doc["salt"].encode(), doc.get("iterations", ITERATIONS),
        ).hex() == doc["derived_key"]:
            return name, list(doc.get("roles", []))
        return False

    @staticmethod
    def member(db: dict[str, Any], who: tuple[str, list[str]] | None) -> bool:
        if who is not None and "_admin" in who[1]:
            return True
        members = db["security"].get("members", {})
        names, roles = members.get("names", []), members.get("roles", [])
        if not names and not roles:
            return db["name"] != "_users"
        return who is not None and (who[0] in names or any(r in roles for r in who[1]))

    # -- routing ---------------------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        if req.method in ("PUT", "DELETE") and (DATA_DIR / REFUSE_WRITES).exists():
            return error(500, "internal_server_error", f"writes refused: {REFUSE_WRITES} exists")
        who = self.user(req)
        if who is False:
            return error(401, "unauthorized", "Name or password is incorrect.")
        seg = [unquote(s) for s in req.raw_path.split("/") if s]
        if not seg:
            return answer(200, {"couchdb": "Welcome", "version": "2.3.1",
                                "vendor": {"name": "openwhisk-pulumi engine-tier stand-in"}})
        if seg == ["_up"]:
            return answer(200, {"status": "ok"})
        is_admin = who is not None and "_admin" in who[1]
        with self.store.lock:
            if seg == ["_all_dbs"]:
                return answer(200, sorted(self.store.dbs)) if is_admin else self.denied(who, True)
            if seg[:3] == ["_node", "_local", "_config"] and len(seg) == 5:
                return self.config(req, seg[3], seg[4]) if is_admin else self.denied(who, True)
            if seg[0].startswith("_") and seg[0] not in ("_users", "_replicator", "_global_changes"):
                return error(400, "illegal_database_name", f"Name: '{seg[0]}'.")
            return self.database(req, seg, who, is_admin)

    @staticmethod
    def denied(who: Any, server: bool = False) -> Reply:
        if who is None:
            return error(401, "unauthorized", "You are not a server admin." if server
                         else "You are not authorized to access this db.")
        return error(403, "forbidden", "You are not a server admin." if server
                     else "You are not allowed to access this db.")

    def config(self, req: Request, section: str, key: str) -> Reply:
        current = self.store.config.get(section, {}).get(key)
        if req.method == "GET":
            return answer(200, current) if current is not None else error(404, "not_found", "unknown_config_value")
        if req.method == "PUT":
            value = req.json()
            if not isinstance(value, str):
                return error(400, "bad_request", "config value must be a JSON string")
            self.store.config.setdefault(section, {})[key] = value
            self.store.save_config()
            return answer(200, current or "")
        return error(405, "method_not_allowed", "Only GET,PUT allowed")

    def database(self, req: Request, seg: list[str], who: Any, is_admin: bool) -> Reply:
        name = seg[0]
        db = self.store.dbs.get(name)
        if len(seg) == 1:
            if req.method == "PUT":
                if not is_admin:
                    return self.denied(who)
                if not DB_NAME.match(name):
                    return error(400, "illegal_database_name", f"Name: '{name}'.")
                if db is not None:
                    return error(412, "file_exists", "The database could not be created, the file already exists.")
                self.store.create(name)
                return answer(201, {"ok": True})
            if db is None:
                return error(404, "not_found", "Database does not exist.")
            if req.method == "DELETE":
                if not is_admin:
                    return self.denied(who)
                self.store.drop(name)
                return answer(200, {"ok": True})
            if not self.member(db, who):
                return self.denied(who)
            return answer(200, {"db_name": name, "doc_count": len(db["docs"]), "doc_del_count": 0})
        if db is None:
            return error(404, "not_found", "Database does not exist.")
        if seg[1] == "_security":
            if req.method == "PUT":
                if not is_admin:
                    return self.denied(who)
                db["security"] = req.json() or {}
                self.store.save(name)
                return answer(200, {"ok": True})
            return answer(200, db["security"]) if self.member(db, who) else self.denied(who)
        own_user_doc = name == "_users" and who and len(seg) == 2 and seg[1] == f"org.couchdb.user:{who[0]}"
        if not (self.member(db, who) or own_user_doc):
            return self.denied(who)
        if seg[1] == "_all_docs":
            return self.all_docs(db, req)
        if seg[1] == "_design" and len(seg) == 3:
            docid = f"_design/{seg[2]}"
            if req.method in ("PUT", "DELETE") and not is_admin:
                return error(403, "forbidden", "Only admins may write design documents.")
        elif len(seg) == 2 and not seg[1].startswith("_"):
            docid = seg[1]
        else:
            return error(400, "bad_request", f"unsupported path {req.path}")
        doc = db["docs"].get(docid)
        if req.method in ("GET", "HEAD"):
            return answer(200, doc) if doc else error(404, "not_found", "missing")
        if req.method == "PUT":
            return self.put(name, db, docid, req)
        if req.method == "DELETE":
            rev = req.query.get("rev") or req.headers.get("If-Match")
            if doc is None:
                return error(404, "not_found", "missing")
            if rev != doc["_rev"]:
                return error(409, "conflict", "Document update conflict.")
            del db["docs"][docid]
            self.store.save(name)
            return answer(200, {"ok": True, "id": docid, "rev": self.next_rev(rev, {})})
        return error(405, "method_not_allowed", f"{req.method} is not supported here")

    @staticmethod
    def all_docs(db: dict[str, Any], req: Request) -> Reply:
        rows = []
        for docid in sorted(db["docs"]):
            doc = db["docs"][docid]
            row = {"id": docid, "key": docid, "value": {"rev": doc["_rev"]}}
            if req.query.get("include_docs") == "true":
                row["doc"] = doc
            rows.append(row)
        return answer(200, {"total_rows": len(rows), "offset": 0, "rows": rows})

    @staticmethod
    def next_rev(current: str | None, body: dict[str, Any]) -> str:
        generation = int(current.split("-", 1)[0]) + 1 if current else 1
        digest = hashlib.md5(json.dumps(body, sort_keys=True).encode() + secrets.token_bytes(4))
        return f"{generation}-{digest.hexdigest()}"

    def put(self, name: str, db: dict[str, Any], docid: str, req: Request) -> Reply:
        doc = req.json()
        if not isinstance(doc, dict):
            return error(400, "bad_request", "Document must be a JSON object")
        if doc.get("_id", docid) != docid:
            return error(400, "bad_request", "Document id must match the URL")
        current = db["docs"].get(docid)
        given = doc.get("_rev") or req.query.get("rev")
        if (current is None and given is not None) or (current is not None and given != current["_rev"]):
            return error(409, "conflict", "Document update conflict.")
        body = {k: v for k, v in doc.items() if k not in ("_id", "_rev")}
        if name == "_users":
            problem = self.user_problem(docid, body)
            if problem:
                return error(403, "forbidden", problem)
            if "password" in body:
                salt = secrets.token_hex(16)
                body["derived_key"] = hashlib.pbkdf2_hmac(
                    "sha1", str(body.pop("password")).encode(), salt.encode(), ITERATIONS).hex()
                body.update(salt=salt, iterations=ITERATIONS, password_scheme="pbkdf2")
            elif current is not None:
                body.update({k: current[k] for k in ("derived_key", "salt", "iterations",
                                                     "password_scheme") if k in current})
        rev = self.next_rev(given, body)
        db["docs"][docid] = {"_id": docid, "_rev": rev, **body}
        self.store.save(name)
        return answer(201, {"ok": True, "id": docid, "rev": rev})

    @staticmethod
    def user_problem(docid: str, body: dict[str, Any]) -> str | None:
        prefix = "org.couchdb.user:"
        if not docid.startswith(prefix) or body.get("name") != docid[len(prefix):]:
            return "Document id must be org.couchdb.user:<name>"
        if body.get("type") != "user" or not isinstance(body.get("roles"), list):
            return "doc.type must be user and doc.roles an array"
        return None


def main() -> None:
    exit_on_signal()
    admin, password = os.environ.get("COUCHDB_USER"), os.environ.get("COUCHDB_PASSWORD")
    if not admin or not password:
        # The real image starts in "admin party" mode then; the plan always sets both.
        log("COUCHDB_USER and COUCHDB_PASSWORD must both be set")
        sys.exit(1)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    marker = DATA_DIR / ".standin-couchdb"
    if not marker.exists():
        marker.write_text(f"created {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    store = Store(DATA_DIR)
    serve_http(PORT, Couch(store, admin, password).handle)
    log(f"CouchDB API on :{PORT}, data in {DATA_DIR} ({len(store.dbs)} databases)")
    threading.Event().wait()


if __name__ == "__main__":
    main()
