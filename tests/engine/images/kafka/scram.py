"""SCRAM credentials as Kafka keeps them in ZooKeeper (/config/users/<name>). TEST STAND-IN ONLY.

The znode holds {"version": 1, "config": {"SCRAM-SHA-256": "salt=..,stored_key=..,server_key=..,
iterations=4096"}}, the format of RFC 5802's stored credentials; shared by kafka.py (verifies) and
kafka-configs.sh (writes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
ITERATIONS = 4096


def _keys(mechanism: str, password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    algo = HASHES[mechanism]
    salted = hashlib.pbkdf2_hmac(algo, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", algo).digest()
    server_key = hmac.new(salted, b"Server Key", algo).digest()
    return hashlib.new(algo, client_key).digest(), server_key


def credential(mechanism: str, password: str) -> str:
    salt = os.urandom(32)
    stored, server = _keys(mechanism, password, salt, ITERATIONS)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"salt={b64(salt)},stored_key={b64(stored)},server_key={b64(server)},iterations={ITERATIONS}"


def verify(mechanism: str, password: str, cred: str) -> bool:
    fields = dict(part.split("=", 1) for part in cred.split(","))
    stored, _ = _keys(mechanism, password, base64.b64decode(fields["salt"]), int(fields["iterations"]))
    return hmac.compare_digest(base64.b64encode(stored).decode(), fields["stored_key"])


def user_path(name: str) -> str:
    return f"/config/users/{name}"


def parse_node(data: bytes) -> dict[str, str]:
    return json.loads(data or b"{}").get("config", {})
