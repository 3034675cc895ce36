"""Kafka broker stand-in for the engine tier. TEST STAND-IN ONLY: not the Kafka protocol.

It reads the environment the plan gives the wurstmeister/kafka image and behaves like a broker where
the plan can tell: it listens on the port of KAFKA_LISTENERS (the planned health check only opens a
TCP connection), registers itself in ZooKeeper (KAFKA_ZOOKEEPER_CONNECT) under /brokers/ids/<id>,
keeps its topics and a meta.properties (broker.id) in the first of KAFKA_LOG_DIRS, refuses a data
directory written by another broker id, and with a SASL_PLAINTEXT listener authenticates every
client: PLAIN against the `user_<name>` entries of the KafkaServer section of the JAAS file named in
KAFKA_OPTS, SCRAM against the credentials kafka-configs.sh stored in ZooKeeper.

Wire format (what tests/engine/images/lib/standin.py's Bus speaks): one JSON object per line,
answered by one JSON line. Ops: create, produce, fetch (long poll), committed, commit, topics.
Topics are not created on produce when KAFKA_AUTO_CREATE_TOPICS_ENABLE is false.
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, "/standin")
import scram  # noqa: E402
from standin import die, exit_on_signal, log  # noqa: E402


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        die(f"missing mandatory config: {name}")
    return value  # type: ignore[return-value]


class Broker:
    def __init__(self) -> None:
        self.id = int(env("KAFKA_BROKER_ID", "-1"))
        if self.id < 0:
            self.id = 1001
        self.zk_connect = env("KAFKA_ZOOKEEPER_CONNECT")
        self.listeners = [self._listener(x) for x in env("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092").split(",")]
        self.advertised = env("KAFKA_ADVERTISED_LISTENERS", ",".join(
            f"{n}://{socket.gethostname()}:{p}" for n, _, p in self.listeners))
        protocols = dict(x.split(":", 1) for x in env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "PLAINTEXT:PLAINTEXT").split(","))
        self.protocol = {name: protocols.get(name, name) for name, _, _ in self.listeners}
        self.log_dir = Path(env("KAFKA_LOG_DIRS", f"/kafka/kafka-logs-{socket.gethostname()}").split(",")[0])
        self.auto_create = env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true") == "true"
        self.mechanisms = env("KAFKA_SASL_ENABLED_MECHANISMS", "GSSAPI").split(",")
        self.jaas = self._jaas() if any(p.startswith("SASL") for p in self.protocol.values()) else {}
        self.topics: dict[str, list[Any]] = {}
        self.offsets: dict[str, int] = {}
        self.cond = threading.Condition()
        self.zk: Any = None

    @staticmethod
    def _listener(spec: str) -> tuple[str, str, int]:
        found = re.fullmatch(r"([A-Z_]+)://([^:]*):(\d+)", spec.strip())
        if not found:
            die(f"KAFKA_LISTENERS: cannot parse {spec!r}")
        return found.group(1), found.group(2) or "0.0.0.0", int(found.group(3))  # type: ignore[union-attr]

    def _jaas(self) -> dict[str, str]:
        found = re.search(r"-Djava\.security\.auth\.login\.config=(\S+)", os.environ.get("KAFKA_OPTS", ""))
        if not found or not Path(found.group(1)).is_file():
            die("Could not find a 'KafkaServer' entry in the JAAS configuration: KAFKA_OPTS names no "
                "readable -Djava.security.auth.login.config file")
        text = Path(found.group(1)).read_text()  # type: ignore[union-attr]
        section = re.search(r"KafkaServer\s*\{(.*?)\};", text, re.S)
        if not section:
            die(f"Could not find a 'KafkaServer' entry in {found.group(1)}")  # type: ignore[union-attr]
        return dict(re.findall(r'(\w+)="([^"]*)"', section.group(1)))  # type: ignore[union-attr]

    # -- startup ---------------------------------------------------------------------------------

    def check_log_dir(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        meta = self.log_dir / "meta.properties"
        if meta.exists():
            stored = dict(line.split("=", 1) for line in meta.read_text().splitlines() if "=" in line)
            if int(stored.get("broker.id", self.id)) != self.id:
                die(f"Configured broker.id {self.id} doesn't match stored broker.id "
                    f"{stored['broker.id']} in meta.properties of {self.log_dir}")
        else:
            meta.write_text(f"version=0\nbroker.id={self.id}\nstand-in=true\n")
        for d in sorted(self.log_dir.glob("*-0")):
            lines = (d / "records.jsonl").read_text().splitlines() if (d / "records.jsonl").exists() else []
            self.topics[d.name[:-2]] = [json.loads(x) for x in lines]
        offsets = self.log_dir / "consumer-offsets.json"
        self.offsets = json.loads(offsets.read_text()) if offsets.exists() else {}

    def register(self) -> None:
        from kazoo.client import KazooClient
        from kazoo.exceptions import NodeExistsError

        self.zk = KazooClient(hosts=self.zk_connect, timeout=10)
        try:
            self.zk.start(timeout=60)
        except Exception:
            die(f"Timed out waiting for connection to ZooKeeper at {self.zk_connect}")
        endpoints = [x.strip() for x in self.advertised.split(",")]
        host, port = endpoints[0].split("://", 1)[1].rsplit(":", 1)
        data = json.dumps({"listener_security_protocol_map": self.protocol, "endpoints": endpoints,
                           "host": host, "port": int(port), "version": 4, "jmx_port": -1,
                           "timestamp": str(int(time.time() * 1000))}).encode()
        deadline = time.monotonic() + 30  # a replaced broker's session may still hold the node
        while True:
            try:
                self.zk.create(f"/brokers/ids/{self.id}", data, ephemeral=True, makepath=True)
                break
            except NodeExistsError:
                if time.monotonic() > deadline:
                    die(f"broker id {self.id} is already registered in ZooKeeper (/brokers/ids/{self.id})")
                time.sleep(2)
        log(f"registered in ZooKeeper {self.zk_connect} as /brokers/ids/{self.id}")
        if self.jaas:
            ok = self.authenticate({"mechanism": env("KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL", "GSSAPI"),
                                    "username": self.jaas.get("username", ""),
                                    "password": self.jaas.get("password", "")})
            log("inter-broker credentials accepted" if ok else
                "ERROR inter-broker authentication failed: the broker's own JAAS credentials are "
                "not valid for its inter-broker mechanism")

    # -- requests --------------------------------------------------------------------------------

    def authenticate(self, auth: Any) -> bool:
        if not isinstance(auth, dict) or auth.get("mechanism") not in self.mechanisms:
            return False
        mech, user, password = auth["mechanism"], str(auth.get("username")), str(auth.get("password"))
        if mech == "PLAIN":
            return self.jaas.get(f"user_{user}") == password and password != ""
        if mech in scram.HASHES and self.zk is not None:
            path = scram.user_path(user)
            if not self.zk.exists(path):
                return False
            cred = scram.parse_node(self.zk.get(path)[0]).get(mech)
            return bool(cred) and scram.verify(mech, password, cred)
        return False

    def _append(self, topic: str, value: Any) -> int:
        records = self.topics[topic]
        records.append(value)
        d = self.log_dir / f"{topic}-0"
        d.mkdir(exist_ok=True)
        with (d / "records.jsonl").open("a") as f:
            f.write(json.dumps(value) + "\n")
        self.cond.notify_all()
        return len(records) - 1

    def handle(self, req: dict[str, Any], sasl: bool) -> dict[str, Any]:
        if sasl and not self.authenticate(req.get("auth")):
            mech = (req.get("auth") or {}).get("mechanism")
            return {"error": f"Authentication failed during authentication due to invalid "
                             f"credentials with SASL mechanism {mech}"}
        op, topic = req.get("op"), str(req.get("topic", ""))
        with self.cond:
            if op == "topics":
                return {"topics": sorted(self.topics)}
            if op == "create":
                if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic):
                    return {"error": f"InvalidTopicException: {topic!r}"}
                exists = topic in self.topics
                if not exists:
                    self.topics[topic] = []
                    (self.log_dir / f"{topic}-0").mkdir(exist_ok=True)
                return {"ok": True, "exists": exists}
            if topic not in self.topics:
                if not (op == "produce" and self.auto_create):
                    return {"error": f"UNKNOWN_TOPIC_OR_PARTITION: {topic}"}
                self.topics[topic] = []
            key = f"{req.get('group')}|{topic}"
            if op == "produce":
                return {"offset": self._append(topic, req.get("value"))}
            if op == "committed":
                return {"offset": self.offsets.get(key, 0)}
            if op == "commit":
                self.offsets[key] = int(req["offset"])
                (self.log_dir / "consumer-offsets.json").write_text(json.dumps(self.offsets))
                return {"ok": True}
            if op == "fetch":
                offset = int(req.get("offset", 0))
                deadline = time.monotonic() + min(float(req.get("wait", 0)), 30)
                while len(self.topics[topic]) <= offset and time.monotonic() < deadline:
                    self.cond.wait(deadline - time.monotonic())
                values = self.topics[topic][offset:offset + 100]
                return {"values": values, "next": offset + len(values)}
        return {"error": f"unknown op {op!r}"}

    def serve(self) -> None:
        broker = self
        for name, host, port in self.listeners:
            sasl = self.protocol[name].startswith("SASL")

            class Conn(socketserver.StreamRequestHandler):
                def handle(self) -> None:
                    for line in self.rfile:
                        try:
                            reply = broker.handle(json.loads(line), sasl)
                        except (ValueError, KeyError, TypeError) as err:
                            reply = {"error": f"bad request: {err}"}
                        self.wfile.write((json.dumps(reply) + "\n").encode())

            server = socketserver.ThreadingTCPServer((host, port), Conn, bind_and_activate=False)
            server.daemon_threads = True
            server.allow_reuse_address = True
            server.server_bind()
            server.server_activate()
            threading.Thread(target=server.serve_forever, daemon=True).start()
            log(f"listener {name} ({self.protocol[name]}) on {host}:{port}, advertised {self.advertised}")


UNHEALTHY = ".standin-unhealthy"
"""Test switch: while this file is in the data volume (the log dir's parent, /kafka), the broker
never listens, so it never becomes healthy."""


def main() -> None:
    exit_on_signal()
    broker = Broker()
    broker.check_log_dir()
    if (broker.log_dir.parent / UNHEALTHY).exists():
        log(f"{UNHEALTHY} is in the data volume: not listening (the engine tier's unhealthy store)")
        threading.Event().wait()
    broker.register()
    broker.serve()
    log(f"broker {broker.id} started; log dir {broker.log_dir}, topics {sorted(broker.topics)}")
    threading.Event().wait()


if __name__ == "__main__":
    main()
