"""ElasticSearch (the ElasticSearch activation store): the nodes, with security on. Pure.

ElasticSearch 6.8's basic license includes security. With it on, every REST call needs a login,
and a cluster of more than one node must encrypt its transport layer (a bootstrap check refuses
to start otherwise; single-node discovery is exempt, but the setting is the same for any size so
that adding a node changes nothing on the others).

- **Logins** come from the file realm, which is on by default: `config/users` holds bcrypt
  hashes of generated passwords (the `htpasswd` form `RandomPassword.bcrypt_hash` gives),
  `config/users_roles` and `config/roles.yml` what each user may do. No step has to run against
  the cluster, nothing is stored in its `.security` index, and the built-in `elastic` user keeps
  no password (it cannot log in). ElasticSearch reloads the files when they change.
  - `openwhisk`: every privilege on the activation indices (`index_pattern` with `*` for the
    namespace) and nothing else: the controllers', invokers' and schedulers' login
    (`whisk.activation-store.elasticsearch.username/password`, which OpenWhisk's client offers
    when ElasticSearch asks for basic authentication).
  - `health`: the cluster privilege `monitor` only, for the nodes' health checks, which read its
    login from a curl config file (`HEALTH_LOGIN`), so it is in no environment or command line.
- **Transport TLS** uses one key and certificate, signed by a CA of the stack, for every node,
  with `verification_mode: certificate`: nodes must present a certificate of that CA, and their
  names are not checked, so the certificate names no address and adding a node changes no
  certificate. Nodes connect to each other, so the certificate also allows TLS client use.

Security and transport TLS must be on or off on every node alike: the nodes carry the epoch
`security`, so a stack whose nodes ran without it restarts them together once (a rolling restart
would leave each new node unable to reach the old ones).
"""

from __future__ import annotations

from planner.model import (
    Container, File, Health, Mount, Port, Secret, SecretSpec, Service, TlsPlan, VolumePlan,
)
from planner.placement import PREFIX, Placed

HTTP_PORT, TRANSPORT_PORT = 9200, 9300
#: uid:gid the image writes its data as.
OWNER = (1000, 0)
CONFIG = "/usr/share/elasticsearch/config"
HEALTH_LOGIN = f"{CONFIG}/health-login.curl"
USER, HEALTH_USER = "openwhisk", "health"
PASSWORD_SECRET, HEALTH_SECRET = "elasticsearch_password", "elasticsearch_health_password"
PASSWORD_HASH, HEALTH_HASH = f"{PASSWORD_SECRET}_hash", f"{HEALTH_SECRET}_hash"
CA_KEY, CA_CERT = "elasticsearch_ca_key", "elasticsearch_ca_cert"
TRANSPORT_KEY, TRANSPORT_CERT = "elasticsearch_transport_key", "elasticsearch_transport_cert"
EPOCH = "security"
#: Where each node reads its transport TLS files, by the `xpack.security.transport.ssl.` setting
#: that names them.
TLS_FILES = {"certificate_authorities": f"{CONFIG}/transport-ca.pem",
             "certificate": f"{CONFIG}/transport-cert.pem", "key": f"{CONFIG}/transport-key.pem"}
#: The role names in roles.yml.
STORE_ROLE, HEALTH_ROLE = "openwhisk_activations", "openwhisk_health"


def secret_specs() -> list[SecretSpec]:
    """Passwords, their hashes for the users file, and the transport CA, key and certificate."""
    return [
        SecretSpec(PASSWORD_SECRET, "password"),
        SecretSpec(HEALTH_SECRET, "password"),
        SecretSpec(PASSWORD_HASH, "htpasswd", source=PASSWORD_SECRET, user=USER),
        SecretSpec(HEALTH_HASH, "htpasswd", source=HEALTH_SECRET, user=HEALTH_USER),
        SecretSpec(CA_KEY, "tls_key"),
        SecretSpec(CA_CERT, "ca_cert", key=CA_KEY, tls=TlsPlan("OpenWhisk ElasticSearch CA", (), ())),
        SecretSpec(TRANSPORT_KEY, "tls_key"),
        SecretSpec(TRANSPORT_CERT, "tls_cert", key=TRANSPORT_KEY,
                   tls=TlsPlan("OpenWhisk ElasticSearch transport", (), ()), ca=CA_CERT,
                   client_auth=True),
    ]


def index_names(index_pattern: str) -> str:
    """The indices the activation store writes: the pattern with `*` for the namespace."""
    return index_pattern.replace("%s", "*")


def roles_yml(index_pattern: str) -> str:
    return (f"{STORE_ROLE}:\n"
            f"  indices:\n"
            f"    - names: [\"{index_names(index_pattern)}\"]\n"
            f"      privileges: [\"all\"]\n"
            f"{HEALTH_ROLE}:\n"
            f"  cluster: [\"monitor\"]\n")


def files(index_pattern: str) -> tuple[File, ...]:
    return (
        File(f"{CONFIG}/users", Secret(f"${{{PASSWORD_HASH}}}\n${{{HEALTH_HASH}}}\n")),
        File(f"{CONFIG}/users_roles", f"{STORE_ROLE}:{USER}\n{HEALTH_ROLE}:{HEALTH_USER}\n"),
        File(f"{CONFIG}/roles.yml", roles_yml(index_pattern)),
        File(TLS_FILES["certificate_authorities"], Secret.of(CA_CERT)),
        File(TLS_FILES["certificate"], Secret.of(TRANSPORT_CERT)),
        File(TLS_FILES["key"], Secret.of(TRANSPORT_KEY)),
        File(HEALTH_LOGIN, Secret(f'user = "{HEALTH_USER}:${{{HEALTH_SECRET}}}"\n')),
    )


#: The health check logs in as `health`, from its curl config file.
HEALTH = Health(("CMD", "curl", "-fsS", "-K", HEALTH_LOGIN,
                 f"http://127.0.0.1:{HTTP_PORT}/_cluster/health"), wait=True, start_period_s=120)


def node_keys(ess: list[Placed]) -> tuple[str, ...]:
    """The nodes' container keys: what the activation store's clients wait for."""
    return tuple(f"elasticsearch-{e.name}" for e in ess)


def service(ess: list[Placed], index_pattern: str) -> Service:
    containers, volumes = [], []
    peers = ",".join(f"{e.address}:{TRANSPORT_PORT}" for e in ess)
    for e, key in zip(ess, node_keys(ess)):
        host = e.host_name
        data = VolumePlan(f"{key}-data", host, f"{PREFIX}-elasticsearch-data",
                          owner=OWNER)
        volumes.append(data)
        env = {
            "ES_JAVA_OPTS": "-Xms1g -Xmx1g", "cluster.name": "openwhisk",
            "node.name": f"es{e.id}", "network.publish_host": e.address,
            "xpack.security.enabled": "true",
            "xpack.security.transport.ssl.enabled": "true",
            "xpack.security.transport.ssl.verification_mode": "certificate",
            **{f"xpack.security.transport.ssl.{k}": path for k, path in TLS_FILES.items()},
        }
        if len(ess) == 1:
            env["discovery.type"] = "single-node"
        else:
            env["discovery.zen.ping.unicast.hosts"] = peers
            env["discovery.zen.minimum_master_nodes"] = str(len(ess) // 2 + 1)
        containers.append(Container(
            key=key, service="elasticsearch", host=host,
            name=f"{PREFIX}-elasticsearch", image="elasticsearch", env=tuple(sorted(env.items())),
            ports=(Port(HTTP_PORT, HTTP_PORT, "http"), Port(TRANSPORT_PORT, TRANSPORT_PORT, "transport")),
            mounts=(Mount("/usr/share/elasticsearch/data", volume=data.key),),
            files=files(index_pattern), ulimits=(("nofile", 65536, 65536),),
            health=HEALTH, epoch=EPOCH,
        ))
    return Service("elasticsearch", tuple(containers), tuple(volumes))
