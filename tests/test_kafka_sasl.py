"""Kafka SASL: config, exact broker and client settings, the SCRAM users step and its script."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

import config
import planner
from planner.kafka import cluster_id
from planner.model import File, Secret
from tests.conftest import ROOT, effective_env, load_stack_file, plan_problems, run_program, unwrap
from tests.test_config import SINGLE, change, problems
from tests.test_planner import cluster, env, stack

CONTAINER = "docker:index/container:Container"
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
JAAS = "/etc/ow-kafka/kafka_server_jaas.conf"
SCRIPT = ROOT / "components" / "assets" / "kafka" / "scram-users.sh"


def sasl_cluster(mechanism: str, **over):
    return cluster(kafka={"replication_factor": 3, "sasl": {"mechanism": mechanism}}, **over)


def container(plan, key):
    return next(c for c in plan.containers() if c.key == key)


def module(mechanism: str) -> str:
    kind = "scram.ScramLoginModule" if mechanism.startswith("SCRAM") else "plain.PlainLoginModule"
    return f"org.apache.kafka.common.security.{kind}"


# -- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "expected"), [
    pytest.param({"kafka.sasl": {"mechanism": "SCRAM-SHA-1"}}, [
        "openwhisk:kafka.sasl.mechanism: expected 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512' (got "
        "'SCRAM-SHA-1'); set it with pulumi config set --path 'kafka.sasl.mechanism' SCRAM-SHA-512",
    ], id="unknown-mechanism"),
    pytest.param({"kafka.sasl": {"mechanism": "scram-sha-256"}}, [
        "openwhisk:kafka.sasl.mechanism: expected 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512' (got "
        "'scram-sha-256'); set it with pulumi config set --path 'kafka.sasl.mechanism' SCRAM-SHA-256",
    ], id="lower-case-mechanism"),
    pytest.param({"kafka.sasl": {}}, [
        "openwhisk:kafka.sasl.mechanism: required key is missing (got none); set it with pulumi config "
        "set --path 'kafka.sasl.mechanism' <value>",
    ], id="mechanism-missing"),
    pytest.param({"kafka.sasl": "SCRAM-SHA-512"}, [
        "openwhisk:kafka.sasl: expected a map of keys (got 'SCRAM-SHA-512'); fix it in the stack file, "
        "or set each key with pulumi config set --path 'kafka.sasl.<key>' <value>",
    ], id="not-a-map"),
    pytest.param({"kafka.sasl": {"mechanism": "PLAIN", "tls": True}}, [
        "openwhisk:kafka.sasl.tls: unknown key (got true); remove it (pulumi config rm --path "
        "'kafka.sasl.tls') or fix its spelling (known keys: mechanism)",
    ], id="unknown-key"),
])
def test_sasl_config_problems(changes, expected):
    assert problems(change(SINGLE, changes)) == expected


def test_sasl_defaults_to_plaintext_and_accepts_each_mechanism():
    assert config.parse(SINGLE, base_dir=ROOT).config.kafka.sasl is None
    for m in MECHANISMS:
        cfg = config.parse(change(SINGLE, {"kafka.sasl": {"mechanism": m}}), base_dir=ROOT).config
        assert cfg.kafka.sasl == config.KafkaSasl(mechanism=m)


def test_kafka_secrets_are_rotatable():
    assert {"kafka_admin_password", "kafka_client_password"} <= set(config.ROTATABLE)
    cfg = config.parse(change(SINGLE, {"rotate": {"kafka_client_password": 3}}), base_dir=ROOT).config
    assert cfg.rotate == {"kafka_client_password": 3}


# -- JVM clients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_every_jvm_client_gets_the_sasl_keys(mechanism):
    p = planner.plan(sasl_cluster(mechanism))
    jvm = [c for c in p.containers() if c.service in ("controller", "scheduler", "invoker")]
    assert [c.key for c in jvm] == [
        "controller-core-a", "controller-core-b", "controller-core-c",
        "scheduler-core-a", "scheduler-core-b", "scheduler-core-c",
        "invoker-0", "invoker-1", "invoker-2"]
    expected = {
        "CONFIG_whisk_kafka_common_securityProtocol": "SASL_PLAINTEXT",
        "CONFIG_whisk_kafka_common_saslMechanism": mechanism,
        "CONFIG_whisk_kafka_common_saslJaasConfig": Secret(
            f'{module(mechanism)} required username="openwhisk" password="${{kafka_client_password}}";'),
    }
    for c in jvm:
        e = effective_env(c)
        assert {k: e[k] for k in e if k.startswith("CONFIG_whisk_kafka_common_")} == expected, c.key


def test_without_sasl_no_client_gets_kafka_security_keys():
    for p in (planner.plan(stack()), planner.plan(cluster())):
        assert not [(c.key, k) for c in p.containers() for k, _ in c.env
                    if k.startswith("CONFIG_whisk_kafka_common_")]


def test_the_client_jaas_line_survives_the_jvm_command_line():
    e = env(planner.plan(sasl_cluster("SCRAM-SHA-512")), "invoker-2")
    line = e["CONFIG_whisk_kafka_common_saslJaasConfig"]
    assert "'" not in line.template and line.names == ("kafka_client_password",)
    assert line.render({"kafka_client_password": "Abc123"}) == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="openwhisk" '
        'password="Abc123";')


# -- brokers -------------------------------------------------------------------------------------

QUORUM = "0@10.0.0.11:9093,1@10.0.0.12:9093,2@10.0.0.13:9093"
PLAINTEXT_BROKER_B = {
    "CLUSTER_ID": Secret("${kafka_cluster_id}"),
    "KAFKA_ADVERTISED_LISTENERS": "EXTERNAL://10.0.0.12:9092",
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": QUORUM,
    "KAFKA_DEFAULT_REPLICATION_FACTOR": "3",
    "KAFKA_INTER_BROKER_LISTENER_NAME": "EXTERNAL",
    "KAFKA_LISTENERS": "EXTERNAL://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "KAFKA_LOG_DIRS": "/var/lib/kafka/data/kraft",
    "KAFKA_NODE_ID": "1",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3",
    "KAFKA_PROCESS_ROLES": "broker,controller",
}

JAAS_PLAIN = """KafkaServer {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin"
    password="${kafka_admin_password}"
    user_admin="${kafka_admin_password}"
    user_openwhisk="${kafka_client_password}";
};
"""

JAAS_SCRAM = """KafkaServer {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin"
    password="${kafka_admin_password}"
    user_admin="${kafka_admin_password}";
    org.apache.kafka.common.security.scram.ScramLoginModule required
    username="admin"
    password="${kafka_admin_password}";
};
"""


def test_plaintext_broker_is_exact():
    p = planner.plan(cluster())
    broker = container(p, "kafka-core-b")
    assert broker.env_dict() == PLAINTEXT_BROKER_B
    assert list(broker.env) == sorted(broker.env)
    assert [(x.container, x.published, x.name) for x in broker.ports] == [
        (9092, 9092, "kafka"), (9093, 9093, "controller")]
    assert [(m.target, m.volume) for m in broker.mounts] == [
        ("/var/lib/kafka/data", "kafka-core-b-data")]
    assert [v.owner for v in p.service("kafka").volumes] == [(1000, 1000)] * 3
    # No ZooKeeper; quorum members start together and roll after the deployed one before them.
    assert (broker.files, broker.depends_on, broker.rolls_after) == ((), (), "kafka-core-a")
    assert [c.key for c in p.service("kafka").containers] == [
        "kafka-core-a", "kafka-core-b", "kafka-core-c"]


def test_the_first_three_brokers_are_the_controllers_and_the_rest_brokers_only():
    raw = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    for h in raw:
        if h["name"] == "inv-a":
            h["roles"] = [*h["roles"], "kafka"]
    p = planner.plan(cluster(hosts=raw))
    brokers = [c for c in p.service("kafka").containers]
    assert [(c.key, c.env_dict()["KAFKA_PROCESS_ROLES"], c.env_dict()["KAFKA_LISTENERS"],
             [x.name for x in c.ports]) for c in brokers][2:4] == [
        ("kafka-core-c", "broker,controller", "EXTERNAL://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
         ["kafka", "controller"]),
        ("kafka-inv-a", "broker", "EXTERNAL://0.0.0.0:9092", ["kafka"])]
    assert {c.env_dict()["KAFKA_CONTROLLER_QUORUM_VOTERS"] for c in brokers} == {QUORUM}


@pytest.mark.parametrize(("count", "voters"), [(1, 1), (2, 1), (3, 3), (4, 3), (5, 3)])
def test_the_quorum_never_has_two_members(count, voters):
    from planner import kafka  # noqa: PLC0415
    from planner.placement import Placed  # noqa: PLC0415
    brokers = [Placed(f"h{i}", i, f"10.0.0.{i}", None) for i in range(count)]  # type: ignore[arg-type]
    assert [b.name for b in kafka.voters(brokers)] == [f"h{i}" for i in range(voters)]


def test_the_cluster_id_is_kafkas_uuid_form_and_follows_only_the_stack_name():
    ids = {name: cluster_id(name) for name in ("dev", "prod", "prod2")}
    assert ids["dev"] == cluster_id("dev") and len(set(ids.values())) == 3
    for value in ids.values():
        # Kafka's Uuid.fromString: base64url without padding of exactly 16 bytes.
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value)
        assert len(base64.urlsafe_b64decode(value + "==")) == 16
    assert ids["dev"] == "5SIcpNAUV4uac3CFq6LVUw"


def test_the_controller_port_is_configurable():
    p = planner.plan(cluster(kafka={"controller_port": 19093}))
    broker = container(p, "kafka-core-a")
    assert broker.env_dict()["KAFKA_CONTROLLER_QUORUM_VOTERS"] == QUORUM.replace(":9093", ":19093")
    assert broker.env_dict()["KAFKA_LISTENERS"] == "EXTERNAL://0.0.0.0:9092,CONTROLLER://0.0.0.0:19093"


@pytest.mark.parametrize(("mechanism", "jaas"), [
    ("PLAIN", JAAS_PLAIN), ("SCRAM-SHA-256", JAAS_SCRAM), ("SCRAM-SHA-512", JAAS_SCRAM)])
def test_sasl_broker_env_and_jaas_file_are_exact(mechanism, jaas):
    p = planner.plan(sasl_cluster(mechanism))
    for key in ("kafka-core-a", "kafka-core-b", "kafka-core-c"):
        broker = container(p, key)
        assert broker.files == (File(JAAS, Secret(jaas)),)
        assert list(broker.env) == sorted(broker.env)
    broker = container(p, "kafka-core-b")
    assert broker.env_dict() == PLAINTEXT_BROKER_B | {
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "EXTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "KAFKA_SASL_ENABLED_MECHANISMS": "PLAIN" if mechanism == "PLAIN" else f"PLAIN,{mechanism}",
        "KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL": "PLAIN",
        "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "PLAIN",
        "KAFKA_OPTS": "-Djava.security.auth.login.config=/etc/ow-kafka/kafka_server_jaas.conf",
    }


def test_broker_jaas_renders_with_the_generated_passwords():
    jaas = container(planner.plan(sasl_cluster("PLAIN")), "kafka-core-a").files[0].content
    assert jaas.names == ("kafka_admin_password", "kafka_client_password")
    assert jaas.render({"kafka_admin_password": "A1", "kafka_client_password": "C2"}) == (
        'KafkaServer {\n    org.apache.kafka.common.security.plain.PlainLoginModule required\n'
        '    username="admin"\n    password="A1"\n    user_admin="A1"\n    user_openwhisk="C2";\n};\n')
    scram = container(planner.plan(sasl_cluster("SCRAM-SHA-256")), "kafka-core-a").files[0].content
    assert scram.names == ("kafka_admin_password",)


# -- the SCRAM users step ------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_users_container_contract(mechanism):
    p = planner.plan(sasl_cluster(mechanism))
    users = container(p, "kafka-scram-users-core-a")
    assert (users.service, users.host, users.name, users.image) == (
        "kafka", "core-a", "ow-kafka-scram-users", "kafka")
    assert (users.one_shot, users.entrypoint, users.command) == (
        True, ("/bin/sh", "/ow-kafka/scram-users.sh"), ())
    assert users.env_dict() == {
        "ADMIN_PASSWORD": Secret("${kafka_admin_password}"),
        "ADMIN_USER": "admin",
        "BOOTSTRAP_SERVERS": "10.0.0.11:9092,10.0.0.12:9092,10.0.0.13:9092",
        "CLIENT_PASSWORD": Secret("${kafka_client_password}"),
        "CLIENT_USER": "openwhisk",
        "SCRAM_MECHANISM": mechanism,
    }
    assert users.files == (File("/ow-kafka/scram-users.sh", SCRIPT.read_text()),)
    assert (users.ports, users.mounts, users.health) == ((), (), None)


def test_scram_users_run_after_every_broker_and_before_every_client():
    p = planner.plan(sasl_cluster("SCRAM-SHA-512"))
    kafka = p.service("kafka")
    assert [c.key for c in kafka.containers] == [
        "kafka-core-a", "kafka-core-b", "kafka-core-c", "kafka-scram-users-core-a"]
    assert kafka.containers[-1].depends_on == ("kafka-core-a", "kafka-core-b", "kafka-core-c")
    assert [b.depends_on for b in kafka.containers[:3]] == [(), (), ()]
    # Invokers wait for the controllers and schedulers.
    clients = [c for c in p.containers() if c.service in ("controller", "scheduler")]
    assert len(clients) == 6 and all("kafka-scram-users-core-a" in c.depends_on for c in clients)
    assert not [c.key for c in clients for d in c.depends_on if d.startswith("kafka-core")]


def test_scram_users_go_to_the_lowest_id_kafka_host_whatever_the_list_order():
    raw = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    for h in raw:
        if h["name"] == "core-a":
            h["roles"] = [r for r in h["roles"] if r != "kafka"]
    hosts = list(reversed(raw))
    p = planner.plan(cluster(hosts=hosts, kafka={"replication_factor": 2,
                                                  "sasl": {"mechanism": "SCRAM-SHA-256"}}))
    assert [c.key for c in p.service("kafka").containers] == [
        "kafka-core-b", "kafka-core-c", "kafka-scram-users-core-b"]
    # Two brokers: one controller.
    assert container(p, "kafka-core-c").env_dict()["KAFKA_PROCESS_ROLES"] == "broker"


def test_plain_needs_no_users_step():
    p = planner.plan(sasl_cluster("PLAIN"))
    assert [c.key for c in p.service("kafka").containers] == [
        "kafka-core-a", "kafka-core-b", "kafka-core-c"]
    clients = [c for c in p.containers() if c.service in ("controller", "scheduler")]
    assert len(clients) == 6
    assert all({"kafka-core-a", "kafka-core-b", "kafka-core-c"} <= set(c.depends_on) for c in clients)


# -- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", [None, *MECHANISMS])
def test_kafka_secrets_exist_only_with_sasl(mechanism):
    p = planner.plan(sasl_cluster(mechanism) if mechanism else cluster())
    kafka = [(s.name, s.kind, s.generation) for s in p.secrets if s.name.startswith("kafka_")]
    assert kafka == ([("kafka_admin_password", "password", 0), ("kafka_client_password", "password", 0)]
                     if mechanism else []) + [("kafka_cluster_id", "cluster_id", 0)]


def test_kafka_secret_rotation_reaches_the_spec():
    p = planner.plan(sasl_cluster("PLAIN", rotate={"kafka_admin_password": 4}))
    assert {s.name: s.generation for s in p.secrets}["kafka_admin_password"] == 4


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_passwords_only_ever_appear_as_secret_templates(mechanism):
    p = planner.plan(sasl_cluster(mechanism))
    names = {"kafka_admin_password", "kafka_client_password"}
    used = set()
    for c in p.containers():
        values = [v for _, v in c.env] + [f.content for f in c.files]
        for v in values:
            if isinstance(v, Secret):
                used |= set(v.names) & names
            else:
                assert "kafka_admin_password" not in v and "kafka_client_password" not in v, c.key
        assert not [a for a in c.command + c.entrypoint if "password" in a.lower()], c.key
    assert used == names


# -- invariants ----------------------------------------------------------------------------------


def test_plan_invariants_catch_single_quotes_and_backslashes():
    p = planner.plan(sasl_cluster("SCRAM-SHA-512"))
    assert plan_problems(p) == []
    inv = container(p, "invoker-0")
    broker = container(p, "kafka-core-a")
    bad_inv = dataclasses.replace(inv, env=inv.env + (
        ("CONFIG_whisk_kafka_common_saslJaasConfig", Secret("x password='${kafka_client_password}';")),))
    bad_broker = dataclasses.replace(broker, env=broker.env + (("KAFKA_OPTS", "-Dx=a\\b"),))
    services = tuple(dataclasses.replace(s, containers=tuple(
        {inv.key: bad_inv, broker.key: bad_broker}.get(c.key, c) for c in s.containers))
        for s in p.services)
    assert plan_problems(dataclasses.replace(p, services=services)) == [
        "kafka-core-a: KAFKA_OPTS contains a backslash or a newline",
        "invoker-0: CONFIG_whisk_kafka_common_saslJaasConfig contains a single quote",
    ]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_no_config_value_has_a_single_quote(mechanism):
    for p in (planner.plan(sasl_cluster(mechanism)), planner.plan(stack(
            kafka={"sasl": {"mechanism": mechanism}}))):
        quoted = [(c.key, k) for c in p.containers() for k, v in c.env if k.startswith("CONFIG_")
                  and "'" in (v.template if isinstance(v, Secret) else v)]
        assert quoted == []


# -- whole program -------------------------------------------------------------------------------


def sasl_dev(mechanism: str):
    plain, secret = load_stack_file("dev")
    plain["openwhisk:kafka"] = {"sasl": {"mechanism": mechanism}}
    return run_program(plain, secret, stack="dev")


def deps(run, name):
    """The containers and one-shot step commands that `name` waits for."""
    return sorted(d.split("::")[-1] for d in run.monitor.opts(CONTAINER, name)["dependencies"]
                  if "container:Container" in d or ":Command" in d)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_program_uploads_the_jaas_file_and_envs_as_secrets(mechanism):
    run = sasl_dev(mechanism)
    broker = run.mocks.named("kafka-dev", CONTAINER)["inputs"]
    uploads, secret = unwrap(broker["uploads"])
    assert secret is True
    jaas = (JAAS_PLAIN if mechanism == "PLAIN" else JAAS_SCRAM).replace(
        "${kafka_admin_password}", "pw-kafka_admin_password").replace(
        "${kafka_client_password}", "pw-kafka_client_password")
    assert uploads == [{"file": JAAS, "content": jaas}]
    envs, secret = unwrap(broker["envs"])
    assert secret is True  # the generated cluster id; no password
    assert not [e for e in envs if "pw-" in e]
    assert f"CLUSTER_ID={cluster_id('dev')}" in envs
    assert "KAFKA_SASL_ENABLED_MECHANISMS=" + ("PLAIN" if mechanism == "PLAIN" else f"PLAIN,{mechanism}") in envs
    assert "KAFKA_OPTS=-Djava.security.auth.login.config=" + JAAS in envs
    for name in ("controller-dev", "invoker-0"):
        inputs = run.mocks.named(name, CONTAINER)["inputs"]
        envs, secret = unwrap(inputs["envs"])
        assert secret is False, name  # every secret is in the mounted file
        assert "CONFIG_whisk_kafka_common_securityProtocol=SASL_PLAINTEXT" in envs
        assert "CONFIG_config_file=/openwhisk-pulumi/secrets.conf" in envs
        uploads, secret = unwrap(inputs["uploads"])
        assert secret is True, name
        config = next(u["content"] for u in uploads if u["file"] == "/openwhisk-pulumi/secrets.conf")
        assert ('whisk.kafka.common.sasl-jaas-config = "' + module(mechanism) + ' required '
                'username=\\"openwhisk\\" password=\\"pw-kafka_client_password\\";"') \
            in config.splitlines()
        assert not [e for e in envs if "pw-" in e]
    generated = {r["name"] for r in run.mocks.of_type("random:index/randomPassword:RandomPassword")}
    assert {"kafka_admin_password", "kafka_client_password"} <= generated


def test_program_runs_scram_users_between_the_broker_and_its_clients():
    run = sasl_dev("SCRAM-SHA-256")
    users = run.mocks.named("kafka-scram-users-dev", CONTAINER)["inputs"]
    assert (users["entrypoints"], users["mustRun"], users["start"]) == (
        ["/bin/sh", "/ow-kafka/scram-users.sh"], False, False)
    assert "command" not in users
    envs, secret = unwrap(users["envs"])
    assert secret is True
    assert "ADMIN_PASSWORD=pw-kafka_admin_password" in envs
    assert "CLIENT_PASSWORD=pw-kafka_client_password" in envs
    # Every container on the host also waits for its preparation (the action network).
    assert deps(run, "kafka-scram-users-dev") == ["dev-action-network", "kafka-dev"]
    assert deps(run, "kafka-dev") == ["dev-action-network"]
    # The clients start only once the step ran and exited 0.
    assert deps(run, "controller-dev") == ["couchdb-init-dev-run", "dev-action-network",
                                           "kafka-scram-users-dev-run"]


def test_program_without_sasl_has_no_kafka_secrets_or_users_step():
    run = run_program(*load_stack_file("dev"), stack="dev")
    names = {r["name"] for r in run.mocks.resources}
    assert not names & {"kafka_admin_password", "kafka_client_password", "kafka-scram-users-dev"}


# -- the SCRAM users script ----------------------------------------------------------------------

STUB = """#!/bin/sh
# Records each call and the files it names; fails while the counter file says so.
printf '%s\\n' "$*" >> "$CALLS"
while [ $# -gt 0 ]; do
    case $1 in
        --command-config | --add-config-file)
            { echo "== $1 $(stat -c %a "$2")"; cat "$2"; } >> "$CALLS.files"; shift ;;
    esac
    shift
done
if [ -s "$FAILS" ]; then
    left=$(cat "$FAILS")
    if [ "$left" -gt 0 ]; then echo $((left - 1)) > "$FAILS"; echo "broker not ready" >&2; exit 1; fi
fi
echo "Completed updating config for user openwhisk."
"""

SCRIPT_ENV = {
    "BOOTSTRAP_SERVERS": "10.0.0.1:9092,10.0.0.2:9092", "SCRAM_MECHANISM": "SCRAM-SHA-512",
    "ADMIN_USER": "admin", "ADMIN_PASSWORD": "AdminPw1", "CLIENT_USER": "openwhisk",
    "CLIENT_PASSWORD": "ClientPw2", "RETRY_SECONDS": "0",
}


def run_script(tmp_path: Path, fails: int = 0, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    stub = tmp_path / "kafka-configs.sh"
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    calls, fails_file = tmp_path / "calls", tmp_path / "fails"
    calls.write_text("")
    (tmp_path / "calls.files").write_text("")
    fails_file.write_text(str(fails))
    full = {"KAFKA_CONFIGS": str(stub), "PATH": os.environ["PATH"], "CALLS": str(calls),
            "FAILS": str(fails_file), "TMPDIR": str(tmp_path), **SCRIPT_ENV, **env}
    done = subprocess.run(["sh", str(SCRIPT)], env={k: v for k, v in full.items() if v is not None},
                          capture_output=True, text=True, check=False)
    return done, [re.sub(r"/tmp\.\w+/", "/D/", line.replace(str(tmp_path), ""))
                  for line in calls.read_text().splitlines()]


CALL = ("--bootstrap-server 10.0.0.1:9092,10.0.0.2:9092 --command-config /D/admin.properties "
        "--alter --add-config-file /D/credential.properties --entity-type users --entity-name openwhisk")
FILES = [
    "== --command-config 600",
    "security.protocol=SASL_PLAINTEXT",
    "sasl.mechanism=PLAIN",
    'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
    'username="admin" password="AdminPw1";',
    "== --add-config-file 600",
    "SCRAM-SHA-512=[password=ClientPw2]",
]


def test_script_sets_the_client_credential_through_files_and_is_idempotent(tmp_path):
    first, calls = run_script(tmp_path)
    assert (first.returncode, calls) == (0, [CALL])
    assert (tmp_path / "calls.files").read_text().splitlines() == FILES
    assert first.stdout.splitlines() == [
        "Completed updating config for user openwhisk.",
        "kafka scram users: SCRAM-SHA-512 credential of 'openwhisk' set",
        "kafka scram users: done",
    ]
    # The password files are gone, whatever happened.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tmp.")] == []
    again, calls = run_script(tmp_path)
    assert (again.returncode, calls, again.stdout) == (0, [CALL], first.stdout)
    assert "AdminPw1" not in first.stdout + first.stderr + CALL
    assert "ClientPw2" not in first.stdout + first.stderr + CALL


def test_script_retries_while_the_brokers_settle(tmp_path):
    done, calls = run_script(tmp_path, fails=2)
    assert done.returncode == 0
    assert calls == [CALL] * 3
    assert "kafka scram users: attempt 2 failed; retrying in 0s" in done.stdout


def test_script_gives_up_after_its_attempts(tmp_path):
    done, calls = run_script(tmp_path, fails=9, ATTEMPTS="3")
    assert (done.returncode, len(calls)) == (1, 3)
    assert done.stderr.splitlines()[-1] == (
        "kafka scram users: FAILED: could not set the credential of 'openwhisk' after 3 attempts")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tmp.")] == []


@pytest.mark.parametrize(("env", "message"), [
    ({"CLIENT_PASSWORD": None}, "environment variable CLIENT_PASSWORD is required"),
    ({"BOOTSTRAP_SERVERS": ""}, "environment variable BOOTSTRAP_SERVERS is required"),
    ({"SCRAM_MECHANISM": "PLAIN"}, "SCRAM_MECHANISM must be SCRAM-SHA-256 or SCRAM-SHA-512"),
    ({"ADMIN_PASSWORD": "a,b"}, "ADMIN_PASSWORD must not contain ',', '[', ']', '=', '\"' or '\\'"),
    ({"CLIENT_PASSWORD": "a]b"}, "CLIENT_PASSWORD must not contain ',', '[', ']', '=', '\"' or '\\'"),
    ({"ADMIN_PASSWORD": 'a"b'}, "ADMIN_PASSWORD must not contain ',', '[', ']', '=', '\"' or '\\'"),
    ({"CLIENT_PASSWORD": "a\\b"}, "CLIENT_PASSWORD must not contain ',', '[', ']', '=', '\"' or '\\'"),
])
def test_script_rejects_bad_input_before_calling_kafka(tmp_path, env, message):
    done, calls = run_script(tmp_path, **env)
    assert (done.returncode, calls) == (1, [])
    assert done.stderr.strip() == f"kafka scram users: FAILED: {message}"
