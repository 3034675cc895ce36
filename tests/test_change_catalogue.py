"""The change catalogue: each config change touches exactly the resources it must.

Every case edits the prod example stack (three core hosts, two invoker hosts, a private registry,
scheduler mode, Kafka with SCRAM, ElasticSearch) and pins the exact sets of created, deleted and
changed resources. `docs/changes.md` is rendered from the same table.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import yaml

from tests.changes import Config, diff, edit, graph, set_key, short
from tests.conftest import ROOT, run_program
from tests.engine import changes as engine_changes

C, P, V = "docker:index/container:Container", "command:remote:Command", \
    "command:local:Command::verify-check"
RUNTIMES = ["action-nodejs-v18", "action-nodejs-v20", "action-python-v3.10", "action-python-v3.11",
            "dockerskeleton"]
JVM = ["controller-core-1", "controller-core-2", "controller-core-3", "invoker-0", "invoker-1",
       "scheduler-core-1", "scheduler-core-2", "scheduler-core-3"]


def containers(*names: str) -> list[str]:
    return [f"{C}::{n}" for n in names]


def pulls(*names: str) -> list[str]:
    """Pull commands on hosts, by `<host>-<image key>`."""
    return [f"{P}::{n}-pull" for n in names]


def steps(service: str, host: str) -> str:
    """The command provider of a service's pulls and steps on a host."""
    return f"pulumi:providers:command::{service}-{host}-steps"


def mirror(key: str) -> list[str]:
    return [f"{P}::mirror-{key}"]


def catalog_build() -> list[str]:
    """The catalog installer image's build and push, and the step's container."""
    return [f"{P}::build-catalog", *containers("catalog-core-2")]


def invoker_host(name: str, invoker_id: int) -> list[str]:
    """Everything an invoker host brings: provider, preparation, pulls and its invoker."""
    return [f"openwhisk:components:DockerHost::{name}", f"pulumi:providers:docker::{name}-docker",
            f"openwhisk:components:HostPrep::{name}", f"pulumi:providers:command::{name}-command",
            f"command:remote:Command::{name}-registry-ca",
            f"command:remote:Command::{name}-action-network",
            f"openwhisk:components:HostPrep::{name}-registry",
            f"pulumi:providers:command::{name}-registry-command",
            f"command:remote:Command::{name}-registry-docker-login",
            *pulls(f"{name}-invoker", *(f"{name}-runtime-openwhisk-{r}" for r in RUNTIMES)),
            steps("invoker", name), *containers(f"invoker-{invoker_id}")]


#: Prometheus's live config on the edge host: it lists every controller, invoker and scheduler.
SCRAPE = f"{P}::prometheus-core-2-config"


def firewalls(*names: str) -> list[str]:
    """The action network steps of invoker hosts: their firewalls list every host's address."""
    return [f"{P}::{n}-action-network" for n in names]


def hosts(c: Config) -> list[dict]:
    return c["openwhisk:hosts"]


def host(c: Config, name: str) -> dict:
    return next(h for h in hosts(c) if h["name"] == name)


def _build(rev: str) -> Callable[[Config], None]:
    def apply(c: Config) -> None:
        c["openwhisk:builds"] = {"invoker": {"context": "tests/fixtures/invoker-build",
                                             "args": {"REV": rev}}}
    return apply


def _no_sasl(c: Config) -> None:
    del c["openwhisk:kafka"]["sasl"]


def _couchdb_store(c: Config) -> None:
    c["openwhisk:activation_store"] = {"backend": "couchdb"}
    host(c, "core-3")["roles"].remove("elasticsearch")


@dataclass(frozen=True)
class Case:
    change: str
    edit: Callable[[Config], None]
    created: list[str]
    deleted: list[str]
    changed: list[str]
    base: Callable[[Config], None] | None = None
    why: str = ""
    waves: str = ""
    """The touched containers in replacement order: waves separated by ` > `, the containers of
    one wave (replaced at the same time) by spaces."""


ROLL = ("controller-core-1 scheduler-core-1 > controller-core-2 scheduler-core-2 > "
        "controller-core-3 scheduler-core-3 > invoker-0 > invoker-1")


CASES = [
    Case("add an invoker host",
         lambda c: hosts(c).append({"name": "invoker-3", "id": 13, "address": "10.20.0.23",
                                    "roles": ["invoker"], "invoker_ids": [2]}),
         created=invoker_host("invoker-3", 2), deleted=[],
         changed=[V, *firewalls("invoker-1", "invoker-2"), SCRAPE],
         why="the new host; other invokers keep their ids, their firewalls block its address; "
             "Prometheus scrapes it (its config reloaded in place)",
         waves="invoker-2"),
    Case("remove an invoker host",
         lambda c: hosts(c).remove(host(c, "invoker-2")),
         created=[], deleted=invoker_host("invoker-2", 1),
         changed=[V, *firewalls("invoker-1"), SCRAPE],
         why="that host; invoker-0 keeps its id, its firewall forgets the address, Prometheus "
             "stops scraping it",
         waves=""),
    Case("flip one invoker host's use_runc", lambda c: host(c, "invoker-2").update(use_runc=True),
         created=[], deleted=[], changed=containers("invoker-1"),
         why="that host's invoker (env key and /run/runc mount)",
         waves="invoker-1"),
    Case("add a controller", lambda c: host(c, "invoker-1")["roles"].append("controller"),
         created=[*containers("controller-invoker-1"), *pulls("invoker-1-controller"),
                  steps("controller", "invoker-1")], deleted=[],
         changed=["command:remote:Command::edge-core-2-config", V, SCRAPE],
         why="the edge gains an upstream and Prometheus a target, both reloaded in place (no "
             "replacement, so no gap); seed nodes are fixed by seed_count",
         waves="controller-invoker-1"),
    Case("change the seed count", set_key("controller.seed_count", 3),
         created=[], deleted=[],
         changed=containers("controller-core-1", "controller-core-2", "controller-core-3"),
         why="every controller's seed-node list",
         waves="controller-core-1 > controller-core-2 > controller-core-3"),
    Case("bump the OpenWhisk tag", set_key("version.tag", "7538ced"),
         created=[], deleted=[],
         changed=[*mirror("controller"), *mirror("invoker"), *mirror("scheduler"),
                  *mirror("user-events"),
                  *pulls(*(f"{h}-{k}" for h in ("core-1", "core-2", "core-3")
                           for k in ("controller", "scheduler")),
                         "invoker-1-invoker", "invoker-2-invoker", "core-2-catalog",
                         "core-2-user-events"),
                  *containers(*JVM, "user-events-core-2"), *catalog_build()],
         why="the four OpenWhisk images everywhere they run, and the catalog installer, whose "
             "route management comes from the new tag; stores, the edge and Grafana (the same "
             "dashboards) stay",
         waves="controller-core-1 scheduler-core-1 user-events-core-2 > controller-core-2 "
               "scheduler-core-2 > controller-core-3 scheduler-core-3 > catalog-core-2 invoker-0 > "
               "invoker-1"),
    Case("rebuild one image", _build("2"), base=_build("1"),
         created=[], deleted=[],
         changed=["docker:index/image:Image::build-invoker",
                  *pulls("invoker-1-invoker", "invoker-2-invoker"),
                  *containers("invoker-0", "invoker-1")],
         why="the new digest reaches exactly the invokers",
         waves="invoker-0 > invoker-1"),
    Case("edit the runtime manifest (bump python:3.11)",
         set_key("runtimes.manifest", "tests/fixtures/manifest-python-bump.json"),
         created=[], deleted=[],
         changed=[*mirror("runtime-openwhisk-action-python-v3.11"),
                  *pulls("invoker-1-runtime-openwhisk-action-python-v3.11",
                         "invoker-2-runtime-openwhisk-action-python-v3.11"),
                  *containers(*JVM)],
         why="every JVM component reads the manifest; only the changed image is mirrored again",
         waves=ROLL),
    Case("enable Kafka SASL (SCRAM)",
         set_key("kafka.sasl", {"mechanism": "SCRAM-SHA-512"}), base=_no_sasl,
         created=[*containers("kafka-scram-users-core-1"),
                  "command:remote:Command::kafka-scram-users-core-1-run",
                  "random:index/randomPassword:RandomPassword::kafka_admin_password",
                  "random:index/randomPassword:RandomPassword::kafka_client_password"],
         deleted=[], changed=[*containers("kafka-core-1", "kafka-core-2", "kafka-core-3", *JVM,
                                          "user-events-core-2"), V],
         why="brokers and every Kafka client, the scheduler and user-events included",
         waves="kafka-core-1 > kafka-core-2 > kafka-core-3 > kafka-scram-users-core-1 > "
               "controller-core-1 scheduler-core-1 user-events-core-2 > controller-core-2 "
               "scheduler-core-2 > controller-core-3 scheduler-core-3 > invoker-0 > invoker-1"),
    Case("switch the activation store to ElasticSearch",
         lambda c: c.update({"openwhisk:activation_store": {"backend": "elasticsearch"}})
         or host(c, "core-3")["roles"].append("elasticsearch"), base=_couchdb_store,
         created=["openwhisk:components:DockerService::elasticsearch",
                  *containers("elasticsearch-core-3"), *pulls("core-3-elasticsearch"),
                  steps("elasticsearch", "core-3"),
                  *mirror("elasticsearch"), "command:remote:Command::core-3-vm-max-map-count",
                  "random:index/randomPassword:RandomPassword::elasticsearch_password",
                  "random:index/randomPassword:RandomPassword::elasticsearch_health_password",
                  "tls:index/privateKey:PrivateKey::elasticsearch_ca_key",
                  "tls:index/selfSignedCert:SelfSignedCert::elasticsearch_ca_cert",
                  "tls:index/privateKey:PrivateKey::elasticsearch_transport_key",
                  "tls:index/certRequest:CertRequest::elasticsearch_transport_cert",
                  "tls:index/locallySignedCert:LocallySignedCert::elasticsearch_transport_cert"],
         deleted=[], changed=["command:remote:Command::core-3-data-dirs", *containers(*JVM), V],
         why="ElasticSearch and its host preparation, and the store keys on every JVM component",
         waves=f"elasticsearch-core-3 > {ROLL}"),
    Case("add a Kafka broker", lambda c: host(c, "invoker-1")["roles"].append("kafka"),
         created=[*containers("kafka-invoker-1"), *pulls("invoker-1-kafka"), steps("kafka", "invoker-1"),
                  "command:remote:Command::invoker-1-data-dirs"],
         deleted=[], changed=[V],
         why="the new broker only: clients bootstrap from the first three brokers, which stay",
         waves="kafka-invoker-1"),
    Case("rotate the guest key", set_key("rotate.guest_auth", 1),
         created=[], deleted=[],
         changed=["random:index/randomUuid:RandomUuid::guest_auth-uuid",
                  "random:index/randomPassword:RandomPassword::guest_auth-key",
                  *containers("couchdb-init-core-1"), V],
         why="the key, the init step that stores it, and the check that uses it",
         waves="couchdb-init-core-1"),
    Case("rotate the etcd password", set_key("rotate.etcd_password", 1),
         created=[], deleted=[],
         changed=["random:index/randomPassword:RandomPassword::etcd_password",
                  *containers("etcd-auth-core-1", *JVM)],
         why="the password, the etcd-auth step that sets it, then the components that log in with "
             "it; etcd's members and the other logins stay",
         waves=f"etcd-auth-core-1 > {ROLL}"),
    Case("change the API host", set_key("edge.api_host", "ow.example.org"),
         created=[], deleted=[],
         changed=["tls:index/selfSignedCert:SelfSignedCert::edge_tls_cert",
                  *containers("apigateway-core-2", "edge-core-2", "invoker-0", "invoker-1"), V,
                  *firewalls("invoker-1", "invoker-2")],
         why="the edge certificate, the API host the invokers give actions (and their firewalls "
             "let actions reach), and the one `wsk api` URLs name",
         waves="apigateway-core-2 invoker-0 > edge-core-2 invoker-1"),
    Case("cut actions off the internet",
         lambda c: c.setdefault("openwhisk:invoker", {}).update(action_network={"egress": "none"}),
         created=[], deleted=[], changed=firewalls("invoker-1", "invoker-2"),
         why="each invoker host's firewall, reloaded in place; no container",
         waves=""),
    Case("add a namespace",
         lambda c: c["openwhisk:namespaces"].append({"name": "team-ml"}),
         created=["random:index/randomPassword:RandomPassword::namespace_auth_team_ml-key",
                  "random:index/randomUuid:RandomUuid::namespace_auth_team_ml-uuid"],
         deleted=[], changed=containers("couchdb-tenants-core-1"),
         why="its key and the tenants step, which writes its subject; nothing else runs again",
         waves="couchdb-tenants-core-1"),
    Case("change a namespace's limits",
         lambda c: c["openwhisk:namespaces"][1].update(limits={"fires_per_minute": 30}),
         created=[], deleted=[], changed=containers("couchdb-tenants-core-1"),
         why="the tenants step only, which rewrites that limits document",
         waves="couchdb-tenants-core-1"),
    Case("rotate a namespace key",
         lambda c: c["openwhisk:namespaces"][0].update(rotate=1),
         created=[], deleted=[],
         changed=["random:index/randomPassword:RandomPassword::namespace_auth_team_payments-key",
                  "random:index/randomUuid:RandomUuid::namespace_auth_team_payments-uuid",
                  *containers("couchdb-tenants-core-1")],
         why="that key and the tenants step that stores it; the other namespaces keep theirs",
         waves="couchdb-tenants-core-1"),
    Case("remove a namespace", lambda c: c["openwhisk:namespaces"].pop(),
         created=[], deleted=["random:index/randomPassword:RandomPassword::namespace_auth_team_search-key",
                              "random:index/randomUuid:RandomUuid::namespace_auth_team_search-uuid"],
         changed=containers("couchdb-tenants-core-1"),
         why="its key goes; the tenants step blocks its subject and deletes none of its entities",
         waves="couchdb-tenants-core-1"),
    Case("upgrade the catalog pin",
         set_key("catalog.build_args", {"CATALOG_VERSION": "1.0.1",
                                        "CATALOG_URL": "https://mirror.example.com/catalog-1.0.1.tar.gz",
                                        "CATALOG_DIGEST": "sha256:" + "1" * 64}),
         created=[], deleted=[],
         changed=[*catalog_build(), *pulls("core-2-catalog")],
         why="the installer image is built, pushed and pulled again, and the step installs what "
             "differs; no other container",
         waves="catalog-core-2"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.change for c in CASES])
def test_change_touches_exactly_the_expected_resources(case: Case):
    d = diff(*edit("prod", case.edit, case.base))
    assert (sorted(d.created), sorted(d.deleted), sorted(d.changed)) == (
        sorted(case.created), sorted(case.deleted), sorted(case.changed))
    assert " > ".join(" ".join(w) for w in d.waves) == case.waves


def test_only_enabling_sasl_touches_a_store_and_no_change_deletes_one():
    store = re.compile(r"::(couchdb|zookeeper|kafka|etcd|registry|elasticsearch)-core-\d$")
    touched = {c.change: sorted(x for x in c.changed + c.deleted if x.startswith(C) and store.search(x))
               for c in CASES}
    assert {k: v for k, v in touched.items() if v} == {
        "enable Kafka SASL (SCRAM)": containers("kafka-core-1", "kafka-core-2", "kafka-core-3")}


def render_doc() -> str:
    rows = ["| change | created | deleted | changed | why | containers, in replacement waves |",
            "|---|---:|---:|---:|---|---|"]
    for case in CASES:
        rows.append(f"| {case.change} | {len(case.created)} | {len(case.deleted)} | "
                    f"{len(case.changed)} | {case.why} | {case.waves.replace(' > ', ' → ') or '-'} |")
    return ("# What each change touches\n\n"
            "Measured on the prod example stack (`Pulumi.prod.yaml`) by running the program under "
            "mocks before and after the change and comparing resources by URN and inputs "
            "(`tests/test_change_catalogue.py`, which pins the exact resource lists). A changed "
            "container is replaced; its data stays on its retained volume or data directory.\n\n"
            "The last column is the replacement order the dependency graph gives the engine: the "
            "containers of one wave are replaced together, and a wave starts only when the one "
            "before it is done, which for a container that waits for its health check means "
            "healthy. Instances of Kafka, the controllers, the schedulers and the invokers are "
            "chained (`planner.roll`), so each of these roles rolls one instance at a time. "
            "ZooKeeper, etcd and ElasticSearch members are chained only once deployed "
            "(`Container.rolls_after`, against the last deployment's `quorumMembers` output), "
            "because one member alone never passes its health check; these waves are those of "
            "an update of the deployed stack.\n\n"
            + "\n".join(rows) + "\n\nNone of these changes moves stored data, and only enabling SASL "
            "replaces stores (the three Kafka brokers, on the same data): run against the deployed "
            "stack, the policy pack's `stateful-data-kept` passes every change and "
            "`stateful-stores-flagged` lists those three brokers (`tests/test_stateful_policy.py`; "
            "how it works: [ci.md](ci.md#stored-data-in-a-preview)).\n\n"
            "## With the real engine\n\n"
            "The engine tier (`tests/engine/test_lifecycle.py`) applies these changes, in this order, "
            "to its single-host stack (`tests/engine/Pulumi.e2e.yaml`, the dev stack's shape) through "
            "the real Pulumi CLI and Docker provider, and pins every step of the real preview "
            "(`tests/engine/changes.py`); after each `pulumi up` the preview is empty and the stored "
            "data is still there. Every container change is a replacement, the old container stopped "
            "first with its grace period; `verify-check` is the post-deploy check, run again.\n\n"
            + engine_changes.render() + "\n\n"
            "## Without an outage, on four hosts\n\n"
            "`tests/engine/test_prod.py` applies the changes below, in this order, to the prod-shaped "
            "stack on four SSH-only test hosts (three controllers, three schedulers, three brokers, "
            "one invoker host, then a second), while a prober sends `GET /ping` and `GET "
            "/standin/joined` (answered only by a controller that reached its peers) through the "
            "real nginx edge every 100 ms. Each change rolls in the waves of the table above; the "
            "test fails on any failed request. Last measured:\n\n"
            + engine_changes.render_rolling() + "\n\nRegenerate with "
            "`python -m pytest tests/test_change_catalogue.py --update-golden`.\n")


def test_docs_table_is_current(golden):
    golden("changes.md", render_doc(), under="docs")


def test_the_engine_tier_pins_what_the_mocks_predict():
    """Each change the engine tier applies (tests/engine/changes.py, steps of the real preview)
    touches exactly what the program under mocks predicts for the same stack: the created set is
    the same, and the changed set too once the two things mocks cannot show are added: a command
    whose triggers hold a container's id (a step's `-run`, `verify-check`) is replaced with it,
    since a replaced container gets a new id, and a certificate made from a replaced key is
    replaced with it."""
    config = yaml.safe_load((ROOT / "tests/engine/Pulumi.e2e.yaml").read_text())["config"]
    before = graph(run_program(config, {}, stack="e2e"))
    for change in engine_changes.CHANGES:
        changed = copy.deepcopy(config)
        change.apply(changed)
        run = run_program(changed, {}, stack="e2e")
        after = graph(run)
        created = {short(u) for u in after.keys() - before.keys()}
        modified = {short(u) for u in after.keys() & before.keys() if after[u] != before[u]}
        replaced = {k.split("::")[1] for k in modified if k.startswith(C)}
        by_id = {V} if replaced else set()
        by_id |= {f"command:local:Command::{n}-run" for n in replaced} & {short(u) for u in after}
        # Nor a certificate made from a replaced key: the mocks give the new key the old PEM.
        keys = {o["urn"] for o in run.monitor.options.values()
                if short(o["urn"]) in modified and ":PrivateKey::" in o["urn"]}
        by_id |= {short(o["urn"]) for o in run.monitor.options.values()
                  if short(o["urn"]).startswith("tls:") and set(o["dependencies"]) & keys}
        assert not before.keys() - after.keys(), change.name
        assert (sorted(k for k, op in change.steps.items() if op == "create"),
                sorted(k for k, op in change.steps.items() if op != "create")) == (
            sorted(created), sorted(modified | by_id)), change.name
        config, before = changed, after
