"""ElasticSearch stand-in for the engine tier. TEST STAND-IN ONLY: a tiny ES 6-style HTTP subset.

Port 9200 (and a bare TCP listener on the transport port 9300). Reads the planned environment
(`cluster.name`, `node.name`, `discovery.type`, `network.publish_host`, ...). Serves:

  GET /   GET /_cluster/health   HEAD|PUT|GET|DELETE /<index>
  PUT|POST /<index>/_doc/<id>   GET /<index>/_doc/<id>   POST /<index>/_doc
  GET|POST /<index>/_search  (match_all, or one `term`/`match` query on a top-level field)

Security, as ElasticSearch 6.8 with the basic license does it:
- `xpack.security.enabled: true` makes every REST call log in (basic authentication; a 401 carries
  `WWW-Authenticate: Basic realm="security"`, the challenge OpenWhisk's client answers). Users come
  from the file realm: `config/users` (`name:bcrypt hash`, checked with the C library's crypt),
  `config/users_roles` (`role:user,user`) and `config/roles.yml`, read again when they change.
  `/_cluster/health` needs the cluster privilege `monitor` (or `all`); index calls need an index
  privilege (`all`, `read` for reads, `write`/`index`/`create_index`/`delete` for writes) on a
  `names` pattern matching the index. `elastic` has no password here and never logs in.
- With security on and no single-node discovery, transport TLS is required: the node exits like
  ElasticSearch's bootstrap check when `xpack.security.transport.ssl.enabled` is not `true`.
- Transport TLS: 9300 speaks TLS with `certificate`, `key` and `certificate_authorities` from the
  configured PEM files and requires a client certificate of that CA. At startup the node opens a
  connection to itself presenting its certificate as a client, as ElasticSearch's nodes do to
  each other, and exits if that fails (e.g. a certificate without the clientAuth use); it then
  checks its peers' transport ports the same way and logs the result.
With security off (the default of the real image is on), credentials are ignored. Every index is a
JSON file in /usr/share/elasticsearch/data, so data survives a container replacement.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, "/standin")
import yaml  # noqa: E402

with warnings.catch_warnings():  # deprecated since 3.11, still in Debian's python3: checks bcrypt
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402
from standin import Reply, Request, die, exit_on_signal, listen_tcp, log, serve_http  # noqa: E402

DATA = Path(os.environ.get("ES_DATA_DIR", "/usr/share/elasticsearch/data"))
CONFIG = Path("/usr/share/elasticsearch/config")
SECURITY = os.environ.get("xpack.security.enabled", "true") == "true"
TRANSPORT_TLS = os.environ.get("xpack.security.transport.ssl.enabled") == "true"
TLS = "xpack.security.transport.ssl."
CLUSTER = os.environ.get("cluster.name", "elasticsearch")
NODE = os.environ.get("node.name", os.uname().nodename)
LOCK = threading.Lock()
INDICES: dict[str, dict[str, Any]] = {}


def _save(index: str) -> None:
    (DATA / f"{index}.index.json").write_text(json.dumps(INDICES[index]))


def _not_found(index: str) -> Reply:
    return Reply(404, {"error": {"type": "index_not_found_exception", "index": index,
                                 "reason": f"no such index [{index}]"}, "status": 404})


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    if not query or "match_all" in query:
        return True
    for kind in ("term", "match"):
        if kind in query and isinstance(query[kind], dict):
            ((field, want),) = query[kind].items()
            want = want.get("value", want.get("query")) if isinstance(want, dict) else want
            return doc.get(field) == want
    return False


class Realm:
    """The file realm: users, their roles and the roles' privileges, reread when a file changes."""

    def __init__(self) -> None:
        self.stamp: tuple[float, ...] = ()
        self.hashes: dict[str, str] = {}
        self.roles: dict[str, list[str]] = {}
        self.defs: dict[str, Any] = {}

    def _load(self) -> None:
        files = [CONFIG / "users", CONFIG / "users_roles", CONFIG / "roles.yml"]
        stamp = tuple(f.stat().st_mtime if f.exists() else 0.0 for f in files)
        if stamp == self.stamp:
            return
        users, roles, defs = ((f.read_text() if f.exists() else "") for f in files)
        self.hashes = dict(line.split(":", 1) for line in users.splitlines() if ":" in line)
        self.roles = {}
        for line in roles.splitlines():
            role, _, names = line.partition(":")
            for name in filter(None, (n.strip() for n in names.split(","))):
                self.roles.setdefault(name, []).append(role.strip())
        self.defs = yaml.safe_load(defs) or {}
        self.stamp = stamp
        log(f"file realm: users {sorted(self.hashes)}, roles {sorted(self.defs)}")

    def authenticate(self, login: tuple[str, str] | None) -> str | None:
        with LOCK:
            self._load()
        if login is None or login[0] not in self.hashes:
            return None
        stored = self.hashes[login[0]]
        return login[0] if stored.startswith("$2") and crypt.crypt(login[1], stored) == stored else None

    def allowed(self, user: str, cluster: str | None = None, index: str | None = None,
                write: bool = False) -> bool:
        for role in self.roles.get(user, []):
            spec = self.defs.get(role) or {}
            if cluster is not None and ({"all", cluster} & set(spec.get("cluster") or [])):
                return True
            if index is None:
                continue
            wanted = {"all", "write", "index", "create_index", "delete"} if write else {"all", "read"}
            for grant in spec.get("indices") or []:
                if wanted & set(grant.get("privileges") or []) and any(
                        fnmatch.fnmatchcase(index, n) for n in grant.get("names") or []):
                    return True
        return False


REALM = Realm()


def _denied(status: int, reason: str) -> Reply:
    headers = {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'} if status == 401 else {}
    return Reply(status, {"error": {"type": "security_exception", "reason": reason}, "status": status},
                 headers=headers)


def handle(req: Request) -> Reply:
    if not SECURITY:
        return serve(req)
    login = req.basic_auth()
    user = REALM.authenticate(login)
    if user is None:
        return _denied(401, f"unable to authenticate user [{login[0]}] for REST request [{req.path}]"
                       if login else f"missing authentication credentials for REST request [{req.path}]")
    seg = [s for s in req.path.split("/") if s]
    if not seg or seg[0].startswith("_"):
        ok = REALM.allowed(user, cluster="monitor")
        what = "cluster:monitor/main" if not seg else f"cluster:monitor{req.path}"
    else:
        ok = REALM.allowed(user, index=seg[0].lower(),
                           write=req.method in ("PUT", "POST", "DELETE") and "_search" not in seg)
        what = f"indices:{req.method.lower()} on [{seg[0]}]"
    if not ok:
        return _denied(403, f"action [{what}] is unauthorized for user [{user}]")
    return serve(req)


def serve(req: Request) -> Reply:
    seg = [s for s in req.path.split("/") if s]
    if not seg:
        return Reply(200, {"name": NODE, "cluster_name": CLUSTER, "cluster_uuid": "standin",
                           "version": {"number": "6.7.2", "build_flavor": "standin"},
                           "tagline": "You Know, for Search (a test stand-in)"})
    if seg == ["_cluster", "health"]:
        return Reply(200, {"cluster_name": CLUSTER, "status": "green", "timed_out": False,
                           "number_of_nodes": 1, "number_of_data_nodes": 1,
                           "active_primary_shards": len(INDICES), "active_shards": len(INDICES)})
    index = seg[0].lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", index):
        return Reply(400, {"error": {"type": "invalid_index_name_exception", "index": index}, "status": 400})
    with LOCK:
        docs = INDICES.get(index)
        if len(seg) == 1:
            if req.method == "PUT":
                if docs is not None:
                    return Reply(400, {"error": {"type": "resource_already_exists_exception"}, "status": 400})
                INDICES[index] = {}
                _save(index)
                return Reply(200, {"acknowledged": True, "index": index})
            if docs is None:
                return _not_found(index)
            if req.method == "DELETE":
                del INDICES[index]
                (DATA / f"{index}.index.json").unlink(missing_ok=True)
                return Reply(200, {"acknowledged": True})
            return Reply(200, {index: {"settings": {}, "mappings": {}}})
        if seg[1] == "_search":
            query = (req.json() or {}).get("query", {}) if req.body else {}
            hits = [{"_index": index, "_type": "_doc", "_id": k, "_source": v}
                    for k, v in (docs or {}).items() if _matches(v, query)]
            return Reply(200, {"took": 1, "timed_out": False,
                               "hits": {"total": len(hits), "max_score": 1.0, "hits": hits}})
        if seg[1] == "_doc":
            docid = seg[2] if len(seg) > 2 else None
            if req.method in ("PUT", "POST"):
                body = req.json()
                if not isinstance(body, dict):
                    return Reply(400, {"error": {"type": "mapper_parsing_exception"}, "status": 400})
                created = docs is None or docid not in docs
                INDICES.setdefault(index, {})[docid or uuid.uuid4().hex] = body
                _save(index)
                return Reply(201 if created else 200, {"_index": index, "_type": "_doc", "_id": docid,
                                                       "result": "created" if created else "updated"})
            if docs is None:
                return _not_found(index)
            if req.method == "GET" and docid:
                found = docid in docs
                return Reply(200 if found else 404, {"_index": index, "_type": "_doc", "_id": docid,
                                                     "found": found, **({"_source": docs[docid]} if found else {})})
            if req.method == "DELETE" and docid:
                found = docs.pop(docid, None) is not None
                _save(index)
                return Reply(200 if found else 404, {"result": "deleted" if found else "not_found"})
    return Reply(400, {"error": {"type": "illegal_argument_exception",
                                 "reason": f"unsupported {req.method} {req.path}"}, "status": 400})


def _tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    paths = {k: os.environ.get(TLS + k, "") for k in ("certificate", "key", "certificate_authorities")}
    for k, path in paths.items():
        if not path or not os.path.isfile(path):
            die(f"failed to load SSL configuration [{TLS.rstrip('.')}]: {TLS}{k} "
                f"[{path or 'unset'}] does not exist")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False  # verification_mode: certificate checks the CA, not the name
    if os.environ.get(TLS + "verification_mode", "full") != "certificate":
        die(f"{TLS}verification_mode: the stand-in knows only `certificate`")
    for ctx in (server, client):
        try:
            ctx.load_cert_chain(paths["certificate"], paths["key"])
            ctx.load_verify_locations(paths["certificate_authorities"])
        except (ssl.SSLError, OSError) as err:
            die(f"failed to load SSL configuration [{TLS.rstrip('.')}]: {err}")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return server, client


def _handshake(client: ssl.SSLContext, host: str, port: int) -> str | None:
    """None if a TLS connection presenting our certificate succeeds, else why not."""
    try:
        with socket.create_connection((host, port), timeout=5) as raw:
            with client.wrap_socket(raw) as tls:
                tls.sendall(b"ping")
                tls.recv(4)
        return None
    except (OSError, ssl.SSLError) as err:
        return str(err)


def _transport(server: ssl.SSLContext) -> None:
    def accept(conn: socket.socket) -> None:
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(4)
                tls.sendall(b"pong")
        except (OSError, ssl.SSLError) as err:
            log(f"transport: refused a connection: {err}")
    listen_tcp(9300, on_connect=accept)


def _peers(client: ssl.SSLContext) -> None:
    me = os.environ.get("network.publish_host")
    peers = [p for p in os.environ.get("discovery.zen.ping.unicast.hosts", "").split(",") if p]
    pending = {p for p in peers if p.rsplit(":", 1)[0] != me}
    while pending:
        for peer in sorted(pending):
            host, port = peer.rsplit(":", 1)
            if _handshake(client, host, int(port)) is None:
                log(f"transport: TLS connection to {peer} established")
                pending.discard(peer)
        time.sleep(2)


def main() -> None:
    exit_on_signal()
    single = os.environ.get("discovery.type") == "single-node"
    if SECURITY and not single and not TRANSPORT_TLS:
        die("bootstrap checks failed: Transport SSL must be enabled if security is enabled on a "
            "[basic] license. Please set [xpack.security.transport.ssl.enabled] to [true] or "
            "disable security by setting [xpack.security.enabled] to [false]")
    DATA.mkdir(parents=True, exist_ok=True)
    for f in DATA.glob("*.index.json"):
        INDICES[f.name.removesuffix(".index.json")] = json.loads(f.read_text())
    if not single and not os.environ.get("discovery.zen.ping.unicast.hosts"):
        log("warning: neither discovery.type=single-node nor discovery.zen.ping.unicast.hosts is set")
    if TRANSPORT_TLS:
        server, client = _tls_contexts()
        _transport(server)
        why = _handshake(client, "127.0.0.1", 9300)
        if why is not None:
            die(f"transport: this node cannot connect to itself with its own certificate: {why}")
        log("transport: TLS with a client certificate works (checked against this node)")
        threading.Thread(target=_peers, args=(client,), daemon=True).start()
    else:
        listen_tcp(9300)
    if SECURITY:
        REALM.authenticate(None)  # loads and logs the file realm
    serve_http(9200, handle)
    log(f"security {'on' if SECURITY else 'off'}, transport TLS {'on' if TRANSPORT_TLS else 'off'}")
    log(f"cluster {CLUSTER}, node {NODE}, publish host {os.environ.get('network.publish_host', '-')}, "
        f"{len(INDICES)} indices in {DATA}")
    threading.Event().wait()


if __name__ == "__main__":
    main()
