"""The catalogued changes the engine tier applies to its stack, with the exact steps of the real
engine's preview. tests/engine/test_lifecycle.py applies them in this order, each on top of the
ones before; docs/changes.md renders them (tests/test_change_catalogue.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.changes import set_key

C = "docker:index/container:Container"
RUN = "command:local:Command"


@dataclass(frozen=True)
class Change:
    name: str
    apply: Callable[[dict[str, Any]], None]
    steps: dict[str, str]
    """`type::name` -> op of every step that is not `same`, exactly."""


VERIFY = f"{RUN}::verify-check"
GATEWAY, TENANTS = f"{C}::apigateway-e2e", f"{C}::couchdb-tenants-e2e"
KEY = "random:index/randomPassword:RandomPassword::namespace_auth_{}-key"
UUID = "random:index/randomUuid:RandomUuid::namespace_auth_{}-uuid"
#: Another installer image (the stand-in plus a label, so another image ID), as a new catalog pin
#: or a rebuilt installer gives; tests/engine/test_lifecycle.py builds it.
CATALOG_NEXT = "owtest/catalog:standin-next"


def _namespaces(edit: Callable[[list[dict[str, Any]]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda c: edit(c["openwhisk:namespaces"])
CONTROLLER, INVOKER, EDGE = f"{C}::controller-e2e", f"{C}::invoker-0", f"{C}::edge-e2e"

CHANGES = [
    # In the order they are applied, each on top of the ones before. Every container change is a
    # replacement (the provider forces a new container for env, mounts, ports, image and labels),
    # and the post-deploy check runs again after any container is replaced.
    Change("limits", set_key("limits.invokes_per_minute", 120),
           {CONTROLLER: "replace", VERIFY: "replace"}),
    Change("controller extra_env", set_key("controller.extra_env",
                                        {"CONFIG_whisk_loadbalancer_timeoutFactor": "3"}),
           {CONTROLLER: "replace", VERIFY: "replace"}),
    Change("runtime manifest edit",
           set_key("runtimes.manifest", "tests/engine/images/manifest-stemcells.json"),
           {CONTROLLER: "replace", INVOKER: "replace", VERIFY: "replace"}),
    Change("invoker memory", set_key("invoker.user_memory_mb", 4096),
           {INVOKER: "replace", VERIFY: "replace"}),
    Change("use_runc", set_key("invoker.use_runc", True), {INVOKER: "replace", VERIFY: "replace"}),
    # The gateway's public port is the API's: the URLs `wsk api create` prints name it. The
    # action network's firewall lets actions reach the new port (an update of its step), and the
    # edge's config redirects to it (written and reloaded before the edge is replaced for its
    # published port).
    Change("API port", set_key("edge.https_port", 8443),
           {EDGE: "replace", INVOKER: "replace", GATEWAY: "replace", VERIFY: "replace",
            "command:local:Command::e2e-action-network": "update",
            f"{RUN}::edge-e2e-config": "update"}),
    # The new key is unknown at preview; the secrets label shows the init step's replacement.
    Change("rotate the guest key", set_key("rotate.guest_auth", 1), {
        "random:index/randomPassword:RandomPassword::guest_auth-key": "replace",
        "random:index/randomUuid:RandomUuid::guest_auth-uuid": "replace",
        f"{C}::couchdb-init-e2e": "replace", f"{RUN}::couchdb-init-e2e-run": "replace",
        VERIFY: "replace"}),
    # The edge's new key and certificate are unknown at preview; the secrets label shows the
    # edge's replacement. The key has no keepers: its generation replaces it as an engine trigger.
    Change("rotate the edge certificate key", set_key("rotate.edge_tls_key", 1), {
        "tls:index/privateKey:PrivateKey::edge_tls_key": "replace",
        "tls:index/selfSignedCert:SelfSignedCert::edge_tls_cert": "replace",
        EDGE: "replace", VERIFY: "replace"}),
    # Grafana's new password is unknown at preview; the secrets label shows Grafana's replacement,
    # whose start sets the new password on its existing database.
    Change("rotate the Grafana password", set_key("rotate.grafana_admin_password", 1), {
        "random:index/randomPassword:RandomPassword::grafana_admin_password": "replace",
        f"{C}::grafana-e2e": "replace", VERIFY: "replace"}),
    Change("enable Kafka SASL (SCRAM)", set_key("kafka.sasl", {"mechanism": "SCRAM-SHA-256"}), {
        "random:index/randomPassword:RandomPassword::kafka_admin_password": "create",
        "random:index/randomPassword:RandomPassword::kafka_client_password": "create",
        "pulumi:providers:command::kafka-e2e-steps": "create",
        f"{C}::kafka-scram-users-e2e": "create", f"{RUN}::kafka-scram-users-e2e-run": "create",
        f"{C}::kafka-e2e": "replace", CONTROLLER: "replace", INVOKER: "replace",
        f"{C}::user-events-e2e": "replace", VERIFY: "replace"}),
    # 4fac03a (kept in classic mode) reads the controller's admin credentials and no longer needs
    # ZOOKEEPER_HOSTS.
    Change("bump the tag", lambda c: c["openwhisk:version"].update(tag="4fac03a", mode="classic"), {
        "docker:index/remoteImage:RemoteImage::e2e-controller": "replace",
        "docker:index/remoteImage:RemoteImage::e2e-invoker": "replace",
        "random:index/randomPassword:RandomPassword::controller_admin_password": "create",
        "docker:index/remoteImage:RemoteImage::e2e-user-events": "replace",
        CONTROLLER: "replace", INVOKER: "replace", f"{C}::user-events-e2e": "replace",
        VERIFY: "replace"}),
    # Tenants: only the tenants step runs again (and the check after it).
    Change("add a namespace", _namespaces(lambda n: n.append({"name": "team-beta"})), {
        KEY.format("team_beta"): "create", UUID.format("team_beta"): "create",
        TENANTS: "replace", f"{RUN}::couchdb-tenants-e2e-run": "replace", VERIFY: "replace"}),
    Change("change a namespace's limits",
           _namespaces(lambda n: n[0]["limits"].update(invocations_per_minute=200)), {
               TENANTS: "replace", f"{RUN}::couchdb-tenants-e2e-run": "replace",
               VERIFY: "replace"}),
    Change("rotate a namespace key", _namespaces(lambda n: n[0].update(rotate=1)), {
        KEY.format("team_alpha"): "replace", UUID.format("team_alpha"): "replace",
        TENANTS: "replace", f"{RUN}::couchdb-tenants-e2e-run": "replace", VERIFY: "replace"}),
    Change("upgrade the catalog", set_key("catalog.image", CATALOG_NEXT), {
        "docker:index/remoteImage:RemoteImage::e2e-catalog": "replace",
        f"{C}::catalog-e2e": "replace", f"{RUN}::catalog-e2e-run": "replace",
        VERIFY: "replace"}),
]




#: What tests/engine/test_prod.py measured for each change on the prod-shaped stack (four hosts over
#: SSH), with a prober sending GET /ping and GET /standin/joined through the edge every 100 ms:
#: (change, seconds of its `pulumi up`, requests sent, requests failed). Measured 2026-11-27 with
#: `python -m pytest -m engine tests/engine/test_prod.py -s` on this project's 2-core CI machine.
ROLLING_MEASURED = [
    ("bump the OpenWhisk tag", 59, 1116, 0),
    ("seed_count", 41, 786, 0),
    ("limits", 43, 818, 0),
    ("controller extra_env", 42, 768, 0),
    ("runtime manifest edit", 56, 1076, 0),
    ("enable Kafka SASL", 111, 2086, 0),
    ("ZooKeeper image (the deployed members, one at a time)", 44, 854, 0),
    ("add a Kafka broker", 17, 358, 0),
    ("add an invoker host", 30, 584, 0),
]


def render_rolling() -> str:
    rows = ["| change | `pulumi up` | requests | failed |", "|---|---:|---:|---:|"]
    rows += [f"| {c} | {s} s | {n} | {f} |" for c, s, n, f in ROLLING_MEASURED]
    return "\n".join(rows)


def render() -> str:
    """The changes as a Markdown table: what the real engine's preview plans for each."""
    rows = ["| change | created | replaced | updated |", "|---|---|---|---|"]
    for change in CHANGES:
        by_op = {op: ", ".join(sorted(k.split("::")[1] for k, o in change.steps.items() if o == op))
                 for op in ("create", "replace", "update")}
        rows.append(f"| {change.name} | {by_op['create']} | {by_op['replace']} | {by_op['update']} |")
    return "\n".join(rows)
