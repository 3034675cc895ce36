"""Kafka node stand-in for the engine tier. TEST STAND-IN ONLY: not the Kafka protocol.

It reads the environment the plan gives the ASF image apache/kafka (KRaft only, no ZooKeeper) and
behaves like a KRaft node where the plan can tell:

* startup: refuses, with a log line and exit 1, what Kafka's KafkaConfig (or the image's start
  scripts) refuse: a missing CLUSTER_ID, KAFKA_NODE_ID, KAFKA_PROCESS_ROLES,
  KAFKA_CONTROLLER_QUORUM_VOTERS or KAFKA_CONTROLLER_LISTENER_NAMES; any KAFKA_ZOOKEEPER_CONNECT; a
  controller that is not a voter (or whose voter port is not its controller listener's), a
  broker-only node that is; a controller listener among the advertised ones (or a broker-only
  node's listeners); an inter-broker listener that is not advertised (the controller's never is);
  a SASL mechanism for the inter-broker or controller protocol that is not enabled; a SASL
  listener without the `KafkaServer` section of the JAAS file KAFKA_OPTS names;
* storage, like the image's `kafka-storage format`: the first start writes meta.properties
  (version=1, node.id, cluster.id, directory.id, stand-in=true) into the first of KAFKA_LOG_DIRS;
  later starts refuse another cluster.id or node.id with Kafka's messages;
* quorum: a voter listens on its CONTROLLER port at once; every node opens its broker listener
  only once a majority of KAFKA_CONTROLLER_QUORUM_VOTERS answer (a voter counts itself, as KRaft
  never connects to itself). On the controller listener a voter answers other nodes only with the
  same cluster id and, when that listener is SASL, only after a PLAIN login against the JAAS
  `user_<name>` table; nodes log in there with the JAAS file's own username/password;
* SCRAM credentials are quorum metadata: kafka-configs.sh sends one to a broker (authenticated),
  the broker stores it on the voters (a majority must take it) in
  <log dir>/__cluster_metadata-0/scram-credentials.json, and brokers look credentials up from
  the voters (cached for a few seconds) to authenticate SCRAM clients;
* clients (tests/engine/images/lib/standin.py's Bus): with a SASL_PLAINTEXT broker listener
  every request carries "auth": PLAIN is checked against the JAAS `user_<name>` table, SCRAM
  against the voters' credentials;
* test switch: while `.standin-unhealthy` is in the data volume (the log dir's parent) the node
  never opens its broker listener (so the planned health check never passes).

Wire format: one JSON object per line, answered by one JSON line. Broker ops: create, produce,
fetch (long poll), committed, commit, topics, alter-user-scram. Controller ops: hello,
scram-get, scram-put. Topics and committed offsets are kept per node in its log dir (nothing is
replicated); topics are not created on produce when KAFKA_AUTO_CREATE_TOPICS_ENABLE is false.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, "/standin")
import scram  # noqa: E402
from standin import die, exit_on_signal, log  # noqa: E402

UNHEALTHY = ".standin-unhealthy"
"""Test switch: while this file is in the data volume (the log dir's parent), the node never opens
its broker listener, so it never becomes healthy."""
METADATA_DIR = "__cluster_metadata-0"
SCRAM_FILE = "scram-credentials.json"
CACHE_SECONDS = 5.0
PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT")


def fatal(msg: str) -> None:
    die(f"Exiting Kafka due to fatal exception: {msg}")


def require(ok: bool, msg: str) -> None:
    if not ok:
        fatal(f"java.lang.IllegalArgumentException: requirement failed: {msg}")


def config_error(msg: str) -> None:
    fatal(f"org.apache.kafka.common.config.ConfigException: {msg}")


def auth_error(mechanism: Any) -> dict[str, Any]:
    return {"error": f"Authentication failed during authentication due to invalid credentials "
                     f"with SASL mechanism {mechanism}"}


def ask(host: str, port: int, request: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
    """One request line, one answer line; OSError when there is no answer."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall((json.dumps(request) + "\n").encode())
        answer = s.makefile("rb").readline()
    if not answer:
        raise OSError("connection closed")
    return json.loads(answer)


# --------------------------------------------------------------------------------------------
# Configuration


def _listeners(spec: str, what: str) -> list[tuple[str, str, int]]:
    out = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        found = re.fullmatch(r"([A-Za-z0-9_]+)://(\[[^]]*\]|[^:]*):(\d+)", item)
        if not found:
            config_error(f"Invalid value {spec} for configuration {what}: unable to parse {item}")
        out.append((found[1].upper(), found[2] or "0.0.0.0", int(found[3])))  # type: ignore[index]
    return out


def _cluster_id_ok(value: str) -> bool:
    """Kafka's Uuid.fromString: 22 characters of URL-safe base64 for 16 bytes."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{22}", value):
        return False
    try:
        return len(base64.urlsafe_b64decode(value + "==")) == 16
    except (binascii.Error, ValueError):
        return False


def parse_jaas(path: str) -> list[tuple[str, dict[str, str]]]:
    """The login module entries of the file's `KafkaServer` section: [(module class, options)]."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        fatal(f"java.lang.SecurityException: java.io.IOException: {path} ({err.strerror})")
    section = re.search(r"(?:^|[\s;])KafkaServer\s*\{(.*?)\}\s*;", text, re.S)
    if not section:
        fatal("java.lang.IllegalArgumentException: Could not find a 'KafkaServer' or "
              "'external.KafkaServer' entry in the JAAS configuration. System property "
              f"'java.security.auth.login.config' is {path}")
    value = r'(?:"[^"]*"|[^\s;"]+)'
    entry = re.compile(rf'\s*([\w.$]+)\s+(required|requisite|sufficient|optional)'
                       rf'((?:\s+[\w.-]+\s*=\s*{value})*)\s*;', re.S)
    body, pos, out = section[1], 0, []  # type: ignore[index]
    while body[pos:].strip():
        found = entry.match(body, pos)
        if not found:
            fatal(f"java.lang.SecurityException: {path}: cannot parse the KafkaServer section "
                  f"near {body[pos:pos + 40].strip()!r}")
        options = {k: (q if q is not None and v.startswith('"') else v)
                   for k, v, q in re.findall(r'([\w.-]+)\s*=\s*("([^"]*)"|[^\s;"]+)', found[3])}  # type: ignore[index]
        out.append((found[1], options))  # type: ignore[index]
        pos = found.end()  # type: ignore[union-attr]
    return out


class Config:
    """What KafkaConfig and the image's start scripts make of the environment; exits on what they
    refuse."""

    def __init__(self, env: dict[str, str]) -> None:
        if "KAFKA_ZOOKEEPER_CONNECT" in env:
            die("ZooKeeper mode is not supported: this image runs KRaft only "
                "(KAFKA_ZOOKEEPER_CONNECT is set)")
        for name, prop in (("KAFKA_NODE_ID", "node.id"), ("KAFKA_PROCESS_ROLES", "process.roles"),
                           ("KAFKA_CONTROLLER_LISTENER_NAMES", "controller.listener.names")):
            if not env.get(name, "").strip():
                config_error(f'Missing required configuration "{prop}" which has no default value.')
        self.cluster_id = env.get("CLUSTER_ID", "")
        if not self.cluster_id:
            die("CLUSTER_ID environment variable is not set.")
        if not _cluster_id_ok(self.cluster_id):
            die(f"Cluster ID string {self.cluster_id} does not appear to be a valid UUID: "
                "expected 22 characters of URL-safe base64 encoding 16 bytes")
        try:
            self.node_id = int(env["KAFKA_NODE_ID"])
        except ValueError:
            config_error(f"Invalid value {env['KAFKA_NODE_ID']} for configuration node.id: "
                         "Not a number of type INT")
        self.roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",") if r.strip()}
        for role in self.roles - {"broker", "controller"}:
            config_error(f"Unknown process role '{role}' (only 'broker' and 'controller' are "
                         "allowed roles)")
        self.broker, self.controller = "broker" in self.roles, "controller" in self.roles

        self.voters: dict[int, tuple[str, int]] = {}
        voters_spec = env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
        for item in filter(None, (x.strip() for x in voters_spec.split(","))):
            found = re.fullmatch(r"(\d+)@(\[[^]]*\]|[^:@]+):(\d+)", item)
            if not found:
                config_error(f"Invalid value {voters_spec} for configuration "
                             f"controller.quorum.voters: Failed to parse the voter {item}: "
                             "expected id@host:port")
            self.voters[int(found[1])] = (found[2].strip("[]"), int(found[3]))  # type: ignore[index]
        if not self.voters:
            config_error("If using process.roles, either controller.quorum.bootstrap.servers must "
                         "contain the set of bootstrap controllers or controller.quorum.voters "
                         "must contain a parseable set of controllers.")

        self.controller_names = [x.strip().upper()
                                 for x in env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",") if x.strip()]
        self.controller_name = self.controller_names[0]
        # The image derives the listeners from the advertised ones when only those are given.
        listeners = env.get("KAFKA_LISTENERS") or re.sub(
            r"://[^:,]*:", "://0.0.0.0:", env.get("KAFKA_ADVERTISED_LISTENERS", ""))
        self.listeners = _listeners(listeners, "listeners")
        names = [n for n, _, _ in self.listeners]
        if "KAFKA_ADVERTISED_LISTENERS" in env:
            self.advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"], "advertised.listeners")
        else:
            self.advertised = [x for x in self.listeners if x[0] not in self.controller_names]
        adv_names = [n for n, _, _ in self.advertised]

        explicit_map = "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP" in env
        pairs = env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL")
        self.protocols: dict[str, str] = {}
        for pair in filter(None, (x.strip() for x in pairs.split(","))):
            name, sep, protocol = pair.partition(":")
            if not sep:
                config_error(f"Invalid value {pairs} for configuration listener.security.protocol.map")
            self.protocols[name.strip().upper()] = protocol.strip().upper()
        if not explicit_map:  # Kafka's effective map: controller listeners default to PLAINTEXT
            for name in self.controller_names:
                self.protocols.setdefault(name, "PLAINTEXT")

        # KafkaConfig's role checks, in its order.
        in_voters = self.node_id in self.voters
        voter_ids = "{" + ", ".join(str(v) for v in sorted(self.voters)) + "}"
        require(not any(n in self.controller_names for n in adv_names) or not self.broker,
                "The advertised.listeners config must not contain KRaft controller listeners from "
                "controller.listener.names when process.roles contains the broker role because "
                "Kafka clients that send requests via advertised listeners do not send requests to "
                "KRaft controllers -- they only send requests to KRaft brokers.")
        if self.controller:
            require(in_voters, f"If process.roles contains the 'controller' role, the node id "
                               f"{self.node_id} must be included in the set of voters "
                               f"controller.quorum.voters={voter_ids}")
            require(any(n in self.controller_names for n in names),
                    "controller.listener.names must contain at least one value appearing in the "
                    "'listeners' configuration when running the KRaft controller role")
            require(all(n in names for n in self.controller_names),
                    "controller.listener.names must only contain values appearing in the "
                    "'listeners' configuration when running the KRaft controller role")
            if not self.broker:
                require("KAFKA_ADVERTISED_LISTENERS" not in env,
                        "The advertised.listeners config must be empty when process.roles=controller")
        else:
            require(not in_voters, f"If process.roles contains just the 'broker' role, the node id "
                                   f"{self.node_id} must not be included in the set of voters "
                                   f"controller.quorum.voters={voter_ids}")
            require(not any(n in self.controller_names for n in names),
                    "controller.listener.names must not contain a value appearing in the "
                    "'listeners' configuration when running KRaft with just the broker role")
        for name in self.controller_names:
            if name not in self.protocols:
                config_error(f"Controller listener with name {name} defined in "
                             "controller.listener.names not found in listener.security.protocol.map "
                             " (an explicit security mapping for each controller listener is "
                             "required if listener.security.protocol.map is non-empty, or if there "
                             "are security protocols other than PLAINTEXT in use)")
        for name in names:
            if name not in self.protocols:
                config_error(f"No security protocol defined for listener {name}")
        self.inter_broker = (env.get("KAFKA_INTER_BROKER_LISTENER_NAME")
                             or env.get("KAFKA_SECURITY_INTER_BROKER_PROTOCOL", "PLAINTEXT")).upper()
        if self.broker:
            require(bool(adv_names), "There must be at least one advertised listener. Perhaps all "
                                     "listeners appear in controller.listener.names?")
            require(self.inter_broker in adv_names,
                    f"inter.broker.listener.name must be a listener name defined in "
                    f"advertised.listeners. The valid options based on currently configured "
                    f"listeners are {','.join(adv_names)}")
            require(set(adv_names) <= set(names),
                    f"advertised.listeners listener names must be equal to or a subset of the ones "
                    f"defined in listeners. Found {','.join(adv_names)} The valid options based on "
                    f"the current configuration are {', '.join(names)}")
        require(all(h != "0.0.0.0" for _, h, _ in self.advertised),
                "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a "
                "routable IP address.")
        if self.controller:
            # Not KafkaConfig's: other voters would dial a port this node does not listen on.
            port = next(p for n, _, p in self.listeners if n == self.controller_name)
            require(self.voters[self.node_id][1] == port,
                    f"the voter entry {self.node_id}@{self.voters[self.node_id][0]}:"
                    f"{self.voters[self.node_id][1]} of this node in controller.quorum.voters does "
                    f"not use the port of its {self.controller_name} listener ({port})")

        for name, protocol in self.protocols.items():
            if name in names + self.controller_names and protocol not in PROTOCOLS:
                die(f"listener {name}: the stand-in models PLAINTEXT and SASL_PLAINTEXT only, "
                    f"not {protocol}")
        self.mechanisms = [m.strip() for m in env.get("KAFKA_SASL_ENABLED_MECHANISMS", "GSSAPI").split(",")
                           if m.strip()]
        self.ib_mechanism = env.get("KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL", "GSSAPI")
        self.controller_mechanism = env.get("KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL", "GSSAPI")
        self.ib_sasl = self.protocols.get(self.inter_broker, "").startswith("SASL")
        self.controller_sasl = self.protocols[self.controller_name].startswith("SASL")
        require(not (self.broker and self.ib_sasl) or self.ib_mechanism in self.mechanisms,
                "sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms "
                "when SASL is used for inter-broker communication")
        require(not self.controller_sasl or self.controller_mechanism in self.mechanisms,
                "sasl.mechanism.controller.protocol must be included in sasl.enabled.mechanisms "
                "when SASL is used for the controller listener")

        self.jaas: list[tuple[str, dict[str, str]]] = []
        if any(self.protocols[n].startswith("SASL") for n in names + self.controller_names):
            for mech in self.mechanisms:
                if mech not in ("PLAIN", *scram.HASHES):
                    die(f"sasl.enabled.mechanisms: the stand-in models PLAIN and "
                        f"SCRAM-SHA-256/512 only, not {mech}")
            found = re.search(r"-Djava\.security\.auth\.login\.config=(\S+)", env.get("KAFKA_OPTS", ""))
            if not found:
                fatal("java.lang.IllegalArgumentException: Could not find a 'KafkaServer' or "
                      "'external.KafkaServer' entry in the JAAS configuration. System property "
                      "'java.security.auth.login.config' is not set")
            self.jaas = parse_jaas(found[1])  # type: ignore[index]

        dirs = env.get("KAFKA_LOG_DIRS") or env.get("KAFKA_LOG_DIR") or "/tmp/kafka-logs"
        self.log_dir = Path(dirs.split(",")[0].strip())
        self.auto_create = env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true").lower() == "true"
        for name in ("KAFKA_DEFAULT_REPLICATION_FACTOR", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"):
            if name in env and not re.fullmatch(r"-?\d+", env[name]):
                config_error(f"Invalid value {env[name]} for configuration "
                             f"{name[6:].lower().replace('_', '.')}: Not a number of type INT/SHORT")

    def login(self, mechanism: str) -> dict[str, str]:
        """The node's own credentials for `mechanism` (the JAAS entry of its login module)."""
        module = "PlainLoginModule" if mechanism == "PLAIN" else "ScramLoginModule"
        for cls, options in self.jaas:
            if cls.endswith(module) and "username" in options:
                return {"mechanism": mechanism, "username": options["username"],
                        "password": options.get("password", "")}
        fatal(f"javax.security.auth.login.LoginException: no {module} entry with a username in "
              f"the KafkaServer section of the JAAS file, needed for SASL mechanism {mechanism}")
        return {}

    def plain_users(self) -> dict[str, str]:
        for cls, options in self.jaas:
            if cls.endswith("PlainLoginModule"):
                return {k[5:]: v for k, v in options.items() if k.startswith("user_")}
        return {}


# --------------------------------------------------------------------------------------------
# The node


class Node:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.topics: dict[str, list[Any]] = {}
        self.offsets: dict[str, int] = {}
        self.cond = threading.Condition()
        self.users = cfg.plain_users()
        self.majority = len(cfg.voters) // 2 + 1
        # Voters: the SCRAM metadata {user: {mechanism: {"credential", "ts"}}}.
        self.metadata: dict[str, dict[str, dict[str, Any]]] = {}
        self.meta_lock = threading.Lock()
        # Brokers: looked-up credentials {user: (fetched at, {mechanism: {...}})}.
        self.cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}

    # -- storage ---------------------------------------------------------------------------------

    def format_storage(self) -> None:
        """The image's `kafka-storage format --ignore-formatted`: verify, or write, meta.properties."""
        d, cfg = self.cfg.log_dir, self.cfg
        meta = d / "meta.properties"
        if meta.exists():
            try:
                stored = dict(line.split("=", 1) for line in meta.read_text().splitlines()
                              if "=" in line and not line.startswith("#"))
            except OSError as err:
                die(f"I/O error trying to read log directory {d}: {err}")
            if stored.get("cluster.id") != cfg.cluster_id:
                die(f"Invalid cluster.id in: {meta}. Expected {cfg.cluster_id}, but read "
                    f"{stored.get('cluster.id')}")
            if stored.get("node.id") != str(cfg.node_id):
                die(f"Stored node id {stored.get('node.id')} doesn't match previous node id "
                    f"{cfg.node_id} in {meta}. If you moved your data, make sure your configured "
                    "node id matches. If you intend to create a new node, you should remove all "
                    "data in your data directories.")
            log("All of the log directories are already formatted.")
        else:
            directory_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            try:
                d.mkdir(parents=True, exist_ok=True)
                tmp = d / "meta.properties.tmp"
                tmp.write_text(f"#\n#{time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}\n"
                               f"node.id={cfg.node_id}\ndirectory.id={directory_id}\nversion=1\n"
                               f"cluster.id={cfg.cluster_id}\nstand-in=true\n")
                tmp.replace(meta)
                (d / METADATA_DIR).mkdir(exist_ok=True)
            except OSError as err:
                die(f"Error while writing meta.properties file {d}: {err}")
            log(f"Formatting metadata directory {d} (cluster.id {cfg.cluster_id}, node.id "
                f"{cfg.node_id}).")
        for t in sorted(d.glob("*-0")):
            if t.is_dir() and t.name != METADATA_DIR:
                records = t / "records.jsonl"
                lines = records.read_text().splitlines() if records.exists() else []
                self.topics[t.name[:-2]] = [json.loads(x) for x in lines]
        offsets = d / "consumer-offsets.json"
        self.offsets = json.loads(offsets.read_text()) if offsets.exists() else {}
        scram_file = d / METADATA_DIR / SCRAM_FILE
        if cfg.controller and scram_file.exists():
            self.metadata = json.loads(scram_file.read_text())

    # -- the controller listener -----------------------------------------------------------------

    def controller_request(self, req: dict[str, Any], local: bool = False) -> dict[str, Any]:
        """A voter's answer on its controller port (`local`: to this node itself, which KRaft
        asks without a connection, so without a login)."""
        cfg = self.cfg
        if cfg.controller_sasl and not local:
            auth = req.get("auth") if isinstance(req.get("auth"), dict) else {}
            mech = auth.get("mechanism")  # type: ignore[union-attr]
            # PLAIN only: KRaft controllers cannot check SCRAM logins (the credentials are in the
            # metadata they serve).
            if mech != "PLAIN" or mech not in cfg.mechanisms or not self._plain_ok(auth):  # type: ignore[arg-type]
                return auth_error(mech)
        if req.get("cluster_id") != cfg.cluster_id:
            return {"error": f"INCONSISTENT_CLUSTER_ID: the request's cluster id "
                             f"{req.get('cluster_id')} is not this quorum's ({cfg.cluster_id})"}
        op = req.get("op")
        if op == "hello":
            return {"ok": True, "node_id": cfg.node_id, "cluster_id": cfg.cluster_id}
        user = str(req.get("user", ""))
        if op == "scram-get":
            with self.meta_lock:
                return {"credentials": self.metadata.get(user, {})}
        if op == "scram-put":
            mech, cred, ts = req.get("mechanism"), str(req.get("credential", "")), int(req.get("ts", 0))
            if mech not in scram.HASHES or not user:
                return {"error": f"UNSUPPORTED_SASL_MECHANISM: {mech}"}
            with self.meta_lock:
                current = self.metadata.setdefault(user, {}).get(mech)
                if current is None or current["ts"] <= ts:
                    self.metadata[user][mech] = {"credential": cred, "ts": ts}
                    path = self.cfg.log_dir / METADATA_DIR / SCRAM_FILE
                    path.parent.mkdir(exist_ok=True)
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(self.metadata))
                    tmp.replace(path)
            return {"ok": True}
        return {"error": f"unknown controller op {op!r}"}

    def to_voters(self, request: dict[str, Any]) -> dict[int, dict[str, Any] | str]:
        """Every voter's answer to `request` (this node's own directly), or why there is none."""
        cfg = self.cfg
        req = {**request, "cluster_id": cfg.cluster_id, "node_id": cfg.node_id}
        if cfg.controller_sasl:
            req["auth"] = cfg.login(cfg.controller_mechanism)

        def one(vid: int) -> dict[str, Any] | str:
            if vid == cfg.node_id and cfg.controller:
                return self.controller_request(req, local=True)
            host, port = cfg.voters[vid]
            try:
                return ask(host, port, req, timeout=2)
            except (OSError, ValueError) as err:
                return f"{vid}@{host}:{port}: {err}"

        with ThreadPoolExecutor(len(cfg.voters)) as pool:
            return dict(zip(sorted(cfg.voters), pool.map(one, sorted(cfg.voters))))

    def wait_for_quorum(self) -> None:
        cfg, last, last_at = self.cfg, None, 0.0
        while True:
            answers = self.to_voters({"op": "hello", "roles": sorted(cfg.roles)})
            ok = [v for v, a in answers.items() if isinstance(a, dict) and a.get("ok")]
            if len(ok) >= self.majority:
                log(f"controller quorum reached: voters {ok} of {sorted(cfg.voters)} answer")
                return
            problems = [a if isinstance(a, str) else f"{v}: {a.get('error')}"
                        for v, a in answers.items() if v not in ok]
            state = (tuple(ok), tuple(problems))
            if state != last or time.monotonic() - last_at >= 10:
                log(f"waiting for the controller quorum: {len(ok)} of {len(cfg.voters)} voters "
                    f"answer, {self.majority} needed; {'; '.join(problems)}")
                last, last_at = state, time.monotonic()
            time.sleep(1)

    # -- SCRAM -----------------------------------------------------------------------------------

    def scram_lookup(self, user: str, fresh: bool = False) -> tuple[dict[str, dict[str, Any]] | None, bool]:
        """(the user's credentials as the voters hold them, the newest of each mechanism; whether
        they came from the cache). While no voter answers, the last ones looked up (None if
        none), as a broker keeps serving from its last metadata image."""
        cached = self.cache.get(user)
        if cached and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1], True
        merged: dict[str, dict[str, Any]] = {}
        answered = False
        for answer in self.to_voters({"op": "scram-get", "user": user}).values():
            if isinstance(answer, dict) and "credentials" in answer:
                answered = True
                for mech, entry in answer["credentials"].items():
                    if mech not in merged or merged[mech]["ts"] < entry["ts"]:
                        merged[mech] = entry
        if not answered:
            return (cached[1] if cached else None), True
        self.cache[user] = (time.monotonic(), merged)
        return merged, False

    def _plain_ok(self, auth: dict[str, Any]) -> bool:
        password = str(auth.get("password", ""))
        return password != "" and self.users.get(str(auth.get("username"))) == password

    def authenticate(self, auth: Any) -> bool:
        if not isinstance(auth, dict) or auth.get("mechanism") not in self.cfg.mechanisms:
            return False
        mech, user, password = auth["mechanism"], str(auth.get("username")), str(auth.get("password"))
        if mech == "PLAIN":
            return self._plain_ok(auth)
        if mech not in scram.HASHES:
            return False
        creds, cached = self.scram_lookup(user)
        entry = (creds or {}).get(mech)
        if entry and scram.verify(mech, password, entry["credential"]):
            return True
        if cached:  # the cached credential may predate a change: look again
            entry = (self.scram_lookup(user, fresh=True)[0] or {}).get(mech)
            return bool(entry) and scram.verify(mech, password, entry["credential"])  # type: ignore[index]
        return False

    def alter_scram(self, req: dict[str, Any]) -> dict[str, Any]:
        """AlterUserScramCredentials: the broker has the voters store the credential."""
        user, mech, cred = str(req.get("user", "")), req.get("mechanism"), str(req.get("credential", ""))
        if not user:
            return {"error": "UNACCEPTABLE_CREDENTIAL: Username must not be empty"}
        if mech not in scram.HASHES:
            return {"error": f"UNSUPPORTED_SASL_MECHANISM: Unknown SCRAM mechanism {mech}"}
        try:
            iterations = int(scram.fields(cred)["iterations"])
        except ValueError as err:
            return {"error": f"UNACCEPTABLE_CREDENTIAL: {err}"}
        if iterations < scram.MIN_ITERATIONS:
            return {"error": "UNACCEPTABLE_CREDENTIAL: Too few iterations"}
        if iterations > scram.MAX_ITERATIONS:
            return {"error": "UNACCEPTABLE_CREDENTIAL: Too many iterations"}
        answers = self.to_voters({"op": "scram-put", "user": user, "mechanism": mech,
                                  "credential": cred, "ts": time.time_ns()})
        stored = [v for v, a in answers.items() if isinstance(a, dict) and a.get("ok")]
        self.cache.pop(user, None)
        if len(stored) < self.majority:
            why = "; ".join(a if isinstance(a, str) else f"{v}: {a.get('error')}"
                            for v, a in answers.items() if v not in stored)
            return {"error": f"REQUEST_TIMED_OUT: the controller quorum did not take the "
                             f"credential ({len(stored)} of {len(answers)} voters; {why})"}
        log(f"{mech} credential of user {user!r} stored on voters {stored}")
        return {"ok": True, "voters": stored}

    # -- the broker listener ---------------------------------------------------------------------

    def _append(self, topic: str, value: Any) -> int:
        records = self.topics[topic]
        records.append(value)
        d = self.cfg.log_dir / f"{topic}-0"
        d.mkdir(exist_ok=True)
        with (d / "records.jsonl").open("a") as f:
            f.write(json.dumps(value) + "\n")
        self.cond.notify_all()
        return len(records) - 1

    def broker_request(self, req: dict[str, Any], sasl: bool) -> dict[str, Any]:
        if sasl and not self.authenticate(req.get("auth")):
            return auth_error((req.get("auth") or {}).get("mechanism"))
        op, topic = req.get("op"), str(req.get("topic", ""))
        if op == "alter-user-scram":
            return self.alter_scram(req)
        with self.cond:
            if op == "topics":
                return {"topics": sorted(self.topics)}
            if op == "create":
                if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic) or topic.startswith("__cluster_metadata"):
                    return {"error": f"InvalidTopicException: {topic!r}"}
                exists = topic in self.topics
                if not exists:
                    self.topics[topic] = []
                    (self.cfg.log_dir / f"{topic}-0").mkdir(exist_ok=True)
                return {"ok": True, "exists": exists}
            if topic not in self.topics:
                if not (op == "produce" and self.cfg.auto_create):
                    return {"error": f"UNKNOWN_TOPIC_OR_PARTITION: {topic}"}
                self.topics[topic] = []
            key = f"{req.get('group')}|{topic}"
            if op == "produce":
                return {"offset": self._append(topic, req.get("value"))}
            if op == "committed":
                return {"offset": self.offsets.get(key, 0)}
            if op == "commit":
                self.offsets[key] = int(req["offset"])
                (self.cfg.log_dir / "consumer-offsets.json").write_text(json.dumps(self.offsets))
                return {"ok": True}
            if op == "fetch":
                offset = int(req.get("offset", 0))
                deadline = time.monotonic() + min(float(req.get("wait", 0)), 30)
                while len(self.topics[topic]) <= offset and time.monotonic() < deadline:
                    self.cond.wait(deadline - time.monotonic())
                values = self.topics[topic][offset:offset + 100]
                return {"values": values, "next": offset + len(values)}
        return {"error": f"unknown op {op!r}"}

    # -- listeners -------------------------------------------------------------------------------

    def listen(self, name: str, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        host, port = next((h, p) for n, h, p in self.cfg.listeners if n == name)

        class Conn(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    for line in self.rfile:
                        try:
                            req = json.loads(line)
                            reply = handle(req) if isinstance(req, dict) else {"error": "bad request"}
                        except (ValueError, KeyError, TypeError, AttributeError) as err:
                            reply = {"error": f"bad request: {err}"}
                        self.wfile.write((json.dumps(reply) + "\n").encode())
                except (ConnectionResetError, BrokenPipeError):
                    pass

        server = socketserver.ThreadingTCPServer((host.strip("[]"), port), Conn, bind_and_activate=False)
        server.daemon_threads = True
        server.allow_reuse_address = True
        try:
            server.server_bind()
            server.server_activate()
        except OSError as err:
            fatal(f"org.apache.kafka.common.KafkaException: Socket server failed to bind to "
                  f"{host}:{port}: {err}")
        threading.Thread(target=server.serve_forever, daemon=True, name=f"listener-{name}").start()
        log(f"listener {name} ({self.cfg.protocols[name]}) on {host}:{port}")


def main() -> None:
    exit_on_signal()
    cfg = Config(dict(os.environ))
    node = Node(cfg)
    node.format_storage()
    log(f"node {cfg.node_id}, process.roles {','.join(sorted(cfg.roles))}, cluster.id "
        f"{cfg.cluster_id}, voters {','.join(f'{v}@{h}:{p}' for v, (h, p) in sorted(cfg.voters.items()))}")
    if cfg.controller:
        node.listen(cfg.controller_name, node.controller_request)
    if (cfg.log_dir.parent / UNHEALTHY).exists():
        log(f"{UNHEALTHY} is in the data volume: the broker listener stays closed (the engine "
            "tier's unhealthy store)")
        threading.Event().wait()
    node.wait_for_quorum()
    if cfg.broker:
        if cfg.ib_sasl:
            ok = node.authenticate(cfg.login(cfg.ib_mechanism))
            log("inter-broker credentials accepted" if ok else
                "ERROR inter-broker authentication failed: this node's own JAAS credentials are "
                f"not valid for its inter-broker mechanism {cfg.ib_mechanism}")
        for name, _, _ in cfg.listeners:
            if name not in cfg.controller_names:
                sasl = cfg.protocols[name].startswith("SASL")
                node.listen(name, lambda req, sasl=sasl: node.broker_request(req, sasl))  # type: ignore[misc]
        log(f"advertised {','.join(f'{n}://{h}:{p}' for n, h, p in cfg.advertised)}; log dir "
            f"{cfg.log_dir}, topics {sorted(node.topics)}")
    log(f"[KafkaRaftServer nodeId={cfg.node_id}] Kafka Server started")
    threading.Event().wait()


if __name__ == "__main__":
    main()
