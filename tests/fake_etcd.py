"""An in-memory etcd auth store behind the v3 JSON gateway's /v3/auth/* routes, for the tests of
components/assets/etcd/auth.sh. It keeps etcd's rules that the step depends on (read in
etcd-io/etcd at v3.5.33, server/auth/store.go): the admin routes need root's token once
authentication is on; every change to users or roles raises the auth revision, and a token from
an older revision is refused; enabling needs a root user with the root role; errors are gRPC
status messages in the gateway's JSON."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: gRPC code -> the gateway's HTTP status (grpc-gateway's HTTPStatusFromCode).
_HTTP = {3: 400, 9: 400, 7: 403}


class EtcdError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeEtcd:
    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, list[dict[str, str]]] = {}
        self.enabled = False
        self.revision = 1
        self.tokens: dict[str, tuple[str, int]] = {}
        self.changes: list[str] = []
        """The routes that changed the store, in order."""
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> "FakeEtcd":
        handler = type("Handler", (_Handler,), {"etcd": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- the store -----------------------------------------------------------------------------
    def _changed(self, route: str) -> None:
        self.revision += 1
        self.changes.append(route)

    def _admin(self, token: str | None) -> None:
        if not self.enabled:
            return
        if not token:
            raise EtcdError(3, "etcdserver: user name is empty")
        user, revision = self.tokens.get(token, ("", 0))
        if not user:
            raise EtcdError(3, "etcdserver: invalid auth token")
        if revision < self.revision:
            raise EtcdError(3, "etcdserver: revision of auth store is old")
        if "root" not in self.users[user]["roles"]:
            raise EtcdError(7, "etcdserver: permission denied")

    def handle(self, route: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        if route == "authenticate":
            if not self.enabled:
                raise EtcdError(9, "etcdserver: authentication is not enabled")
            user = self.users.get(body.get("name", ""))
            if user is None or user["password"] != body.get("password"):
                raise EtcdError(3, "etcdserver: authentication failed, invalid user ID or password")
            token = secrets.token_hex(8)
            self.tokens[token] = (body["name"], self.revision)
            return {"token": token}
        self._admin(token)
        if route == "user/add":
            if body["name"] in self.users:
                raise EtcdError(9, "etcdserver: user name already exists")
            self.users[body["name"]] = {"password": body["password"], "roles": []}
        elif route == "user/get":
            user = self._user(body["name"])
            return {"roles": user["roles"]} if user["roles"] else {}
        elif route == "user/changepw":
            self._user(body["name"])["password"] = body["password"]
        elif route == "user/grant":
            user = self._user(body["user"])
            if body["role"] != "root" and body["role"] not in self.roles:
                raise EtcdError(9, "etcdserver: role name not found")
            if body["role"] in user["roles"]:
                return {}  # etcd ignores a repeated grant (no new revision)
            user["roles"] = sorted(user["roles"] + [body["role"]])
        elif route == "role/add":
            if body["name"] in self.roles:
                raise EtcdError(9, "etcdserver: role name already exists")
            self.roles[body["name"]] = []
        elif route == "role/get":
            if body["role"] not in self.roles:
                raise EtcdError(9, "etcdserver: role name not found")
            return {"perm": self.roles[body["role"]]} if self.roles[body["role"]] else {}
        elif route == "role/grant":
            if body["name"] not in self.roles:
                raise EtcdError(9, "etcdserver: role name not found")
            perm = body["perm"]
            self.roles[body["name"]] = [p for p in self.roles[body["name"]]
                                        if p["key"] != perm["key"]] + [perm]
        elif route == "enable":
            if self.enabled:
                return {}
            root = self.users.get("root")
            if root is None:
                raise EtcdError(9, "etcdserver: root user does not exist")
            if "root" not in root["roles"]:
                raise EtcdError(9, "etcdserver: root user does not have root role")
            self.enabled = True
        else:
            raise EtcdError(12, f"unknown route {route}")
        self._changed(route)
        return {}

    def _user(self, name: str) -> dict[str, Any]:
        if name not in self.users:
            raise EtcdError(9, "etcdserver: user name not found")
        return self.users[name]


class _Handler(BaseHTTPRequestHandler):
    etcd: FakeEtcd
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        route = self.path.removeprefix("/v3/auth/")
        try:
            with self.etcd.lock:
                status, payload = 200, self.etcd.handle(route, body, self.headers.get("Authorization"))
        except EtcdError as err:
            status, payload = _HTTP.get(err.code, 500), {"error": err.message, "code": err.code,
                                                         "message": err.message}
        data = json.dumps({"header": {}, **payload}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
