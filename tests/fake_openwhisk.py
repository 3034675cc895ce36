"""A small stand-in for an OpenWhisk controller and edge, just enough for components/assets/verify.py.

One plain-HTTP server on 127.0.0.1 plays both roles:

* ``GET /ping`` answers ``pong``
* ``GET /invokers`` answers the next entry of :attr:`FakeOpenWhisk.invoker_states` (the last one
  repeats)
* ``PUT|DELETE /api/v1/namespaces/_/actions/<name>`` and ``POST`` (invoke) on the same path, with
  HTTP basic auth against one key (401 otherwise)
* ``GET /api/v1/namespaces/_/activations/<id>`` for invokes answered with 202
* ``GET /`` answers ``{"runtimes": FakeOpenWhisk.runtimes, ...}`` (no auth, like a controller)
* ``GET|PUT /api/v1/namespaces/_/packages/<name>`` and ``GET /api/v1/namespaces/_/packages``
  (the list); ``GET /api/v1/namespaces/_/actions/<name>`` and ``<package>/<name>``: a GET
  answers what was PUT (annotations included) or 404; a PUT of an existing entity without
  ``?overwrite=true`` answers 409; a PUT of an action in a package that does not exist, 404
* :meth:`FakeOpenWhisk.fail_next` makes the next request(s) of a method and path answer a given
  status and body

:attr:`FakeOpenWhisk.invoke` chooses how invokes behave: ``"run"`` runs the hello action's logic,
``"fail"`` answers 502 with an action error, ``"accepted"`` answers 202 and serves the finished
activation, ``"wrong"`` returns another result. Every request is recorded as
``(method, path)`` in :attr:`FakeOpenWhisk.requests`.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACTIONS = "/api/v1/namespaces/_/actions/"
ACTIVATIONS = "/api/v1/namespaces/_/activations/"
PACKAGES = "/api/v1/namespaces/_/packages"
NOT_FOUND = {"error": "The requested resource does not exist."}
ACTION_ERROR = "The action did not initialize or run as expected. Log data might be missing."


class FakeOpenWhisk:
    def __init__(self, auth: str) -> None:
        self.auth = auth
        self.invoker_states: list[dict[str, str]] = [{"invoker0/0": "up"}]
        self.invoke = "run"
        self.actions: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self.runtimes: dict[str, list[dict[str, Any]]] = {
            "nodejs": [{"kind": "nodejs:20", "default": True}]}
        self.failures: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeOpenWhisk:
        handler = type("Handler", (_Handler,), {"ow": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, method: str, path: str, status: int, body: Any, times: int = 1) -> None:
        """The next `times` requests of method and path (no query) answer status and body."""
        with self.lock:
            self.failures.setdefault((method, path), []).extend([(status, body)] * times)

    def puts(self) -> list[str]:
        """Paths of the PUT requests, in order."""
        return [path for method, path in self.requests if method == "PUT"]

    def next_invoker_states(self) -> dict[str, str]:
        with self.lock:
            return self.invoker_states.pop(0) if len(self.invoker_states) > 1 \
                else self.invoker_states[0]


class _Handler(BaseHTTPRequestHandler):
    ow: FakeOpenWhisk

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        want = "Basic " + base64.b64encode(self.ow.auth.encode()).decode()
        return self.headers.get("Authorization") == want

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def _handle(self) -> None:
        url = urlsplit(self.path)
        with self.ow.lock:
            self.ow.requests.append((self.command, url.path))
            queued = self.ow.failures.get((self.command, url.path))
            failure = queued.pop(0) if queued else None
        if failure is not None:
            return self._send(*failure)
        if self.command == "GET" and url.path == "/":
            return self._send(200, {"description": "fake OpenWhisk", "runtimes": self.ow.runtimes})
        if self.command == "GET" and url.path == "/ping":
            return self._send(200, "pong")
        if self.command == "GET" and url.path == "/invokers":
            return self._send(200, self.ow.next_invoker_states())
        if not self._authorized():
            return self._send(401, {"error": "The supplied authentication is invalid.", "code": "x"})
        if url.path == PACKAGES and self.command == "GET":
            return self._send(200, [{"name": n, "namespace": "whisk.system", **p}
                                    for n, p in self.ow.packages.items()])
        if url.path.startswith(PACKAGES + "/"):
            return self._package(url.path[len(PACKAGES) + 1:], parse_qs(url.query))
        if url.path.startswith(ACTIONS):
            return self._action(url.path[len(ACTIONS):], parse_qs(url.query))
        if self.command == "GET" and url.path == ACTIVATIONS + "act-1":
            return self._send(200, {"activationId": "act-1", "response": {
                "success": True, "result": {"greeting": "hello openwhisk"}}})
        return self._send(404, {"error": "The requested resource does not exist."})

    def _package(self, name: str, query: dict[str, list[str]]) -> None:
        ow = self.ow
        if self.command == "GET":
            if name not in ow.packages:
                return self._send(404, NOT_FOUND)
            return self._send(200, {"name": name, "namespace": "whisk.system", **ow.packages[name]})
        if self.command == "PUT":
            if name in ow.packages and query.get("overwrite") != ["true"]:
                return self._send(409, {"error": "resource already exists"})
            ow.packages[name] = self._body()
            return self._send(200, {"name": name, "namespace": "whisk.system", **ow.packages[name]})
        return self._send(405, {"error": "method not allowed"})

    def _action(self, name: str, query: dict[str, list[str]]) -> None:
        ow = self.ow
        if self.command == "GET":
            if name not in ow.actions:
                return self._send(404, NOT_FOUND)
            return self._send(200, {"name": name.rpartition("/")[2], "namespace": "guest",
                                    **ow.actions[name]})
        if self.command == "PUT":
            if "/" in name and name.partition("/")[0] not in ow.packages:
                return self._send(404, NOT_FOUND)
            if name in ow.actions and query.get("overwrite") != ["true"]:
                return self._send(409, {"error": "resource already exists"})
            ow.actions[name] = self._body()
            return self._send(200, {"name": name, "namespace": "guest", **ow.actions[name]})
        if self.command == "DELETE":
            if ow.actions.pop(name, None) is None:
                return self._send(404, {"error": "The requested resource does not exist."})
            return self._send(200, {"name": name})
        if self.command == "POST":
            params = self._body() or {}
            if name not in ow.actions:
                return self._send(404, {"error": "The requested resource does not exist."})
            if ow.invoke == "fail":
                return self._send(502, {"error": ACTION_ERROR})
            if ow.invoke == "accepted":
                return self._send(202, {"activationId": "act-1"})
            if ow.invoke == "wrong":
                return self._send(200, {"greeting": "hi"})
            return self._send(200, {"greeting": "hello " + (params.get("name") or "world")})
        return self._send(405, {"error": "method not allowed"})

    do_GET = do_PUT = do_POST = do_DELETE = _handle
