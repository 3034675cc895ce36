"""SCRAM credentials as a KRaft quorum keeps them (UserScramCredentialRecord). TEST STAND-IN ONLY.

A credential is the RFC 5802 stored form, "salt=..,stored_key=..,server_key=..,iterations=N"
(base64 fields): kafka-configs.sh computes it from the password, the voters keep it in their
metadata directory, and kafka.py checks a client's password against it. The password itself never
reaches a broker through kafka-configs.sh."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
ITERATIONS = 4096
"""kafka-configs.sh's default when the add-config gives none."""
MIN_ITERATIONS, MAX_ITERATIONS = 4096, 16384
"""Kafka's bounds (ScramMechanism.minIterations, the controller's maximum)."""


def _keys(mechanism: str, password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    algo = HASHES[mechanism]
    salted = hashlib.pbkdf2_hmac(algo, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", algo).digest()
    server_key = hmac.new(salted, b"Server Key", algo).digest()
    return hashlib.new(algo, client_key).digest(), server_key


def credential(mechanism: str, password: str, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(32)
    stored, server = _keys(mechanism, password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"salt={b64(salt)},stored_key={b64(stored)},server_key={b64(server)},iterations={iterations}"


def fields(cred: str) -> dict[str, str]:
    """The credential's fields; ValueError when it is not one."""
    out = dict(part.split("=", 1) for part in cred.split(",") if "=" in part)
    if set(out) != {"salt", "stored_key", "server_key", "iterations"}:
        raise ValueError("a SCRAM credential has salt, stored_key, server_key and iterations")
    int(out["iterations"])
    for key in ("salt", "stored_key", "server_key"):
        base64.b64decode(out[key], validate=True)
    return out


def verify(mechanism: str, password: str, cred: str) -> bool:
    try:
        parts = fields(cred)
    except ValueError:
        return False
    stored, _ = _keys(mechanism, password, base64.b64decode(parts["salt"]), int(parts["iterations"]))
    return hmac.compare_digest(base64.b64encode(stored).decode(), parts["stored_key"])
