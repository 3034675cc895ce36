"""Kafka: the brokers, their SASL setup and the client keys every JVM component needs. No Pulumi.

Each broker has one listener, `EXTERNAL`, on its static address (its host's, or on Kubernetes its
pod's DNS name); brokers talk to each other on it too. Without `kafka.sasl` it is PLAINTEXT. With it, the listener speaks SASL_PLAINTEXT: brokers and
clients authenticate, but nothing is encrypted on the wire.

The wurstmeister/kafka start script turns every `KAFKA_X_Y` variable into the server property
`x.y` (values must not contain `@`, its sed delimiter) and passes `KAFKA_OPTS` to the JVM
untouched; the broker's JAAS file is uploaded into the container and named there.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from config import KafkaSasl, StackConfig
from planner.model import Container, File, Health, Mount, Port, Secret, Service, Value, VolumePlan
from planner.placement import PREFIX, Placed

ADMIN_USER = "admin"
"""The brokers' own user, for inter-broker connections."""
CLIENT_USER = "openwhisk"
"""The user of every controller, scheduler and invoker."""
ADMIN_SECRET = "kafka_admin_password"
CLIENT_SECRET = "kafka_client_password"

JAAS_PATH = "/etc/ow-kafka/kafka_server_jaas.conf"
SCRAM_SCRIPT = "/ow-kafka/scram-users.sh"
ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets" / "kafka"

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
    """The broker's JAAS file: its own credentials for inter-broker connections, and with PLAIN
    also the user table it checks clients against (SCRAM keeps that table in ZooKeeper)."""
    lines = [f'username="{ADMIN_USER}"', f'password="{_cred(ADMIN_SECRET)}"']
    if not is_scram(sasl):
        lines += [f'user_{ADMIN_USER}="{_cred(ADMIN_SECRET)}"',
                  f'user_{CLIENT_USER}="{_cred(CLIENT_SECRET)}"']
    body = "\n".join(f"    {line}" for line in lines)
    return Secret(f"KafkaServer {{\n    {login_module(sasl)} required\n{body};\n}};\n")


def secret_names(sasl: KafkaSasl | None) -> list[str]:
    return [ADMIN_SECRET, CLIENT_SECRET] if sasl is not None else []


@cache
def scram_script() -> str:
    return (ASSETS / "scram-users.sh").read_text()


def service(cfg: StackConfig, brokers: list[Placed], zks: list[Placed], zk_hosts: str) -> Service:
    """The brokers, preceded with SCRAM by the one-shot step that stores their users in ZooKeeper."""
    sasl = cfg.kafka.sasl
    zk_keys = tuple(f"zookeeper-{z.name}" for z in zks)
    containers: list[Container] = []
    if is_scram(sasl):
        containers.append(_scram_users(sasl, brokers[0], zk_keys, zk_hosts))  # type: ignore[arg-type]
    broker_deps = zk_keys + tuple(c.key for c in containers)
    volumes = []
    for b in brokers:
        data = VolumePlan(f"kafka-{b.name}-data", b.host_name, f"{PREFIX}-kafka-data")
        volumes.append(data)
        containers.append(_broker(cfg, b, zk_hosts, data, broker_deps))
    return Service("kafka", tuple(containers), tuple(volumes))


def _broker(cfg: StackConfig, b: Placed, zk_hosts: str, data: VolumePlan,
            depends_on: tuple[str, ...]) -> Container:
    rf = str(cfg.kafka.replication_factor)
    port = cfg.kafka.port
    sasl = cfg.kafka.sasl
    env: dict[str, Value] = {
        "KAFKA_ADVERTISED_LISTENERS": f"EXTERNAL://{b.address}:{port}",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_BROKER_ID": str(b.id),
        "KAFKA_DEFAULT_REPLICATION_FACTOR": rf,
        "KAFKA_INTER_BROKER_LISTENER_NAME": "EXTERNAL",
        "KAFKA_LISTENERS": f"EXTERNAL://0.0.0.0:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "EXTERNAL:PLAINTEXT",
        # A fixed log dir: the image's default embeds the container hostname, which changes on
        # every replacement and would orphan the data.
        "KAFKA_LOG_DIRS": "/kafka/kafka-logs",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": rf,
        "KAFKA_ZOOKEEPER_CONNECT": zk_hosts,
    }
    files: tuple[File, ...] = ()
    if sasl is not None:
        env |= {
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "EXTERNAL:SASL_PLAINTEXT",
            "KAFKA_SASL_ENABLED_MECHANISMS": sasl.mechanism,
            "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": sasl.mechanism,
            # The start script leaves KAFKA_OPTS out of server.properties and hands it to the JVM.
            "KAFKA_OPTS": f"-Djava.security.auth.login.config={JAAS_PATH}",
        }
        files = (File(JAAS_PATH, broker_jaas(sasl)),)
    return Container(
        key=f"kafka-{b.name}", service="kafka", host=b.host_name, name=f"{PREFIX}-kafka",
        image="kafka",
        env=tuple(sorted(env.items())),
        ports=(Port(port, port, "kafka"),),
        mounts=(Mount("/kafka", volume=data.key),),
        files=files,
        health=Health(("CMD-SHELL", f"bash -c '</dev/tcp/127.0.0.1/{port}'"), wait=True),
        depends_on=depends_on,
    )


def _scram_users(sasl: KafkaSasl, first: Placed, zk_keys: tuple[str, ...],
                 zk_hosts: str) -> Container:
    """SCRAM credentials live in ZooKeeper and must exist before brokers authenticate each other.
    Passwords reach the script through its environment only, never through the container's
    command line."""
    env: dict[str, Value] = {
        "ZOOKEEPER_CONNECT": zk_hosts,
        "SCRAM_MECHANISM": sasl.mechanism,
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
        one_shot=True, depends_on=zk_keys,
    )
