"""Every Kubernetes object the program declares, checked against the strict OpenAPI schemas of
each supported Kubernetes version (held by the kubernetes-validate package, no cluster needed):
unknown fields, wrong types and missing required fields fail here instead of at `pulumi up`."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest

from tests.conftest import load_stack_file, run_program, unwrap
from tests.test_kubernetes_program import objects, seed_run

#: The Kubernetes versions README names as supported.
VERSIONS = ("1.29.0", "1.30.0", "1.31.0", "1.32.0")


def manifest(resource: dict[str, Any]) -> dict[str, Any]:
    """The object as the provider sends it: apiVersion and kind from the type token, the inputs."""
    group, version, kind = re.fullmatch(r"kubernetes:([^/]+)/([^:]+):(\w+)", resource["type"]).groups()
    api = version if group == "core" else f"{group}.k8s.io/{version}" \
        if group in ("rbac", "networking") else f"{group}/{version}"
    return {"apiVersion": api, "kind": kind, **_plain(resource["inputs"])}


def _plain(value: Any) -> Any:
    """The value with every secret wrapper of the mocks removed."""
    value, _ = unwrap(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _stacks() -> dict[str, list[dict[str, Any]]]:
    plain, secret = load_stack_file("k8s")
    docker_factory = dict(plain)
    docker_factory["openwhisk:invoker"] = {"container_factory": "docker"}
    # With every placement and resource setting, so that their rendering is checked too.
    docker_factory["openwhisk:kubernetes"] = {**plain["openwhisk:kubernetes"], "replicas": {
        k: v for k, v in plain["openwhisk:kubernetes"].get("replicas", {}).items() if k != "invoker"},
        "node_selector": {"node-role.example.com/openwhisk": "true"},
        "tolerations": [{"key": "dedicated", "value": "openwhisk", "effect": "NoSchedule"},
                        {"operator": "Exists"}],
        "anti_affinity": "required",
        "resources": {"controller": {"cpu": "2", "memory": "4Gi", "cpu_limit": "4"}}}
    # Monitoring too: user-events, Prometheus, Grafana and the invokers' headless Service.
    docker_factory["openwhisk:monitoring"] = {"enabled": True,
                                              "grafana_image": "ops/grafana:12.0.2-ow"}
    return {
        "k8s": objects(run_program(plain, secret, stack="k8s")),
        "seed-001": objects(seed_run()),
        "docker-factory": objects(run_program(docker_factory, secret, stack="k8s")),
    }


@pytest.fixture(scope="module")
def stacks() -> dict[str, list[dict[str, Any]]]:
    return _stacks()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_passes_the_strict_schema_of_each_supported_version(stacks, version):
    failures = []
    kinds = set()
    for stack, resources in stacks.items():
        for r in resources:
            m = manifest(r)
            kinds.add(m["kind"])
            try:
                kubernetes_validate.validate(m, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                failures.append(f"{stack} {m['kind']} {r['name']}: {err.message} at "
                                f"{'.'.join(map(str, err.path))}")
    assert failures == []
    # What the check covered, so that a stack that stopped declaring objects cannot pass empty.
    assert {"StatefulSet", "Job", "Deployment", "DaemonSet", "Service", "Secret", "ConfigMap",
            "PodDisruptionBudget", "NetworkPolicy", "Role", "RoleBinding", "ServiceAccount",
            "Namespace", "Ingress"} <= kinds


def test_the_check_fails_on_a_misspelt_field():
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "lables": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[0], strict=True)
