"""The stateful policies: the preview's resources against the deployed stack's stateful entries.

The deployed side is what `policy/baseline.py` makes of `pulumi stack export --show-secrets`; here
the export is rendered from the program's own graph under mocks (`export_of`), before a config
change, and the policies run on the graph after it.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import policies
from policy.policies import deployed_entries, stateful_findings
from tests.changes import Config
from tests.conftest import ROOT, load_stack_file
from tests.test_change_catalogue import CASES
from tests.test_policy import (
    CONTAINER,
    SECRET_SIG,
    SIG,
    VOLUME,
    Graph,
    evaluate,
    export_of,
    named,
    program_graph,
    stack_resources,
    start_pack,
    struct,
)

STATEFUL = ("stateful-data-kept", "stateful-stores-flagged")
PROD_STORES = ["couchdb-core-1", "elasticsearch-core-3", "etcd-core-1", "etcd-core-2", "etcd-core-3",
               "kafka-core-1", "kafka-core-2", "kafka-core-3", "redis-core-2", "registry-core-1",
               "zookeeper-core-1",
               "zookeeper-core-2", "zookeeper-core-3"]
K8S_STORES = ["couchdb-0", "etcd-0", "kafka-0", "kafka-1", "kafka-2", "redis-0", "zookeeper-0",
              "zookeeper-1", "zookeeper-2"]
DEV_DATA = ["couchdb-dev", "couchdb-dev-data", "kafka-dev", "kafka-dev-data", "redis-dev",
            "redis-dev-data", "zookeeper-dev", "zookeeper-dev-data", "zookeeper-dev-datalog"]


def config(stack: str, base: Callable[[Config], None] | None) -> tuple[Config, dict[str, str]]:
    plain, secrets = load_stack_file(stack)
    if base:
        base(plain)
    return plain, secrets


@functools.cache
def deployed_graph(stack: str, base: Callable[[Config], None] | None) -> Graph:
    """The graph before a change; many cases share one, so it is built once (and never mutated)."""
    with pytest.MonkeyPatch.context() as mp:
        return program_graph(stack, mp, config=config(stack, base))


def graphs(stack: str, change: Callable[[Config], None], monkeypatch,
           base: Callable[[Config], None] | None = None,
           secret: dict[str, str] | None = None) -> tuple[Graph, Graph]:
    """(deployed graph, changed graph) of a stack file, with `base` applied to both and the extra
    `secret` config given to the changed one."""
    plain, secrets = config(stack, base)
    change(plain)
    return (deployed_graph(stack, base),
            program_graph(stack, monkeypatch, config=(plain, {**secrets, **(secret or {})})))


def stateful(deployed: Graph, changed: Graph) -> list[tuple[str, str, str]]:
    return [f for f in evaluate(changed, deployed) if f[0] in STATEFUL]


def names(found: list[tuple[str, str, str]], policy: str) -> list[str]:
    return sorted(name for p, name, _ in found if p == policy)


@pytest.mark.parametrize(("stack", "expected"), [
    ("dev", DEV_DATA), ("prod", PROD_STORES), ("k8s", K8S_STORES)])
def test_the_baseline_of_each_stack_holds_its_stores_and_an_unchanged_preview_passes(
        stack, expected, monkeypatch):
    graph = program_graph(stack, monkeypatch)
    entries = deployed_entries(export_of(graph))
    assert sorted(e["name"] for e in entries.values()) == sorted(expected)
    assert stateful(graph, graph) == []


def host(c: Config, name: str) -> dict:
    return next(h for h in c["openwhisk:hosts"] if h["name"] == name)


def _no_sasl(c: Config) -> None:
    del c["openwhisk:kafka"]["sasl"]


def _no_elasticsearch(c: Config) -> None:
    c["openwhisk:activation_store"] = {"backend": "couchdb"}
    host(c, "core-3")["roles"].remove("elasticsearch")


def test_a_new_data_directory_moves_every_prod_store_onto_empty_storage(monkeypatch):
    found = stateful(*graphs("prod", lambda c: c["openwhisk:storage"].update(data_dir="/data/ow"),
                             monkeypatch))
    assert names(found, "stateful-data-kept") == PROD_STORES
    assert names(found, "stateful-stores-flagged") == []
    assert dict((n, m) for _, n, m in found)["kafka-core-2"] == (
        "Container 'kafka-core-2' (kafka on ssh://deploy@10.20.0.12:22) would start on new, empty "
        "storage (mounts directory /srv/openwhisk/ow-kafka-kraft-data at /var/lib/kafka/data -> directory "
        "/data/ow/ow-kafka-kraft-data at /var/lib/kafka/data). The old data stays where it was, but nothing "
        "mounts it any more. Keep these settings, or move the data first and preview the change with "
        "stateful-data-kept set to advisory (docs/ci.md).")


def test_another_docker_host_moves_every_dev_volume_and_store(monkeypatch):
    found = stateful(*graphs("dev", lambda c: host(c, "dev").update(docker="ssh://ow@10.0.0.5"),
                             monkeypatch, secret={"openwhisk:ssh_private_key": "k"}))
    assert names(found, "stateful-data-kept") == DEV_DATA
    assert names(found, "stateful-stores-flagged") == []
    assert dict((n, m) for _, n, m in found)["kafka-dev-data"].startswith(
        "Volume 'kafka-dev-data' (Docker volume 'ow-kafka-kraft-data' on unix:///var/run/docker.sock) would "
        "start on new, empty storage (host unix:///var/run/docker.sock -> ssh://ow@10.0.0.5).")


def test_enabling_sasl_flags_the_brokers_as_replaced_on_the_same_data(monkeypatch):
    found = stateful(*graphs("prod", lambda c: c["openwhisk:kafka"].update(
        sasl={"mechanism": "SCRAM-SHA-512"}), monkeypatch, base=_no_sasl))
    assert found == [
        ("stateful-stores-flagged", f"kafka-core-{i}",
         f"Container 'kafka-core-{i}' (kafka on ssh://deploy@10.20.0.1{i}:22) is replaced (env "
         "changed): the store restarts, on the same data.") for i in (1, 2, 3)]


def test_dropping_elasticsearch_flags_the_data_it_leaves_behind(monkeypatch):
    assert stateful(*graphs("prod", _no_elasticsearch, monkeypatch)) == [(
        "stateful-stores-flagged", "<stack>",
        "Container 'elasticsearch-core-3' (elasticsearch on ssh://deploy@10.20.0.13:22) is no longer "
        "declared: the container is deleted, and its data stays in directory "
        "/srv/openwhisk/ow-elasticsearch-data. Remove it by hand once it is no longer needed.")]


def test_a_new_namespace_moves_every_claim(monkeypatch):
    found = stateful(*graphs("k8s", lambda c: c["openwhisk:kubernetes"].update(namespace="ow2"),
                             monkeypatch))
    assert names(found, "stateful-data-kept") == K8S_STORES
    assert names(found, "stateful-stores-flagged") == []


def as_the_engine_ignores(deployed: Graph, changed: Graph) -> Graph:
    """The changed graph as the engine hands it to the pack: each resource's ignore_changes paths
    (dotted keys here) keep their deployed values, as processIgnoreChanges sets them before the
    provider's Check and Diff, and the analyzers, see the inputs."""
    before = {r["urn"]: r for r in deployed}
    out = copy.deepcopy(changed)
    for r in out:
        old = before.get(r["urn"])
        for path in r["ignore_changes"] if old else ():
            *parents, key = path.split(".")
            for side in ("inputs", "outputs"):
                src, dst = old[side], r[side]
                for p in parents:
                    src, dst = src[p], dst[p]
                dst[key] = copy.deepcopy(src[key])
    return out


@pytest.mark.parametrize(("change", "templates_changed"), [
    ({"storage_class": "fast"}, K8S_STORES),
    ({"volume_size": {"kafka": "50Gi"}}, ["kafka-0", "kafka-1", "kafka-2"]),
], ids=["storage_class", "volume_size"])
def test_a_new_storage_class_or_size_replaces_no_stateful_set(change, templates_changed, monkeypatch):
    deployed, changed = graphs("k8s", lambda c: c["openwhisk:kubernetes"].update(change), monkeypatch)
    # The program declares new claim templates, which alone would replace each StatefulSet...
    found = stateful(deployed, changed)
    assert (names(found, "stateful-data-kept"), names(found, "stateful-stores-flagged")) == (
        [], templates_changed)
    assert [m for _, n, m in found if n == templates_changed[0]] == [
        f"StatefulSet '{templates_changed[0]}' (namespace openwhisk) is replaced "
        "(volumeClaimTemplates changed): the store restarts, on the same data."]
    # ...but every StatefulSet with claims ignores changes to them, so the engine keeps the
    # deployed templates, and nothing is replaced.
    assert {r["name"]: r["ignore_changes"] for r in changed
            if r["type"] == policies.K8S_STATEFUL_SET and r["ignore_changes"]} == {
        n: ["spec.volumeClaimTemplates"] for n in K8S_STORES}
    assert stateful(deployed, as_the_engine_ignores(deployed, changed)) == []


@pytest.mark.parametrize("case", CASES, ids=[c.change for c in CASES])
def test_no_catalogued_change_moves_data_and_only_sasl_replaces_a_store(case, monkeypatch):
    found = stateful(*graphs("prod", case.edit, monkeypatch, base=case.base))
    expected = [f"kafka-core-{i}" for i in (1, 2, 3)] if case.change.startswith("enable Kafka SASL") else []
    assert (names(found, "stateful-data-kept"), names(found, "stateful-stores-flagged")) == ([], expected)


# --------------------------------------------------------------------------------------------------
# Matching deployed entries to the preview's resources


@pytest.fixture(scope="module")
def dev_graph():
    with pytest.MonkeyPatch.context() as mp:
        return program_graph("dev", mp)


def dev_resources(graph: Graph) -> list[PolicyResource]:
    return list(stack_resources(graph).values())


def test_a_resource_declared_under_a_new_name_on_the_same_data_passes(dev_graph):
    deployed = deployed_entries(export_of(dev_graph))
    renamed = {urn.replace("::kafka-dev-data", "::kafka-data-old"): e for urn, e in deployed.items()}
    assert renamed != deployed
    assert stateful_findings(renamed, dev_resources(dev_graph)) == ([], [])


def test_an_alias_carries_the_deployed_entry_to_the_new_urn(dev_graph):
    deployed = deployed_entries(export_of(dev_graph))
    [old_urn] = [u for u in deployed if u.endswith("::kafka-dev-data")]
    old = copy.deepcopy(deployed[old_urn])
    old["data"]["name"] = "ow-kafka-data-v1"
    moved = {**deployed, old_urn.replace("kafka-dev-data", "kafka-data-old"): old}
    del moved[old_urn]
    resources = dev_resources(dev_graph)
    [volume] = [r for r in resources if r.urn == old_urn]
    volume.opts.aliases = [old_urn.replace("kafka-dev-data", "kafka-data-old")]
    data, stores = stateful_findings(moved, resources)
    assert (stores, [u for _, u in data]) == ([], [old_urn])
    assert "(name ow-kafka-data-v1 -> ow-kafka-kraft-data)" in data[0][0]


def test_a_value_not_known_until_the_update_counts_as_a_change(dev_graph):
    graph = copy.deepcopy(dev_graph)
    named(graph, "couchdb-dev", CONTAINER)["outputs"]["image"] = UNKNOWN_STRING_VALUE
    assert stateful(dev_graph, graph) == [(
        "stateful-stores-flagged", "couchdb-dev",
        "Container 'couchdb-dev' (couchdb on unix:///var/run/docker.sock) is replaced (image (not "
        "known until the update) changed): the store restarts, on the same data.")]


def test_a_new_stack_has_nothing_deployed_to_compare(dev_graph):
    assert deployed_entries({"version": 3, "deployment": {"manifest": {}}}) == {}
    assert stateful_findings({}, dev_resources(dev_graph)) == ([], [])


def test_without_a_baseline_the_policies_are_not_applicable(dev_graph):
    from pulumi_policy import StackValidationArgs
    from pulumi_policy.policy import _NotApplicableError

    for policy in (policies.stateful_data_kept, policies.stateful_stores_flagged):
        with pytest.raises(_NotApplicableError) as raised:
            policy.validate(StackValidationArgs(dev_resources(dev_graph)), lambda *_: None)
        assert raised.value.reason == policies.NO_BASELINE


# --------------------------------------------------------------------------------------------------
# policy/baseline.py


def baseline(tmp_path, export: dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    return subprocess.run([sys.executable, "policy/baseline.py", str(path), *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_baseline_writes_the_config_of_both_policies_without_secrets(tmp_path, dev_graph):
    export = export_of(dev_graph)
    text = json.dumps(export)
    assert "pw-couchdb_admin_password" in text and '"plaintext"' in text  # the export shows secrets
    done = baseline(tmp_path, export)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    deployed = deployed_entries(export)
    assert config == {"stateful-data-kept": {"enforcementLevel": "mandatory", "deployed": deployed},
                      "stateful-stores-flagged": {"enforcementLevel": "advisory", "deployed": deployed}}
    assert "pw-" not in done.stdout
    lowered = json.loads(baseline(tmp_path, export, "--data-level", "advisory").stdout)
    assert lowered["stateful-data-kept"]["enforcementLevel"] == "advisory"


def test_baseline_refuses_an_export_with_encrypted_secrets(tmp_path, dev_graph):
    export = json.loads(json.dumps(export_of(dev_graph)).replace('"plaintext"', '"ciphertext"'))
    done = baseline(tmp_path, export)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("baseline.py: the export holds encrypted secrets; export with "
                           "`pulumi stack export --show-secrets` (the baseline keeps no secret "
                           "values)\n")



def test_baseline_says_what_is_wrong_with_its_input(tmp_path):
    missing = subprocess.run([sys.executable, "policy/baseline.py", str(tmp_path / "none.json")],
                             cwd=ROOT, capture_output=True, text=True)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2, "", f"baseline.py: cannot read {tmp_path / 'none.json'}: No such file or directory\n")
    garbled = subprocess.run([sys.executable, "policy/baseline.py"], input="error: no stack named 'prod'",
                             cwd=ROOT, capture_output=True, text=True)
    assert (garbled.returncode, garbled.stdout, garbled.stderr) == (
        2, "", "baseline.py: standard input is not a stack export (Expecting value: line 1 column 1 "
        "(char 0)); pipe in the output of `pulumi stack export --show-secrets`\n")

# --------------------------------------------------------------------------------------------------
# The pack as the CLI runs it, with and without the config


def volume(name: str) -> analyzer_pb2.AnalyzerResource:
    return analyzer_pb2.AnalyzerResource(
        type=VOLUME, name="kafka-data", urn=f"urn:pulumi:test::openwhisk::{VOLUME}::kafka-data",
        properties=struct({"name": name}),
        provider=analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:docker", name="dev-docker",
            urn="urn:pulumi:test::openwhisk::pulumi:providers:docker::dev-docker",
            properties=struct({"host": "unix:///var/run/docker.sock"})))


def test_the_pack_compares_with_the_configured_baseline():
    deployed = deployed_entries({"deployment": {"resources": [
        {"urn": "urn:pulumi:test::openwhisk::pulumi:providers:docker::dev-docker", "id": "p",
         "type": "pulumi:providers:docker", "inputs": {"host": "unix:///var/run/docker.sock"}},
        {"urn": f"urn:pulumi:test::openwhisk::{VOLUME}::kafka-data", "id": "v", "type": VOLUME,
         "outputs": {"name": {SIG: SECRET_SIG, "plaintext": '"ow-kafka-data"'}},
         "provider": "urn:pulumi:test::openwhisk::pulumi:providers:docker::dev-docker::p"}]}})
    properties = struct_pb2.Struct()
    properties.update({"deployed": deployed})
    with start_pack() as pack:
        [unconfigured] = pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(
            resources=[volume("ow-kafka-data")])).not_applicable[:1]
        assert (unconfigured.policy_name, unconfigured.reason) == ("stateful-data-kept", policies.NO_BASELINE)
        pack.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            p: analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=properties)
            for p, level in (("stateful-data-kept", analyzer_pb2.MANDATORY),
                             ("stateful-stores-flagged", analyzer_pb2.ADVISORY))}))
        same = pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[volume("ow-kafka-data")]))
        assert (list(same.diagnostics), list(same.not_applicable)) == ([], [])
        [moved] = pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(
            resources=[volume("ow-kafka-data-2")])).diagnostics
    assert (moved.policyName, moved.enforcementLevel, moved.urn) == (
        "stateful-data-kept", analyzer_pb2.MANDATORY, f"urn:pulumi:test::openwhisk::{VOLUME}::kafka-data")
    assert moved.message.endswith(
        "Volume 'kafka-data' (Docker volume 'ow-kafka-data' on unix:///var/run/docker.sock) would start "
        "on new, empty storage (name ow-kafka-data -> ow-kafka-data-2). The old data stays where it "
        "was, but nothing mounts it any more. Keep these settings, or move the data first and preview "
        "the change with stateful-data-kept set to advisory (docs/ci.md).")

