"""OpenWhisk scheduler stand-in (FPC). TEST STAND-IN ONLY, not OpenWhisk.

`/init.sh <scheduler id>` as the plan runs it. Exits at startup without the keys the real scheduler
of its tag requires (whisk.py; §2.7 of the reference). Then binds HTTP on PORT (GET /ping -> pong,
GET /standin/joined as on the controller, GET /metrics when Kamon's Prometheus endpoint is on), its
gRPC port WHISK_SCHEDULER_ENDPOINTS_RPCPORT and its remoting port, registers its endpoints in etcd
under `<cluster>/scheduler/<id>` every 2 s, and forwards each activation the controllers send to
topic `scheduler<id>` to an invoker that etcd shows up.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

sys.path.insert(0, "/standin")
from standin import Bus, Reply, Request, die, exit_on_signal, listen_tcp, log, serve_http  # noqa: E402
from whisk import (  # noqa: E402
    ENV, ES_KEYS, ETCD, P, TAG, VERSION, Remoting, common_keys, etcd_client, now_ms, require, spi, wait_until,
    with_metrics,
)

ES_DURATION = "org.apache.openwhisk.core.scheduler.queue.ElasticSearchDurationCheckerProvider"


class Scheduler:
    def __init__(self, instance: str) -> None:
        self.id = instance
        self.bus = Bus(ENV["KAFKA_HOSTS"], ENV)
        self.etcd = etcd_client()
        self.cluster = ENV.get("CONFIG_whisk_cluster_name") or "whisk"
        self.remoting = Remoting("scheduler-actor-system", default_port=25520)
        self.endpoint = {"host": ENV["WHISK_SCHEDULER_ENDPOINTS_HOST"],
                         "rpcPort": int(ENV["WHISK_SCHEDULER_ENDPOINTS_RPCPORT"]),
                         f"{P}Port": int(ENV[f"WHISK_SCHEDULER_ENDPOINTS_{P.upper()}PORT"])}
        if self.endpoint[f"{P}Port"] != self.remoting.canonical[1]:
            log(f"warning: WHISK_SCHEDULER_ENDPOINTS_{P.upper()}PORT {self.endpoint[f'{P}Port']} is "
                f"not the canonical remoting port {self.remoting.canonical[1]}: controllers cannot reach "
                f"this scheduler's queues")

    def start(self) -> None:
        listen_tcp(self.endpoint["rpcPort"])
        self.remoting.start()
        wait_until(f"registering in etcd at {ENV['CONFIG_whisk_etcd_hosts']}", self.register, timeout=120)
        topics = [f"scheduler{self.id}", f"creationAck{self.id}"]
        wait_until(f"creating Kafka topics {topics}", lambda: [self.bus.create_topic(t) for t in topics],
                   timeout=120)
        self.bus.consume(f"scheduler{self.id}", f"scheduler{self.id}", self.forward)
        threading.Thread(target=self.keep_registered, daemon=True).start()
        serve_http(int(ENV.get("PORT") or 8080), with_metrics("scheduler", self.handle))
        log(f"scheduler{self.id} ({TAG}) up, endpoints {self.endpoint}")

    def register(self) -> bool:
        self.etcd.put(f"{self.cluster}/scheduler/{self.id}", {**self.endpoint, "id": self.id, "ts": now_ms()})
        return True

    def keep_registered(self) -> None:
        while True:
            time.sleep(2)
            try:
                self.register()
            except OSError as err:
                log(f"etcd registration failed: {err}")

    def forward(self, msg: dict[str, Any]) -> None:
        def pick() -> str | None:
            up = sorted((v["id"], v) for v in self.etcd.prefix(f"{self.cluster}/instance/invoker").values()
                        if v.get("state") == "up" and time.time() - v["ts"] / 1000 < 10)
            return f"invoker{up[0][0]}" if up else None

        deadline = time.monotonic() + 30
        while (topic := pick()) is None and time.monotonic() < deadline:
            time.sleep(1)
        if topic is None:
            self.bus.produce(f"completed{msg['controller']}", {
                "activationId": msg["activationId"], "invoker": None, "record": {},
                "response": {"status": "whisk internal error", "statusCode": 3, "success": False,
                             "result": {"error": "No invokers available."}}})
            return
        self.bus.produce(topic, msg)

    def handle(self, req: Request) -> Reply:
        if req.path == "/ping":
            return Reply(200, "pong")
        if req.path == "/standin/joined":
            return Reply(200 if self.remoting.joined else 503, {"joined": self.remoting.joined})
        return Reply(404, {"error": "The requested resource does not exist."})


def main() -> None:
    exit_on_signal()
    args = sys.argv[1:]
    if len(args) != 1:
        die(f"usage: /init.sh <scheduler id> (got {args})")
    keys = common_keys() + ["LIMITS_ACTIONS_INVOKES_CONCURRENT", "WHISK_SCHEDULER_ENDPOINTS_HOST",
                            "WHISK_SCHEDULER_ENDPOINTS_RPCPORT", f"WHISK_SCHEDULER_ENDPOINTS_{P.upper()}PORT",
                            "CONFIG_whisk_durationChecker_timeWindow",
                            "CONFIG_whisk_couchdb_databases_WhiskAuth",
                            "CONFIG_whisk_couchdb_databases_WhiskEntity",
                            "CONFIG_whisk_couchdb_databases_WhiskActivation"] + ETCD
    if VERSION.zookeeper_required:
        keys.append("ZOOKEEPER_HOSTS")
    default_checker = ES_DURATION if VERSION.es_duration_default else "NoopDurationCheckerProvider"
    if spi("DurationCheckerProvider", default_checker) == ES_DURATION:
        keys += [k for k in ES_KEYS if k not in keys]
    require("scheduler", keys)
    Scheduler(args[0]).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
