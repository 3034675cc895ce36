"""The stack configuration: the schema of every `openwhisk:*` key and the one place it is read.

`parse()` is pure (no Pulumi import): it turns the raw key/value map of a stack into a frozen
`StackConfig`, or raises `ConfigError` listing every problem at once, each line naming the config
path, the value found, what is expected and how to fix it. `read_stack_config()` feeds it from the
running Pulumi program. Secrets never enter these models; they are separate top-level keys read as
Pulumi secrets (see `SECRET_KEYS`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

import runtimes
from config import extra_env
from config.messages import (
    _PATTERNS, ENCRYPTED, GENERATED_KEYS, _generated_key, _pydantic_lines, _set_hint, _unknown_key,
    _well_known_keys,
)
from config.rules import HEAP_SERVICES, _cross_checks
from config.schema import (
    BLOCKED_CIDRS, DEFAULT_POD_RESOURCES, HOST_NAME, KNOWN_TAGS, NAMESPACE, PLATFORM, REGISTRY_USER,
    ROTATABLE, SECRET_KEYS, Controller, Edge, Host, Images, Ingress, Invoker, KafkaSasl, Kubernetes,
    Limits, Model, NamespaceLimits, PodResourcesByService, Role, Scheduler, Ssh, StackConfig,
    Storage, Verify, docker_endpoint, namespace_secret, quantity_mib,
)

__all__ = [
    # defined here
    "ConfigError", "Stack", "parse", "read_stack_config",
    # the modules and the names the rest of the repository reads as config.<name>
    "extra_env",
    "BLOCKED_CIDRS", "DEFAULT_POD_RESOURCES", "ENCRYPTED", "HEAP_SERVICES", "HOST_NAME",
    "KNOWN_TAGS", "NAMESPACE", "PLATFORM", "REGISTRY_USER", "ROTATABLE", "SECRET_KEYS", "_PATTERNS",
    "Controller", "Edge", "Host", "Images", "Ingress", "Invoker", "KafkaSasl", "Kubernetes",
    "Limits", "Model", "NamespaceLimits", "PodResourcesByService", "Role", "Scheduler", "Ssh",
    "StackConfig", "Storage", "Verify", "docker_endpoint", "namespace_secret", "quantity_mib",
]


class ConfigError(Exception):
    """Every problem found in a stack's config, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Stack:
    """A validated stack: its config, its runtime manifest and which secrets it supplies."""

    config: StackConfig
    manifest: runtimes.Manifest
    supplied_secrets: frozenset[str]


def parse(raw: dict[str, Any], *, secret_keys: frozenset[str] = frozenset(),
          plain_keys: frozenset[str] = frozenset(), base_dir: Path | str = ".") -> Stack:
    """Validate a stack's raw `openwhisk:*` values (keys without the namespace) into a Stack.

    `secret_keys` are the secret keys the stack supplies; `plain_keys` those of them stored
    unencrypted. Raises ConfigError with every problem found.
    """
    problems: list[str] = []
    known = [*StackConfig.model_fields, *SECRET_KEYS]
    for key in sorted(raw):
        if key in GENERATED_KEYS:
            problems.append(_generated_key(key, raw[key]))
        elif key not in known:
            problems.append(_unknown_key(f"{NAMESPACE}:{key}", raw[key], known))
    problems += _well_known_keys(raw)
    for key in sorted(k for k in raw if k in StackConfig.model_fields and raw[k] is ENCRYPTED):
        problems.append(f"{NAMESPACE}:{key}: stored encrypted, but only {', '.join(SECRET_KEYS)} "
                        f"are secrets (got an encrypted value); set it again without --secret, or "
                        f"move the secret part to one of those keys")
    for key in sorted(plain_keys & SECRET_KEYS.keys()):
        problems.append(f"{NAMESPACE}:{key}: a secret stored in plain text (got an unencrypted "
                        f"value); set it again with pulumi config set --secret {key} <value>")

    # A section is in `sections` only when it is valid (or defaulted), so that each cross-check
    # can run on whatever validated and every problem is reported in one pass.
    sections: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        if name in raw and raw[name] is ENCRYPTED:
            pass  # reported above
        elif name in raw:
            try:
                adapter = TypeAdapter(Annotated.__class_getitem__((field.annotation, *field.metadata))) \
                    if field.metadata else TypeAdapter(field.annotation)
                sections[name] = adapter.validate_python(raw[name])
            except ValidationError as err:
                problems += _pydantic_lines(err, (name,))
        elif field.is_required():
            problems.append(f"{NAMESPACE}:{name}: required key is missing (got none); "
                            f"{_set_hint(f'{NAMESPACE}:{name}.tag', '<image tag>')}"
                            if name == "version" else
                            f"{NAMESPACE}:{name}: required key is missing (got none); "
                            f"{_set_hint(f'{NAMESPACE}:{name}')}")
        else:
            sections[name] = field.get_default()

    manifest = None
    if "runtimes" in sections:
        version = sections.get("version")
        path = sections["runtimes"].manifest
        try:
            # Without a valid version the mutable-tag rule cannot be judged, so it is not applied.
            manifest = runtimes.load_manifest(
                Path(base_dir) / path, allow_mutable_tags=version is None or version.allow_mutable_tags)
        except runtimes.ManifestError as err:
            problems += [f"{NAMESPACE}:runtimes.manifest: {p.replace(str(Path(base_dir) / path), path)}"
                         for p in err.problems]
    problems += _cross_checks(sections, frozenset(secret_keys), manifest, Path(base_dir))
    if problems:
        raise ConfigError(problems)
    assert manifest is not None
    try:
        config = StackConfig(**sections)
    except ValidationError as err:  # a model-level rule: report it like the others
        raise ConfigError(_pydantic_lines(err, ())) from None
    return Stack(config, manifest, frozenset(secret_keys))


def read_stack_config(base_dir: Path | str = ".") -> Stack:
    """Read and validate this stack's `openwhisk:*` config from the running Pulumi program."""
    import pulumi  # noqa: PLC0415 - kept local so the planner's import graph stays Pulumi-free
    from pulumi.runtime import config as runtime_config  # noqa: PLC0415

    prefix = f"{NAMESPACE}:"
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    secret, plain = set(), set()
    for full_key, value in merged.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if key in SECRET_KEYS:
            (secret if runtime_config.is_config_secret(full_key) else plain).add(key)
            continue
        if runtime_config.is_config_secret(full_key):
            raw[key] = ENCRYPTED  # never let a secret's value reach a problem line
            continue
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raw[key] = value
    del pulumi
    return parse(raw, secret_keys=frozenset(secret | plain), plain_keys=frozenset(plain),
                 base_dir=base_dir)
