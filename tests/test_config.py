"""Tests for the config package: defaults, every rule and the exact problem line each one reports."""

from __future__ import annotations

import copy
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import config
import runtimes
from config import ConfigError, parse
from tests.conftest import ROOT, load_stack_file

#: The lists the messages enumerate, derived from the model so that new keys need no test edits.
KNOWN_KEYS = ", ".join([*config.StackConfig.model_fields, *config.SECRET_KEYS])
_roles = [repr(r) for r in typing.get_args(config.Role)]
ROLES = ", ".join(_roles[:-1]) + " or " + _roles[-1]

ALL_ROLES = ["couchdb", "zookeeper", "kafka", "controller", "invoker", "edge"]

#: One host with every role of classic mode (the shape of Pulumi.dev.yaml).
SINGLE: dict[str, Any] = {
    "version": {"tag": "ef725a6"},
    "hosts": [{"name": "dev", "address": "10.0.0.1", "roles": ALL_ROLES}],
}

#: Three valid hosts: a carries couchdb and the edge, b and c the invokers.
MULTI: dict[str, Any] = {
    "version": {"tag": "ef725a6"},
    "hosts": [
        {"name": "a", "id": 0, "address": "10.0.0.1", "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge"]},
        {"name": "b", "id": 1, "address": "10.0.0.2", "roles": ["zookeeper", "kafka", "controller", "invoker"],
         "invoker_ids": [0]},
        {"name": "c", "id": 2, "address": "10.0.0.3", "roles": ["zookeeper", "kafka", "invoker"],
         "invoker_ids": [1, 2]},
    ],
}

#: Scheduler mode on one host (tag 1fae641: pekko, scheduler by default).
SCHEDULER: dict[str, Any] = {
    "version": {"tag": "1fae641"},
    "hosts": [{"name": "dev", "address": "10.0.0.1", "roles": [*ALL_ROLES, "etcd", "scheduler"]}],
}

DELETE = object()

ADDRESS_FIX = "use the host's static IP or a DNS name reachable from every host and container"
DOCKER_FIX = ("use unix:///var/run/docker.sock for the local daemon or ssh://user@host[:port] for a "
              "remote one")
UNKNOWN_TAG = "which is none of the known tags ef725a6, 4fac03a, 7538ced and 1fae641 (got none)"
PIN_FIX = ("pin a release tag or a digest (e.g. '1.22.0' or '1.22.0@sha256:<hex>'), or allow mutable "
           "tags with the stack setting openwhisk:version.allow_mutable_tags: true")
HEALTH = ("the invoker health action runs on nodejs:default, so without it the invoker never becomes "
          "healthy and every invoke fails")
ROTATABLE = ", ".join(config.ROTATABLE)
SSH_KEY_FIX = ("set it with pulumi config set --secret ssh_private_key < ~/.ssh/id_ed25519 (the "
               "private key the ssh user logs in with)")
DATA_DIR_FIX = ("use an absolute directory that exists or can be created on every host, e.g. "
                "/srv/openwhisk (letters, digits, '.', '_', '-' and '/')")
SCHEDULER_ONLY = ("is used only in scheduler mode, but the stack runs in classic mode (got {0!r}); "
                  "remove the role or set version.mode: scheduler")


def change(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with each dotted path ('hosts[0].address') set, or removed with DELETE."""
    data = copy.deepcopy(base)
    for path, value in changes.items():
        parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
        node = data
        for part in parts[:-1]:
            node = node[part] if isinstance(part, int) or part in node else node.setdefault(part, {})
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return data


def problems(raw: dict[str, Any], **kwargs: Any) -> list[str]:
    kwargs.setdefault("base_dir", ROOT)
    with pytest.raises(ConfigError) as info:
        parse(raw, **kwargs)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# -- one problem each: the exact line ------------------------------------------------------------

CASES = [
    # unknown keys
    pytest.param(SINGLE, {"quux": 1}, [
        "openwhisk:quux: unknown key (got 1); remove it (pulumi config rm openwhisk:quux) or fix its "
        "spelling (known keys: " + KNOWN_KEYS + ")",
    ], id="unknown-top-level-key"),
    pytest.param(SINGLE, {"bogus": 1}, [
        "openwhisk:bogus: unknown key (got 1); rename it to 'logs' or remove it (pulumi config rm "
        "openwhisk:bogus)",
    ], id="unknown-top-level-key-close-to-one"),
    pytest.param(SINGLE, {"invokers": {"use_runc": True}}, [
        "openwhisk:invokers: unknown key (got {\"use_runc\": true}); rename it to 'invoker' or remove it "
        "(pulumi config rm openwhisk:invokers)",
    ], id="misspelled-top-level-key"),
    pytest.param(SINGLE, {"hosts[0].rolez": ["edge"]}, [
        "openwhisk:hosts[0].rolez: unknown key (got [\"edge\"]); rename it to 'roles' or remove it "
        "(pulumi config rm --path 'hosts[0].rolez')",
    ], id="unknown-nested-key"),
    pytest.param(SINGLE, {"edge.colour": "red"}, [
        "openwhisk:edge.colour: unknown key (got 'red'); remove it (pulumi config rm --path "
        "'edge.colour') or fix its spelling (known keys: api_host, https_port, http_port, tls)",
    ], id="unknown-nested-key-no-close-match"),
    # wrong types and values
    pytest.param(SINGLE, {"invoker.user_memory_mb": "lots"}, [
        "openwhisk:invoker.user_memory_mb: expected an integer (got 'lots'); set it with pulumi config "
        "set --path 'invoker.user_memory_mb' <integer>",
    ], id="wrong-type-int"),
    pytest.param(SINGLE, {"invoker.user_memory_mb": 128}, [
        "openwhisk:invoker.user_memory_mb: must be at least 256 (got 128); set it with pulumi config "
        "set --path 'invoker.user_memory_mb' <integer>",
    ], id="below-minimum"),
    pytest.param(SINGLE, {"invoker.container_factory": "kubernets"}, [
        "openwhisk:invoker.container_factory: expected 'docker' or 'kubernetes' (got 'kubernets'); set it "
        "with pulumi config set --path 'invoker.container_factory' kubernetes",
    ], id="wrong-choice"),
    pytest.param(SINGLE, {"version": "ef725a6"}, [
        "openwhisk:version: expected a map of keys (got 'ef725a6'); fix it in the stack file, or set "
        "each key with pulumi config set --path 'version.<key>' <value>",
    ], id="section-not-a-map"),
    pytest.param(SINGLE, {"version": DELETE}, [
        "openwhisk:version: required key is missing (got none); set it with pulumi config set --path "
        "'version.tag' <image tag>",
    ], id="version-missing"),
    pytest.param(SINGLE, {"hosts[0].name": DELETE}, [
        "openwhisk:hosts[0].name: required key is missing (got none); set it with pulumi config set "
        "--path 'hosts[0].name' <value>",
    ], id="host-name-missing"),
    pytest.param(SINGLE, {"hosts[0].name": "Dev_1"}, [
        "openwhisk:hosts[0].name: expected a short lowercase name: a letter, then up to 30 letters, "
        "digits or '-' (got 'Dev_1'); set it with pulumi config set --path 'hosts[0].name' <string>",
    ], id="host-name-pattern"),
    pytest.param(SINGLE, {"hosts[0].roles": ["couchdbb"]}, [
        f"openwhisk:hosts[0].roles[0]: expected {ROLES} (got 'couchdbb'); set it with pulumi config "
        "set --path 'hosts[0].roles[0]' couchdb",
    ], id="unknown-role"),
    pytest.param(SINGLE, {"hosts[0].roles": ["edge", "edge"]}, [
        "openwhisk:hosts[0].roles: role 'edge' is listed twice (got [\"edge\", \"edge\"]); list each role once",
    ], id="role-twice"),
    pytest.param(SINGLE, {"hosts[0].roles": []}, [
        "openwhisk:hosts[0].roles: must not be empty (got []); list at least one item",
    ], id="no-roles"),
    pytest.param(SINGLE, {"hosts": []}, [
        "openwhisk:hosts: no hosts (got none); list at least one host with its name, address and roles",
    ], id="no-hosts"),
    # addresses
    pytest.param(SINGLE, {"hosts[0].address": "999.1.1.1"}, [
        "openwhisk:hosts[0].address: not a valid IPv4 address, which is four numbers 0-255 separated by "
        f"dots (got '999.1.1.1'); {ADDRESS_FIX}",
    ], id="address-octet-out-of-range"),
    pytest.param(SINGLE, {"hosts[0].address": "localhost"}, [
        "openwhisk:hosts[0].address: localhost is the container itself when used inside a container "
        f"(got 'localhost'); {ADDRESS_FIX}",
    ], id="address-localhost"),
    pytest.param(SINGLE, {"hosts[0].address": "localhost."}, [
        "openwhisk:hosts[0].address: localhost is the container itself when used inside a container "
        f"(got 'localhost.'); {ADDRESS_FIX}",
    ], id="address-localhost-fqdn"),
    pytest.param(SINGLE, {"hosts[0].address": "127.0.0.1"}, [
        "openwhisk:hosts[0].address: a loopback address is the container itself when used inside a "
        f"container (got '127.0.0.1'); {ADDRESS_FIX}",
    ], id="address-loopback"),
    pytest.param(SINGLE, {"hosts[0].address": "0.0.0.0"}, [
        f"openwhisk:hosts[0].address: the unspecified address is no host's address (got '0.0.0.0'); "
        f"{ADDRESS_FIX}",
    ], id="address-unspecified"),
    pytest.param(SINGLE, {"hosts[0].address": "not an address!"}, [
        f"openwhisk:hosts[0].address: not an IP address or DNS name (got 'not an address!'); {ADDRESS_FIX}",
    ], id="address-garbage"),
    pytest.param(SINGLE, {"edge.api_host": "127.0.0.1"}, [
        "openwhisk:edge.api_host: a loopback address is the container itself when used inside a "
        "container (got '127.0.0.1'); use the edge host's public IP or a DNS name that resolves to it, "
        "for wsk clients and action containers alike",
    ], id="api-host-loopback"),
    # docker endpoints
    pytest.param(SINGLE, {"hosts[0].docker": "tcp://10.0.0.1:2375"}, [
        f"openwhisk:hosts[0].docker: not a supported docker endpoint (got 'tcp://10.0.0.1:2375'); {DOCKER_FIX}",
    ], id="docker-tcp"),
    pytest.param(SINGLE, {"hosts[0].docker": "ssh://10.0.0.1"}, [
        f"openwhisk:hosts[0].docker: not a supported docker endpoint (got 'ssh://10.0.0.1'); {DOCKER_FIX}",
    ], id="docker-ssh-without-user"),
    pytest.param(SINGLE, {"hosts[0].docker": "ssh://ops@10.0.0.1:99999"}, [
        f"openwhisk:hosts[0].docker: not a supported docker endpoint (got 'ssh://ops@10.0.0.1:99999'); "
        f"{DOCKER_FIX}",
    ], id="docker-ssh-port-out-of-range"),
    # version and image tags
    pytest.param(SINGLE, {"version.tag": "nightly", "version.actor_system": "pekko", "version.mode": "scheduler",
                          "hosts[0].roles": [*ALL_ROLES, "etcd", "scheduler"]}, [
        "openwhisk:version.tag: a mutable tag, so each host keeps whatever image it pulled last (got "
        "'nightly'); pin a release tag (a short commit SHA such as '1fae641') or set "
        "version.allow_mutable_tags: true",
    ], id="version-tag-nightly"),
    pytest.param(SINGLE, {"images.nginx": "nginx:latest"}, [
        "openwhisk:images.nginx: 'latest' is a mutable tag (got 'nginx:latest'); pin a version tag or a "
        "digest, or set version.allow_mutable_tags: true",
    ], id="image-latest"),
    pytest.param(SINGLE, {"images.couchdb": "registry.local:5000/couchdb"}, [
        "openwhisk:images.couchdb: no tag means 'latest', a mutable tag (got 'registry.local:5000/couchdb'); "
        "pin a version tag or a digest, or set version.allow_mutable_tags: true",
    ], id="image-untagged"),
    pytest.param(SINGLE, {"version.tag": "abc1234"}, [
        f"openwhisk:version.actor_system: required for tag 'abc1234', {UNKNOWN_TAG}; set it to 'pekko' "
        "for images built since 2025-10-19 (7538ced), else 'akka'",
        f"openwhisk:version.mode: required for tag 'abc1234', {UNKNOWN_TAG}; set it to 'scheduler' (the "
        "default since 2.0.0) or 'classic'",
    ], id="unknown-tag"),
    pytest.param(SINGLE, {"version.tag": "abc1234", "version.mode": "classic"}, [
        f"openwhisk:version.actor_system: required for tag 'abc1234', {UNKNOWN_TAG}; set it to 'pekko' "
        "for images built since 2025-10-19 (7538ced), else 'akka'",
    ], id="unknown-tag-without-actor-system"),
    pytest.param(SINGLE, {"version.actor_system": "pekko"}, [
        "openwhisk:version.actor_system: tag 'ef725a6' reads akka keys (got 'pekko'); remove the setting "
        "or set it to 'akka'",
    ], id="actor-system-conflicts-with-tag"),
    # invoker, platform, kafka, edge, secrets, rotate
    pytest.param(SINGLE, {"invoker.container_factory": "kubernetes", "invoker.use_runc": True}, [
        "openwhisk:invoker.container_factory: the kubernetes container factory needs platform: "
        "kubernetes (got 'kubernetes' with platform 'docker'); use 'docker' on Docker hosts",
        "openwhisk:invoker.use_runc: runc pause/resume works only with the docker container factory (got "
        "true with container_factory 'kubernetes'); set use_runc: false or use container_factory: docker",
    ], id="runc-with-kubernetes-factory"),
    pytest.param(SINGLE, {"platform": "kubernetes"}, [
        "openwhisk:hosts: used only with platform: docker (got 1 host(s)); remove it (pulumi config "
        "rm openwhisk:hosts): on kubernetes the instances of each service come from "
        "kubernetes.replicas",
        "openwhisk:edge.api_host: required on kubernetes without kubernetes.ingress (got none); set "
        "it to the name or address wsk reaches the edge Service at (e.g. the load balancer's DNS "
        "name), or set kubernetes.ingress.host",
    ], id="platform-kubernetes-with-hosts"),
    pytest.param(SINGLE, {"kafka.replication_factor": 2}, [
        "openwhisk:kafka.replication_factor: more than the number of Kafka brokers, 1 (got 2); lower it "
        "to at most 1 or give the kafka role to more hosts",
    ], id="kafka-replication-above-brokers"),
    pytest.param(SINGLE, {"edge.tls": "provided"}, [
        "openwhisk:edge_tls_cert: required by edge.tls: provided (got none); set it with pulumi config "
        "set --secret edge_tls_cert < cert.pem, or use edge.tls: self-signed",
        "openwhisk:edge_tls_key: required by edge.tls: provided (got none); set it with pulumi config "
        "set --secret edge_tls_key < key.pem, or use edge.tls: self-signed",
    ], id="edge-tls-provided-without-secrets"),
    pytest.param(SINGLE, {"rotate": {"guest_auth": 1, "guest_key": 1}}, [
        "openwhisk:rotate.guest_key: unknown key (got 'guest_key'); rename it to 'guest_auth' or remove it "
        "(pulumi config rm --path 'rotate.guest_key')",
    ], id="rotate-misspelled-key"),
    pytest.param(SINGLE, {"rotate": {"api_key": 1}}, [
        "openwhisk:rotate.api_key: unknown key (got 'api_key'); remove it (pulumi config rm --path "
        f"'rotate.api_key') or fix its spelling (known keys: {ROTATABLE})",
    ], id="rotate-unknown-key"),
    pytest.param(SINGLE, {"rotate": {"guest_auth": -1}}, [
        "openwhisk:rotate.guest_auth: must be at least 0 (got -1); set it with pulumi config set --path "
        "'rotate.guest_auth' <integer>",
    ], id="rotate-negative"),
    # roles and the activation store
    pytest.param(SINGLE, {"hosts[0].roles": ["couchdb", "zookeeper", "kafka", "controller", "invoker"]}, [
        "openwhisk:hosts: no host has the role 'edge', which every stack needs (got roles couchdb, "
        "zookeeper, kafka, controller, invoker); add 'edge' to the roles of one host",
    ], id="required-role-missing"),
    pytest.param(SINGLE, {"version.tag": "1fae641"}, [
        "openwhisk:hosts: no host has the role 'etcd', which scheduler mode needs (got roles couchdb, "
        "zookeeper, kafka, controller, invoker, edge); add 'etcd' to the roles of one host",
        "openwhisk:hosts: no host has the role 'scheduler', which scheduler mode needs (got roles couchdb, "
        "zookeeper, kafka, controller, invoker, edge); add 'scheduler' to the roles of one host",
    ], id="scheduler-mode-roles-missing"),
    pytest.param(SCHEDULER, {"version.mode": "classic"}, [
        f"openwhisk:hosts[0].roles: role 'etcd' {SCHEDULER_ONLY.format('etcd')}",
        f"openwhisk:hosts[0].roles: role 'scheduler' {SCHEDULER_ONLY.format('scheduler')}",
    ], id="scheduler-roles-in-classic-mode"),
    pytest.param(SINGLE, {"activation_store.backend": "elasticsearch"}, [
        "openwhisk:activation_store.backend: no host has the role 'elasticsearch' (got 'elasticsearch'); "
        "add 'elasticsearch' to the roles of one host or use backend: couchdb",
    ], id="elasticsearch-backend-without-host"),
    pytest.param(SINGLE, {"hosts[0].roles": [*ALL_ROLES, "elasticsearch"]}, [
        "openwhisk:hosts[0].roles: role 'elasticsearch' is used only with activation_store.backend: "
        "elasticsearch (got backend 'couchdb'); remove the role or set activation_store.backend: "
        "elasticsearch",
    ], id="elasticsearch-host-without-backend"),
    # memory
    pytest.param(SINGLE, {"invoker.user_memory_mb": 384}, [
        "openwhisk:invoker.user_memory_mb: less than the 512 MB that the stem cells of the runtime "
        "manifest take when an invoker starts on host 'dev' (got 384); raise it to at least 512 or lower "
        "stemCells in runtimes/default.json",
    ], id="stem-cells-above-user-memory"),
    pytest.param(SINGLE, {"invoker.user_memory_mb": 4096, "hosts[0].user_memory_mb": 256}, [
        "openwhisk:hosts[0].user_memory_mb: less than the 512 MB that the stem cells of the runtime "
        "manifest take when an invoker starts on host 'dev' (got 256); raise it to at least 512 or lower "
        "stemCells in runtimes/default.json",
    ], id="stem-cells-above-host-user-memory"),
    pytest.param(MULTI, {"invoker.user_memory_mb": 256}, [
        "openwhisk:invoker.user_memory_mb: less than the 512 MB that the stem cells of the runtime "
        "manifest take when an invoker starts on hosts 'b', 'c' (got 256); raise it to at least 512 or "
        "lower stemCells in runtimes/default.json",
    ], id="stem-cells-one-line-for-all-hosts"),
    # several hosts
    pytest.param(MULTI, {"hosts[2].name": "a"}, [
        "openwhisk:hosts[2].name: hosts[0] has the same name (got 'a'); give every host a unique name",
    ], id="duplicate-host-name"),
    pytest.param(MULTI, {"hosts[2].address": "10.0.0.1"}, [
        "openwhisk:hosts[2].address: hosts[0] has the same address (got '10.0.0.1'); give every host a "
        "unique address",
    ], id="duplicate-address"),
    pytest.param(MULTI, {"hosts[1].id": DELETE, "hosts[2].id": DELETE}, [
        "openwhisk:hosts[1].id: required when the stack has several hosts (got none); give host 'b' a "
        "number that never changes, e.g. 1",
        "openwhisk:hosts[2].id: required when the stack has several hosts (got none); give host 'c' a "
        "number that never changes, e.g. 2",
    ], id="missing-host-ids"),
    pytest.param(MULTI, {"hosts[0].id": DELETE}, [
        "openwhisk:hosts[0].id: required when the stack has several hosts (got none); give host 'a' a "
        "number that never changes, e.g. 0",
    ], id="missing-host-id-suggests-free-id"),
    pytest.param(MULTI, {"hosts[2].id": 1}, [
        "openwhisk:hosts[2].id: hosts[1] has the same id (got 1); give every host a unique id, e.g. 2",
    ], id="duplicate-host-id"),
    pytest.param(MULTI, {"hosts[1].roles": ["couchdb", "zookeeper", "kafka", "controller", "invoker"]}, [
        "openwhisk:hosts: role 'couchdb' is on 2 hosts (got hosts 'a', 'b'); keep it on exactly one host",
    ], id="single-role-on-two-hosts"),
    pytest.param(MULTI, {"hosts[2].roles": ["kafka", "invoker"]}, [
        "openwhisk:hosts: an even number of hosts have the role 'zookeeper', but a quorum needs an odd "
        "number (got 2 hosts: 'a', 'b'); give the role to 1 or 3 hosts",
    ], id="even-zookeeper-ensemble"),
    pytest.param(MULTI, {"kafka.replication_factor": 4}, [
        "openwhisk:kafka.replication_factor: more than the number of Kafka brokers, 3 (got 4); lower it "
        "to at most 3 or give the kafka role to more hosts",
    ], id="kafka-replication-above-three-brokers"),
    pytest.param(MULTI, {"hosts[1].invoker_ids": DELETE, "hosts[2].invoker_ids": DELETE}, [
        "openwhisk:hosts[1].invoker_ids: required when several hosts run invokers (got none); ids stay "
        "with their host, so set e.g. [0]",
        "openwhisk:hosts[2].invoker_ids: required when several hosts run invokers (got none); ids stay "
        "with their host, so set e.g. [1]",
    ], id="invoker-ids-required"),
    pytest.param(MULTI, {"hosts[2].invoker_ids": DELETE}, [
        "openwhisk:hosts[2].invoker_ids: required when several hosts run invokers (got none); ids stay "
        "with their host, so set e.g. [1]",
    ], id="invoker-ids-suggest-lowest-free-id"),
    pytest.param(MULTI, {"hosts[1].invoker_ids": [1]}, [
        "openwhisk:hosts[2].invoker_ids: invoker id 1 is also on hosts[1] (got [1, 2]); give every "
        "invoker its own id, e.g. 0",
    ], id="duplicate-invoker-id"),
    pytest.param(MULTI, {"hosts[2].invoker_ids": [2, 2]}, [
        "openwhisk:hosts[2].invoker_ids: expected a non-empty list of distinct invoker ids >= 0 (got "
        "[2, 2]); list each id of this host's invokers once, e.g. [0] or [2, 3]",
    ], id="invoker-id-twice-on-one-host"),
    pytest.param(MULTI, {"hosts[0].invoker_ids": [5]}, [
        "openwhisk:hosts[0].invoker_ids: host 'a' has no 'invoker' role (got [5]); add the role or "
        "remove invoker_ids",
    ], id="invoker-ids-without-invoker-role"),
    # ssh
    pytest.param(SINGLE, {"ssh": {"user": "ops"}}, [
        f"openwhisk:ssh_private_key: required because host 'dev' is reached over ssh:// (got none); "
        f"{SSH_KEY_FIX}",
    ], id="ssh-without-key"),
    pytest.param(MULTI, {"ssh": {"user": "ops"}, "hosts[1].docker": "unix:///var/run/docker.sock"}, [
        f"openwhisk:ssh_private_key: required because hosts 'a', 'c' are reached over ssh:// (got "
        f"none); {SSH_KEY_FIX}",
    ], id="ssh-without-key-several-hosts"),
    pytest.param(SINGLE, {"hosts[0].docker": "ssh://ops@10.0.0.1:2222"}, [
        f"openwhisk:ssh_private_key: required because host 'dev' is reached over ssh:// (got none); "
        f"{SSH_KEY_FIX}",
    ], id="explicit-ssh-endpoint-without-key"),
    pytest.param(SINGLE, {"ssh": {"port": 2222}}, [
        "openwhisk:ssh.user: required key is missing (got none); set it with pulumi config set --path "
        "'ssh.user' <value>",
    ], id="ssh-without-user"),
    pytest.param(SINGLE, {"ssh": {"user": "-oProxyCommand"}}, [
        "openwhisk:ssh.user: expected a user name: up to 32 letters, digits, '.', '_' or '-', not "
        "starting with '-' (got '-oProxyCommand'); set it with pulumi config set --path 'ssh.user' "
        "<string>",
    ], id="ssh-user-like-an-option"),
    pytest.param(SINGLE, {"ssh": {"user": "ops", "port": 70000}}, [
        "openwhisk:ssh.port: must be at most 65535 (got 70000); set it with pulumi config set --path "
        "'ssh.port' <integer>",
    ], id="ssh-port-out-of-range"),
    pytest.param(SINGLE, {"ssh": {"user": "ops", "options": ["-o ProxyJump=bastion"]}}, [
        "openwhisk:ssh.options[0]: expected an ssh_config option written Name=value (got '-o "
        "ProxyJump=bastion'); write it without -o, e.g. 'ProxyJump=bastion' (each entry is passed to "
        "ssh as -o <entry>)",
    ], id="ssh-option-with-dash-o"),
    pytest.param(SINGLE, {"ssh": {"user": "ops", "options": ["ProxyJump=bastion", "batchmode=no"]}}, [
        "openwhisk:ssh.options[1]: BatchMode is set by the program (got 'batchmode=no'); remove it: ssh "
        "always runs with BatchMode=yes and ConnectTimeout=10 so that pulumi up never waits on a "
        "prompt or a dead host",
    ], id="ssh-option-reserved"),
    pytest.param(SINGLE, {"ssh": {"user": "ops", "options": ["Port=2222"]}}, [
        "openwhisk:ssh.options[0]: Port is set from ssh.port (got 'Port=2222'); remove it and set "
        "ssh.port instead",
    ], id="ssh-option-port"),
    pytest.param(SINGLE, {"ssh": {"user": "ops", "options": "ProxyJump=bastion"}}, [
        "openwhisk:ssh.options: expected a list (got 'ProxyJump=bastion'); fix it in the stack file, or "
        "set each item with pulumi config set --path 'ssh.options[0]' <value>",
    ], id="ssh-options-not-a-list"),
    pytest.param(SINGLE, {"ssh": {"user": "ops", "key": "~/.ssh/id_rsa"}}, [
        "openwhisk:ssh.key: unknown key (got '~/.ssh/id_rsa'); remove it (pulumi config rm --path "
        "'ssh.key') or fix its spelling (known keys: user, port, sudo, options)",
    ], id="ssh-unknown-field"),
    # storage
    pytest.param(SINGLE, {"storage.data_dir": "srv/openwhisk"}, [
        f"openwhisk:storage.data_dir: not an absolute path (got 'srv/openwhisk'); {DATA_DIR_FIX}",
    ], id="data-dir-relative"),
    pytest.param(SINGLE, {"storage.data_dir": "/"}, [
        f"openwhisk:storage.data_dir: the root directory itself cannot be used (got '/'); "
        f"{DATA_DIR_FIX}",
    ], id="data-dir-root"),
    pytest.param(SINGLE, {"storage.data_dir": "/srv/../openwhisk"}, [
        "openwhisk:storage.data_dir: not a normalised path: it has an empty, '.' or '..' segment (got "
        f"'/srv/../openwhisk'); {DATA_DIR_FIX}",
    ], id="data-dir-dotdot"),
    pytest.param(SINGLE, {"storage.data_dir": "/srv//openwhisk"}, [
        "openwhisk:storage.data_dir: not a normalised path: it has an empty, '.' or '..' segment (got "
        f"'/srv//openwhisk'); {DATA_DIR_FIX}",
    ], id="data-dir-double-slash"),
    pytest.param(SINGLE, {"storage.data_dir": "/srv/open whisk"}, [
        "openwhisk:storage.data_dir: contains characters other than letters, digits, '.', '_', '-' and "
        f"'/' (got '/srv/open whisk'); {DATA_DIR_FIX}",
    ], id="data-dir-space"),
    pytest.param(SINGLE, {"storage.data_dir": "/srv/$(reboot)"}, [
        "openwhisk:storage.data_dir: contains characters other than letters, digits, '.', '_', '-' and "
        f"'/' (got '/srv/$(reboot)'); {DATA_DIR_FIX}",
    ], id="data-dir-shell-syntax"),
    # verify
    pytest.param(SINGLE, {"verify.timeout_s": 59}, [
        "openwhisk:verify.timeout_s: must be at least 60 (got 59); set it with pulumi config set --path "
        "'verify.timeout_s' <integer>",
    ], id="verify-timeout-too-short"),
    pytest.param(SINGLE, {"verify.timeout_s": 3601}, [
        "openwhisk:verify.timeout_s: must be at most 3600 (got 3601); set it with pulumi config set "
        "--path 'verify.timeout_s' <integer>",
    ], id="verify-timeout-too-long"),
    pytest.param(SINGLE, {"verify.enabled": "sometimes"}, [
        "openwhisk:verify.enabled: expected true or false (got 'sometimes'); set it with pulumi config set "
        "--path 'verify.enabled' <true|false>",
    ], id="verify-enabled-not-a-bool"),
]


@pytest.mark.parametrize(("base", "changes", "expected"), CASES)
def test_problem_line(base, changes, expected):
    assert problems(change(base, changes)) == expected


ACCEPTED = [
    pytest.param(SINGLE, {}, id="dev-shape"),
    pytest.param(MULTI, {}, id="three-hosts"),
    pytest.param(SCHEDULER, {}, id="scheduler-mode"),
    pytest.param(SINGLE, {"version.tag": "nightly", "version.allow_mutable_tags": True,
                          "version.actor_system": "pekko", "version.mode": "classic"}, id="nightly-allowed"),
    pytest.param(SINGLE, {"images.nginx": "nginx:latest", "version.allow_mutable_tags": True}, id="latest-allowed"),
    pytest.param(SINGLE, {"images.nginx": "nginx@sha256:" + "ab" * 32}, id="image-by-digest"),
    pytest.param(SINGLE, {"version.tag": "abc1234", "version.actor_system": "pekko",
                          "version.mode": "classic"}, id="unknown-tag-stated"),
    pytest.param(SINGLE, {"version.actor_system": "akka"}, id="actor-system-matching-tag"),
    pytest.param(SINGLE, {"hosts[0].address": "dev.example.com"}, id="dns-name"),
    pytest.param(SINGLE, {"hosts[0].invoker_ids": [3]}, id="single-invoker-host-with-id"),
    pytest.param(SINGLE, {"invoker.user_memory_mb": 512}, id="user-memory-equals-stem-cells"),
    pytest.param(SINGLE, {"rotate": {"guest_auth": 2}}, id="rotate"),
    pytest.param(MULTI, {"kafka.replication_factor": 3}, id="replication-equals-brokers"),
    pytest.param(SINGLE, {"activation_store.backend": "elasticsearch",
                          "hosts[0].roles": [*ALL_ROLES, "elasticsearch"]}, id="elasticsearch"),
]


@pytest.mark.parametrize(("base", "changes"), ACCEPTED)
def test_accepted(base, changes):
    stack = parse(change(base, changes), base_dir=ROOT)
    assert isinstance(stack.config, config.StackConfig)


KEY = frozenset({"ssh_private_key"})


@pytest.mark.parametrize(("base", "changes"), [
    pytest.param(SINGLE, {"hosts[0].docker": "ssh://ops@10.0.0.1:2222"}, id="explicit-ssh-endpoint"),
    pytest.param(SINGLE, {"ssh": {"user": "ops"}}, id="derived-ssh-endpoint"),
    pytest.param(MULTI, {"ssh": {"user": "deploy.bot", "port": 2222, "sudo": False,
                                 "options": ["ProxyJump=bastion.example.com",
                                             "StrictHostKeyChecking=accept-new"]}}, id="ssh-all-fields"),
])
def test_accepted_with_ssh_key(base, changes):
    stack = parse(change(base, changes), base_dir=ROOT, secret_keys=KEY)
    assert stack.supplied_secrets == KEY


def test_ssh_fields_and_defaults():
    cfg = parse(change(MULTI, {"ssh": {"user": "ops"}, "hosts[1].docker": "ssh://root@mgmt-b:2200",
                               "hosts[2].docker": "unix:///run/docker.sock"}),
                base_dir=ROOT, secret_keys=KEY).config
    assert cfg.ssh == config.Ssh(user="ops", port=22, sudo=True, options=())
    assert [config.docker_endpoint(h, cfg.ssh) for h in cfg.hosts] == [
        "ssh://ops@10.0.0.1:22", "ssh://root@mgmt-b:2200", "unix:///run/docker.sock"]


def test_ssh_key_without_ssh_hosts_is_rejected():
    assert problems(SINGLE, secret_keys=KEY) == [
        "openwhisk:ssh_private_key: set, but no host is reached over ssh://, so it would be ignored "
        "(got a secret value); set openwhisk:ssh to reach the hosts over ssh, or remove it (pulumi "
        "config rm openwhisk:ssh_private_key)",
    ]


def test_ssh_key_rule_is_skipped_when_the_ssh_section_is_invalid():
    assert [p.split(": ")[0] for p in problems(change(SINGLE, {"ssh": {"user": "ops", "port": 0}}))] \
        == ["openwhisk:ssh.port"]


@pytest.mark.parametrize(("given", "kept"), [
    ("/srv/openwhisk", "/srv/openwhisk"), ("/srv/openwhisk/", "/srv/openwhisk"),
    ("/data/ow_1.d", "/data/ow_1.d"), (None, None),
])
def test_data_dir_is_kept_without_a_trailing_slash(given, kept):
    cfg = parse(change(SINGLE, {"storage.data_dir": given}), base_dir=ROOT).config
    assert cfg.storage.data_dir == kept


def test_edge_tls_secrets_with_self_signed_are_rejected():
    with pytest.raises(ConfigError) as info:
        config.parse(dict(SINGLE), base_dir=ROOT, secret_keys=frozenset({"edge_tls_cert"}))
    assert info.value.problems == [
        "openwhisk:edge_tls_cert: set, but edge.tls is self-signed, so it would be ignored (got a "
        "secret value); set edge.tls: provided to use it, or remove it (pulumi config rm "
        "openwhisk:edge_tls_cert)"]


def test_ipv6_host_address_is_rejected_with_reason():
    raw = {**SINGLE, "hosts": [{**SINGLE["hosts"][0], "address": "fd00::5"}]}
    with pytest.raises(ConfigError) as info:
        config.parse(raw, base_dir=ROOT)
    assert info.value.problems[0].startswith(
        "openwhisk:hosts[0].address: IPv6 addresses are not supported yet (they would need brackets "
        "in every URL) (got 'fd00::5'); ")


def test_edge_tls_provided_with_both_secrets():
    stack = parse(change(SINGLE, {"edge.tls": "provided"}), base_dir=ROOT,
                  secret_keys=frozenset({"edge_tls_cert", "edge_tls_key"}))
    assert stack.supplied_secrets == {"edge_tls_cert", "edge_tls_key"}


def test_secret_stored_in_plain_text():
    assert problems(SINGLE, secret_keys=frozenset({"couchdb_admin_password"}),
                    plain_keys=frozenset({"couchdb_admin_password"})) == [
        "openwhisk:couchdb_admin_password: a secret stored in plain text (got an unencrypted value); set "
        "it again with pulumi config set --secret couchdb_admin_password <value>",
    ]


def test_encrypted_value_on_a_plain_key_is_reported_without_its_value():
    raw = {**SINGLE, "version": config.ENCRYPTED, "couchdb_pasword": config.ENCRYPTED}
    assert problems(raw) == [
        "openwhisk:couchdb_pasword: unknown key (got an encrypted value); rename it to "
        "'couchdb_admin_password' or remove it (pulumi config rm openwhisk:couchdb_pasword)",
        f"openwhisk:version: stored encrypted, but only {', '.join(config.SECRET_KEYS)} are secrets "
        "(got an encrypted value); set it again without --secret, or move the secret part to one of "
        "those keys",
    ]


# -- runtime manifests -----------------------------------------------------------------------------

BASE_MANIFEST = json.loads(runtimes.DEFAULT_MANIFEST.read_text())


def manifest_problems(tmp_path: Path, edit, **version: Any) -> list[str]:
    data = copy.deepcopy(BASE_MANIFEST)
    edit(data)
    (tmp_path / "runtimes.json").write_text(json.dumps(data))
    raw = change(SINGLE, {"runtimes.manifest": "runtimes.json",
                          **{f"version.{k}": v for k, v in version.items()}})
    return problems(raw, base_dir=tmp_path)


def test_manifest_without_nodejs(tmp_path):
    assert manifest_problems(tmp_path, lambda d: d["runtimes"].pop("nodejs")) == [
        "openwhisk:runtimes.manifest: runtimes.json: runtimes.nodejs: no nodejs family with a default "
        f"kind (got families: 'python'); add one: {HEALTH}",
    ]


def test_manifest_nodejs_without_default(tmp_path):
    assert manifest_problems(tmp_path, lambda d: d["runtimes"]["nodejs"][1].update(default=False)) == [
        "openwhisk:runtimes.manifest: runtimes.json: runtimes.nodejs: several kinds but no default (got "
        f"'nodejs:18', 'nodejs:20'); set \"default\": true on exactly one of them; {HEALTH}",
    ]


def test_manifest_two_defaults_in_a_family(tmp_path):
    assert manifest_problems(tmp_path, lambda d: d["runtimes"]["python"][0].update(default=True)) == [
        "openwhisk:runtimes.manifest: runtimes.json: runtimes.python: more than one default kind (got "
        "'python:3.10', 'python:3.11'); keep \"default\": true on exactly one of them",
    ]


def nightly_nodejs(data: dict[str, Any]) -> None:
    data["runtimes"]["nodejs"][1]["image"]["tag"] = "nightly"


def test_manifest_mutable_tag(tmp_path):
    assert manifest_problems(tmp_path, nightly_nodejs) == [
        "openwhisk:runtimes.manifest: runtimes.json: runtimes.nodejs[1].image.tag: nodejs:20 image tag "
        f"is not pinned (got 'nightly'); {PIN_FIX}",
    ]


def test_manifest_mutable_tag_allowed(tmp_path):
    data = copy.deepcopy(BASE_MANIFEST)
    nightly_nodejs(data)
    (tmp_path / "runtimes.json").write_text(json.dumps(data))
    raw = change(SINGLE, {"runtimes.manifest": "runtimes.json", "version.allow_mutable_tags": True})
    stack = parse(raw, base_dir=tmp_path)
    assert stack.manifest.default_kind("nodejs").image.tag == "nightly"


def test_manifest_missing_file(tmp_path):
    assert problems(change(SINGLE, {"runtimes.manifest": "nope.json"}), base_dir=tmp_path) == [
        "openwhisk:runtimes.manifest: nope.json: cannot read the file: no such file or directory (got "
        "'nope.json'); set runtimes.manifest to a manifest file relative to the project directory, "
        "e.g. runtimes/default.json",
    ]


# -- reporting -------------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once():
    raw = change(SINGLE, {
        "quux": True,
        "hosts[0].address": "localhost",
        "invoker.user_memory_mb": "lots",
        "images.nginx": "nginx:latest",
    })
    assert problems(raw) == [
        "openwhisk:quux: unknown key (got true); remove it (pulumi config rm openwhisk:quux) or fix its "
        "spelling (known keys: " + KNOWN_KEYS + ")",
        "openwhisk:hosts[0].address: localhost is the container itself when used inside a container "
        f"(got 'localhost'); {ADDRESS_FIX}",
        "openwhisk:invoker.user_memory_mb: expected an integer (got 'lots'); set it with pulumi config "
        "set --path 'invoker.user_memory_mb' <integer>",
        "openwhisk:images.nginx: 'latest' is a mutable tag (got 'nginx:latest'); pin a version tag or a "
        "digest, or set version.allow_mutable_tags: true",
    ]


def test_cross_checks_skip_sections_that_failed():
    # hosts is invalid, so the missing edge role and the replication factor are not judged on it
    raw = change(SINGLE, {"hosts[0].address": "localhost", "hosts[0].roles": ["couchdb"],
                          "kafka.replication_factor": 5})
    assert problems(raw) == [
        "openwhisk:hosts[0].address: localhost is the container itself when used inside a container "
        f"(got 'localhost'); {ADDRESS_FIX}",
    ]


def test_checks_that_do_not_read_hosts_still_run_when_hosts_fail():
    raw = change(SINGLE, {"hosts": "dev", "edge.tls": "provided"})
    assert [p.split(":")[1] for p in problems(raw)] == ["hosts", "edge_tls_cert", "edge_tls_key"]


def test_an_invalid_version_skips_the_manifest_tag_rule(tmp_path):
    data = copy.deepcopy(BASE_MANIFEST)
    nightly_nodejs(data)
    (tmp_path / "runtimes.json").write_text(json.dumps(data))
    raw = change(SINGLE, {"runtimes.manifest": "runtimes.json", "version.tag": ""})
    assert problems(raw, base_dir=tmp_path) == [
        "openwhisk:version.tag: must not be empty (got ''); set it with pulumi config set --path "
        "'version.tag' <string>",
    ]


LINE = re.compile(r"openwhisk:[\w.\[\]]+: .+ \(got .+\); .+")


def test_every_line_names_path_value_and_fix():
    lines = [line for p in CASES for line in p.values[2]]
    assert [line for line in lines if not LINE.fullmatch(line)] == []


# -- defaults --------------------------------------------------------------------------------------


def test_dev_stack_parses_to_the_documented_defaults():
    plain, secret = load_stack_file("dev")
    raw = {k.split(":", 1)[1]: v for k, v in plain.items() if k.startswith("openwhisk:")}
    stack = parse(raw, secret_keys=frozenset(k.split(":", 1)[1] for k in secret), base_dir=ROOT)
    cfg = stack.config
    assert (cfg.platform, cfg.version.tag, cfg.mode, cfg.actor_system) == ("docker", "ef725a6", "classic", "akka")
    assert [(h.name, h.address, h.docker, h.id, h.invoker_ids) for h in cfg.hosts] == [
        ("dev", "172.17.0.1", None, None, None)]
    assert config.docker_endpoint(cfg.hosts[0], cfg.ssh) == "unix:///var/run/docker.sock"
    assert (cfg.ssh, cfg.storage, cfg.verify) == (None, config.Storage(), config.Verify())
    assert (cfg.storage.data_dir, cfg.verify.enabled, cfg.verify.timeout_s) == (None, True, 600)
    assert (cfg.edge, cfg.invoker, cfg.controller, cfg.limits) == (
        config.Edge(), config.Invoker(), config.Controller(), config.Limits())
    assert (cfg.edge.https_port, cfg.edge.http_port, cfg.edge.tls) == (443, 80, "self-signed")
    assert (cfg.invoker.container_factory, cfg.container_factory) == (None, "docker")
    assert (cfg.invoker.use_runc, cfg.invoker.user_memory_mb) == (False, 2048)
    assert cfg.kubernetes is None
    assert (cfg.activation_store.backend, cfg.kafka.replication_factor, cfg.rotate) == ("couchdb", 1, {})
    assert cfg.images == config.Images()
    assert stack.manifest == runtimes.load_manifest(runtimes.DEFAULT_MANIFEST)
    assert stack.supplied_secrets == frozenset()


@pytest.mark.parametrize(("tag", "actor_system", "mode"), [
    ("ef725a6", "akka", "classic"),
    ("4fac03a", "akka", "scheduler"),
    ("7538ced", "pekko", "scheduler"),
    ("1fae641", "pekko", "scheduler"),
])
def test_known_tags_fill_actor_system_and_mode(tag, actor_system, mode):
    base = SCHEDULER if mode == "scheduler" else SINGLE
    cfg = parse(change(base, {"version.tag": tag}), base_dir=ROOT).config
    assert (cfg.actor_system, cfg.mode, cfg.version.actor_system, cfg.version.mode) == (actor_system, mode, None, None)


def test_explicit_mode_overrides_the_tag_default():
    cfg = parse(change(SCHEDULER, {"version.mode": "scheduler", "version.tag": "ef725a6"}), base_dir=ROOT).config
    assert (cfg.actor_system, cfg.mode) == ("akka", "scheduler")


def test_hosts_with_orders_by_id_not_list_position():
    raw = change(MULTI, {})
    raw["hosts"] = [raw["hosts"][2], raw["hosts"][0], raw["hosts"][1]]
    cfg = parse(raw, base_dir=ROOT).config
    assert [h.name for h in cfg.hosts] == ["c", "a", "b"]
    assert [h.name for h in cfg.hosts_with("zookeeper")] == ["a", "b", "c"]
    assert [h.name for h in cfg.hosts_with("invoker")] == ["b", "c"]
    assert cfg.hosts_with("etcd") == []


def test_stack_config_is_frozen():
    cfg = parse(SINGLE, base_dir=ROOT).config
    with pytest.raises(ValidationError, match="frozen"):
        cfg.platform = "kubernetes"  # type: ignore[misc]


# -- reading the running program's config ----------------------------------------------------------


def test_read_stack_config_separates_secrets_and_hides_encrypted_values():
    import pulumi  # noqa: PLC0415 - only this test needs the SDK

    values = {
        "openwhisk:version": json.dumps({"tag": "ef725a6"}),
        "openwhisk:hosts": json.dumps(SINGLE["hosts"]),
        "openwhisk:couchdb_admin_password": "hunter2",
        "openwhisk:edge_tls_key": "PEM",
        "openwhisk:guest_auth": "s3cret-value",
        "docker:host": "unix:///var/run/docker.sock",
    }
    pulumi.runtime.set_all_config(values, secret_keys=["openwhisk:couchdb_admin_password",
                                                       "openwhisk:guest_auth"])
    try:
        with pytest.raises(ConfigError) as info:
            config.read_stack_config(ROOT)
    finally:
        pulumi.runtime.set_all_config({})
    assert info.value.problems == [
        "openwhisk:guest_auth: the guest key is generated by the program and never read from "
        "config (got a secret value, not shown); remove it (pulumi config rm openwhisk:guest_auth). "
        "The current key is the guestAuth output (pulumi stack output guestAuth --show-secrets); to "
        "replace it, bump rotate.guest_auth",
        "openwhisk:edge_tls_key: a secret stored in plain text (got an unencrypted value); set it again "
        "with pulumi config set --secret edge_tls_key <value>",
        "openwhisk:edge_tls_key: set, but edge.tls is self-signed, so it would be ignored (got a "
        "secret value); set edge.tls: provided to use it, or remove it (pulumi config rm "
        "openwhisk:edge_tls_key)",
    ]
    assert "hunter2" not in str(info.value) and "s3cret" not in str(info.value)


# -- registry and builds ---------------------------------------------------------------------------

REGISTRY_CASES = [
    pytest.param({"registry.mode": "deploy"}, set(), [
        "openwhisk:registry.mode: deploy needs exactly one host with the role 'registry' (got none); "
        "give the role to one host",
    ], id="deploy-without-registry-host"),
    pytest.param({"hosts[0].roles": [*ALL_ROLES, "registry"]}, set(), [
        "openwhisk:hosts[0].roles: role 'registry' is used only with registry.mode: deploy (got mode "
        "'none'); remove the role or set registry.mode: deploy",
    ], id="registry-role-without-deploy"),
    pytest.param({"registry.mode": "external"}, set(), [
        "openwhisk:registry.address: required with mode external (got none); set it with pulumi "
        "config set --path 'registry.address' host:port",
        "openwhisk:registry_password: required with registry.mode: external (got none); set it with "
        "pulumi config set --secret registry_password",
    ], id="external-without-address-and-password"),
    pytest.param({"registry.mode": "external", "registry.address": "https://reg.example.com/v2"},
                 {"registry_password"}, [
        "openwhisk:registry.address: not a registry address (got 'https://reg.example.com/v2'); use "
        "host[:port] without a scheme or path, e.g. registry.example.com:5000",
    ], id="external-address-with-scheme"),
    pytest.param({"registry.address": "reg.example.com"}, {"registry_password"}, [
        "openwhisk:registry.address: used only with mode external (got 'reg.example.com'); remove it "
        "or set registry.mode: external",
        "openwhisk:registry_password: used only with registry.mode: external (got a secret value); "
        "remove it (pulumi config rm openwhisk:registry_password); deploy mode generates its own",
    ], id="address-and-password-without-external"),
    pytest.param({"registry.mode": "external", "registry.address": "reg.example.com",
                  "registry.build_host": "nope"}, {"registry_password"}, [
        "openwhisk:registry.build_host: no such host (got 'nope'); use one of dev",
    ], id="unknown-build-host"),
    pytest.param({"builds": {"invoker": {"context": "tests/fixtures/invoker-build"}}}, set(), [
        "openwhisk:builds: built images reach the hosts through a registry (got builds for invoker "
        "with registry.mode 'none'); set registry.mode: deploy or external",
    ], id="builds-without-registry"),
    pytest.param({"registry.mode": "external", "registry.address": "reg.example.com",
                  "builds": {"invoker": {"context": "no/such/dir"},
                             "controller": {"context": "tests/fixtures/invoker-build",
                                            "dockerfile": "Nope.dockerfile"}}},
                 {"registry_password"}, [
        "openwhisk:builds.controller.dockerfile: no such file in the context (got 'Nope.dockerfile'); "
        "set dockerfile relative to 'tests/fixtures/invoker-build'",
        "openwhisk:builds.invoker.context: not a directory (got 'no/such/dir'); point it at the build "
        "context, relative to the project directory",
    ], id="build-context-and-dockerfile-missing"),
]


@pytest.mark.parametrize(("changes", "secrets", "expected"), REGISTRY_CASES)
def test_registry_problem_lines(changes, secrets, expected):
    assert problems(change(SINGLE, changes), secret_keys=frozenset(secrets)) == expected


def test_registry_configs_accepted():
    deploy = change(SINGLE, {"hosts[0].roles": [*ALL_ROLES, "registry"], "registry.mode": "deploy",
                             "builds": {"invoker": {"context": "tests/fixtures/invoker-build"}}})
    assert parse(deploy, base_dir=ROOT).config.registry.mode == "deploy"
    external = change(SINGLE, {"registry.mode": "external", "registry.address": "reg.example.com:443"})
    st = parse(external, base_dir=ROOT, secret_keys=frozenset({"registry_password"}))
    assert st.config.registry.address == "reg.example.com:443"


def test_seed_count_above_the_controller_count():
    assert problems(change(MULTI, {"controller.seed_count": 3})) == [
        "openwhisk:controller.seed_count: seed nodes are chosen among the 2 controller(s), so at most 2 "
        "(got 3); lower it or give the controller role to more hosts"]
    assert parse(change(MULTI, {"controller.seed_count": 2}), base_dir=ROOT)


def test_ssh_host_key_format_and_placement():
    bad = change(SINGLE, {"hosts[0].ssh_host_key": "AAAAC3Nza not a key"})
    assert problems(bad) == [
        "openwhisk:hosts[0].ssh_host_key: not an SSH public key line (got 'AAAAC3Nza not a key'); use "
        "the key as `ssh-keyscan -t ed25519 <address>` prints it, without the leading host name, e.g. "
        "'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'"]
    local = change(SINGLE, {"hosts[0].ssh_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQb"})
    assert problems(local) == [
        "openwhisk:hosts[0].ssh_host_key: host 'dev' is not reached over ssh://, so the key would be "
        "ignored (got 'ssh-ed25519 AAAAC3Nz...'); remove it"]
    over_ssh = change(local, {"ssh": {"user": "ops"}})
    st = parse(over_ssh, base_dir=ROOT, secret_keys=frozenset({"ssh_private_key"}))
    assert st.config.hosts[0].ssh_host_key == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQb"


def test_the_registry_image_must_be_pinned_like_every_other_image():
    raw = change(SINGLE, {"hosts[0].roles": [*ALL_ROLES, "registry"], "registry.mode": "deploy",
                          "registry.image": "registry:latest"})
    assert problems(raw) == [
        "openwhisk:registry.image: 'latest' is a mutable tag (got 'registry:latest'); pin a version "
        "tag or a digest, or set version.allow_mutable_tags: true"]
    allowed = change(raw, {"version.allow_mutable_tags": True})
    assert parse(allowed, base_dir=ROOT).config.registry.image == "registry:latest"


# -- namespaces (tenants) ------------------------------------------------------------------------

NS_NAME = ("expected a namespace name: 5 to 64 letters, digits, '_', '.', '@' or '-', starting "
           "with a letter or digit")


@pytest.mark.parametrize("namespaces,expected", [
    pytest.param([{"name": "ab"}], [
        f"openwhisk:namespaces[0].name: {NS_NAME} (got 'ab'); set it with pulumi config set --path "
        f"'namespaces[0].name' <string>"], id="too-short"),
    pytest.param([{"name": "team/a"}], [
        f"openwhisk:namespaces[0].name: {NS_NAME} (got 'team/a'); set it with pulumi config set "
        f"--path 'namespaces[0].name' <string>"], id="slash"),
    pytest.param([{"name": "whisk.system"}], [
        "openwhisk:namespaces[0].name: 'whisk.system' is built in (got 'whisk.system'); choose "
        "another name: guest and whisk.system are created by the CouchDB init step and their keys "
        "are guestAuth and systemAuth (rotate them with rotate.guest_auth / rotate.system_auth)"],
        id="reserved"),
    pytest.param([{"name": "team-a"}, {"name": "team-b"}, {"name": "team-a"}], [
        "openwhisk:namespaces[2].name: the same name as namespaces[0] (got 'team-a', and 'team-a' "
        "there); list each namespace once"], id="duplicate"),
    pytest.param([{"name": "team-a"}, {"name": "Team_A"}], [
        "openwhisk:namespaces[1].name: differs only in case or in _ . @ - from namespaces[0] (got "
        "'Team_A', and 'team-a' there); choose names that differ in a letter or digit"],
        id="same-secret-name"),
    pytest.param([{"name": "team-a", "limits": {"invocations_per_minute": 0}}], [
        "openwhisk:namespaces[0].limits.invocations_per_minute: must be at least 1 (got 0); set it "
        "with pulumi config set --path 'namespaces[0].limits.invocations_per_minute' <integer>"],
        id="limit-zero"),
    pytest.param([{"name": "team-a", "limits": {"fires_per_minute": 2**31}}], [
        "openwhisk:namespaces[0].limits.fires_per_minute: must be at most 2147483647 (got "
        "2147483648); set it with pulumi config set --path 'namespaces[0].limits.fires_per_minute' "
        "<integer>"], id="limit-over-int32"),
    pytest.param([{"name": "team-a", "limits": {"concurrent_invocations": True}}], [
        "openwhisk:namespaces[0].limits.concurrent_invocations: expected an integer (got true); set "
        "it with pulumi config set --path 'namespaces[0].limits.concurrent_invocations' <integer>"],
        id="limit-boolean"),
    pytest.param([{"name": "team-a", "limits": {"allowed_kinds": ["nodejs:20", "swift:5"]}}], [
        "openwhisk:namespaces[0].limits.allowed_kinds: 'swift:5' is not a kind of the runtime "
        "manifest runtimes/default.json (got 'swift:5'); use one of nodejs:18, nodejs:20, "
        "python:3.10, python:3.11"], id="unknown-kind"),
    pytest.param([{"name": "team-a", "limits": {"allowed_kinds": ["nodejs:20", "nodejs:20"]}}], [
        "openwhisk:namespaces[0].limits.allowed_kinds: nodejs:20 listed more than once (got "
        "[\"nodejs:20\", \"nodejs:20\"]); list each kind once"], id="kind-twice"),
    pytest.param([{"name": "team-a", "quota": 1}], [
        "openwhisk:namespaces[0].quota: unknown key (got 1); remove it (pulumi config rm --path "
        "'namespaces[0].quota') or fix its spelling (known keys: name, limits, rotate)"],
        id="unknown-field"),
])
def test_each_namespace_rule_reports_one_exact_line(namespaces, expected):
    assert problems({**SINGLE, "namespaces": namespaces}) == expected


def test_namespaces_parse_into_their_limits_documents():
    stack = parse({**SINGLE, "namespaces": [
        {"name": "team-a", "limits": {"invocations_per_minute": 600, "allowed_kinds": ["nodejs:20"],
                                      "store_activations": False}},
        {"name": "team.b", "rotate": 3}]}, base_dir=ROOT)
    a, b = stack.config.namespaces
    assert a.limits.document() == {"invocationsPerMinute": 600, "allowedKinds": ["nodejs:20"],
                                   "storeActivations": False}
    assert (b.name, b.rotate, b.limits.document()) == ("team.b", 3, {})
    assert [config.namespace_secret(n.name) for n in (a, b)] == ["namespace_auth_team_a",
                                                                 "namespace_auth_team_b"]


# -- keys the program generates, and upstream's published keys -----------------------------------

GUEST_DEFAULT = ("23bc46b1-71f6-4ed5-8c54-816aa4f8c502:"
                 "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")
PUBLISHED = ("which is published with OpenWhisk, so anyone could use it (got a value containing it); "
             "remove it: the program generates every key (guestAuth, systemAuth and each "
             "namespace's in the namespaces output)")


def test_a_supplied_guest_or_system_key_is_explained_not_taken_for_a_typo():
    assert problems({**SINGLE, "system_auth": config.ENCRYPTED}) == [
        "openwhisk:system_auth: the system key is generated by the program and never read from "
        "config (got a secret value, not shown); remove it (pulumi config rm openwhisk:system_auth). "
        "The current key is the systemAuth output (pulumi stack output systemAuth --show-secrets); "
        "to replace it, bump rotate.system_auth"]


def test_upstreams_published_keys_are_refused_wherever_they_appear():
    got = problems({**SINGLE, "guest_auth": GUEST_DEFAULT, "invoker": {"extra_env": {
        "CONFIG_whisk_x": "789c46b1-71f6-4ed5-8c54-816aa4f8c502"}}})
    assert got == [
        "openwhisk:guest_auth: the guest key is generated by the program and never read from "
        "config (got a plain value, not shown); remove it (pulumi config rm openwhisk:guest_auth). "
        "The current key is the guestAuth output (pulumi stack output guestAuth --show-secrets); "
        "to replace it, bump rotate.guest_auth",
        f"openwhisk:guest_auth: holds upstream's example guest key (23bc46b1...), {PUBLISHED}",
        f"openwhisk:invoker.extra_env.CONFIG_whisk_x: holds upstream's example whisk.system key "
        f"(789c46b1...), {PUBLISHED}"]
    # The secret half alone is recognised too, and no line shows it whole.
    [line] = problems({**SINGLE, "controller": {"extra_env": {"CONFIG_whisk_y": GUEST_DEFAULT[37:]}}})
    assert line.startswith("openwhisk:controller.extra_env.CONFIG_whisk_y: holds the secret part of "
                           "upstream's example guest key (123zO3xZ...)")
    assert GUEST_DEFAULT[37:] not in "\n".join(got) + line


# -- catalog and API gateway -----------------------------------------------------------------------


@pytest.mark.parametrize("section,value,expected", [
    pytest.param("catalog", {"packages": ["utils", "utils"]}, [
        "openwhisk:catalog.packages: utils listed more than once (got [\"utils\", \"utils\"]); list "
        "each package once"], id="package-twice"),
    pytest.param("catalog", {"packages": ["combinators"]}, [
        "openwhisk:catalog.packages[0]: expected 'utils', 'samples', 'websocket', 'github' or "
        "'slack' (got 'combinators'); set it with pulumi config set --path 'catalog.packages[0]' "
        "<value>"], id="package-not-in-the-release"),
    pytest.param("catalog", {"build_args": {"FOO": "x"}}, [
        "openwhisk:catalog.build_args.FOO: unknown key (got 'FOO'); remove it (pulumi config rm "
        "--path 'catalog.build_args.FOO') or fix its spelling (known keys: BASE, CATALOG_VERSION, "
        "CATALOG_URL, CATALOG_DIGEST, ROUTEMGMT_COMMIT, ROUTEMGMT_URL, ROUTEMGMT_DIGEST)"],
        id="unknown-build-arg"),
    pytest.param("catalog", {"image": "ow/catalog:latest"}, [
        "openwhisk:catalog.image: 'latest' is a mutable tag (got 'ow/catalog:latest'); pin a "
        "version tag or a digest, or set version.allow_mutable_tags: true"], id="mutable-image"),
    pytest.param("catalog", {"enabled": "yes"}, [
        "openwhisk:catalog.enabled: expected true or false (got 'yes'); set it with pulumi config "
        "set --path 'catalog.enabled' <true|false>"], id="enabled-not-boolean"),
    pytest.param("apigateway", {"port": True}, [
        "openwhisk:apigateway.port: expected an integer (got true); set it with pulumi config set "
        "--path 'apigateway.port' <integer>"], id="port-boolean"),
    pytest.param("apigateway", {"redis_port": 9001}, [
        "openwhisk:apigateway: port and redis_port are both 9001, on the edge's host (got "
        "{\"redis_port\": 9001}); give the gateway's API, its management API and Redis three "
        "different host ports"], id="ports-collide"),
])
def test_each_catalog_and_gateway_rule_reports_one_exact_line(section, value, expected):
    assert problems({**SINGLE, section: value}) == expected


@pytest.mark.parametrize("raw,expected", [
    pytest.param(change(SINGLE, {"version.tag": "ef725a6 "}), [
        "openwhisk:version.tag: expected an image tag: up to 128 letters, digits, '_', '.' or '-', "
        "not starting with '.' or '-', without spaces (got 'ef725a6 '); set it with pulumi config "
        "set --path 'version.tag' <string>"], id="tag-with-a-trailing-space"),
    pytest.param(change(SINGLE, {"scheduler": {"time_window": "forever"}}), [
        "openwhisk:scheduler.time_window: expected a duration such as '1 d', '12 hours' or '90 s' "
        "(got 'forever'); set it with pulumi config set --path 'scheduler.time_window' <string>"],
        id="time-window-not-a-duration"),
    pytest.param(change(SINGLE, {"kafka": {"port": True}}), [
        "openwhisk:kafka.port: expected an integer (got true); set it with pulumi config set "
        "--path 'kafka.port' <integer>"], id="boolean-port"),
    pytest.param(change(SINGLE, {"kafka": {"controller_port": True}}), [
        "openwhisk:kafka.controller_port: expected an integer (got true); set it with pulumi config "
        "set --path 'kafka.controller_port' <integer>"], id="boolean-controller-port"),
    pytest.param(change(SINGLE, {"kafka": {"controller_port": 70000}}), [
        "openwhisk:kafka.controller_port: must be at most 65535 (got 70000); set it with pulumi "
        "config set --path 'kafka.controller_port' <integer>"], id="controller-port-past-65535"),
    pytest.param(change(SINGLE, {"logs": {"actions": {"max_size_mb": 0}}}), [
        "openwhisk:logs.actions.max_size_mb: must be at least 1 (got 0); set it with pulumi config "
        "set --path 'logs.actions.max_size_mb' <integer>"], id="zero-log-size"),
    pytest.param(change(SINGLE, {"logs": {"containers": {"max_files": 101}}}), [
        "openwhisk:logs.containers.max_files: must be at most 100 (got 101); set it with pulumi "
        "config set --path 'logs.containers.max_files' <integer>"], id="too-many-log-files"),
    pytest.param(change(SINGLE, {"invoker": {"http_port": True}}), [
        "openwhisk:invoker.http_port: expected an integer (got true); set it with pulumi config set "
        "--path 'invoker.http_port' <integer>"], id="boolean-invoker-port"),
    pytest.param(change(SINGLE, {"invoker": {"user_memory_mb": 10**9}}), [
        "openwhisk:invoker.user_memory_mb: must be at most 1048576 (got 1000000000); set it with "
        "pulumi config set --path 'invoker.user_memory_mb' <integer>"], id="absurd-memory"),
    pytest.param(change(SINGLE, {"registry": {"mode": "external", "address": "reg.example.com:99999"}}), [
        "openwhisk:registry.address: its port is not between 1 and 65535 (got "
        "'reg.example.com:99999'); use host[:port] with a port from 1 to 65535, e.g. "
        "registry.example.com:5000"], id="registry-port-out-of-range"),
    pytest.param(change(SINGLE, {"hosts[0].id": True}), [
        "openwhisk:hosts[0].id: expected an integer (got true); set it with pulumi config set "
        "--path 'hosts[0].id' <integer>"], id="boolean-host-id"),
    pytest.param(change(SINGLE, {"hosts[0].invoker_ids": [True]}), [
        "openwhisk:hosts[0].invoker_ids[0]: expected an integer (got true); set it with pulumi "
        "config set --path 'hosts[0].invoker_ids[0]' <integer>"], id="boolean-invoker-id"),
    pytest.param(change(SINGLE, {"limits": {"invokes_per_minute": "60"}}), [
        "openwhisk:limits.invokes_per_minute: expected an integer (got '60'); set it with pulumi "
        "config set --path 'limits.invokes_per_minute' <integer>"], id="quoted-limit"),
    pytest.param(change(SINGLE, {"rotate": {"guest_auth": True}}), [
        "openwhisk:rotate.guest_auth: expected an integer (got true); set it with pulumi config set "
        "--path 'rotate.guest_auth' <integer>"], id="boolean-rotation"),
])
def test_new_user_slips_are_refused_with_one_exact_line(raw, expected):
    assert problems(raw, secret_keys=frozenset({"registry_password"}))[:1] == expected


def test_host_ids_are_limited_only_where_a_role_turns_them_into_a_service_id():
    invoker_host = {"name": "big", "id": 5000, "address": "10.0.0.9", "roles": ["invoker"],
                    "invoker_ids": [3]}
    assert parse(change(MULTI, {"hosts": [*MULTI["hosts"], invoker_host]}), base_dir=ROOT).config.hosts[3].id == 5000
    assert problems(change(MULTI, {"hosts[1].id": 255, "hosts[2].id": 1001})) == [
        "openwhisk:hosts[1].id: host 'b' has the role 'zookeeper': ZooKeeper's myid is the host id "
        "plus one and at most 255 (got 255); give host 'b' a free id from 0 to 254, e.g. 1",
        "openwhisk:hosts[2].id: host 'c' has the role 'zookeeper': ZooKeeper's myid is the host id "
        "plus one and at most 255 (got 1001); give host 'c' a free id from 0 to 254, e.g. 1",
    ]
    # A KRaft node id has no upper bound of its own.
    kafka_host = {"name": "k", "id": 5001, "address": "10.0.0.8", "roles": ["kafka"]}
    assert parse(change(MULTI, {"hosts": [*MULTI["hosts"], kafka_host]}), base_dir=ROOT).config.hosts[3].id == 5001


def _patterns(model: type[config.Model], seen: set) -> set[str]:
    """Every regex pattern a field of `model` or of a model nested in it is checked against."""
    out: set[str] = set()
    if model in seen:
        return out
    seen.add(model)
    for field in model.model_fields.values():
        out |= {m.pattern for m in field.metadata if getattr(m, "pattern", None)}
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if isinstance(inner, type) and issubclass(inner, config.Model):
                    out |= _patterns(inner, seen)
    return out


def test_every_pattern_a_field_is_checked_against_is_explained_in_words():
    found = _patterns(config.StackConfig, set())
    assert {config.PLATFORM, config.REGISTRY_USER, config.HOST_NAME} <= found
    assert sorted(found - config._PATTERNS.keys()) == []


def test_a_too_small_memory_override_and_the_stem_cell_rule_speak_in_the_same_run():
    assert problems(change(MULTI, {"hosts[1].user_memory_mb": 100, "hosts[2].user_memory_mb": 300})) == [
        "openwhisk:hosts[1].user_memory_mb: must be at least 256 (got 100); set it with pulumi config "
        "set --path 'hosts[1].user_memory_mb' <integer>",
        "openwhisk:hosts[2].user_memory_mb: less than the 512 MB that the stem cells of the runtime "
        "manifest take when an invoker starts on host 'c' (got 300); raise it to at least 512 or "
        "lower stemCells in runtimes/default.json",
    ]
