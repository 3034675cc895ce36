"""The schema of every `openwhisk:*` key: the pydantic models of a stack's config, their field
validators, and the constants, patterns and helpers they use. Rules that read several sections are
in `config.rules`; turning errors into problem lines is `config.messages`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt,
    ValidationInfo, field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

from config import extra_env as env_rules

NAMESPACE = "openwhisk"

Platform = Literal["docker", "kubernetes"]
ActorSystem = Literal["akka", "pekko"]
Mode = Literal["classic", "scheduler"]
Role = Literal[
    "couchdb", "zookeeper", "kafka", "elasticsearch", "etcd",
    "controller", "scheduler", "invoker", "edge", "registry",
]

#: Secret keys, each a top-level `openwhisk:<key>` set with `pulumi config set --secret`.
#: All are optional: what is not supplied is generated and kept as a Pulumi secret.
SECRET_KEYS = {
    "couchdb_admin_password": "CouchDB admin password (generated when unset)",
    "edge_tls_cert": "PEM certificate for the edge (needs edge.tls: provided)",
    "edge_tls_key": "PEM private key for the edge (needs edge.tls: provided)",
    "registry_password": "password of registry.username (required with registry.mode: external)",
    "ssh_private_key": "private key (PEM or OpenSSH file contents) of the ssh user; required when "
                       "any host is reached over ssh://",
}

Rotatable = Literal[
    "couchdb_admin_password", "couchdb_controller_password", "couchdb_invoker_password",
    "couchdb_scheduler_password", "guest_auth", "system_auth", "controller_admin_password",
    "invoker_admin_password", "scheduler_admin_password", "elasticsearch_password",
    "registry_password", "kafka_admin_password", "kafka_client_password", "redis_password",
    "couchdb_erlang_cookie", "edge_tls_key", "grafana_admin_password", "etcd_password",
]
#: Generated secrets that `openwhisk:rotate` can rotate.
ROTATABLE: tuple[str, ...] = get_args(Rotatable)

#: A Docker image tag.
IMAGE_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
#: Docker's reference grammar: an optional registry host[:port], lowercase path components, then
#: an optional tag and an optional digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
REPOSITORY = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
IMAGE_REF = rf"^{REPOSITORY}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
#: A HOCON duration, as the OpenWhisk components parse them (`1 d`, `12 hours`, `90s`).
DURATION = (r"^[0-9]+(\.[0-9]+)? ?(ns|nanos?|nanoseconds?|us|micros?|microseconds?|ms|millis?|"
            r"milliseconds?|s|seconds?|m|minutes?|h|hours?|d|days?)$")
#: No host has more memory for actions than this (1 TiB), so more is a typo.
MAX_MEMORY_MB = 1024 * 1024
#: Below this an invoker cannot run one action of the default 256 MB.
MIN_MEMORY_MB = 256


@dataclass(frozen=True)
class KnownTag:
    """What an upstream image tag (a short commit SHA) is known to read."""

    actor_system: ActorSystem
    default_mode: Mode
    build_date: str
    zookeeper_hosts_required: bool
    """The invoker and the scheduler exit at startup without `zookeeper.hosts` (ZOOKEEPER_HOSTS):
    a required property before apache/openwhisk#5375 (2023-01-31)."""


#: Upstream core image tags whose config keys are known (see the OpenWhisk reference, section 0).
KNOWN_TAGS: dict[str, KnownTag] = {
    "ef725a6": KnownTag("akka", "classic", "2022-10-14", True),
    "4fac03a": KnownTag("akka", "scheduler", "2024-03-06", False),
    "7538ced": KnownTag("pekko", "scheduler", "2025-10-19", False),
    "1fae641": KnownTag("pekko", "scheduler", "2026-08-06", False),
}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _invalid(what: str, fix: str) -> PydanticCustomError:
    """A validator's problem, reported as `<path>: <what> (got <value>); <fix>`."""
    return PydanticCustomError("config", "{what}; {fix}", {"what": what, "fix": fix})


def _duplicates(values: tuple[str, ...]) -> list[str]:
    """The values listed more than once, sorted."""
    return sorted({v for v in values if values.count(v) > 1})


def _listed_once(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    """`values`, or the problem naming those listed more than once."""
    dupes = _duplicates(values)
    if dupes:
        raise _invalid(f"{', '.join(dupes)} listed more than once", f"list each {what} once")
    return values


def _repository(value: str) -> str:
    if not re.fullmatch(REPOSITORY, value):
        raise _invalid("not a repository prefix",
                       "write it as [registry[:port]/]path without a scheme, tag or trailing '/', "
                       "e.g. openwhisk or registry.example.com:5000/openwhisk")
    return value


class Version(Model):
    """The OpenWhisk core image version and the key family it reads."""

    tag: str = Field(min_length=1, pattern=IMAGE_TAG)
    """Pinned image tag of openwhisk/controller, invoker and scheduler (a short commit SHA)."""
    actor_system: ActorSystem | None = None
    """`akka` or `pekko` key family; filled from KNOWN_TAGS, required for other tags."""
    mode: Mode | None = None
    """`classic` (controller load balancer) or `scheduler` (etcd + scheduler); default from the tag."""
    build_date: str | None = None
    """Shown by GET /api/v1; filled from KNOWN_TAGS, else `unknown`."""
    image_prefix: Annotated[str, AfterValidator(_repository)] = "openwhisk"
    """Repository prefix of the core images."""
    allow_mutable_tags: bool = False
    """Allow `latest`/`nightly` tags (for throw-away dev stacks only)."""

    @property
    def known(self) -> KnownTag | None:
        return KNOWN_TAGS.get(self.tag)


HOST_NAME = r"^[a-z][a-z0-9-]{0,30}$"
_DOCKER_ENDPOINT = re.compile(r"unix:///\S+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:(?P<port>\d{1,5}))?")

#: One `authorized_keys`/`ssh-keyscan` key: type, base64 blob, optional comment.
SSH_PUBLIC_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|"
                            r"sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( \S.*)?")


def _docker_endpoint(value: str) -> str:
    match = _DOCKER_ENDPOINT.fullmatch(value)
    if not match or not 1 <= int(match.group("port") or 22) <= 65535:
        raise _invalid("not a supported docker endpoint",
                       "use unix:///var/run/docker.sock for the local daemon or "
                       "ssh://user@host[:port] for a remote one")
    return value


class Host(Model):
    """One machine running Docker."""

    name: str = Field(pattern=HOST_NAME)
    """Stable key of the host: logical names and container placement derive from it."""
    address: str
    """Static IP or DNS name other hosts and containers reach this host at."""
    docker: str | None = None
    """`unix:///path` or `ssh://user@host[:port]`; default ssh://<ssh.user>@<address>:<ssh.port>
    when `ssh` is set, else the local socket (see `docker_endpoint`)."""
    roles: tuple[Role, ...] = Field(min_length=1)
    id: StrictInt | None = Field(default=None, ge=0)
    """Stable number of the host: instance id of its controller, scheduler, Kafka broker, etc."""
    invoker_ids: tuple[StrictInt, ...] | None = None
    """Ids of the invokers on this host; default [0] when only one host runs invokers."""
    use_runc: bool | None = None
    """Per-host override of invoker.use_runc."""
    user_memory_mb: StrictInt | None = Field(default=None, le=MAX_MEMORY_MB)
    """Per-host override of invoker.user_memory_mb."""
    ssh_host_key: str | None = None
    """The host's public SSH key (a `ssh-keyscan` line without the host name); host preparation
    connects only to a host presenting it."""

    @field_validator("ssh_host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is not None and not SSH_PUBLIC_KEY.fullmatch(value.strip()):
            raise _invalid("not an SSH public key line",
                           "use the key as `ssh-keyscan -t ed25519 <address>` prints it, without the "
                           "leading host name, e.g. 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'")
        return value.strip() if value is not None else None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        problem = address_problem(value)
        if problem:
            raise _invalid(problem, ADDRESS_FIX)
        return value

    @field_validator("docker")
    @classmethod
    def _docker(cls, value: str | None) -> str | None:
        return value if value is None else _docker_endpoint(value)

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        dupes = _duplicates(value)
        if dupes:
            raise _invalid(f"role {dupes[0]!r} is listed twice", "list each role once")
        return value

    @field_validator("invoker_ids")
    @classmethod
    def _invoker_ids(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or len(set(value)) != len(value) or min(value) < 0):
            raise _invalid("expected a non-empty list of distinct invoker ids >= 0",
                           "list each id of this host's invokers once, e.g. [0] or [2, 3]")
        return value


ADDRESS_FIX = "use the host's static IP or a DNS name reachable from every host and container"


def address_problem(value: str) -> str | None:
    """Why `value` cannot be an address other hosts and containers use, or None."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        name = value.rstrip(".").lower()
        if re.fullmatch(r"[\d.]+", value):
            return "not a valid IPv4 address, which is four numbers 0-255 separated by dots"
        labels = name.split(".")
        if not all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", x) for x in labels):
            return "not an IP address or DNS name"
        if name == "localhost" or name.endswith(".localhost"):
            return "localhost is the container itself when used inside a container"
        return None
    if ip.version == 6:
        return "IPv6 addresses are not supported yet (they would need brackets in every URL)"
    if ip.is_loopback:
        return "a loopback address is the container itself when used inside a container"
    if ip.is_unspecified:
        return "the unspecified address is no host's address"
    return None


class Edge(Model):
    """The nginx edge in front of the controllers."""

    api_host: str | None = None
    """Name or IP that `wsk` and action containers use; default: the edge host's address."""
    https_port: StrictInt = Field(default=443, ge=1, le=65535)
    http_port: StrictInt | None = Field(default=80, ge=1, le=65535)
    """Plain-HTTP port that redirects to HTTPS; null to not listen."""
    tls: Literal["self-signed", "provided"] = "self-signed"
    """`provided` reads the secrets edge_tls_cert and edge_tls_key."""

    @field_validator("api_host")
    @classmethod
    def _api_host(cls, value: str | None) -> str | None:
        problem = value is not None and address_problem(value)
        if problem:
            raise _invalid(problem, "use the edge host's public IP or a DNS name that resolves "
                                    "to it, for wsk clients and action containers alike")
        return value


def _env_text(value: Any) -> Any:
    """YAML and `pulumi config set --path` turn true/5 into booleans and numbers; env wants text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


ExtraEnv = dict[str, Annotated[str, BeforeValidator(_env_text)]]
"""Extra environment of a component, merged over the planned one (rules in extra_env.py)."""


#: Destinations an action may not reach even with `egress: internet`: private, shared (CGNAT) and
#: link-local ranges (where cloud metadata services answer). The plan's own hosts are always blocked.
BLOCKED_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def _cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise _invalid(f"{value!r} is not an IPv4 network in CIDR notation",
                           "write it like 10.0.0.0/8 (host bits zero) or 10.1.2.3/32") from None
        if net.version != 4:
            raise _invalid(f"{value!r} is IPv6; the action network is IPv4 only",
                           "list IPv4 networks only")
    return _listed_once(values, "network")


Cidrs = Annotated[tuple[str, ...], AfterValidator(_cidrs)]


class ActionNetwork(Model):
    """Docker hosts (and action pods on Kubernetes): what action containers reach. Invokers start
    them on the Docker network `ow-actions` of their host, whose firewall (the `DOCKER-USER`
    chain) lets them reach the API's HTTPS port, the API gateway's management port, the host's
    resolvers and, with `egress: internet`, addresses outside `blocked_cidrs`; never another port
    of the plan's own hosts (planner/firewall.py)."""

    egress: Literal["internet", "none"] = "internet"
    """`internet`: actions may open connections outside blocked_cidrs; `none`: only the API, the
    gateway's management port and DNS."""
    blocked_cidrs: Cidrs = BLOCKED_CIDRS
    allowed_cidrs: Cidrs = ()
    """Exceptions to blocked_cidrs (e.g. an internal service actions call); never the plan's hosts."""


def host_directory(value: str, fix: str) -> str:
    """`value` as an absolute, normalised directory on a host, without a trailing slash."""
    if not value.startswith("/"):
        raise _invalid("not an absolute path", fix)
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
        raise _invalid("contains characters other than letters, digits, '.', '_', '-' and '/'", fix)
    parts = value.rstrip("/").split("/")[1:]
    if not parts:
        raise _invalid("the root directory itself cannot be used", fix)
    if any(p in ("", ".", "..") for p in parts):
        raise _invalid("not a normalised path: it has an empty, '.' or '..' segment", fix)
    return value.rstrip("/")


class Invoker(Model):
    """Invoker settings shared by every invoker (hosts may override some)."""

    container_factory: Literal["docker", "kubernetes"] | None = None
    """How invokers run actions; None: the platform's default, `docker` on Docker hosts and
    `kubernetes` (action pods) on Kubernetes (see `StackConfig.container_factory`)."""
    use_runc: bool = False
    """Pause/resume warm containers with the runc bundled in the image; must match the host's runc."""
    runc_state_dir: str = "/run/docker/runtime-runc/moby"
    """Host directory of the daemon's runc state, mapped to /run/runc when use_runc is true."""
    user_memory_mb: StrictInt = Field(default=2048, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    """Memory for action containers per invoker."""
    docker_root: str = "/var/lib/docker"
    """The daemon's root directory; its containers/ subdirectory holds activation logs."""
    http_port: StrictInt = Field(default=12001, ge=1, le=65000)
    """Host port of invoker id 0; invoker N publishes http_port + N."""
    extra_env: ExtraEnv = {}
    """Extra environment of every invoker; INVOKER_USE_RUNC here acts as use_runc."""
    action_network: ActionNetwork = ActionNetwork()

    @field_validator("runc_state_dir", "docker_root")
    @classmethod
    def _host_directories(cls, value: str, info: ValidationInfo) -> str:
        default = cls.model_fields[info.field_name].default
        return host_directory(value, f"use the absolute directory on the invoker hosts, by default "
                                     f"{default}")

    @property
    def runc(self) -> bool:
        """use_runc, or the stale INVOKER_USE_RUNC of extra_env that stands for it."""
        translated = env_rules.parse_bool(self.extra_env.get("INVOKER_USE_RUNC", ""))
        return self.use_runc if translated is None else translated


class Controller(Model):
    http_port: StrictInt = Field(default=10001, ge=1, le=65535)
    remoting_port: StrictInt = Field(default=25520, ge=1, le=65535)
    """Fixed actor-system port, the same inside the container and on the host."""
    seed_count: StrictInt | None = Field(default=None, ge=1)
    """Seed nodes are the K controllers with the lowest ids; default all."""
    downing: Literal["none", "split-brain-resolver"] = "none"
    """Automatic downing of unreachable members (auto-down no longer exists in Akka 2.6/Pekko)."""
    extra_env: ExtraEnv = {}
    """Extra environment of every controller."""


class Limits(Model):
    invokes_per_minute: StrictInt = Field(default=60, ge=1)
    concurrent_invokes: StrictInt = Field(default=30, ge=1)
    fires_per_minute: StrictInt = Field(default=60, ge=1)
    sequence_max_length: StrictInt = Field(default=50, ge=1)


#: Subjects the CouchDB init step creates itself, so no tenant may take their names.
RESERVED_NAMESPACES = ("guest", "whisk.system")
#: A namespace (and subject) name: OpenWhisk's subjects are at least 5 characters; ':' and '/' are
#: never allowed, so ids such as `<name>/limits` and the step's own record cannot collide.
NAMESPACE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{4,63}$"
INT32_MAX = 2**31 - 1


class NamespaceLimits(Model):
    """Per-namespace overrides of the system-wide limits (upstream's `<namespace>/limits` document,
    what `wskadmin limits set` writes); each unset key falls back to openwhisk:limits."""

    invocations_per_minute: StrictInt | None = Field(default=None, ge=1, le=INT32_MAX)
    concurrent_invocations: StrictInt | None = Field(default=None, ge=1, le=INT32_MAX)
    fires_per_minute: StrictInt | None = Field(default=None, ge=1, le=INT32_MAX)
    allowed_kinds: tuple[str, ...] | None = Field(default=None, min_length=1)
    """Action kinds the namespace may create, e.g. [nodejs:20]; each must be in the runtime
    manifest. Unset: every kind."""
    store_activations: StrictBool | None = None
    """false: the namespace's activations are not stored."""

    @field_validator("allowed_kinds")
    @classmethod
    def _unique_kinds(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return value if value is None else _listed_once(value, "kind")

    def document(self) -> dict[str, object]:
        """The limits document's fields, in upstream's names (UserLimits), unset ones left out."""
        names = {"invocations_per_minute": "invocationsPerMinute",
                 "concurrent_invocations": "concurrentInvocations",
                 "fires_per_minute": "firesPerMinute", "allowed_kinds": "allowedKinds",
                 "store_activations": "storeActivations"}
        return {names[k]: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.model_dump().items() if v is not None}


class Namespace(Model):
    """A tenant: an OpenWhisk namespace with its own generated key."""

    name: str = Field(pattern=NAMESPACE_NAME)
    limits: NamespaceLimits = NamespaceLimits()
    rotate: StrictInt = Field(default=0, ge=0)
    """Generation of the namespace's key; bump it to rotate the key (like rotate.guest_auth)."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMESPACES:
            raise _invalid(f"{value!r} is built in", "choose another name: guest and whisk.system "
                           "are created by the CouchDB init step and their keys are guestAuth and "
                           "systemAuth (rotate them with rotate.guest_auth / rotate.system_auth)")
        return value


def namespace_secret(name: str) -> str:
    """The generated secret holding a namespace's key (`uuid:key`)."""
    return "namespace_auth_" + re.sub(r"\W", "_", name.lower())


class Runtimes(Model):
    manifest: str = "runtimes/default.json"
    """Runtime manifest path, relative to the project directory."""


class ActivationStore(Model):
    backend: Literal["couchdb", "elasticsearch"] = "couchdb"
    index_pattern: str = "openwhisk-%s"
    """ElasticSearch index per namespace; `%s` becomes the namespace."""

    @field_validator("index_pattern")
    @classmethod
    def _index_pattern(cls, value: str) -> str:
        # The store formats the pattern with the namespace (String.format); ElasticSearch index
        # names are lowercase, without spaces or \\ / * ? " < > | , #, and start with none of - _ +.
        if value.count("%s") != 1 or "%" in value.replace("%s", ""):
            raise _invalid("not an index pattern with exactly one %s where the namespace goes",
                           "write it like openwhisk-%s")
        if not re.fullmatch(r"[a-z0-9.-]*%s[a-z0-9._+-]*", value) or value[0] in "-_+.":
            raise _invalid("not a valid ElasticSearch index name around %s: lowercase letters, "
                           "digits, '.', '_', '+' and '-', not starting with '-', '_', '+' or '.'",
                           "write it like openwhisk-%s")
        return value


class KafkaSasl(Model):
    """SASL authentication on the Kafka listener (SASL_PLAINTEXT: authenticated, not encrypted)."""

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    """PLAIN sends the password itself on every connection; SCRAM proves it without sending it."""


class Kafka(Model):
    port: StrictInt = Field(default=9092, ge=1, le=65535)
    """The brokers' listener, for clients and for brokers among themselves."""
    controller_port: StrictInt = Field(default=9093, ge=1, le=65535)
    """The KRaft controllers' listener (on the first up to three brokers), for the quorum."""
    replication_factor: StrictInt = Field(default=1, ge=1)
    sasl: KafkaSasl | None = None
    """Authenticate brokers and clients with SASL; null (default) keeps the plaintext listener."""


class Scheduler(Model):
    http_port: StrictInt = Field(default=14001, ge=1, le=65535)
    rpc_port: StrictInt = Field(default=13001, ge=1, le=65535)
    remoting_port: StrictInt = Field(default=25521, ge=1, le=65535)
    etcd_lease_timeout_s: StrictInt = Field(default=10, ge=1)
    time_window: str = Field(default="1 d", pattern=DURATION)
    """Duration checker window (CONFIG_whisk_durationChecker_timeWindow)."""
    max_peek: StrictInt = Field(default=500, ge=1)
    """Invoker container-creation max peek."""
    extra_env: ExtraEnv = {}
    """Extra environment of every scheduler."""


class CouchDB(Model):
    port: StrictInt = Field(default=5984, ge=1, le=65535)
    db_prefix: str = Field(default="whisk_", pattern=r"^[a-z][a-z0-9_]*$")


def _image_ref(value: str) -> str:
    if not re.fullmatch(IMAGE_REF, value):
        raise _invalid("not an image reference",
                       "write it as [registry/]repository:tag or ...@sha256:<digest>, e.g. "
                       "nginx:1.30.4 (lowercase repository, no spaces or scheme)")
    return value


ImageRef = Annotated[str, AfterValidator(_image_ref)]


class Images(Model):
    """Third-party images, each pinned by tag or digest (README: "Image pins" gives each reason)."""

    couchdb: ImageRef = "apache/couchdb:3.5.2.1"
    zookeeper: ImageRef = "zookeeper:3.9.5"
    kafka: ImageRef = "apache/kafka:4.1.1"
    etcd: ImageRef = "gcr.io/etcd-development/etcd:v3.5.33"
    elasticsearch: ImageRef = "docker.elastic.co/elasticsearch/elasticsearch:6.8.23"
    nginx: ImageRef = "nginx:1.30.4"
    apigateway: ImageRef = "openwhisk/apigateway:1.0.0"
    redis: ImageRef = "redis:7.2.16"
    prometheus: ImageRef = "prom/prometheus:v3.5.0"
    grafana: ImageRef = "grafana/grafana:12.0.2"


ImageKey = Literal["controller", "invoker", "scheduler", "couchdb", "zookeeper", "kafka", "etcd",
                   "elasticsearch", "nginx"]


REGISTRY_USER = r"^[A-Za-z0-9._-]+$"
PLATFORM = r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"


def _pem_certificate(value: str) -> str:
    if "-----BEGIN CERTIFICATE-----" not in value or "-----END CERTIFICATE-----" not in value:
        raise _invalid("not a PEM certificate",
                       "give the certificate's contents, not its file name: pulumi config set "
                       "--path 'registry.ca_cert' -- \"$(cat ca.crt)\"")
    return value


class Registry(Model):
    """Where every image comes from: upstream registries directly, or a private registry."""

    mode: Literal["none", "deploy", "external"] = "none"
    """`none`: each host pulls upstream images by pinned tag. `deploy`: run a registry on the host
    with the `registry` role. `external`: use an existing registry at `address`. With a registry,
    every image is mirrored (or built) into it and deployed by digest."""
    address: str | None = None
    """`host[:port]` of an external registry; in deploy mode it is `<registry host address>:<port>`."""
    port: StrictInt = Field(default=5000, ge=1, le=65535)
    """Port of the deployed registry."""
    username: str = Field(default="openwhisk", pattern=REGISTRY_USER)
    build_host: str | None = None
    """Host whose Docker daemon pulls upstream images, builds and pushes; default: the registry
    host (deploy) or the host with the lowest id (external). Docker platform only."""
    builder: str | None = None
    """Kubernetes platform: the Docker endpoint (`unix:///path` or `ssh://user@host[:port]`) that
    pulls upstream images, builds and pushes, since there are no Docker hosts."""
    ca_cert: Annotated[str, AfterValidator(_pem_certificate)] | None = None
    """PEM certificate of the CA that signed an external registry's certificate, when it is not
    publicly trusted; hosts are set up to trust it."""
    image: ImageRef = "registry:2.8.3"
    """Image of the deployed registry (pulled from upstream on its host)."""

    @field_validator("builder")
    @classmethod
    def _builder(cls, value: str | None) -> str | None:
        return value if value is None else _docker_endpoint(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9.-]+(:\d{1,5})?", value):
            raise _invalid("not a registry address", "use host[:port] without a scheme or path, "
                                                     "e.g. registry.example.com:5000")
        if value is not None and ":" in value and not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
            raise _invalid("its port is not between 1 and 65535",
                           "use host[:port] with a port from 1 to 65535, e.g. registry.example.com:5000")
        return value


class Build(Model):
    """A local build context whose image replaces an upstream one (e.g. a modified invoker)."""

    context: str = Field(min_length=1)
    """Build context directory, relative to the project directory or absolute."""
    dockerfile: str | None = None
    """Dockerfile path relative to the context; default `Dockerfile`."""
    args: dict[str, str] = {}
    target: str | None = None
    platform: str = Field(default="linux/amd64", pattern=PLATFORM)


SSH_USER = r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$"
_SSH_OPTION = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9]*)=\S.*")
#: ssh_config options the program sets itself on the docker provider's ssh command line.
SSH_RESERVED_OPTIONS = {"batchmode": "BatchMode", "connecttimeout": "ConnectTimeout", "port": "Port"}


def _ssh_option(value: str) -> str:
    match = _SSH_OPTION.fullmatch(value)
    if not match:
        raise _invalid("expected an ssh_config option written Name=value",
                       "write it without -o, e.g. 'ProxyJump=bastion' (each entry is passed to ssh "
                       "as -o <entry>)")
    name = SSH_RESERVED_OPTIONS.get(match.group("name").lower())
    if name == "Port":
        raise _invalid("Port is set from ssh.port", "remove it and set ssh.port instead")
    if name:
        raise _invalid(f"{name} is set by the program",
                       "remove it: ssh always runs with BatchMode=yes and ConnectTimeout=10 so that "
                       "pulumi up never waits on a prompt or a dead host")
    return value


class Ssh(Model):
    """How hosts without an explicit `docker` endpoint are reached: over ssh, as `user`."""

    user: str = Field(pattern=SSH_USER)
    """Login user on every such host; must be allowed to use the Docker socket."""
    port: StrictInt = Field(default=22, ge=1, le=65535)
    sudo: bool = True
    """Prefix privileged host-preparation commands with `sudo -n` (passwordless sudo needed)."""
    options: tuple[Annotated[str, AfterValidator(_ssh_option)], ...] = ()
    """Extra ssh_config options (`Name=value`) for the docker provider's ssh client."""


DATA_DIR_FIX = ("use an absolute directory that exists or can be created on every host, e.g. "
                "/srv/openwhisk (letters, digits, '.', '_', '-' and '/')")


class Storage(Model):
    data_dir: str | None = None
    """Absolute host directory; each data volume becomes the bind mount `<data_dir>/<volume name>`."""

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: str | None) -> str | None:
        return None if value is None else host_directory(value, DATA_DIR_FIX)


#: Package directories of the pinned openwhisk-catalog release (components/assets/catalog/pins.json).
CatalogPackage = Literal["utils", "samples", "websocket", "github", "slack"]
CATALOG_PACKAGES: tuple[str, ...] = get_args(CatalogPackage)
CatalogBuildArg = Literal["BASE", "CATALOG_VERSION", "CATALOG_URL", "CATALOG_DIGEST",
                          "ROUTEMGMT_COMMIT", "ROUTEMGMT_URL", "ROUTEMGMT_DIGEST"]


class Catalog(Model):
    """The `whisk.system` packages, installed after every `pulumi up` that changes them."""

    enabled: StrictBool = True
    packages: tuple[CatalogPackage, ...] = CATALOG_PACKAGES  # type: ignore[assignment]
    """Package directories of the catalog release, installed in this order."""
    image: ImageRef | None = None
    """A prebuilt installer image (air-gapped sites), used instead of building
    components/assets/catalog; it holds the catalog at /catalog/packages, route management at
    /routemgmt, and python3 with PyYAML."""
    build_args: dict[CatalogBuildArg, str] = {}
    """Overrides of the installer Dockerfile's build args (e.g. BASE, or the archive URLs of a
    local mirror with the same content digests)."""

    @field_validator("packages")
    @classmethod
    def _unique_packages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _listed_once(value, "package")


def _distinct_host_ports(ports: dict[str, int], fix: str) -> None:
    """A section's services that share the edge's host need a host port each."""
    for name, value in ports.items():
        same = [n for n, v in ports.items() if v == value and n != name]
        if same:
            raise _invalid(f"{name} and {same[0]} are both {value}, on the edge's host", fix)


class ApiGateway(Model):
    """openwhisk/apigateway and its Redis on the edge's host, for `wsk api`."""

    enabled: StrictBool = True
    port: StrictInt = Field(default=9001, ge=1, le=65535)
    """Host port of the gateway's API traffic (container port 8080); the edge routes /api/<ns>/ to it."""
    management_port: StrictInt = Field(default=9000, ge=1, le=65535)
    """Host port of the gateway's management API (container port 9000), which route management uses."""
    redis_port: StrictInt = Field(default=6379, ge=1, le=65535)
    """Host port of Redis."""

    @model_validator(mode="after")
    def _distinct_ports(self) -> ApiGateway:
        _distinct_host_ports({"port": self.port, "management_port": self.management_port,
                              "redis_port": self.redis_port},
                             "give the gateway's API, its management API and Redis three "
                             "different host ports")
        return self


GrafanaBuildArg = Literal["BASE", "FETCH_BASE", "DASHBOARDS_URL", "DASHBOARDS_DIGEST",
                          "DASHBOARDS_COMMIT"]


class Monitoring(Model):
    """Metrics (opt-in): openwhisk/user-events, Prometheus and Grafana with the OpenWhisk
    dashboards, next to the edge; the controllers, invokers and schedulers report through Kamon."""

    enabled: StrictBool = False
    scrape_interval_s: StrictInt = Field(default=15, ge=5, le=300)
    """How often Prometheus scrapes every component (and Kamon's tick interval)."""
    retention_days: StrictInt = Field(default=15, ge=1, le=3650)
    """How long Prometheus keeps samples on its retained volume."""
    user_events_port: StrictInt = Field(default=9095, ge=1, le=65535)
    """Host port of user-events (container port 9095), which Prometheus scrapes."""
    prometheus_port: StrictInt = Field(default=9090, ge=1, le=65535)
    """Host port of Prometheus (container port 9090)."""
    grafana_port: StrictInt = Field(default=3000, ge=1, le=65535)
    """Host port of Grafana (container port 3000)."""
    grafana_image: ImageRef | None = None
    """A prebuilt Grafana image holding the dashboards at /etc/grafana/dashboards/openwhisk
    (air-gapped sites), used instead of building components/assets/grafana."""
    build_args: dict[GrafanaBuildArg, str] = {}
    """Overrides of the Grafana Dockerfile's build args (e.g. DASHBOARDS_URL of a local mirror
    with the same content digest)."""

    @model_validator(mode="after")
    def _distinct_ports(self) -> Monitoring:
        _distinct_host_ports({"user_events_port": self.user_events_port,
                              "prometheus_port": self.prometheus_port,
                              "grafana_port": self.grafana_port},
                             "give user-events, Prometheus and Grafana three different host ports")
        return self


class Verify(Model):
    """The post-deploy check that runs after every `pulumi up` that changed a container."""

    enabled: bool = True
    timeout_s: StrictInt = Field(default=600, ge=60, le=3600)
    """Overall time limit of the check, in seconds."""


class ContainerLogs(Model):
    """Bounds of the json-file log of every container the program runs on Docker hosts."""

    max_size_mb: StrictInt = Field(default=50, ge=1, le=10240)
    max_files: StrictInt = Field(default=3, ge=1, le=100)


class ActionLogs(Model):
    """Bounds of the json-file log of every action container an invoker starts. The invoker
    reads an activation's logs from that file by offset, so a rotation loses the logs of the
    activation it interrupts: keep max_size_mb well above the actions' log limit (10 MB)."""

    max_size_mb: StrictInt = Field(default=100, ge=1, le=10240)
    max_files: StrictInt = Field(default=2, ge=1, le=100)


class Logs(Model):
    """Docker hosts: how big container logs may grow (Kubernetes: the kubelet rotates them)."""

    containers: ContainerLogs = ContainerLogs()
    actions: ActionLogs = ActionLogs()


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
RELEASE = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^[1-9][0-9]*(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_NODE_LABEL = re.compile(rf"(?P<key>(?P<prefix>[a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME})"
                         rf"=(?P<value>{_LABEL_NAME})")
Quantity = Annotated[str, Field(pattern=QUANTITY)]


class KubernetesReplicas(Model):
    """Instances of each service: each is its own single-replica StatefulSet with a stable id."""

    controller: StrictInt = Field(default=1, ge=1, le=255)
    invoker: StrictInt = Field(default=1, ge=1, le=1000)
    """Invokers with the kubernetes container factory (the docker factory runs one per node)."""
    kafka: StrictInt = Field(default=1, ge=1, le=255)
    zookeeper: StrictInt = Field(default=1, ge=1, le=255)
    etcd: StrictInt = Field(default=1, ge=1, le=255)
    scheduler: StrictInt = Field(default=1, ge=1, le=255)
    elasticsearch: StrictInt = Field(default=1, ge=1, le=255)


class VolumeSizes(Model):
    """Size of each instance's PersistentVolumeClaim(s), as a Kubernetes quantity."""

    couchdb: Quantity = "10Gi"
    kafka: Quantity = "10Gi"
    zookeeper: Quantity = "2Gi"
    """Each of ZooKeeper's two claims (data and transaction log)."""
    etcd: Quantity = "2Gi"
    elasticsearch: Quantity = "10Gi"
    redis: Quantity = "1Gi"
    """The API gateway's routes."""
    prometheus: Quantity = "10Gi"
    grafana: Quantity = "1Gi"


LABEL_KEY = rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$"
LABEL_VALUE = rf"^({_LABEL_NAME})?$"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
          "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "": 1}


def cpu_cores(quantity: str) -> float:
    """A CPU quantity matching CPU (`500m`, `1.5`) in cores."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def quantity_mib(quantity: str) -> float:
    """A memory quantity matching QUANTITY (`2Gi`, `1.5G`, `512Mi`) in MiB."""
    number = re.match(r"[0-9.]+", quantity).group()  # type: ignore[union-attr]
    return float(number) * _UNITS[quantity[len(number):]] / 2**20


#: A CPU quantity: millicores (`500m`) or cores (`2`, `1.5`).
CPU = r"^([1-9][0-9]*m|[1-9][0-9]*(\.[0-9]{1,3})?|0\.[0-9]{0,2}[1-9])$"


class PodResources(Model):
    """What each pod of a service asks for; an unset field keeps the planned default."""

    cpu: str | None = Field(default=None, pattern=CPU)
    """CPU requested (scheduling); no CPU limit unless `cpu_limit` is set."""
    memory: Quantity | None = None
    """Memory requested and limited (the same, so the pod is never evicted for memory pressure
    before others); JVM heaps are half of it."""
    cpu_limit: str | None = Field(default=None, pattern=CPU)
    """CPU limit; None: no limit (throttling stalls JVM pauses and health checks)."""


#: Each pod's CPU request and memory (request and limit) unless kubernetes.resources says
#: otherwise; `steps` are the one-shot Jobs. The JVMs' heaps are half the memory (see
#: planner.kubernetes.HEAP), which leaves the other half for metaspace, threads, direct buffers
#: and the rest of the process.
DEFAULT_POD_RESOURCES: dict[str, tuple[str, str]] = {
    "couchdb": ("500m", "1Gi"), "zookeeper": ("250m", "1Gi"), "kafka": ("500m", "2Gi"),
    "etcd": ("250m", "512Mi"), "elasticsearch": ("500m", "2Gi"), "controller": ("1", "2Gi"),
    "scheduler": ("500m", "2Gi"), "invoker": ("500m", "1Gi"), "edge": ("100m", "128Mi"),
    "apigateway": ("100m", "256Mi"), "redis": ("100m", "256Mi"), "steps": ("100m", "256Mi"),
    "user_events": ("250m", "1Gi"), "prometheus": ("250m", "1Gi"), "grafana": ("100m", "256Mi"),
}


class PodResourcesByService(Model):
    """Per service: the resources of each of its pods; `steps` are the one-shot Jobs."""

    couchdb: PodResources = PodResources()
    zookeeper: PodResources = PodResources()
    kafka: PodResources = PodResources()
    etcd: PodResources = PodResources()
    elasticsearch: PodResources = PodResources()
    controller: PodResources = PodResources()
    scheduler: PodResources = PodResources()
    invoker: PodResources = PodResources()
    edge: PodResources = PodResources()
    apigateway: PodResources = PodResources()
    redis: PodResources = PodResources()
    user_events: PodResources = PodResources()
    prometheus: PodResources = PodResources()
    grafana: PodResources = PodResources()
    steps: PodResources = PodResources()


class Toleration(Model):
    key: str | None = Field(default=None, pattern=LABEL_KEY)
    """None with operator Exists: every taint."""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = Field(default=None, pattern=LABEL_VALUE)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """None: every effect."""

    @model_validator(mode="after")
    def _operator(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise _invalid("operator Exists matches any value, so it takes none",
                           "remove value, or use operator: Equal")
        if self.operator == "Equal" and self.key is None:
            raise _invalid("operator Equal needs a key", "give the taint's key, or use operator: "
                           "Exists without a key to tolerate every taint")
        return self


INGRESS_HOST_FIX = ("use the DNS name wsk clients reach the ingress controller at, e.g. "
                    "openwhisk.example.com (lowercase letters, digits, '-' and '.')")


class Ingress(Model):
    """An Ingress in front of the edge; the ingress controller terminates TLS with the edge
    certificate and the API host is `host`."""

    host: str
    class_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN, max_length=253)
    """IngressClass to use; None: the cluster's default class."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            pass
        else:
            raise _invalid("an IP address, but an Ingress host must be a DNS name", INGRESS_HOST_FIX)
        if len(value) > 253 or not re.fullmatch(DNS_SUBDOMAIN, value) \
                or any(len(x) > 63 for x in value.split(".")):
            raise _invalid("not a DNS name", INGRESS_HOST_FIX)
        return value


class Kubernetes(Model):
    """The Kubernetes target: where and how the plan is rendered as Kubernetes objects."""

    namespace: str = Field(default="openwhisk", pattern=DNS_LABEL)
    release: str = Field(default="ow", pattern=RELEASE)
    """Prefix of every object name (`<release>-<service>...`) and the `release` label of action pods."""
    context: str | None = Field(default=None, min_length=1)
    """kubeconfig context; None: the kubeconfig's current context."""
    kubeconfig: str | None = Field(default=None, min_length=1)
    """Path of the kubeconfig file; None: $KUBECONFIG or ~/.kube/config."""
    cluster_domain: str = Field(default="cluster.local", pattern=DNS_SUBDOMAIN, max_length=253)
    storage_class: str | None = Field(default=None, pattern=DNS_SUBDOMAIN, max_length=253)
    """StorageClass of every claim; None: the cluster's default class."""
    replicas: KubernetesReplicas = KubernetesReplicas()
    volume_size: VolumeSizes = VolumeSizes()
    edge_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "LoadBalancer"
    ingress: Ingress | None = None
    invoker_node_label: str | None = None
    """`key=value` of the nodes for action pods (kubernetes factory) or invokers (docker factory)."""
    resources: PodResourcesByService = PodResourcesByService()
    node_selector: dict[str, str] = {}
    """Labels every node running an OpenWhisk pod must have (action pods: invoker_node_label)."""
    tolerations: tuple[Toleration, ...] = ()
    """Taints every OpenWhisk pod tolerates, e.g. of nodes dedicated to OpenWhisk."""
    anti_affinity: Literal["preferred", "required"] = "preferred"

    @field_validator("node_selector")
    @classmethod
    def _node_selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if not _NODE_LABEL.fullmatch(f"{key}={label}"):
                raise _invalid(f"{key}: {label!r} is not a node label",
                               "give each label as key: value, e.g. node-role/openwhisk: 'true'")
        return value
    """Pods of one role on different nodes: `preferred` (the scheduler tries; a one-node cluster
    still runs) or `required` (a pod stays Pending rather than share a node with its peer)."""

    @field_validator("invoker_node_label")
    @classmethod
    def _node_label(cls, value: str | None) -> str | None:
        if value is not None and not _NODE_LABEL.fullmatch(value):
            raise _invalid("expected a node label written key=value",
                           "use the label your invoker nodes carry, e.g. openwhisk-role=invoker "
                           "(label it with kubectl label node <node> openwhisk-role=invoker)")
        return value

    @property
    def node_label(self) -> tuple[str, str] | None:
        """(key, value) of invoker_node_label."""
        if self.invoker_node_label is None:
            return None
        key, value = self.invoker_node_label.split("=", 1)
        return key, value


class StackConfig(Model):
    """Every non-secret `openwhisk:*` key of a stack."""

    platform: Platform = "docker"
    version: Version
    hosts: tuple[Host, ...] = ()
    edge: Edge = Edge()
    invoker: Invoker = Invoker()
    controller: Controller = Controller()
    limits: Limits = Limits()
    runtimes: Runtimes = Runtimes()
    activation_store: ActivationStore = ActivationStore()
    kafka: Kafka = Kafka()
    scheduler: Scheduler = Scheduler()
    couchdb: CouchDB = CouchDB()
    images: Images = Images()
    registry: Registry = Registry()
    builds: dict[ImageKey, Build] = {}
    """Images built from local contexts and pushed to the registry instead of mirrored."""
    rotate: dict[Rotatable, Annotated[StrictInt, Field(ge=0)]] = {}
    """Generation of each generated secret; bump one (e.g. guest_auth: 1) to rotate it."""
    ssh: Ssh | None = None
    """Reach hosts without an explicit docker endpoint over ssh; null: the local Docker socket."""
    storage: Storage = Storage()
    verify: Verify = Verify()
    logs: Logs = Logs()
    catalog: Catalog = Catalog()
    apigateway: ApiGateway = ApiGateway()
    monitoring: Monitoring = Monitoring()
    namespaces: tuple[Namespace, ...] = ()
    """Tenants: each gets a subject, a generated key and optional limits; a namespace removed
    from this list is blocked (its key stops working) and none of its entities is deleted."""
    kubernetes: Kubernetes | None = None
    """The Kubernetes target (platform: kubernetes only); None there means every default."""

    @property
    def kube(self) -> Kubernetes:
        """The Kubernetes settings, defaults filled in."""
        return self.kubernetes or Kubernetes()

    @property
    def container_factory(self) -> Literal["docker", "kubernetes"]:
        """invoker.container_factory, or the platform's default."""
        return self.invoker.container_factory or (
            "kubernetes" if self.platform == "kubernetes" else "docker")

    @property
    def actor_system(self) -> ActorSystem:
        return self.version.actor_system or self.version.known.actor_system  # type: ignore[union-attr]

    @property
    def mode(self) -> Mode:
        return self.version.mode or self.version.known.default_mode  # type: ignore[union-attr]

    def hosts_with(self, role: str) -> list[Host]:
        """Hosts carrying `role`, ordered by host id (stable, never by list position)."""
        return sorted((h for h in self.hosts if role in h.roles), key=lambda h: (h.id or 0, h.name))


LOCAL_DOCKER = "unix:///var/run/docker.sock"


def docker_endpoint(host: Host, ssh: Ssh | None) -> str:
    """The host's explicit endpoint, else ssh://<user>@<address>:<port> when ssh is set, else the
    local socket."""
    if host.docker is not None:
        return host.docker
    if ssh is not None:
        return f"ssh://{ssh.user}@{host.address}:{ssh.port}"
    return LOCAL_DOCKER
