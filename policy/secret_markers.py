"""Secret markers for the policy pack: the only module that touches pulumi-policy's internals.

The engine sends secret properties wrapped, and pulumi-policy 1.21.0 unwraps them to plain values
before calling a policy's `validate`, so no policy can tell a secret from a plain value, and the
library offers no supported way to ask. `install_secret_markers()` replaces the deserializer that
the pack's Analyze and AnalyzeStack handlers call (`pulumi_policy.policy.deserialize_properties`)
with one that keeps that bit: every string inside a secret arrives as a `SecretStr`.

It relies on three internals of pulumi-policy 1.21.0: `policy.deserialize_properties` being the
function the handlers call, `deserialize.SPECIAL_SIG_KEY`/`SPECIAL_SECRET_SIG`, and
`deserialize._deserialize_property` for assets and archives. `install_secret_markers()` refuses to
run when the first changed, and tests/test_policy.py checks all three, so a new pulumi-policy fails
loudly instead of letting secrets pass unseen.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import deserialize as _deserialize
from pulumi_policy import policy as _policy_module


class SecretStr(str):
    """A string that the engine sent as (part of) a secret."""

    def __repr__(self) -> str:
        return "SecretStr('[secret]')"


def _mark(value: Any) -> Any:
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, list):
        return [_mark(v) for v in value]
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    return value  # numbers and booleans cannot carry the mark


def _deserialize_marking(prop: Any) -> Any:
    if isinstance(prop, list):
        return [_deserialize_marking(e) for e in prop]
    if isinstance(prop, dict):
        sig = prop.get(_deserialize.SPECIAL_SIG_KEY)
        if sig == _deserialize.SPECIAL_SECRET_SIG:
            if "value" not in prop:
                raise AssertionError("Invalid secret encountered when unmarshaling resource property")
            return _mark(_deserialize_marking(prop["value"]))
        if sig is not None:  # assets and archives
            return _deserialize._deserialize_property(prop)  # noqa: SLF001
        return {k: _deserialize_marking(v) for k, v in prop.items()}
    return prop


_ORIGINAL_DESERIALIZE = _deserialize.deserialize_properties


def deserialize_marking_secrets(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
    """pulumi-policy's deserializer, except that strings inside secrets come back as `SecretStr`.

    Remediations (`proxy_secrets=True`) keep the library's own secret proxies.
    """
    if proxy_secrets:
        return _ORIGINAL_DESERIALIZE(props, True)
    return {k: _deserialize_marking(v) for k, v in props.items()}


def install_secret_markers() -> None:
    """Make the pack's Analyze and AnalyzeStack handlers deserialize with secret markers."""
    current = getattr(_policy_module, "deserialize_properties", None)
    if current is deserialize_marking_secrets:
        return
    if current is not _ORIGINAL_DESERIALIZE:
        raise RuntimeError(
            "pulumi_policy.policy no longer deserializes properties through "
            "pulumi_policy.deserialize.deserialize_properties, so the no-plain-secrets policy "
            "cannot see which values are secret; this pack is written for pulumi-policy 1.21.0 "
            "(policy/requirements.txt)")
    _policy_module.deserialize_properties = deserialize_marking_secrets
