"""ElasticSearch stand-in for the engine tier. TEST STAND-IN ONLY: a tiny ES 6-style HTTP subset.

Port 9200 (and a bare TCP listener on the transport port 9300). Reads the planned environment
(`cluster.name`, `node.name`, `discovery.type`, `network.publish_host`, ...). Serves:

  GET /   GET /_cluster/health   HEAD|PUT|GET|DELETE /<index>
  PUT|POST /<index>/_doc/<id>   GET /<index>/_doc/<id>   POST /<index>/_doc
  GET|POST /<index>/_search  (match_all, or one `term`/`match` query on a top-level field)

Security is off, as the plan sets `xpack.security.enabled: false`: credentials are ignored. Every
index is a JSON file in /usr/share/elasticsearch/data, so data survives a container replacement.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, "/standin")
from standin import Reply, Request, exit_on_signal, listen_tcp, log, serve_http  # noqa: E402

DATA = Path(os.environ.get("ES_DATA_DIR", "/usr/share/elasticsearch/data"))
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


def handle(req: Request) -> Reply:
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


def main() -> None:
    exit_on_signal()
    DATA.mkdir(parents=True, exist_ok=True)
    for f in DATA.glob("*.index.json"):
        INDICES[f.name.removesuffix(".index.json")] = json.loads(f.read_text())
    if os.environ.get("discovery.type") != "single-node" and not os.environ.get("discovery.zen.ping.unicast.hosts"):
        log("warning: neither discovery.type=single-node nor discovery.zen.ping.unicast.hosts is set")
    listen_tcp(9300)
    serve_http(9200, handle)
    log(f"cluster {CLUSTER}, node {NODE}, publish host {os.environ.get('network.publish_host', '-')}, "
        f"{len(INDICES)} indices in {DATA}")
    threading.Event().wait()


if __name__ == "__main__":
    main()
