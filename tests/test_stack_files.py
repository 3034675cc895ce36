"""Offline checks of every stack file: namespaces, where secrets sit, and that the config validates.

New `Pulumi.<stack>.yaml` files are picked up by the glob, so each stack is checked without
touching this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import config
from tests.conftest import ROOT

NAMESPACES = {"openwhisk", "pulumi", "docker", "kubernetes"}
STACK_FILES = sorted(p for p in ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def secure_paths(value: Any, path: str) -> list[str]:
    """Paths of every `secure:` value inside `value` (not `value` itself)."""
    if isinstance(value, dict):
        children = [(f"{path}.{k}", v) for k, v in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    else:
        return []
    return [p for sub, v in children for p in ([sub] if is_secure(v) else secure_paths(v, sub))]


def stack_config(data: Any) -> dict[str, Any]:
    assert isinstance(data, dict), f"expected a mapping at the top level, got {type(data).__name__}"
    cfg = data.get("config") or {}
    assert isinstance(cfg, dict), f"config: expected a mapping, got {type(cfg).__name__}"
    return cfg


def placement_problems(cfg: dict[str, Any]) -> list[str]:
    """Keys outside the allowed namespaces, and `secure:` values anywhere but on a secret key."""
    out = []
    for key, value in cfg.items():
        namespace, _, name = str(key).partition(":")
        if not name or namespace not in NAMESPACES:
            out.append(f"{key}: namespace must be one of {', '.join(sorted(NAMESPACES))}")
        secret_key = namespace == config.NAMESPACE and name in config.SECRET_KEYS
        if is_secure(value) and not secret_key:
            out.append(f"{key}: encrypted, but only {', '.join(config.SECRET_KEYS)} may be secrets")
        out += [f"{p}: secure value nested inside a structured key" for p in secure_paths(value, key)]
    return out


def parse_stack(cfg: dict[str, Any]) -> config.Stack:
    """config.parse on the openwhisk:* values, with each secret passed as a supplied secret key."""
    prefix = f"{config.NAMESPACE}:"
    ours = {k[len(prefix):]: v for k, v in cfg.items() if k.startswith(prefix)}
    secrets = {k for k, v in ours.items() if k in config.SECRET_KEYS}
    plain = {k for k in secrets if not is_secure(ours[k])}
    # as read_stack_config does: an encrypted non-secret key arrives without its value
    raw = {k: config.ENCRYPTED if is_secure(v) else v for k, v in ours.items() if k not in secrets}
    return config.parse(raw, secret_keys=frozenset(secrets), plain_keys=frozenset(plain), base_dir=ROOT)


def test_there_is_at_least_one_stack_file():
    assert [p.name for p in STACK_FILES if p.name == "Pulumi.dev.yaml"] == ["Pulumi.dev.yaml"]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_file_keys_and_secrets_are_in_place(path: Path):
    cfg = stack_config(yaml.safe_load(path.read_text()))
    assert placement_problems(cfg) == []


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_file_config_validates(path: Path):
    cfg = stack_config(yaml.safe_load(path.read_text()))
    try:
        stack = parse_stack(cfg)
    except config.ConfigError as err:
        pytest.fail(f"{path.name}:\n" + "\n".join(err.problems))
    # Each stack says where it runs: Docker hosts, or a cluster (whose settings all have defaults).
    assert stack.config.hosts if stack.config.platform == "docker" else not stack.config.hosts


def test_placement_problems_are_found():
    cfg = {
        "openwhisk:couchdb_admin_password": {"secure": "v1:abc"},
        "openwhisk:guest_auth": {"secure": "v1:abc"},
        "openwhisk:hosts": [{"name": "a", "address": {"secure": "v1:abc"}}],
        "aws:region": "eu-west-1",
        "stray": 1,
        "pulumi:disable-default-providers": ["docker"],
    }
    assert placement_problems(cfg) == [
        f"openwhisk:guest_auth: encrypted, but only {', '.join(config.SECRET_KEYS)} may be secrets",
        "openwhisk:hosts[0].address: secure value nested inside a structured key",
        "aws:region: namespace must be one of docker, kubernetes, openwhisk, pulumi",
        "stray: namespace must be one of docker, kubernetes, openwhisk, pulumi",
    ]


def test_parse_stack_passes_secrets_as_keys_and_flags_plain_ones():
    cfg = {
        "openwhisk:version": {"tag": "ef725a6"},
        "openwhisk:hosts": [{"name": "dev", "address": "10.0.0.1",
                             "roles": ["couchdb", "zookeeper", "kafka", "controller", "invoker", "edge"]}],
        "openwhisk:edge": {"tls": "provided"},
        "openwhisk:edge_tls_cert": {"secure": "v1:abc"},
        "openwhisk:edge_tls_key": "-----BEGIN PRIVATE KEY-----",
    }
    with pytest.raises(config.ConfigError) as info:
        parse_stack(cfg)
    assert info.value.problems == [
        "openwhisk:edge_tls_key: a secret stored in plain text (got an unencrypted value); set it again "
        "with pulumi config set --secret edge_tls_key <value>",
    ]
    del cfg["openwhisk:edge_tls_key"]
    with pytest.raises(config.ConfigError) as info:
        parse_stack(cfg)
    assert [p.split(":")[1] for p in info.value.problems] == ["edge_tls_key"]
    cfg["openwhisk:edge_tls_key"] = {"secure": "v1:def"}
    assert parse_stack(cfg).supplied_secrets == {"edge_tls_cert", "edge_tls_key"}


def test_project_file_declares_python_with_a_virtualenv():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    runtime = project["runtime"]
    assert isinstance(runtime, dict), "runtime: expected name and options, got a bare name"
    assert runtime["name"] == "python"
    assert isinstance(runtime.get("options", {}).get("virtualenv"), str)
    assert runtime["options"]["virtualenv"]
