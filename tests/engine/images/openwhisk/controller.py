"""OpenWhisk controller stand-in. TEST STAND-IN ONLY, not OpenWhisk.

`/init.sh <instance id>` as the plan runs it. Refuses to start without the keys the real controller
of its tag requires (whisk.py); then, like the real one: creates its Kafka topics, writes the
invoker health action to the entity database with its own CouchDB user (classic mode), binds its
actor-system remoting port and HTTP on PORT (8080). Serves:

  GET /ping -> pong          GET /          GET /api/v1        GET /invokers[/healthy/count|/ready]
  PUT|GET|DELETE|POST /api/v1/namespaces/<ns>/actions/<name>   (keys checked against the
                                                               subjects database)
  PUT|GET|DELETE|POST /api/v1/namespaces/<ns>/actions/<package>/<name>
  PUT|GET|DELETE /api/v1/namespaces/<ns>/packages/<name>
  GET /api/v1/namespaces/<ns>/actions|packages              (lists)
  GET /api/v1/namespaces/<ns>/activations/<id>

A key of namespace X may use /namespaces/_/ and /namespaces/X/; any valid key may GET a public
(`publish`) package of another namespace, and GET or invoke the actions in it.
  GET /standin/joined  200 once every other seed node's remoting port has been reached, else 503
  GET /metrics  Prometheus text (no auth) only with METRICS_KAMON and
                CONFIG_whisk_metrics_prometheusEnabled true, as on every component (whisk.py)

Invokes go over the Kafka stand-in: to `invoker<N>` (classic: invokers known from the `health`
topic) or to `scheduler<N>` (FPC: schedulers and invokers known from etcd); results come back on
`completed<id>`; blocking invokes wait up to 60 s, then answer 202 with the activation id.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from typing import Any

sys.path.insert(0, "/standin")
from standin import Bus, BusError, Reply, Request, die, exit_on_signal, log, serve_http  # noqa: E402
from whisk import (  # noqa: E402
    ENV, TAG, Activations, Couch, Manifest, Remoting, common_keys, etcd_client, fpc, now_ms, require,
    wait_until, with_metrics,
)

NOT_FOUND = Reply(404, {"error": "The requested resource does not exist."})
FORBIDDEN = Reply(403, {"error": "The supplied authentication is not authorized to access this resource."})
BAD_METHOD = Reply(405, {"error": "The requested method is not supported."})
BLOCKING_WAIT_S = 60
HEALTH_STALE_S = 10


class Controller:
    def __init__(self, instance: str) -> None:
        self.id = instance
        self.fpc = fpc()
        self.manifest = Manifest(ENV["RUNTIMES_MANIFEST"])
        self.couch = Couch()
        self.activations = Activations(self.couch)
        self.bus = Bus(ENV["KAFKA_HOSTS"], ENV)
        self.etcd = etcd_client() if self.fpc else None
        self.cluster = ENV.get("CONFIG_whisk_cluster_name") or "whisk"
        self.remoting = Remoting("controller-actor-system")
        self.health: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.cond = threading.Condition()

    # -- startup -----------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.fpc and self.manifest.resolve("nodejs:default") is None:
            die("java.lang.IllegalStateException: cannot create test action for invoker health "
                "because runtime manifest is not valid (no nodejs:default kind)")
        self.remoting.start()
        topics = [f"completed{self.id}", "health", "cacheInvalidation", "events"]
        wait_until(f"creating Kafka topics {topics} at {ENV['KAFKA_HOSTS']}",
                   lambda: [self.bus.create_topic(t) for t in topics], timeout=120)
        if not self.fpc:
            self._health_action()
        self.bus.consume(f"completed{self.id}", f"completed{self.id}", self._completed)
        if not self.fpc:
            self.bus.consume("health", f"health-controller{self.id}", self._ping)
        serve_http(int(ENV.get("PORT") or 8080), with_metrics("controller", self.handle))
        log(f"controller{self.id} ({TAG}, {'FPC' if self.fpc else 'classic'} load balancer) serves "
            f"HTTP on {ENV.get('PORT') or 8080}; kinds {self.manifest.kinds()}")

    def _health_action(self) -> None:
        kind = self.manifest.resolve("nodejs:default")
        name = f"invokerHealthTestAction{self.id}"

        def write() -> bool | None:
            status, body = self.couch.put("WhiskEntity", f"whisk.system/{name}", {
                "namespace": "whisk.system", "name": name, "entityType": "action",
                "exec": {"kind": kind["kind"], "code": "function main(params) { return params; }"},
                "version": "0.0.1", "publish": False, "annotations": [], "updated": now_ms()})
            if status in (200, 201, 202):
                return True
            raise OSError(f"CouchDB answered HTTP {status} {body}")

        wait_until(f"writing the invoker health action {name} to {self.couch.dbs['WhiskEntity']}",
                   write, timeout=120)

    # -- bus consumers -----------------------------------------------------------------------------

    def _completed(self, msg: dict[str, Any]) -> None:
        with self.cond:
            self.results[msg["activationId"]] = msg
            self.cond.notify_all()

    def _ping(self, msg: dict[str, Any]) -> None:
        self.health[msg["name"]] = {**msg, "seen": time.time()}

    def invokers(self) -> dict[str, str]:
        pings = self.health
        if self.fpc:
            assert self.etcd is not None
            pings = {v["name"]: {**v, "seen": v["ts"] / 1000}
                     for v in self.etcd.prefix(f"{self.cluster}/instance/invoker").values()}
        now = time.time()
        return {name: ("down" if now - p["seen"] > 6 * HEALTH_STALE_S else
                       "unresponsive" if now - p["seen"] > HEALTH_STALE_S else p.get("state", "up"))
                for name, p in sorted(pings.items())}

    # -- HTTP ------------------------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        path = req.path.rstrip("/") or "/"
        if path == "/ping":
            return Reply(200, "pong")
        if path == "/standin/joined":
            return Reply(200 if self.remoting.joined else 503,
                         {"joined": self.remoting.joined, "seeds": [f"{h}:{p}" for h, p in self.remoting.seeds],
                          "reached": [f"{h}:{p}" for h, p in sorted(self.remoting.reached)]})
        if path == "/":
            return Reply(200, {"description": "OpenWhisk (engine-tier stand-in)",
                               "runtimes": self.runtimes(),
                               "limits": {"actions_per_minute": int(ENV["LIMITS_ACTIONS_INVOKES_PERMINUTE"]),
                                          "concurrent_actions": int(ENV["LIMITS_ACTIONS_INVOKES_CONCURRENT"]),
                                          "triggers_per_minute": int(ENV["LIMITS_TRIGGERS_FIRES_PERMINUTE"]),
                                          "max_action_sequence_length": int(ENV["LIMITS_ACTIONS_SEQUENCE_MAXLENGTH"])}})
        if path == "/api/v1":
            return Reply(200, {"api_paths": ["/api/v1"], "description": "OpenWhisk API",
                               "min_cli_version": "2018-12-01", "build": ENV["CONFIG_whisk_info_date"],
                               "buildno": ENV["CONFIG_whisk_info_buildNo"]})
        if path.startswith("/invokers"):
            states = self.invokers()
            if path == "/invokers":
                return Reply(200, states)
            healthy = sum(1 for s in states.values() if s == "up")
            if path == "/invokers/healthy/count":
                return Reply(200, healthy)
            if path == "/invokers/ready":
                ready = bool(states) and healthy == len(states)
                return Reply(200 if ready else 500, {"healthy": f"{healthy}/{len(states)}"})
        found = re.fullmatch(r"/api/v1/namespaces/([^/]+)(?:/(actions|activations|packages)"
                             r"(?:/([^/]+)(?:/([^/]+))?)?)?", path)
        if found:
            return self.api(req, *found.groups())
        return Reply(404, {"error": "The requested resource does not exist.", "code": uuid.uuid4().hex})

    def runtimes(self) -> dict[str, list[dict[str, Any]]]:
        """GET /'s `runtimes`, shaped like the real controller's: family -> [{kind, image, ...}]."""
        return {family: [{"kind": k["kind"], "image": self.manifest.image(k),
                          "deprecated": bool(k.get("deprecated")), "default": bool(k.get("default")),
                          "attached": {"attachmentName": "codefile", "attachmentType": "text/plain"},
                          "requireMain": bool(k.get("requireMain"))} for k in kinds]
                for family, kinds in sorted(self.manifest.runtimes.items())}

    def identity(self, req: Request) -> dict[str, Any] | Reply:
        """The namespace of the key, from any subject document (the identities view skips blocked
        subjects; `<subject>/limits` documents and documents without namespaces are no subjects)."""
        creds = req.basic_auth()
        if creds is None:
            return Reply(401, {"error": "The resource requires authentication, which was not "
                                        "supplied with the request"})
        for doc in self.couch.all_docs("WhiskAuth"):
            if doc.get("blocked") is True or str(doc.get("_id", "")).endswith("/limits"):
                continue
            for ns in doc.get("namespaces") or []:
                if isinstance(ns, dict) and (ns.get("uuid"), ns.get("key")) == creds:
                    return {"subject": doc.get("subject"), "namespace": ns["name"]}
        return Reply(401, {"error": "The supplied authentication is invalid."})

    def api(self, req: Request, ns: str, collection: str | None, name: str | None,
            sub: str | None = None) -> Reply:
        try:
            who = self.identity(req)
        except OSError as err:
            log(f"identity lookup failed: {err}")
            return Reply(503, {"error": "The server is currently unavailable (because it is "
                                        "overloaded or down for maintenance)."})
        if isinstance(who, Reply):
            return who
        namespace = who["namespace"] if ns == "_" else ns
        own = namespace == who["namespace"]
        try:
            if not own:  # another namespace: only reading and invoking its public packages
                return self.foreign(req, who, namespace, collection, name, sub)
            if collection is None:
                return Reply(200, [namespace])
            if collection == "activations" and name and not sub:
                record = self.activations.get(namespace, name)
                return Reply(200, record) if record else NOT_FOUND
            if collection == "packages":
                return self.package(req, namespace, name) if not sub else NOT_FOUND
            if collection == "actions":
                return self.action(req, who, namespace, name, sub)
        except OSError as err:
            log(f"entity store: {err}")
            return Reply(500, {"error": f"entity store: {err}"})
        return NOT_FOUND

    def foreign(self, req: Request, who: dict[str, Any], namespace: str, collection: str | None,
                name: str | None, sub: str | None) -> Reply:
        """A key of another namespace: GET the public packages (and their actions) of
        `namespace`, invoke the actions of its public packages; nothing else."""
        if collection == "packages" and not name and req.method == "GET":
            return Reply(200, [p for p in self.entities(namespace, "package") if p.get("publish")])
        if collection == "packages" and name and not sub:
            pkg, methods = name, ("GET",)
        elif collection == "actions" and name and sub:
            pkg, methods = name, ("GET", "POST")
        else:
            return FORBIDDEN
        if req.method not in methods:
            return FORBIDDEN
        status, doc = self.couch.get("WhiskEntity", f"{namespace}/{pkg}")
        if status == 404:
            return NOT_FOUND
        if status != 200 or doc.get("entityType") != "package" or not doc.get("publish"):
            return FORBIDDEN
        if collection == "packages":
            return self.package(req, namespace, pkg)
        return self.action(req, who, namespace, pkg, sub)

    def entities(self, namespace: str, kind: str) -> list[dict[str, Any]]:
        """Entities of `kind` directly in `namespace` (`ns` or `ns/pkg`), without their bodies."""
        keep = ("namespace", "name", "version", "publish", "annotations", "binding", "updated")
        return [{k: d[k] for k in keep if k in d} for d in self.couch.all_docs("WhiskEntity")
                if d.get("entityType") == kind and d.get("namespace") == namespace]

    def package(self, req: Request, namespace: str, name: str | None) -> Reply:
        if not name:
            return Reply(200, self.entities(namespace, "package")) if req.method == "GET" else BAD_METHOD
        docid = f"{namespace}/{name}"
        status, doc = self.couch.get("WhiskEntity", docid)
        exists = status == 200 and doc.get("entityType") == "package"
        if status == 200 and not exists:
            return Reply(409, {"error": "resource already exists"}) if req.method == "PUT" else NOT_FOUND
        if req.method == "PUT":
            if exists and req.query.get("overwrite") != "true":
                return Reply(409, {"error": "resource already exists"})
            body = req.json() or {}
            new = {"namespace": namespace, "name": name, "entityType": "package",
                   "version": body.get("version") or "0.0.1", "publish": bool(body.get("publish")),
                   "annotations": body.get("annotations") or [],
                   "parameters": body.get("parameters") or [], "binding": body.get("binding") or {},
                   "updated": now_ms()}
            return self.store(docid, new)
        if not exists:
            return NOT_FOUND
        public = {k: v for k, v in doc.items() if not k.startswith("_")}
        inside = self.entities(docid, "action")
        if req.method == "GET":
            return Reply(200, {**public, "actions": inside, "feeds": []})
        if req.method == "DELETE":
            if inside and req.query.get("force") != "true":
                return Reply(409, {"error": f"Package not empty (contains {len(inside)} entities)"})
            for action in inside:
                self.couch.delete("WhiskEntity", f"{docid}/{action['name']}")
            self.couch.delete("WhiskEntity", docid)
            return Reply(200, public)
        return BAD_METHOD

    def action(self, req: Request, who: dict[str, Any], namespace: str, name: str | None,
               sub: str | None) -> Reply:
        if not name:
            return Reply(200, self.entities(namespace, "action")) if req.method == "GET" else BAD_METHOD
        package: dict[str, Any] | None = None
        if sub:  # <ns>/actions/<package>/<name>: the action's namespace is `<ns>/<package>`
            status, package = self.couch.get("WhiskEntity", f"{namespace}/{name}")
            if status != 200 or package.get("entityType") != "package":
                return NOT_FOUND
            namespace, name = f"{namespace}/{name}", sub
        docid = f"{namespace}/{name}"
        if req.method == "PUT":
            return self.put_action(req, namespace, name, docid)
        status, doc = self.couch.get("WhiskEntity", docid)
        if status == 404 or (status == 200 and doc.get("entityType") != "action"):
            return NOT_FOUND
        if status != 200:
            return Reply(500, {"error": f"entity store answered HTTP {status}"})
        public = {k: v for k, v in doc.items() if not k.startswith("_")}
        if req.method == "GET":
            return Reply(200, public)
        if req.method == "DELETE":
            self.couch.delete("WhiskEntity", docid)
            return Reply(200, public)
        if req.method == "POST":
            return self.invoke(req, who, public, (package or {}).get("parameters") or [])
        return BAD_METHOD

    def put_action(self, req: Request, namespace: str, name: str, docid: str) -> Reply:
        """Annotations and parameters are kept as given; the `exec` annotation is added (as the
        real controller does) unless the body has one. `exec.binary` code (base64) is stored."""
        body = req.json() or {}
        exec_ = body.get("exec") or {}
        entry = self.manifest.resolve(str(exec_.get("kind", "")))
        if entry is None or entry.get("deprecated"):
            return Reply(400, {"error": f"kind '{exec_.get('kind')}' not in {self.manifest.kinds()}"})
        status, _ = self.couch.get("WhiskEntity", docid)
        if status == 200 and req.query.get("overwrite") != "true":
            return Reply(409, {"error": "resource already exists"})
        annotations = list(body.get("annotations") or [])
        if not any(isinstance(a, dict) and a.get("key") == "exec" for a in annotations):
            annotations.append({"key": "exec", "value": entry["kind"].split(":")[0]})
        doc = {"namespace": namespace, "name": name, "entityType": "action",
               "version": body.get("version") or "0.0.1",
               "exec": {"kind": entry["kind"], "code": exec_.get("code", ""),
                        "binary": bool(exec_.get("binary")), "main": exec_.get("main", "main")},
               "parameters": body.get("parameters") or [],
               "annotations": annotations,
               "limits": {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
               "publish": bool(body.get("publish")), "updated": now_ms()}
        return self.store(docid, doc)

    def store(self, docid: str, doc: dict[str, Any]) -> Reply:
        status, answer = self.couch.put("WhiskEntity", docid, doc)
        if status not in (200, 201, 202):
            return Reply(500, {"error": f"entity store answered HTTP {status} {answer}"})
        return Reply(200, doc)

    def invoke(self, req: Request, who: dict[str, Any], action: dict[str, Any],
               package_params: list[dict[str, Any]] | None = None) -> Reply:
        entry = self.manifest.resolve(action["exec"]["kind"])
        if entry is None:
            return Reply(400, {"error": f"kind {action['exec']['kind']} is not in the runtime manifest"})
        aid = uuid.uuid4().hex
        given = req.json()
        params = {p["key"]: p.get("value") for p in [*(package_params or []), *action.get("parameters", [])]
                  if isinstance(p, dict) and "key" in p}  # package < action < invoke parameters
        params.update(given if isinstance(given, dict) else {})
        msg = {"activationId": aid, "controller": self.id, "user": who, "params": params,
               "action": {**action, "image": self.manifest.image(entry)}, "start": now_ms()}
        try:
            target = self.route(msg)
        except (BusError, OSError) as err:
            log(f"cannot route activation {aid}: {err}")
            return Reply(503, {"error": "No invokers available."})
        if target is None:
            return Reply(503, {"error": "No invokers available."})
        log(f"activation {aid} of {action['namespace']}/{action['name']} sent to {target}")
        if req.query.get("blocking") != "true":
            return Reply(202, {"activationId": aid})
        with self.cond:
            self.cond.wait_for(lambda: aid in self.results, timeout=BLOCKING_WAIT_S)
            done = self.results.pop(aid, None)
        if done is None:
            return Reply(202, {"activationId": aid})
        response = done["response"]
        if req.query.get("result") == "true":
            return Reply(200 if response["success"] else 502, response["result"])
        return Reply(200 if response["success"] else 502, done["record"])

    def route(self, msg: dict[str, Any]) -> str | None:
        if self.fpc:
            assert self.etcd is not None
            schedulers = sorted(self.etcd.prefix(f"{self.cluster}/scheduler/").values(),
                                key=lambda s: s["id"])
            fresh = [s for s in schedulers if time.time() - s["ts"] / 1000 < HEALTH_STALE_S]
            if not fresh:
                return None
            topic = f"scheduler{fresh[0]['id']}"
        else:
            up = sorted((p["id"], n) for n, p in self.health.items()
                        if p.get("state") == "up" and time.time() - p["seen"] < HEALTH_STALE_S)
            if not up:
                return None
            topic = f"invoker{up[0][0]}"
        self.bus.produce(topic, msg)
        return topic


def main() -> None:
    exit_on_signal()
    args = sys.argv[1:]
    if len(args) != 1 or not re.fullmatch(r"[a-zA-Z0-9._-]{1,128}", args[0]):
        die(f"usage: /init.sh <instance id> (got {args}); the controller needs its instance id")
    keys = common_keys() + ["LIMITS_ACTIONS_INVOKES_PERMINUTE", "LIMITS_ACTIONS_INVOKES_CONCURRENT",
                            "LIMITS_TRIGGERS_FIRES_PERMINUTE", "LIMITS_ACTIONS_SEQUENCE_MAXLENGTH",
                            "CONFIG_whisk_info_buildNo", "CONFIG_whisk_info_date",
                            "CONFIG_whisk_couchdb_databases_WhiskAuth",
                            "CONFIG_whisk_couchdb_databases_WhiskEntity",
                            "CONFIG_whisk_couchdb_databases_WhiskActivation"]
    if fpc():  # §2.5: hosts, and the pool threads of the EtcdClient the FPC balancer builds
        keys += ["CONFIG_whisk_etcd_hosts", "CONFIG_whisk_etcd_pool_threads"]
    require("controller", keys)
    Controller(args[0]).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
