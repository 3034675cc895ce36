"""Kafka: the brokers in KRaft mode, their SASL setup and the client keys every JVM component
needs. No Pulumi.

The image is the ASF's `apache/kafka`, which runs KRaft only: every broker formats its storage
with the cluster id (`CLUSTER_ID`) on first start, and the first up to three brokers (by host id)
are also the controllers, the quorum that keeps the cluster's metadata (VOTERS). Kafka needs no
ZooKeeper; OpenWhisk's invokers still use it for their ids.

Each broker has two listeners on its static address (its host's, or on Kubernetes its pod's DNS
name): `EXTERNAL` (`kafka.port`) for clients and for brokers among themselves, and on the voters
`CONTROLLER` (`kafka.controller_port`) for the quorum. Without `kafka.sasl` both are PLAINTEXT.
With it both speak SASL_PLAINTEXT (authenticated, not encrypted): brokers and controllers log in
to each other as `admin` with PLAIN, from the JAAS file's user table; clients log in as
`openwhisk` with the configured mechanism. SCRAM credentials live in the quorum's metadata, so a
one-shot step sets the client's through a broker once the brokers are up.

The image turns every `KAFKA_X_Y` variable into the server property `x.y` (`__` for `_`, `___`
for `-`) and hands `KAFKA_OPTS` to the JVM untouched; the JAAS file is uploaded into the
container and named there. The image runs as uid:gid 1000:1000 (`appuser`).
"""

from __future__ import annotations

import base64
import uuid
from functools import cache
from pathlib import Path

from config import KafkaSasl, StackConfig
from planner.model import Container, File, Health, Mount, Port, Secret, Service, Value, VolumePlan
from planner.placement import PREFIX, Placed

ADMIN_USER = "admin"
"""The brokers' and controllers' own user, for connections among themselves."""
CLIENT_USER = "openwhisk"
"""The user of every controller, scheduler and invoker."""
ADMIN_SECRET = "kafka_admin_password"
CLIENT_SECRET = "kafka_client_password"
CLUSTER_ID_SECRET = "kafka_cluster_id"
"""The cluster id (`cluster_id`), a secret spec so that the component derives it from the stack's
name: a broker refuses storage formatted with another cluster id, so the id must outlive
`pulumi destroy` for the retained volumes to serve the next `pulumi up`."""

OWNER = (1000, 1000)
"""uid:gid the apache/kafka image writes its data as."""
DATA_MOUNT = "/var/lib/kafka/data"
LOG_DIR = f"{DATA_MOUNT}/kraft"
"""Below the mount: Kafka takes every directory in a log dir for a partition, and a claim's root
may hold `lost+found`."""
VOLUME = f"{PREFIX}-kafka-kraft-data"
"""Not the ZooKeeper-mode brokers' `ow-kafka-data` (root-owned, a format KRaft cannot read): a
stack that ran those starts on a new, empty volume and keeps the old one until it is removed."""
JAAS_PATH = "/etc/ow-kafka/kafka_server_jaas.conf"
SCRAM_SCRIPT = "/ow-kafka/scram-users.sh"
ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets" / "kafka"
MAX_VOTERS = 3

_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def is_scram(sasl: KafkaSasl | None) -> bool:
    return sasl is not None and sasl.mechanism.startswith("SCRAM-")


def login_module(sasl: KafkaSasl) -> str:
    return _MODULES["SCRAM" if is_scram(sasl) else "PLAIN"]


def _cred(name: str) -> str:
    return "${" + name + "}"


def cluster_id(stack: str) -> str:
    """Kafka's cluster id for the stack named `stack`: 16 bytes (a name-based UUID) in base64url
    without padding, Kafka's Uuid form. The same for every deployment of the stack."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"openwhisk-pulumi:kafka:{stack}").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def voters(brokers: list[Placed]) -> list[Placed]:
    """The controllers: the first three brokers, or one when there are fewer than three (a quorum
    of two stops when either stops, so it is worse than one)."""
    return brokers[:MAX_VOTERS] if len(brokers) >= MAX_VOTERS else brokers[:1]


def client_env(sasl: KafkaSasl | None) -> dict[str, Value]:
    """The `whisk.kafka.common` keys of a JVM client: passed raw to its producers, consumers and
    admin client. The JAAS line uses double quotes only, since the value ends up inside single
    quotes on the JVM command line."""
    if sasl is None:
        return {}
    return {
        "CONFIG_whisk_kafka_common_securityProtocol": "SASL_PLAINTEXT",
        "CONFIG_whisk_kafka_common_saslMechanism": sasl.mechanism,
        "CONFIG_whisk_kafka_common_saslJaasConfig": Secret(
            f'{login_module(sasl)} required username="{CLIENT_USER}" '
            f'password="{_cred(CLIENT_SECRET)}";'),
    }


def consumer_env(sasl: KafkaSasl | None, actor_system: str) -> dict[str, Value]:
    """The same security settings in the keys of user-events' consumer: raw kafka-clients
    properties of the akka/pekko Kafka connector, which it reads with its bootstrap servers."""
    if sasl is None:
        return {}
    common = client_env(sasl)
    prefix = f"CONFIG_{actor_system}_kafka_consumer_kafkaClients_"
    return {
        f"{prefix}security_protocol": common["CONFIG_whisk_kafka_common_securityProtocol"],
        f"{prefix}sasl_mechanism": common["CONFIG_whisk_kafka_common_saslMechanism"],
        f"{prefix}sasl_jaas_config": common["CONFIG_whisk_kafka_common_saslJaasConfig"],
    }


def broker_jaas(sasl: KafkaSasl) -> Secret:
    """The broker's JAAS file: the `admin` login it uses towards other brokers and controllers
    (always PLAIN) and the PLAIN user table it checks them against, with PLAIN clients also the
    client's entry. With SCRAM the section also carries a SCRAM login for `admin` (SCRAM users
    themselves live in the quorum's metadata)."""
    plain = [f'username="{ADMIN_USER}"', f'password="{_cred(ADMIN_SECRET)}"',
             f'user_{ADMIN_USER}="{_cred(ADMIN_SECRET)}"']
    if not is_scram(sasl):
        plain.append(f'user_{CLIENT_USER}="{_cred(CLIENT_SECRET)}"')
    modules = [(_MODULES["PLAIN"], plain)]
    if is_scram(sasl):
        modules.append((_MODULES["SCRAM"], plain[:2]))
    body = "".join(f"    {module} required\n" + "\n".join(f"    {line}" for line in lines) + ";\n"
                   for module, lines in modules)
    return Secret(f"KafkaServer {{\n{body}}};\n")


def secret_names(sasl: KafkaSasl | None) -> list[str]:
    return [ADMIN_SECRET, CLIENT_SECRET] if sasl is not None else []


@cache
def scram_script() -> str:
    return (ASSETS / "scram-users.sh").read_text()


def _broker_keys(brokers: list[Placed]) -> tuple[str, ...]:
    return tuple(f"kafka-{b.name}" for b in brokers)


def ready_keys(cfg: StackConfig, brokers: list[Placed]) -> tuple[str, ...]:
    """What a Kafka client waits for: every broker, and with SCRAM the step that sets its user."""
    if is_scram(cfg.kafka.sasl):
        return (f"kafka-scram-users-{brokers[0].name}",)
    return _broker_keys(brokers)


def service(cfg: StackConfig, brokers: list[Placed], bootstrap: str) -> Service:
    """The brokers, followed with SCRAM by the one-shot step that sets the client's credential
    through the clients' bootstrap brokers (`bootstrap`)."""
    controllers = voters(brokers)
    quorum = ",".join(f"{v.id}@{v.address}:{cfg.kafka.controller_port}" for v in controllers)
    voter_ids = {v.id for v in controllers}
    containers: list[Container] = []
    volumes = []
    for b in brokers:
        data = VolumePlan(f"kafka-{b.name}-data", b.host_name, VOLUME, owner=OWNER)
        volumes.append(data)
        containers.append(_broker(cfg, b, b.id in voter_ids, quorum, data))
    if is_scram(cfg.kafka.sasl):
        containers.append(_scram_users(cfg, brokers, bootstrap))
    return Service("kafka", tuple(containers), tuple(volumes))


def _broker(cfg: StackConfig, b: Placed, voter: bool, quorum: str, data: VolumePlan) -> Container:
    rf = str(cfg.kafka.replication_factor)
    port, cport = cfg.kafka.port, cfg.kafka.controller_port
    sasl = cfg.kafka.sasl
    protocol = "PLAINTEXT" if sasl is None else "SASL_PLAINTEXT"
    listeners = [f"EXTERNAL://0.0.0.0:{port}"] + ([f"CONTROLLER://0.0.0.0:{cport}"] if voter else [])
    env: dict[str, Value] = {
        "CLUSTER_ID": Secret.of(CLUSTER_ID_SECRET),
        "KAFKA_ADVERTISED_LISTENERS": f"EXTERNAL://{b.address}:{port}",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": quorum,
        "KAFKA_DEFAULT_REPLICATION_FACTOR": rf,
        "KAFKA_INTER_BROKER_LISTENER_NAME": "EXTERNAL",
        "KAFKA_LISTENERS": ",".join(listeners),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": f"EXTERNAL:{protocol},CONTROLLER:{protocol}",
        "KAFKA_LOG_DIRS": LOG_DIR,
        "KAFKA_NODE_ID": str(b.id),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": rf,
        "KAFKA_PROCESS_ROLES": "broker,controller" if voter else "broker",
    }
    files: tuple[File, ...] = ()
    if sasl is not None:
        env |= {
            "KAFKA_SASL_ENABLED_MECHANISMS": "PLAIN" if sasl.mechanism == "PLAIN"
            else f"PLAIN,{sasl.mechanism}",
            "KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL": "PLAIN",
            "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "PLAIN",
            # The image leaves KAFKA_OPTS out of server.properties and hands it to the JVM.
            "KAFKA_OPTS": f"-Djava.security.auth.login.config={JAAS_PATH}",
        }
        files = (File(JAAS_PATH, broker_jaas(sasl)),)
    ports = (Port(port, port, "kafka"),) + ((Port(cport, cport, "controller"),) if voter else ())
    return Container(
        key=f"kafka-{b.name}", service="kafka", host=b.host_name, name=f"{PREFIX}-kafka",
        image="kafka",
        env=tuple(sorted(env.items())),
        ports=ports,
        mounts=(Mount(DATA_MOUNT, volume=data.key),),
        files=files,
        health=Health(("CMD-SHELL", f"bash -c '</dev/tcp/127.0.0.1/{port}'"), wait=True),
    )


def _scram_users(cfg: StackConfig, brokers: list[Placed], bootstrap: str) -> Container:
    """Sets the client's SCRAM credential through the brokers, logged in as `admin` with PLAIN.
    Passwords reach the script through its environment only, never a command line."""
    sasl = cfg.kafka.sasl
    first = brokers[0]
    env: dict[str, Value] = {
        "BOOTSTRAP_SERVERS": bootstrap,
        "SCRAM_MECHANISM": sasl.mechanism,  # type: ignore[union-attr]
        "ADMIN_USER": ADMIN_USER,
        "ADMIN_PASSWORD": Secret.of(ADMIN_SECRET),
        "CLIENT_USER": CLIENT_USER,
        "CLIENT_PASSWORD": Secret.of(CLIENT_SECRET),
    }
    return Container(
        key=f"kafka-scram-users-{first.name}", service="kafka", host=first.host_name,
        name=f"{PREFIX}-kafka-scram-users", image="kafka",
        entrypoint=("/bin/sh", SCRAM_SCRIPT), env=tuple(sorted(env.items())),
        files=(File(SCRAM_SCRIPT, scram_script()),),
        one_shot=True, depends_on=_broker_keys(brokers),
    )
