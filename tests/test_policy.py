"""The policy pack (policy/): each rule on hand-built policy args, the real program's graphs under
mocks, and the pack itself answering the analyzer protocol over gRPC.

Policy args are built the way pulumi-policy's analyzer builds them: properties in the engine's wire
form (secrets wrapped, unknowns as sentinels) go through the pack's deserializer and the
unknown-checking proxy. pulumi-policy 1.21.0 never passes retainOnDelete to a policy; the harness
adds it (`retain_on_delete`) from what the program registered.
"""

from __future__ import annotations

import contextlib
import copy
import json
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as policy_module
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import policies
from policy.policies import (
    POLICIES,
    actor_system_static_address,
    no_mutable_image_tags,
    no_plain_secrets,
    stateful_containers_keep_data,
    stateful_volumes_retained,
)
from tests.conftest import ROOT, RecordingMonitor, load_stack_file, run_program

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64

CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def secret(value: Any) -> dict[str, Any]:
    """A secret as the engine sends it to a policy pack."""
    return {SIG: SECRET_SIG, "value": value}


def as_seen(raw: dict[str, Any]) -> Any:
    """Wire-form properties as the pack's validate functions receive them."""
    return unknown_checking_proxy(policy_module.deserialize_properties(raw))


def options(retain_on_delete: bool | None = None, **kw: Any) -> PolicyResourceOptions:
    opts = PolicyResourceOptions(
        protect=kw.get("protect", False), ignore_changes=kw.get("ignore_changes", []),
        delete_before_replace=kw.get("delete_before_replace"), aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
        parent=kw.get("parent"))
    if retain_on_delete is not None:
        opts.retain_on_delete = retain_on_delete  # not a field in pulumi-policy 1.21.0; see module doc
    return opts


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:test::openwhisk::{typ}::{name}"


def resource_args(typ: str, raw: dict[str, Any], name: str = "r",
                  retain_on_delete: bool | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(typ, as_seen(raw), urn(typ, name), name,
                                  options(retain_on_delete), None)


def check(policy: ResourceValidationPolicy, args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    policy.validate(args, lambda message, _urn=None: found.append(message))
    return found


def check_stack(policy: StackValidationPolicy, resources: list[PolicyResource]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    policy.validate(StackValidationArgs(resources), lambda message, u=None: found.append((message, u)))
    return found


def test_the_pack_holds_seven_policies_one_advisory():
    assert [(p.name, p.enforcement_level.value) for p in POLICIES] == [
        ("no-mutable-image-tags", "mandatory"), ("actor-system-static-address", "mandatory"),
        ("stateful-volumes-retained", "mandatory"), ("stateful-containers-keep-data", "mandatory"),
        ("no-plain-secrets", "mandatory"), ("stateful-data-kept", "mandatory"),
        ("stateful-stores-flagged", "advisory")]
    main = (ROOT / "policy" / "__main__.py").read_text()
    assert 'PolicyPack(name="openwhisk", policies=POLICIES' in main


def test_policy_requirements_are_pinned_to_what_the_tests_run():
    from importlib.metadata import version

    reqs = (ROOT / "policy" / "requirements.txt").read_text().split()
    assert f"pulumi-policy=={version('pulumi-policy')}" in reqs
    assert f"pulumi=={version('pulumi')}" in reqs
    assert "pulumi==3.272.0" in (ROOT / "requirements.txt").read_text().split()


# --------------------------------------------------------------------------------------------------
# no-mutable-image-tags


@pytest.mark.parametrize("typ,raw", [
    (REMOTE_IMAGE, {"name": "nginx:1.27.3"}),
    (REMOTE_IMAGE, {"name": "10.20.0.11:5000/apache/couchdb@" + DIGEST}),
    (REMOTE_IMAGE, {"name": "10.20.0.11:5000/openwhisk/controller:1fae641"}),
    (REMOTE_IMAGE, {"name": UNKNOWN_STRING_VALUE}),
    ("docker:index/tag:Tag", {"sourceImage": DIGEST, "targetImage": "10.20.0.11:5000/zookeeper:3.5.9"}),
    ("docker:index/image:Image", {"imageName": "10.20.0.11:5000/openwhisk/invoker:ef725a6"}),
    (CONTAINER, {"image": DIGEST}),
    (DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27.3"}]}}}}),
])
def test_pinned_images_pass(typ, raw):
    assert check(no_mutable_image_tags, resource_args(typ, raw)) == []


FIX_NGINX = ("Pin a release tag ('nginx:<version>') or a digest ('nginx@sha256:<digest>'); a moving "
             "tag deploys whatever was pushed last, and a later pull changes it silently.")


def test_latest_tag_on_a_remote_image_is_a_violation():
    assert check(no_mutable_image_tags, resource_args(REMOTE_IMAGE, {"name": "nginx:latest"}, "dev-nginx")) == [
        f"RemoteImage 'dev-nginx': name 'nginx:latest' uses the moving tag 'latest'. {FIX_NGINX}"]


def test_missing_tag_is_a_violation():
    assert check(no_mutable_image_tags, resource_args(REMOTE_IMAGE, {"name": "nginx"}, "edge")) == [
        f"RemoteImage 'edge': name 'nginx' has no tag, so Docker resolves it to 'nginx:latest'. {FIX_NGINX}"]


def test_nightly_target_of_a_tag_behind_a_registry_port_is_a_violation():
    args = resource_args("docker:index/tag:Tag", {
        "sourceImage": DIGEST, "targetImage": "10.20.0.11:5000/openwhisk/controller:nightly"}, "mirror-controller")
    assert check(no_mutable_image_tags, args) == [
        "Tag 'mirror-controller': targetImage '10.20.0.11:5000/openwhisk/controller:nightly' uses the "
        "moving tag 'nightly'. Pin a release tag ('10.20.0.11:5000/openwhisk/controller:<version>') or a "
        "digest ('10.20.0.11:5000/openwhisk/controller@sha256:<digest>'); a moving tag deploys whatever "
        "was pushed last, and a later pull changes it silently."]


def test_untagged_image_build_and_kubernetes_container_are_violations():
    build = resource_args("docker:index/image:Image", {"imageName": "registry.local/invoker"}, "invoker-build")
    assert check(no_mutable_image_tags, build) == [
        "Image 'invoker-build': imageName 'registry.local/invoker' has no tag, so Docker resolves it to "
        "'registry.local/invoker:latest'. Pin a release tag ('registry.local/invoker:<version>') or a "
        "digest ('registry.local/invoker@sha256:<digest>'); a moving tag deploys whatever was pushed "
        "last, and a later pull changes it silently."]
    deployment = resource_args(DEPLOYMENT, {"spec": {"template": {"spec": {
        "initContainers": [{"name": "wait", "image": "busybox:1.36"}],
        "containers": [{"name": "edge", "image": "nginx:latest"}]}}}}, "edge")
    assert check(no_mutable_image_tags, deployment) == [
        f"Deployment 'edge': container 'edge' image 'nginx:latest' uses the moving tag 'latest'. {FIX_NGINX}"]


# --------------------------------------------------------------------------------------------------
# actor-system-static-address

PEKKO = "CONFIG_pekko_remote_artery_"


def controller(env: dict[str, str], ports: list[tuple[int, int]], *, secret_envs: bool = True) -> dict[str, Any]:
    envs = [f"{k}={v}" for k, v in env.items()]
    return {"envs": secret(envs) if secret_envs else envs,
            "ports": [{"internal": float(i), "external": float(e)} for i, e in ports]}


GOOD_PEKKO = {f"{PEKKO}bind_hostname": "0.0.0.0", f"{PEKKO}bind_port": "25520",
              f"{PEKKO}canonical_hostname": "10.20.0.11", f"{PEKKO}canonical_port": "25520"}


def test_static_address_with_published_port_passes():
    assert check(actor_system_static_address, resource_args(
        CONTAINER, controller(GOOD_PEKKO, [(8080, 10001), (25520, 25520)]), "controller-core-1")) == []
    # Containers without an actor system, and envs not known yet, are left alone.
    assert check(actor_system_static_address, resource_args(
        CONTAINER, controller({"KAFKA_BROKER_ID": "0"}, [(9092, 9092)]), "kafka")) == []
    assert check(actor_system_static_address, resource_args(
        CONTAINER, {"envs": UNKNOWN_ARRAY_VALUE}, "controller-core-1")) == []
    partly_known = [f"{PEKKO}canonical_hostname=10.20.0.11", secret(UNKNOWN_STRING_VALUE)]
    assert check(actor_system_static_address, resource_args(
        CONTAINER, {"envs": partly_known, "ports": []}, "controller-core-1")) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "localhost"])
def test_unreachable_canonical_hostname_is_a_violation(host):
    env = {**GOOD_PEKKO, f"{PEKKO}canonical_hostname": host}
    assert check(actor_system_static_address, resource_args(
        CONTAINER, controller(env, [(25520, 25520)]), "controller-core-1")) == [
        f"Container 'controller-core-1': CONFIG_pekko_remote_artery_canonical_hostname is '{host}', an "
        "address other cluster members cannot reach. Set it to the static address of the container's "
        "host (openwhisk:hosts[].address)."]


def test_empty_hostname_and_missing_port_are_violations():
    env = {"CONFIG_akka_remote_artery_canonical_hostname": ""}
    assert check(actor_system_static_address, resource_args(
        CONTAINER, controller(env, []), "controller-dev")) == [
        "Container 'controller-dev': CONFIG_akka_remote_artery_canonical_hostname is empty, an address "
        "other cluster members cannot reach. Set it to the static address of the container's host "
        "(openwhisk:hosts[].address).",
        "Container 'controller-dev': CONFIG_akka_remote_artery_canonical_hostname is set but "
        "CONFIG_akka_remote_artery_canonical_port is not, so the actor system advertises a random port. "
        "Set CONFIG_akka_remote_artery_canonical_port to the fixed remoting port and publish that port "
        "on the container."]


def test_canonical_port_that_is_not_published_is_a_violation():
    assert check(actor_system_static_address, resource_args(
        CONTAINER, controller(GOOD_PEKKO, [(8080, 10001)]), "controller-core-1")) == [
        "Container 'controller-core-1': CONFIG_pekko_remote_artery_canonical_port is 25520, but the "
        "container publishes no external port 25520, so other members cannot connect to the address it "
        "advertises. Publish it: ports: [{internal: 25520, external: 25520}]."]


def test_canonical_port_published_to_another_container_port_is_a_violation():
    assert check(actor_system_static_address, resource_args(
        CONTAINER, controller(GOOD_PEKKO, [(2552, 25520)]), "controller-core-1")) == [
        "Container 'controller-core-1': external port 25520 (CONFIG_pekko_remote_artery_canonical_port) "
        "is published to container port 2552, but the actor system binds 25520 "
        "(CONFIG_pekko_remote_artery_bind_port). Publish 25520 to container port 25520."]


# --------------------------------------------------------------------------------------------------
# stateful-volumes-retained


def test_retained_volume_passes():
    args = resource_args(VOLUME, {"name": "ow-couchdb-data"}, "couchdb-dev-data", retain_on_delete=True)
    assert check(stateful_volumes_retained, args) == []


def test_unretained_volume_and_claim_are_violations():
    args = resource_args(VOLUME, {"name": "ow-kafka-data"}, "kafka-dev-data", retain_on_delete=False)
    assert check(stateful_volumes_retained, args) == [
        "Volume 'kafka-dev-data' (Docker volume 'ow-kafka-data') is not retained on delete: if Pulumi "
        "replaces or removes it, the data is deleted with it. Declare it with "
        "pulumi.ResourceOptions(retain_on_delete=True)."]
    pvc = resource_args("kubernetes:core/v1:PersistentVolumeClaim", {"spec": {}}, "couchdb-data",
                        retain_on_delete=False)
    assert check(stateful_volumes_retained, pvc) == [
        "PersistentVolumeClaim 'couchdb-data' is not retained on delete: if Pulumi replaces or removes "
        "it, the data is deleted with it. Declare it with pulumi.ResourceOptions(retain_on_delete=True)."]


def test_volume_retention_is_not_applicable_when_the_engine_does_not_say():
    assert not hasattr(options(), "retain_on_delete")  # pulumi-policy 1.21.0 has no such field
    with pytest.raises(policy_module._NotApplicableError) as err:  # noqa: SLF001
        check(stateful_volumes_retained, resource_args(VOLUME, {"name": "ow-kafka-data"}, "kafka-dev-data"))
    assert err.value.reason == policies.RETAIN_UNAVAILABLE


# --------------------------------------------------------------------------------------------------
# stateful-containers-keep-data


def policy_resource(typ: str, name: str, raw: dict[str, Any],
                    property_dependencies: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    return PolicyResource(typ, as_seen(raw), urn(typ, name), name, options(), None, None, [],
                          property_dependencies or {})


def couchdb(container_props: dict[str, Any], *, link: bool = True) -> list[PolicyResource]:
    image = policy_resource(REMOTE_IMAGE, "dev-couchdb", {"name": "apache/couchdb:2.3.1", "imageId": DIGEST})
    ctr = policy_resource(CONTAINER, "couchdb-dev", {"image": DIGEST, **container_props},
                          {"image": [image]} if link else None)
    return [image, ctr]


COUCHDB_DATA = {"volumes": [{"volumeName": "ow-couchdb-data", "containerPath": "/opt/couchdb/data"}]}
COUCHDB_LOST = (
    "Container 'couchdb-dev' runs the couchdb image 'apache/couchdb:2.3.1' without a data volume or "
    "writable bind mount, so its data lives in the container and is lost whenever the container is "
    "replaced. Mount a retained docker.Volume at /opt/couchdb/data (volumes: [{volumeName, "
    "containerPath}]).")


def test_stateful_container_with_a_data_volume_passes():
    assert check_stack(stateful_containers_keep_data, couchdb(COUCHDB_DATA)) == []
    bind = {"volumes": [{"hostPath": "/srv/couchdb", "containerPath": "/opt/couchdb/data"}]}
    assert check_stack(stateful_containers_keep_data, couchdb(bind)) == []
    # A one-shot step of the same image keeps nothing.
    assert check_stack(stateful_containers_keep_data, couchdb({"start": False})) == []
    nginx = policy_resource(REMOTE_IMAGE, "dev-nginx", {"name": "nginx:1.27.3", "imageId": OTHER_DIGEST})
    edge = policy_resource(CONTAINER, "edge-dev", {"image": OTHER_DIGEST}, {"image": [nginx]})
    assert check_stack(stateful_containers_keep_data, [nginx, edge]) == []


def test_stateful_container_without_data_is_a_violation():
    resources = couchdb({})
    assert check_stack(stateful_containers_keep_data, resources) == [(COUCHDB_LOST, resources[1].urn)]
    # A read-only bind (a config file) holds no data; the image is found by its ID without the link.
    config_only = {"volumes": [{"hostPath": "/etc/ow/local.ini", "containerPath": "/opt/couchdb/etc/local.ini",
                                "readOnly": True}]}
    resources = couchdb(config_only, link=False)
    assert check_stack(stateful_containers_keep_data, resources) == [(COUCHDB_LOST, resources[1].urn)]


# --------------------------------------------------------------------------------------------------
# no-plain-secrets


@pytest.mark.parametrize("name,expected", [
    ("COUCHDB_PASSWORD", True), ("CONFIG_whisk_couchdb_password", True), ("AWS_SECRET", True),
    ("GITHUB_TOKEN", True), ("GUEST_AUTH", True), ("TLS_KEY", True), ("KAFKA_SASL_JAAS_CONFIG", True),
    ("saslJaasConfig", True), ("SSH_PUBLIC_KEY", False), ("COUCHDB_USER", False), ("REGISTRY_AUTH", False),
    ("REGISTRY_HTTP_TLS_KEY", False), ("KEYS", False),
])
def test_credential_names(name, expected):
    assert policies.is_credential_name(name) is expected


def test_secret_environment_passes():
    raw = {"envs": secret(["COUCHDB_PASSWORD=s3cret", "COUCHDB_USER=admin"]),
           "command": ["/init.sh", "0"], "entrypoints": None}
    assert check(no_plain_secrets, resource_args(CONTAINER, raw, "couchdb-dev")) == []
    # Plain entries that are not credentials, or empty, or not known yet, are fine.
    raw = {"envs": ["REGISTRY_AUTH=htpasswd", "SSH_PUBLIC_KEY=ssh-ed25519 AAAA", "SCHEDULER_DB_PASSWORD=",
                    UNKNOWN_STRING_VALUE]}
    assert check(no_plain_secrets, resource_args(CONTAINER, raw, "registry-core-1")) == []


def test_plain_credential_in_container_environment_is_a_violation():
    raw = {"envs": ["COUCHDB_PASSWORD=s3cret", "COUCHDB_USER=admin"]}
    assert check(no_plain_secrets, resource_args(CONTAINER, raw, "couchdb-dev")) == [
        "Container 'couchdb-dev': environment variable COUCHDB_PASSWORD holds a credential in plain "
        "text, so it shows in the preview diff and in the state. Build the value from a secret "
        "(config.require_secret or pulumi.Output.secret) so that the entry is secret."]


def test_credentials_on_the_command_line_are_violations_even_when_secret():
    auth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:" + "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
    raw = {"command": ["/init.sh", secret("--db=couchdb,password=s3cret")],
           "entrypoints": ["/bin/sh", "-c", f"wsk property set --auth {auth}"]}
    assert check(no_plain_secrets, resource_args(CONTAINER, raw, "couchdb-init-dev")) == [
        "Container 'couchdb-init-dev': command[1] contains a password ('password=...'); anyone on the "
        "host can read it in the process list and in docker inspect. Pass it in a secret environment "
        "variable or a secret file upload instead.",
        "Container 'couchdb-init-dev': entrypoints[2] contains an OpenWhisk auth key (uuid:key); anyone "
        "on the host can read it in the process list and in docker inspect. Pass it in a secret "
        "environment variable or a secret file upload instead."]


def deployment(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": "controller", "image": "c:1", "env": env}]}}}}


def test_kubernetes_env_from_a_secret_passes():
    env = [{"name": "CONFIG_whisk_couchdb_password",
            "valueFrom": {"secretKeyRef": {"name": "couchdb", "key": "password"}}},
           {"name": "CONFIG_whisk_couchdb_username", "value": "whisk_controller"}]
    assert check(no_plain_secrets, resource_args(DEPLOYMENT, deployment(env), "controller")) == []
    config_map = {"data": {"application.conf": "whisk {}", "COUCHDB_USER": "admin"}}
    assert check(no_plain_secrets, resource_args("kubernetes:core/v1:ConfigMap", config_map, "whisk")) == []


def test_kubernetes_literal_or_config_map_credentials_are_violations():
    env = [{"name": "CONFIG_whisk_couchdb_password", "value": "s3cret"},
           {"name": "GUEST_AUTH", "valueFrom": {"configMapKeyRef": {"name": "whisk", "key": "guest"}}}]
    assert check(no_plain_secrets, resource_args(DEPLOYMENT, deployment(env), "controller")) == [
        "Deployment 'controller': container 'controller' sets env CONFIG_whisk_couchdb_password to a "
        "literal value, which is stored in the pod spec in plain text. Read it from a Secret: "
        "valueFrom.secretKeyRef.",
        "Deployment 'controller': container 'controller' reads env GUEST_AUTH from somewhere other than "
        "a Secret. Read it from a Secret: valueFrom.secretKeyRef."]
    config_map = {"data": {"DB_PASSWORD": "s3cret"}}
    assert check(no_plain_secrets, resource_args("kubernetes:core/v1:ConfigMap", config_map, "whisk")) == [
        "ConfigMap 'whisk': data key DB_PASSWORD looks like a credential, and ConfigMaps are stored and "
        "shown in plain text. Move it to a Secret."]


# --------------------------------------------------------------------------------------------------
# The real program's graph under mocks


class PolicyMonitor(RecordingMonitor):
    """Also keeps each registration as the engine would hand it to a policy pack."""

    def __init__(self, mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[dict[str, Any]] = []

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.registrations.append(dict(
            urn=response.urn, id=response.id, type=request.type, name=request.name,
            provider=request.provider or None,
            inputs=json_format.MessageToDict(request.object),  # wire form: secrets wrapped, unknowns as sentinels
            parent=request.parent or None, dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            protect=bool(request.protect), delete_before_replace=request.deleteBeforeReplace,
            ignore_changes=list(request.ignoreChanges), retain_on_delete=request.retainOnDelete))
        return response


Graph = list[dict[str, Any]]


def program_graph(stack: str, monkeypatch: pytest.MonkeyPatch, *, preview: bool = False,
                  config: tuple[dict[str, Any], dict[str, str]] | None = None) -> Graph:
    """The registrations of the program for a stack file (or `config`: plain, secret)."""
    harness = sys.modules[run_program.__module__]
    monkeypatch.setattr(harness, "RecordingMonitor", PolicyMonitor)
    run = run_program(*(config or load_stack_file(stack)), stack=stack, preview=preview)
    graph = []
    for reg in run.monitor.registrations:
        if reg["type"] == "pulumi:pulumi:Stack":
            continue
        state = run.monitor.resources.get(reg["urn"])
        graph.append({**reg, "outputs": dict(state.state) if state else {}})
    assert len(graph) > 40
    return graph


def stack_resources(graph: Graph) -> dict[str, PolicyResource]:
    """The graph as AnalyzeStack sees it: outputs, with parents and (property) dependencies linked."""
    resources = {r["urn"]: PolicyResource(r["type"], as_seen(r["outputs"]), r["urn"], r["name"],
                                          options(r["retain_on_delete"]), None, None, [], {})
                 for r in graph}
    by_ref = {f"{r['urn']}::{r['id']}": r for r in graph if r["type"].startswith("pulumi:providers:")}
    for r in graph:
        res = resources[r["urn"]]
        prov = by_ref.get(r["provider"] or "")
        if prov:
            res.provider = PolicyProviderResource(prov["type"], as_seen(prov["inputs"]), prov["urn"],
                                                  prov["name"])
        res.parent = resources.get(r["parent"])
        res.dependencies = [resources[u] for u in r["dependencies"] if u in resources]
        res.property_dependencies = {k: [resources[u] for u in v if u in resources]
                                     for k, v in r["property_dependencies"].items()}
    return resources


def export_of(graph: Graph) -> dict[str, Any]:
    """The graph as `pulumi stack export --show-secrets` writes it after an update."""
    def shown(value: Any) -> Any:
        if isinstance(value, dict) and value.get(SIG) == SECRET_SIG:
            return {SIG: SECRET_SIG, "plaintext": json.dumps(value["value"])}
        if isinstance(value, dict):
            return {k: shown(v) for k, v in value.items()}
        return [shown(v) for v in value] if isinstance(value, list) else value

    return {"version": 3, "deployment": {"manifest": {}, "resources": [
        {"urn": r["urn"], "id": r["id"], "type": r["type"], "custom": bool(r["id"]),
         "inputs": shown(r["inputs"]), "outputs": {**r["outputs"], **shown(r["inputs"])},
         "parent": r["parent"], "provider": r["provider"],
         "propertyDependencies": r["property_dependencies"]} for r in graph]}}


def evaluate(graph: Graph, deployed: Graph | None = None) -> list[tuple[str, str, str]]:
    """(policy, resource name, message) of every violation, as a preview with the pack would report,
    against the `deployed` graph (default: the graph itself, as when nothing changes)."""
    config = {"deployed": policies.deployed_entries(export_of(deployed or graph))}
    found: list[tuple[str, str, str]] = []
    names = {r["urn"]: r["name"] for r in graph}

    def reporter(policy: str, name: str | None) -> Callable[..., None]:
        return lambda message, u=None: found.append((policy, name or names.get(u, "<stack>"), message))

    for r in graph:
        opts = options(r["retain_on_delete"], protect=r["protect"], ignore_changes=r["ignore_changes"],
                       delete_before_replace=r["delete_before_replace"], parent=r["parent"])
        args = ResourceValidationArgs(r["type"], as_seen(r["inputs"]), r["urn"], r["name"], opts, None)
        for p in POLICIES:
            if isinstance(p, ResourceValidationPolicy):
                p.validate(args, reporter(p.name, r["name"]))

    resources = stack_resources(graph)
    for p in POLICIES:
        if isinstance(p, StackValidationPolicy):
            p.validate(StackValidationArgs(list(resources.values()), config), reporter(p.name, None))
    return found


def named(graph: Graph, name: str, typ: str) -> dict[str, Any]:
    [r] = [r for r in graph if r["name"] == name and r["type"] == typ]
    return r


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_stack_passes_the_whole_pack(stack, monkeypatch):
    graph = program_graph(stack, monkeypatch)
    assert evaluate(graph) == []
    # Not vacuous: the policies saw what they check.
    assert all(r["retain_on_delete"] for r in graph if r["type"] == VOLUME)
    resources = list(stack_resources(graph).values())
    refs = {r.name: policies.container_image_reference(r, resources)
            for r in resources if r.resource_type == CONTAINER}
    assert all(refs.values()), refs
    assert any(policies.stateful_family(ref) == "couchdb" for ref in refs.values())
    assert any(policies.is_secret(e) for r in graph if r["type"] == CONTAINER
               for e in policies.elements(policies.field(as_seen(r["inputs"]), "envs")))


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_the_k8s_stack_passes_the_whole_pack(preview, monkeypatch):
    graph = program_graph("k8s", monkeypatch, preview=preview)
    assert evaluate(graph) == []
    # Not vacuous: the pods read credentials from Secrets, which the pack checks.
    sts = [r for r in graph if r["type"] == "kubernetes:apps/v1:StatefulSet"]
    refs = [e for r in sts for c in r["inputs"]["spec"]["template"]["spec"]["containers"]
            for e in c.get("env") or [] if "secretKeyRef" in (e.get("valueFrom") or {})]
    # CouchDB's password and Erlang cookie, the gateway's Redis password, etcd's health login and
    # the three Kafka brokers' cluster id (the JVM components read theirs from a mounted file,
    # planner.env.secrets_file).
    assert (len(sts), len(refs)) == (16, 7)


def test_dev_stack_passes_in_preview_mode(monkeypatch):
    assert evaluate(program_graph("dev", monkeypatch, preview=True)) == []


def test_unretained_volume_in_the_dev_graph_is_the_one_violation(monkeypatch):
    graph = copy.deepcopy(program_graph("dev", monkeypatch))
    named(graph, "kafka-dev-data", VOLUME)["retain_on_delete"] = False
    assert evaluate(graph) == [(
        "stateful-volumes-retained", "kafka-dev-data",
        "Volume 'kafka-dev-data' (Docker volume 'ow-kafka-kraft-data') is not retained on delete: if Pulumi "
        "replaces or removes it, the data is deleted with it. Declare it with "
        "pulumi.ResourceOptions(retain_on_delete=True).")]


def test_latest_image_in_the_dev_graph_is_the_one_violation(monkeypatch):
    graph = copy.deepcopy(program_graph("dev", monkeypatch))
    named(graph, "dev-nginx", REMOTE_IMAGE)["inputs"]["name"] = "nginx:latest"
    assert evaluate(graph) == [(
        "no-mutable-image-tags", "dev-nginx",
        f"RemoteImage 'dev-nginx': name 'nginx:latest' uses the moving tag 'latest'. {FIX_NGINX}")]


def test_plain_couchdb_environment_in_the_dev_graph_is_the_one_violation(monkeypatch):
    graph = copy.deepcopy(program_graph("dev", monkeypatch))
    inputs = named(graph, "couchdb-dev", CONTAINER)["inputs"]
    # The program sends a list with a secret entry as one secret; send it plain instead.
    assert inputs["envs"] == secret(["COUCHDB_ERLANG_COOKIE=pw-couchdb_erlang_cookie",
                                     "COUCHDB_PASSWORD=pw-couchdb_admin_password",
                                     "COUCHDB_USER=whisk_admin"])
    inputs["envs"] = inputs["envs"]["value"]
    assert evaluate(graph) == [(
        "no-plain-secrets", "couchdb-dev",
        "Container 'couchdb-dev': environment variable COUCHDB_PASSWORD holds a credential in plain "
        "text, so it shows in the preview diff and in the state. Build the value from a secret "
        "(config.require_secret or pulumi.Output.secret) so that the entry is secret.")]


def test_kafka_without_its_volume_in_the_prod_graph_is_the_one_violation(monkeypatch):
    graph = copy.deepcopy(program_graph("prod", monkeypatch))
    kafka = named(graph, "kafka-core-2", CONTAINER)
    kafka["inputs"]["volumes"] = kafka["outputs"]["volumes"] = None
    assert evaluate(graph) == [(
        "stateful-containers-keep-data", "kafka-core-2",
        "Container 'kafka-core-2' runs the kafka image "
        "'10.20.0.11:5000/apache/kafka@sha256:d31ca0a04f6d07c01aca431177035bf2bcd70953cfaebc5cb98ba12e9e317234' "
        "without a data volume or writable bind mount, so its data lives in the container and is lost "
        "whenever the container is replaced. Mount a retained docker.Volume at /var/lib/kafka/data (volumes: "
        "[{volumeName, containerPath}]).")]


def test_controller_advertising_any_address_in_the_prod_graph_is_the_one_violation(monkeypatch):
    graph = copy.deepcopy(program_graph("prod", monkeypatch))
    envs = named(graph, "controller-core-3", CONTAINER)["inputs"]["envs"]  # no secret: plain
    i = envs.index("CONFIG_pekko_remote_artery_canonical_hostname=10.20.0.13")
    envs[i] = "CONFIG_pekko_remote_artery_canonical_hostname=0.0.0.0"
    assert evaluate(graph) == [(
        "actor-system-static-address", "controller-core-3",
        "Container 'controller-core-3': CONFIG_pekko_remote_artery_canonical_hostname is '0.0.0.0', an "
        "address other cluster members cannot reach. Set it to the static address of the container's "
        "host (openwhisk:hosts[].address).")]


# --------------------------------------------------------------------------------------------------
# The pack as the CLI runs it: policy/__main__.py serving the analyzer protocol


@contextlib.contextmanager
def start_pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """policy/__main__.py as the CLI starts it, and a client of its analyzer service."""
    proc = subprocess.Popen([sys.executable, "-u", "__main__.py"], cwd=ROOT / "policy",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        port = proc.stdout.readline().strip() if ready else ""
        if not port.isdigit():
            proc.kill()
            pytest.fail(f"policy pack did not start: {proc.stderr.read()}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module")
def analyzer():
    with start_pack() as stub:
        yield stub


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


def analyze(stub, typ: str, name: str, props: dict[str, Any]):
    return stub.Analyze(analyzer_pb2.AnalyzeRequest(
        type=typ, name=name, urn=urn(typ, name), properties=struct(props)))


def test_the_pack_serves_its_policies_with_their_levels_and_config_schemas(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "openwhisk"
    assert [(p.name, p.enforcementLevel) for p in info.policies] == [
        (p.name, analyzer_pb2.ADVISORY if p.name == "stateful-stores-flagged" else analyzer_pb2.MANDATORY)
        for p in POLICIES]
    assert {p.name: list(p.configSchema.properties) for p in info.policies
            if p.configSchema.properties} == {"stateful-data-kept": ["deployed"],
                                              "stateful-stores-flagged": ["deployed"]}


def test_the_pack_reports_violations_with_the_policy_description(analyzer):
    [diag] = analyze(analyzer, REMOTE_IMAGE, "dev-nginx", {"name": "nginx:latest"}).diagnostics
    assert diag.policyName == "no-mutable-image-tags"
    assert diag.enforcementLevel == analyzer_pb2.MANDATORY
    assert diag.message == (f"{no_mutable_image_tags.description}\nRemoteImage 'dev-nginx': name "
                            f"'nginx:latest' uses the moving tag 'latest'. {FIX_NGINX}")


def test_the_pack_tells_secret_environment_from_plain(analyzer):
    envs = ["COUCHDB_PASSWORD=s3cret", "COUCHDB_USER=admin"]
    assert list(analyze(analyzer, CONTAINER, "couchdb-dev", {"envs": secret(envs)}).diagnostics) == []
    [diag] = analyze(analyzer, CONTAINER, "couchdb-dev", {"envs": envs}).diagnostics
    assert diag.policyName == "no-plain-secrets"
    assert "COUCHDB_PASSWORD holds a credential in plain text" in diag.message


def test_the_pack_says_volume_retention_is_not_applicable(analyzer):
    response = analyze(analyzer, VOLUME, "kafka-dev-data", {"name": "ow-kafka-data"})
    assert list(response.diagnostics) == []
    assert [(n.policy_name, n.reason) for n in response.not_applicable] == [
        ("stateful-volumes-retained", policies.RETAIN_UNAVAILABLE)]


def test_the_pack_checks_the_stack_through_property_dependencies(analyzer):
    image = analyzer_pb2.AnalyzerResource(
        type=REMOTE_IMAGE, name="dev-couchdb", urn=urn(REMOTE_IMAGE, "dev-couchdb"),
        properties=struct({"name": "apache/couchdb:2.3.1", "imageId": UNKNOWN_STRING_VALUE}))
    ctr = analyzer_pb2.AnalyzerResource(
        type=CONTAINER, name="couchdb-dev", urn=urn(CONTAINER, "couchdb-dev"),
        properties=struct({"image": UNKNOWN_STRING_VALUE, "volumes": None}),
        propertyDependencies={"image": analyzer_pb2.AnalyzerPropertyDependencies(urns=[image.urn])})
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[image, ctr]))
    assert [(d.policyName, d.urn) for d in response.diagnostics] == [
        ("stateful-containers-keep-data", ctr.urn)]
    assert response.diagnostics[0].message == f"{stateful_containers_keep_data.description}\n{COUCHDB_LOST}"


# --------------------------------------------------------------------------------------------------
# secret_markers: the pack's one reach into pulumi-policy's internals, checked so that a new
# pulumi-policy fails here, loudly, instead of letting secrets through unseen


def test_the_internals_secret_markers_relies_on_are_still_there():
    from pulumi_policy import deserialize

    from policy import secret_markers
    assert policy_module.deserialize_properties is secret_markers.deserialize_marking_secrets
    assert secret_markers._ORIGINAL_DESERIALIZE is deserialize.deserialize_properties
    assert (deserialize.SPECIAL_SIG_KEY, deserialize.SPECIAL_SECRET_SIG) == (
        "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
    assert callable(deserialize._deserialize_property)


def test_strings_inside_a_secret_come_back_marked_and_nothing_else_does():
    from policy import secret_markers
    wrapped = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
               "value": {"user": "admin", "ports": [1, "2"]}}
    out = secret_markers.deserialize_marking_secrets({"env": ["A=1"], "auth": wrapped})
    assert out == {"env": ["A=1"], "auth": {"user": "admin", "ports": [1, "2"]}}
    assert [type(v).__name__ for v in (out["env"][0], out["auth"]["user"], out["auth"]["ports"][1])] \
        == ["str", "SecretStr", "SecretStr"]


def test_installing_refuses_when_pulumi_policy_deserializes_another_way(monkeypatch):
    from policy import secret_markers
    monkeypatch.setattr(policy_module, "deserialize_properties", lambda props, proxy=False: props)
    with pytest.raises(RuntimeError, match="no longer deserializes properties through"):
        secret_markers.install_secret_markers()
