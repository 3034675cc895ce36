"""OpenWhisk user-events stand-in for the engine tier. TEST STAND-IN ONLY, not OpenWhisk.

`./init.sh 0` as the upstream image runs it (core/monitoring/user-events: uid 1001 `owuser`, port
9095). Reads what the real one reads: its Kafka consumer's `kafka-clients` properties under
`akka.kafka.consumer` (tags ef725a6, 4fac03a) or `pekko.kafka.consumer` (later tags): `bootstrap.servers`
from KAFKA_HOSTS (application.conf: `bootstrap.servers = ${?KAFKA_HOSTS}`) and every property from
CONFIG_ variables (transformEnvironment.sh, e.g.
`CONFIG_pekko_kafka_consumer_kafkaClients_security_protocol`, `..._sasl_mechanism`,
`..._sasl_jaas_config`, `..._group_id`) or the HOCON file CONFIG_config_file names (-Dconfig.file,
where the plan puts the JAAS config), and `whisk.user-events.port` (CONFIG_whisk_userEvents_port).
Exits 1 with a log line, where the real one would fail or never connect: no bootstrap servers; a
SASL security protocol without a mechanism or a JAAS config; consumer keys of the other actor
system's family (the image reads only its own, so SASL settings there would be lost).

Then it consumes the `events` topic of the Kafka stand-in (lib/standin.py's wire format,
authenticated with the JAAS config's username and password) from the group's committed offset and
serves, on 9095:

  GET /ping     200 `pong` while the consumer is connected, else 503 `Consumer not running`
  GET /metrics  Prometheus text 0.0.4: openwhisk_action_activations_total{namespace, initiator,
                action, kind, memory} per Activation event read (an unlabelled 0 before the first),
                openwhisk_action_status, openwhisk_userevents_global_activations_total
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import Counter
from typing import Any

sys.path.insert(0, "/standin")
from standin import (  # noqa: E402
    Bus, BusError, Reply, Request, configured_environment, die, exit_on_signal, log, serve_http,
)

#: The environment with the keys of -Dconfig.file (secrets the plan keeps off the command line).
ENV = configured_environment()

TAG = ENV.get("OW_STANDIN_TAG", "ef725a6")
#: The actor system's key family of the tag (config.KNOWN_TAGS): akka up to 4fac03a.
FAMILY = "akka" if TAG in ("ef725a6", "4fac03a") else "pekko"
OTHER = "pekko" if FAMILY == "akka" else "akka"
TOPIC = "events"
RETRY_MIN_S, RETRY_MAX_S = 3, 30


def client_property(name: str) -> str:
    """`<family>.kafka.consumer.kafka-clients.<name>` from its CONFIG_ variable (transformEnvironment:
    `_` separates path segments, camelCase becomes kebab-case: kafkaClients -> kafka-clients)."""
    return ENV.get(f"CONFIG_{FAMILY}_kafka_consumer_kafkaClients_{name.replace('.', '_')}", "")


class Consumer:
    def __init__(self) -> None:
        wrong = sorted(k for k in ENV if k.startswith(f"CONFIG_{OTHER}_kafka_"))
        if wrong:
            die(f"user-events {TAG} reads {FAMILY}.kafka.consumer.*, not {OTHER}.kafka.*: "
                f"{', '.join(wrong)} would be ignored by the real image (set CONFIG_{FAMILY}_kafka_* "
                f"instead)")
        self.servers = client_property("bootstrap.servers") or ENV.get("KAFKA_HOSTS", "")
        if not self.servers.strip():
            die('org.apache.kafka.common.config.ConfigException: Missing required configuration '
                '"bootstrap.servers" which has no default value. (KAFKA_HOSTS is not set)')
        self.group = client_property("group.id") or "kamon"
        protocol = client_property("security.protocol") or "PLAINTEXT"
        mechanism, jaas = client_property("sasl.mechanism"), client_property("sasl.jaas.config")
        if protocol.startswith("SASL"):
            if not mechanism:
                die(f"security.protocol {protocol} without sasl.mechanism (set CONFIG_{FAMILY}_kafka_"
                    f"consumer_kafkaClients_sasl_mechanism): the client would try GSSAPI (Kerberos)")
            if not jaas:
                die(f"security.protocol {protocol} without sasl.jaas.config (set CONFIG_{FAMILY}_"
                    f"kafka_consumer_kafkaClients_sasl_jaas_config): Could not find a 'KafkaClient' "
                    f"entry in the JAAS configuration")
            if not re.search(r'username="[^"]*"', jaas) or not re.search(r'password="[^"]*"', jaas):
                die("sasl.jaas.config names no username and password")
        elif protocol != "PLAINTEXT":
            die(f"security.protocol {protocol}: the stand-in speaks PLAINTEXT and SASL_PLAINTEXT only")
        self.protocol, self.mechanism = protocol, mechanism
        self.bus = Bus(self.servers, {"CONFIG_whisk_kafka_common_securityProtocol": protocol,
                                      "CONFIG_whisk_kafka_common_saslMechanism": mechanism,
                                      "CONFIG_whisk_kafka_common_saslJaasConfig": jaas})
        self.running = False
        self.lock = threading.Lock()
        self.activations: Counter[tuple[str, ...]] = Counter()
        self.statuses: Counter[tuple[str, ...]] = Counter()
        self.events = 0

    def start(self) -> None:
        threading.Thread(target=self.loop, daemon=True, name="consumer").start()

    def loop(self) -> None:
        backoff, offset, last_error = RETRY_MIN_S, None, None
        while True:
            try:
                if offset is None:
                    self.bus.call("topics")  # authenticates; the topic may not exist yet
                    offset = int(self.bus.call("committed", topic=TOPIC, group=self.group)["offset"])
                    if not self.running:
                        log(f"consumer of {TOPIC} (group {self.group}) connected to {self.servers} "
                            f"({self.protocol}{', ' + self.mechanism if self.mechanism else ''}) "
                            f"at offset {offset}")
                    self.running, backoff, last_error = True, RETRY_MIN_S, None
                reply = self.bus.call("fetch", topic=TOPIC, offset=offset, wait=10)
                for value in reply["values"]:
                    self.record(value)
                if reply["values"]:
                    offset = int(reply["next"])
                    self.bus.call("commit", topic=TOPIC, group=self.group, offset=offset)
            except (BusError, OSError, ValueError, KeyError) as err:
                if "UNKNOWN_TOPIC_OR_PARTITION" in str(err):
                    # A Kafka consumer subscribed to a topic that does not exist yet waits for it.
                    if not self.running:
                        log(f"consumer connected to {self.servers}; topic {TOPIC} does not exist yet")
                    self.running = True
                    time.sleep(2)
                    continue
                if str(err) != last_error:
                    log(f"consumer of {TOPIC} at {self.servers} failed: {err}; restarting in {backoff} s")
                self.running, last_error, offset = False, str(err), None
                time.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)

    def record(self, event: Any) -> None:
        """An EventMessage: {eventType: Activation|Metric, namespace (initiator), body}."""
        if not isinstance(event, dict):
            return
        with self.lock:
            self.events += 1
            body = event.get("body") or {}
            if event.get("eventType") != "Activation" or not isinstance(body, dict):
                return
            ns, _, action = str(body.get("name", "")).partition("/")
            labels = (ns, str(event.get("namespace", "")), action, str(body.get("kind", "")),
                      str(body.get("memory", "")))
            self.activations[labels] += 1
            status = {0: "success", 1: "application_error", 2: "developer_error"}.get(
                body.get("statusCode"), "internal_error")
            self.statuses[labels[:3] + (status,)] += 1

    def metrics(self) -> str:
        def lbl(names: tuple[str, ...], values: tuple[str, ...]) -> str:
            esc = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in values)
            return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, esc)) + "}"

        with self.lock:
            total = sum(self.activations.values())
            out = ["# HELP openwhisk_action_activations_total Activation Count",
                   "# TYPE openwhisk_action_activations_total counter"]
            out += [f"openwhisk_action_activations_total"
                    f"{lbl(('namespace', 'initiator', 'action', 'kind', 'memory'), k)} {float(n)}"
                    for k, n in sorted(self.activations.items())] or \
                   ["openwhisk_action_activations_total 0.0"]
            out += ["# HELP openwhisk_action_status Activation Response status",
                    "# TYPE openwhisk_action_status counter"]
            out += [f"openwhisk_action_status{lbl(('namespace', 'initiator', 'action', 'status'), k)} "
                    f"{float(n)}" for k, n in sorted(self.statuses.items())]
            out += ["# TYPE openwhisk_userevents_global_activations_total counter",
                    f"openwhisk_userevents_global_activations_total {float(total)}",
                    "# TYPE openwhisk_userevents_standin_events_total counter",
                    f"openwhisk_userevents_standin_events_total {float(self.events)}"]
        return "\n".join(out) + "\n"


def main() -> None:
    exit_on_signal()
    if sys.argv[1:] != ["0"]:
        log(f"arguments {sys.argv[1:]} (the upstream image runs ./init.sh 0)")
    consumer = Consumer()
    port = int(ENV.get("CONFIG_whisk_userEvents_port") or 9095)

    def handle(req: Request) -> Reply:
        if req.method == "GET" and req.path == "/ping":
            return Reply(200, "pong") if consumer.running else Reply(503, "Consumer not running")
        if req.method == "GET" and req.path == "/metrics":
            return Reply(200, consumer.metrics().encode(),
                         {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
        return Reply(404, "The requested resource could not be found.")

    consumer.start()
    serve_http(port, handle)
    log(f"user-events ({TAG}, {FAMILY}) serves HTTP on {port}; consuming {TOPIC} from "
        f"{consumer.servers} as group {consumer.group}")
    threading.Event().wait()


if __name__ == "__main__":
    main()
