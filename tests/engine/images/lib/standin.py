"""Plumbing shared by the engine tier's stand-in servers. TEST STAND-INS ONLY, not for production.

Standard library only. Copied into every stand-in image as /standin/standin.py:

* log() and exit_on_signal(): one log line format, and clean exits as PID 1;
* serve_http(): a threaded JSON/text HTTP server calling one handler function;
* http_call(): a small JSON HTTP client;
* Bus: the client of the Kafka stand-in (kafka/kafka.py speaks line-delimited JSON over TCP);
* Etcd: a client of etcd's v3 JSON gateway (/v3/kv/put, /v3/kv/range);
* Docker: a client of the Docker Engine API over /var/run/docker.sock.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

NAME = os.environ.get("STANDIN_NAME", os.path.basename(sys.argv[0]).removesuffix(".py"))


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{NAME} stand-in] {msg}", flush=True)


def die(msg: str, code: int = 1) -> None:
    log(msg)
    sys.stdout.flush()
    os._exit(code)


def _config_document(text: str) -> dict[str, str]:
    """The `path = "json string"` lines of the HOCON file -Dconfig.file names, as CONFIG_
    variables.
    Without upstream's `include classpath("application.conf")` the real images would lose every
    default, so the stand-in refuses such a document."""
    if not text:
        return {}
    if 'include classpath("application.conf")' not in text.splitlines():
        die('the config file lacks include classpath("application.conf"): the real image would '
            "start without its defaults")
    out = {}
    for line in text.splitlines()[1:]:
        m = re.fullmatch(r'([\w.-]+) = (".*")', line.strip())
        if not m:
            die(f"the config file: a line the stand-in cannot read: {line[:40]}")
        segments = (re.sub(r"-([a-z0-9])", lambda x: x[1].upper(), s) for s in m[1].split("."))
        out["CONFIG_" + "_".join(segments)] = json.loads(m[2])
    return out


def configured_environment() -> dict[str, str]:
    """The environment as an OpenWhisk JVM image reads it: its variables, and the keys of the
    HOCON file that CONFIG_config_file names (-Dconfig.file) as CONFIG_ variables."""
    env = dict(os.environ)
    path = env.get("CONFIG_config_file")
    if path and not os.path.isfile(path):
        die(f"-Dconfig.file={path}: no such file")
    env.update(_config_document(open(path).read() if path else ""))
    return env


def exit_on_signal() -> None:
    """PID 1 ignores signals it has no handler for: exit on TERM and INT like a JVM would."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))


# --------------------------------------------------------------------------------------------
# HTTP server


@dataclass
class Request:
    method: str
    path: str
    """Decoded path without the query."""
    query: dict[str, str]
    headers: Any
    body: bytes
    raw_path: str = ""
    """The path as sent, still percent-encoded (a CouchDB document id may hold an encoded `/`)."""

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return (user, password) if sep else None


@dataclass
class Reply:
    status: int
    payload: Any = None
    """dict/list/bool/number -> JSON; str -> text/plain; bytes as they are; None -> empty."""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


def serve_http(port: int, handle: Handler, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve `handle` on host:port from a daemon thread; returns the server."""

    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"{NAME}-standin"

        def log_message(self, *_: Any) -> None:
            pass

        def _do(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, unquote(split.path), dict(parse_qsl(split.query)),
                          self.headers, body, split.path)
            try:
                reply = handle(req)
            except Exception as err:  # a stand-in bug: answer 500 and say what
                log(f"{req.method} {req.path} failed: {type(err).__name__}: {err}")
                reply = Reply(500, {"error": f"{type(err).__name__}: {err}"})
            payload, ctype = reply.payload, "application/json"
            if isinstance(payload, bytes):
                data, ctype = payload, reply.headers.pop("Content-Type", "application/octet-stream")
            elif isinstance(payload, str):
                data, ctype = payload.encode(), "text/plain; charset=UTF-8"
            elif payload is None:
                data = b""
            else:
                data = json.dumps(payload).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _do

    class _Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that closes its keep-alive connection early (curl -f on an error status,
            # a health check timing out) is not a stand-in error worth a traceback.
            if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                super().handle_error(request, client_address)

    server = _Server((host, port), _H)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def listen_tcp(port: int, on_connect: Callable[[socket.socket], None] | None = None,
               host: str = "0.0.0.0") -> socket.socket:
    """Accept TCP connections on host:port from a daemon thread (e.g. a remoting or gRPC port);
    `on_connect` gets each connection (default: close it)."""
    sock = socket.create_server((host, port), reuse_port=False)

    def loop() -> None:
        while True:
            conn, _ = sock.accept()
            if on_connect is None:
                conn.close()
            else:
                threading.Thread(target=on_connect, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return sock


def tcp_open(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# HTTP client


def http_call(method: str, url: str, body: Any = None, *, auth: tuple[str, str] | None = None,
              timeout: float = 10.0, raw: bytes | None = None,
              extra_headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded JSON or text). Raises OSError when there is no HTTP answer."""
    split = urlsplit(url)
    conn_cls = http.client.HTTPSConnection if split.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(split.hostname, split.port, timeout=timeout)
    headers = {"Accept": "application/json", **(extra_headers or {})}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        conn.request(method, split.path + (f"?{split.query}" if split.query else ""), data, headers)
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
    except http.client.HTTPException as err:
        raise OSError(str(err)) from None
    finally:
        conn.close()
    return res.status, _decoded(text)


def _decoded(text: str) -> Any:
    """A response body: its JSON, None when empty, else the text."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


# --------------------------------------------------------------------------------------------
# The Kafka stand-in's client


class BusError(Exception):
    pass


class Bus:
    """Client of kafka/kafka.py: one JSON request line, one JSON answer line, per call.

    `hosts` is KAFKA_HOSTS (host:port,...). With `CONFIG_whisk_kafka_common_securityProtocol`
    SASL_PLAINTEXT the credentials come from `..._saslJaasConfig` and `..._saslMechanism`, as the
    real clients read them."""

    def __init__(self, hosts: str, env: dict[str, str]) -> None:
        self.hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in hosts.split(",") if h]
        self.auth: dict[str, str] | None = None
        protocol = env.get("CONFIG_whisk_kafka_common_securityProtocol", "PLAINTEXT")
        if protocol.startswith("SASL"):
            jaas = env.get("CONFIG_whisk_kafka_common_saslJaasConfig", "")
            user = re.search(r'username="([^"]*)"', jaas)
            password = re.search(r'password="([^"]*)"', jaas)
            self.auth = {"mechanism": env.get("CONFIG_whisk_kafka_common_saslMechanism", "GSSAPI"),
                         "username": user.group(1) if user else "",
                         "password": password.group(1) if password else ""}
        self.lock = threading.Lock()

    def call(self, op: str, timeout: float = 40.0, **fields: Any) -> dict[str, Any]:
        request = {"op": op, **fields, **({"auth": self.auth} if self.auth else {})}
        line = (json.dumps(request) + "\n").encode()
        last = "no broker"
        for host, port in self.hosts:
            try:
                with socket.create_connection((host, port), timeout=timeout) as s:
                    s.sendall(line)
                    answer = s.makefile("rb").readline()
            except OSError as err:
                last = f"{host}:{port}: {err}"
                continue
            if not answer:
                last = f"{host}:{port}: connection closed"
                continue
            reply = json.loads(answer)
            if reply.get("error"):
                raise BusError(reply["error"])
            return reply
        raise BusError(f"no Kafka broker answers ({last})")

    def create_topic(self, topic: str) -> None:
        self.call("create", topic=topic)

    def produce(self, topic: str, value: Any) -> int:
        return int(self.call("produce", topic=topic, value=value)["offset"])

    def consume(self, topic: str, group: str, handle: Callable[[Any], None]) -> None:
        """Process `topic` from the group's committed offset onwards, forever (a daemon thread)."""

        def loop() -> None:
            offset = None
            while True:
                try:
                    if offset is None:
                        offset = int(self.call("committed", topic=topic, group=group)["offset"])
                    reply = self.call("fetch", topic=topic, offset=offset, wait=20)
                    for value in reply["values"]:
                        try:
                            handle(value)
                        except Exception as err:
                            log(f"handling a record of {topic} failed: {type(err).__name__}: {err}")
                    if reply["values"]:
                        offset = int(reply["next"])
                        self.call("commit", topic=topic, group=group, offset=offset)
                except (BusError, OSError, ValueError) as err:
                    log(f"consuming {topic}: {err}; retrying")
                    time.sleep(2)

        threading.Thread(target=loop, daemon=True, name=f"consume-{topic}").start()


# --------------------------------------------------------------------------------------------
# etcd (v3 JSON gateway)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: etcd's answers that a login (again) fixes: none sent, expired, or older than a user change.
_RELOGIN = ("user name is empty", "invalid auth token", "revision of auth store is old")


class Etcd:
    """etcd's gRPC gateway over HTTP: enough to register and list members under a prefix. With a
    user and password (whisk.etcd.username/password, as OpenWhisk's EtcdClient takes them) it logs
    in and sends its token, logging in again when etcd ends the token, as etcd's clients do."""

    def __init__(self, hosts: str, user: str | None = None, password: str | None = None) -> None:
        self.urls = [f"http://{h}" for h in hosts.split(",") if h]
        self.login = (user, password) if user and password else None
        self.token: str | None = None

    def _post(self, path: str, body: dict[str, Any], *, again: bool = True) -> Any:
        last = "no etcd host"
        for url in self.urls:
            headers = {"Authorization": self.token} if self.token else {}
            try:
                status, reply = http_call("POST", url + path, body, timeout=5, extra_headers=headers)
            except OSError as err:
                last = f"{url}: {err}"
                continue
            if status == 200:
                return reply
            if again and self.login and any(m in str(reply) for m in _RELOGIN):
                self.token = None
                self.token = self._post("/v3/auth/authenticate", {
                    "name": self.login[0], "password": self.login[1]}, again=False)["token"]
                return self._post(path, body, again=False)
            last = f"{url}: HTTP {status} {reply}"
        raise OSError(f"etcd {path}: {last}")

    def put(self, key: str, value: Any) -> None:
        self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(json.dumps(value))})

    def prefix(self, prefix: str) -> dict[str, Any]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        reply = self._post("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end)})
        return {base64.b64decode(kv["key"]).decode(): json.loads(base64.b64decode(kv["value"]))
                for kv in reply.get("kvs", [])}


# --------------------------------------------------------------------------------------------
# Docker Engine API


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class Docker:
    def __init__(self, socket_path: str = "/var/run/docker.sock") -> None:
        self.path = socket_path

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = _UnixConnection(self.path, timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, "/v1.41" + path, json.dumps(body) if body is not None else None,
                         headers)
            res = conn.getresponse()
            text = res.read().decode("utf-8", "replace")
        finally:
            conn.close()
        return res.status, _decoded(text)
