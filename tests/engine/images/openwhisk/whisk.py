"""What the OpenWhisk stand-ins share. TEST STAND-INS ONLY, not OpenWhisk.

The controller, invoker and scheduler stand-ins read the same environment the plan gives the real
images and refuse to start, with a clear log line, when a key the real image version requires is
missing. The required keys below are those confirmed by the project's OpenWhisk reference
(/work/shared/reference/openwhisk.md; section numbers in the comments), per image tag.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, "/standin")
from standin import (  # noqa: E402
    Etcd, Handler, Reply, Request, configured_environment, die, http_call, listen_tcp, log, tcp_open,
)



def _hocon_path(key: str) -> str:
    """transformEnvironment.sh's name for a CONFIG_ variable (camelCase -> kebab-case)."""
    return ".".join(p if p[:1].isupper() else re.sub(r"([a-z0-9])([A-Z])",
                                                      lambda m: f"{m[1]}-{m[2].lower()}", p)
                    for p in key.removeprefix("CONFIG_").split("_"))


# Like the real images' init.sh: every CONFIG_ variable becomes a `-D<path>=<value>` option on the
# process's command line (transformEnvironment.sh; CONFIG_config_file gives -Dconfig.file). The
# stand-in re-executes itself once with those options (and ignores them), so that the host's
# `ps` shows what it would show for the real images.
if os.environ.get("OW_STANDIN_PROPS") != "1":
    os.environ["OW_STANDIN_PROPS"] = "1"
    props = [f"-D{_hocon_path(k)}={v}" for k, v in sorted(os.environ.items())
             if k.startswith("CONFIG_") and v]
    os.execv(sys.executable, [sys.executable, sys.argv[0], *props, *sys.argv[1:]])
sys.argv = [sys.argv[0], *(a for a in sys.argv[1:] if not a.startswith("-D"))]


ENV: dict[str, str] = configured_environment()
TAG = ENV.get("OW_STANDIN_TAG", "ef725a6")
PKG = "org.apache.openwhisk.core"


@dataclass(frozen=True)
class Version:
    actor_system: str
    """Prefix of the actor-system keys the image reads: `CONFIG_akka_*` or `CONFIG_pekko_*` (§0)."""
    default_mode: str
    """`classic` or `scheduler` (FPC) when the SPI keys are not set (§0, §1f)."""
    build_date: str
    zookeeper_required: bool
    """ZOOKEEPER_HOSTS (zookeeper.hosts) is a required property of the invoker and the scheduler
    before apache/openwhisk#5375, 2023-01-31 (§1c, §2.8.2)."""
    es_duration_default: bool
    """ElasticSearchDurationCheckerProvider is the scheduler's default (2.0.0 and later, §0, §2.7);
    not asserted for 4fac03a, which predates the 2.0.0 release."""


# The tags of config.KNOWN_TAGS (dates and families from the reference's version matrix, §0).
VERSIONS = {
    "ef725a6": Version("akka", "classic", "2022-10-14", True, False),
    "4fac03a": Version("akka", "scheduler", "2024-03-06", False, False),
    "7538ced": Version("pekko", "scheduler", "2025-10-19", False, True),
    "1fae641": Version("pekko", "scheduler", "2026-08-06", False, True),
}
VERSION = VERSIONS.get(TAG) or die(f"stand-in built for unknown tag {TAG!r}")  # type: ignore[func-returns-value]
P = VERSION.actor_system

# Legacy WhiskConfig properties, read from upper-cased env names (§1c).
PROPS = {
    "KAFKA_HOSTS": "kafka.hosts", "RUNTIMES_MANIFEST": "runtimes.manifest",
    "ZOOKEEPER_HOSTS": "zookeeper.hosts", "WHISK_API_HOST_NAME": "whisk.api.host.name",
    "LIMITS_ACTIONS_INVOKES_PERMINUTE": "limits.actions.invokes.perMinute",
    "LIMITS_ACTIONS_INVOKES_CONCURRENT": "limits.actions.invokes.concurrent",
    "LIMITS_TRIGGERS_FIRES_PERMINUTE": "limits.triggers.fires.perMinute",
    "LIMITS_ACTIONS_SEQUENCE_MAXLENGTH": "limits.actions.sequence.maxLength",
    "WHISK_SCHEDULER_ENDPOINTS_HOST": "whisk.scheduler.endpoints.host",
    "WHISK_SCHEDULER_ENDPOINTS_RPCPORT": "whisk.scheduler.endpoints.rpcPort",
    "WHISK_SCHEDULER_ENDPOINTS_AKKAPORT": "whisk.scheduler.endpoints.akkaPort",
    "WHISK_SCHEDULER_ENDPOINTS_PEKKOPORT": "whisk.scheduler.endpoints.pekkoPort",
}
COUCHDB = [f"CONFIG_whisk_couchdb_{k}" for k in ("protocol", "host", "port", "username", "password", "provider")]
ETCD = ["CONFIG_whisk_etcd_hosts", "CONFIG_whisk_etcd_lease_timeout", "CONFIG_whisk_etcd_pool_threads"]
ES_STORE = f"{PKG}.database.elasticsearch.ElasticSearchActivationStoreProvider"
ES_KEYS = [f"CONFIG_whisk_activationStore_elasticsearch_{k}"
           for k in ("protocol", "hosts", "indexPattern", "username", "password")]


def spi(name: str, default: str) -> str:
    return ENV.get(f"CONFIG_whisk_spi_{name}") or default


def fpc() -> bool:
    """FPC (scheduler) mode, from the SPI keys or the tag's default."""
    default = "FPCPoolBalancer" if VERSION.default_mode == "scheduler" else "ShardingContainerPoolBalancer"
    return spi("LoadBalancerProvider", default).endswith("FPCPoolBalancer")


def es_store() -> bool:
    return spi("ActivationStoreProvider", "") == ES_STORE


def etcd_client() -> Etcd:
    """EtcdClient(loadConfigOrThrow[EtcdConfig]): it logs in when whisk.etcd.username and
    .password are both set, and refuses to start when only one of them is."""
    user, password = ENV.get("CONFIG_whisk_etcd_username"), ENV.get("CONFIG_whisk_etcd_password")
    if bool(user) != bool(password):
        die("requirement failed: either both user and password are set or neither is set")
    return Etcd(ENV["CONFIG_whisk_etcd_hosts"], user, password)


def require(component: str, keys: list[str]) -> None:
    """Exit like the real component when a required key is missing or empty (empty CONFIG_ values
    are skipped by transformEnvironment.sh, §1a.2)."""
    for key in keys:
        if ENV.get(key, "").strip():
            continue
        if key in PROPS:
            log(f"required property {PROPS[key]} still not set")
            die(f"Bad configuration, cannot start. ({component} {TAG}: set {key})")
        die(f"{component} {TAG}: configuration key {_hocon_path(key)} is required and not set "
            f"(env {key}); the real image fails at startup without it")
    other = "pekko" if P == "akka" else "akka"
    ignored = sorted(k for k in ENV if k.startswith(f"CONFIG_{other}_"))
    if ignored:
        log(f"warning: this image ({TAG}) reads CONFIG_{P}_* keys; ignoring {', '.join(ignored)}")


def common_keys() -> list[str]:
    keys = ["KAFKA_HOSTS", "RUNTIMES_MANIFEST"] + COUCHDB
    return keys + (ES_KEYS if es_store() else [])


# --------------------------------------------------------------------------------------------
# Runtime manifest (§4)


class Manifest:
    def __init__(self, text: str, registry: str = "") -> None:
        try:
            data = json.loads(text)
            self.runtimes: dict[str, list[dict[str, Any]]] = data["runtimes"]
        except (ValueError, KeyError, TypeError) as err:
            die(f"Invalid runtimes manifest: {err}")
        self.registry = registry and registry.rstrip("/") + "/"
        for family, kinds in self.runtimes.items():
            defaults = [k for k in kinds if k.get("default")]
            if len(kinds) > 1 and len(defaults) != 1:
                die(f"Invalid runtimes manifest: family {family} has {len(defaults)} default kinds")

    def resolve(self, kind: str) -> dict[str, Any] | None:
        family, _, version = kind.partition(":")
        kinds = self.runtimes.get(family, [])
        if version == "default":
            return next((k for k in kinds if k.get("default")), kinds[0] if len(kinds) == 1 else None)
        return next((k for k in kinds if k["kind"] == kind), None)

    def image(self, entry: dict[str, Any]) -> str:
        img = entry["image"]
        name = "/".join(x for x in (img.get("prefix"), img["name"]) if x)
        registry = img.get("registry") and img["registry"].rstrip("/") + "/"
        return f"{registry or self.registry}{name}:{img.get('tag') or 'latest'}"

    def kinds(self) -> list[str]:
        return sorted(k["kind"] for kinds in self.runtimes.values() for k in kinds)


# --------------------------------------------------------------------------------------------
# Stores


class Couch:
    """The component's own view of CouchDB: its credentials, its database names."""

    def __init__(self) -> None:
        e = ENV
        pre = "CONFIG_whisk_couchdb_"
        self.base = f"{e[pre + 'protocol']}://{e[pre + 'host']}:{e[pre + 'port']}"
        self.auth = (e["CONFIG_whisk_couchdb_username"], e["CONFIG_whisk_couchdb_password"])
        self.dbs = {k: e.get(f"CONFIG_whisk_couchdb_databases_{k}", "")
                    for k in ("WhiskAuth", "WhiskEntity", "WhiskActivation")}

    def url(self, db: str, docid: str = "") -> str:
        from urllib.parse import quote
        return f"{self.base}/{quote(self.dbs[db], safe='')}" + (f"/{quote(docid, safe='')}" if docid else "")

    def get(self, db: str, docid: str) -> tuple[int, Any]:
        return http_call("GET", self.url(db, docid), auth=self.auth)

    def put(self, db: str, docid: str, doc: dict[str, Any]) -> tuple[int, Any]:
        """Create or overwrite."""
        status, current = self.get(db, docid)
        body = {**doc, "_id": docid}
        if status == 200:
            body["_rev"] = current["_rev"]
        return http_call("PUT", self.url(db, docid), body, auth=self.auth)

    def delete(self, db: str, docid: str) -> tuple[int, Any]:
        status, current = self.get(db, docid)
        if status != 200:
            return status, current
        return http_call("DELETE", self.url(db, docid) + f"?rev={current['_rev']}", auth=self.auth)

    def all_docs(self, db: str) -> list[dict[str, Any]]:
        status, body = http_call("GET", self.url(db, "_all_docs") + "?include_docs=true", auth=self.auth)
        if status != 200:
            raise OSError(f"CouchDB {self.dbs[db]}/_all_docs: HTTP {status} {body}")
        return [row["doc"] for row in body["rows"]]


class Activations:
    """The activation store: CouchDB's activations database, or ElasticSearch (§2.4)."""

    def __init__(self, couch: Couch) -> None:
        self.couch = couch
        self.es = es_store()

    def _es(self, namespace: str, activation_id: str) -> tuple[str, tuple[str, str]]:
        pre = "CONFIG_whisk_activationStore_elasticsearch_"
        host = ENV[pre + "hosts"].split(",")[0]
        index = ENV[pre + "indexPattern"].replace("%s", namespace.lower())
        return (f"{ENV[pre + 'protocol']}://{host}/{index}/_doc/{activation_id}",
                (ENV[pre + "username"], ENV[pre + "password"]))

    def put(self, record: dict[str, Any]) -> tuple[int, Any]:
        if self.es:
            url, auth = self._es(record["namespace"], record["activationId"])
            return http_call("PUT", url, record, auth=auth)
        return self.couch.put("WhiskActivation", f"{record['namespace']}/{record['activationId']}", record)

    def get(self, namespace: str, activation_id: str) -> dict[str, Any] | None:
        if self.es:
            url, auth = self._es(namespace, activation_id)
            status, body = http_call("GET", url, auth=auth)
            return body.get("_source") if status == 200 else None
        status, body = self.couch.get("WhiskActivation", f"{namespace}/{activation_id}")
        return {k: v for k, v in body.items() if not k.startswith("_")} if status == 200 else None


# --------------------------------------------------------------------------------------------
# Actor-system remoting (§5): a listener on the bind port and the seed nodes to reach


class Remoting:
    def __init__(self, system: str, default_port: int = 25520) -> None:
        self.system = system
        key = f"CONFIG_{P}_remote_artery_"
        self.canonical = (ENV.get(key + "canonical_hostname") or "container-ip",
                          int(ENV.get(key + "canonical_port") or default_port))
        self.bind = (ENV.get(key + "bind_hostname") or "0.0.0.0",
                     int(ENV.get(key + "bind_port") or self.canonical[1]))
        self.seeds: list[tuple[str, int]] = []
        i = 0
        while f"CONFIG_{P}_cluster_seedNodes_{i}" in ENV:
            uri = ENV[f"CONFIG_{P}_cluster_seedNodes_{i}"]
            found = re.fullmatch(rf"{P}://{re.escape(system)}@([^:]+):(\d+)", uri)
            if not found:
                log(f"warning: seed node {uri!r} is not a {P}://{system}@host:port address; "
                    f"this actor system never joins it")
            else:
                self.seeds.append((found.group(1), int(found.group(2))))
            i += 1
        self.exit_jvm = ENV.get(f"CONFIG_{P}_coordinatedShutdown_exitJvm") == "on"
        self.peers = [s for s in self.seeds if s != self.canonical]
        self.reached: set[tuple[str, int]] = set()
        self.joined = not self.seeds

    def start(self) -> None:
        listen_tcp(self.bind[1], host=self.bind[0])
        log(f"{self.system} remoting bound on {self.bind[0]}:{self.bind[1]}, canonical "
            f"{self.canonical[0]}:{self.canonical[1]}, seed nodes {self.seeds or 'none'}")
        if self.seeds:
            threading.Thread(target=self._join, daemon=True).start()

    def _join(self) -> None:
        # The scheduler conf sets shutdown-after-unsuccessful-join-seed-nodes = 60s (§5.2).
        deadline = time.monotonic() + 60
        while not self.joined:
            self.reached |= {p for p in self.peers if p not in self.reached and tcp_open(*p, timeout=2)}
            if len(self.reached) == len(self.peers):
                self.joined = True
                log(f"joined the cluster: reached seed nodes {self.peers or '(only itself)'}")
                return
            if time.monotonic() > deadline:
                missing = [f"{h}:{p}" for h, p in self.peers if (h, p) not in self.reached]
                if self.exit_jvm:
                    die(f"could not join seed nodes {missing} within 60 s; actor system terminated, "
                        f"exiting (coordinated-shutdown exit-jvm = on)")
                log(f"could not join seed nodes {missing} within 60 s; actor system terminated "
                    f"(the process stays up: exit-jvm is off)")
                return
            time.sleep(1)


# --------------------------------------------------------------------------------------------
# Kamon's Prometheus endpoint (common/scala/.../common/Prometheus.scala, MetricsRoute)


def _hocon_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "on", "yes")


def metrics_enabled() -> bool:
    """MetricsRoute serves /metrics only with whisk.metrics.kamon-enabled (application.conf:
    `${?METRICS_KAMON}`; a CONFIG_ system property overrides it) and whisk.metrics.prometheus-enabled
    (default false)."""
    kamon = ENV.get("CONFIG_whisk_metrics_kamonEnabled") or ENV.get("METRICS_KAMON")
    return _hocon_true(kamon) and _hocon_true(ENV.get("CONFIG_whisk_metrics_prometheusEnabled"))


def with_metrics(component: str, handle: Handler) -> Handler:
    """`handle`, counting every request, with GET /metrics (Prometheus text 0.0.4, no auth) in front
    of it when metrics_enabled(); otherwise /metrics reaches `handle`, which answers 404."""
    enabled = metrics_enabled()
    counted = {"n": 0}
    lock = threading.Lock()
    if enabled:
        log("Kamon Prometheus endpoint enabled: GET /metrics")

    def wrapped(req: Request) -> Reply:
        with lock:
            counted["n"] += 1
            n = counted["n"]
        if enabled and req.method in ("GET", "HEAD") and req.path.rstrip("/") == "/metrics":
            text = ("# HELP openwhisk_counter_standin_requests_total HTTP requests the stand-in "
                    "answered\n# TYPE openwhisk_counter_standin_requests_total counter\n"
                    f'openwhisk_counter_standin_requests_total{{component="{component}"}} {n}\n')
            return Reply(200, text.encode(), {"Content-Type": "text/plain; version=0.0.4; charset=UTF-8"})
        return handle(req)

    return wrapped


def wait_until(what: str, attempt: Any, timeout: float, interval: float = 2.0) -> Any:
    """Call `attempt` until it returns a value other than None; die after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            result = attempt()
            if result is not None:
                return result
        except Exception as err:  # noqa: BLE001 - report and retry whatever failed
            last = f"{type(err).__name__}: {err}"
        if time.monotonic() > deadline:
            die(f"{what} failed for {timeout:g} s (last: {last})")
        time.sleep(interval)


def now_ms() -> int:
    return int(time.time() * 1000)
