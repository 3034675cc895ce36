"""The stack configuration: the schema of every `openwhisk:*` key and the one place it is read.

`parse()` is pure (no Pulumi import): it turns the raw key/value map of a stack into a frozen
`StackConfig`, or raises `ConfigError` listing every problem at once, each line naming the config
path, the value found, what is expected and how to fix it. `read_stack_config()` feeds it from the
running Pulumi program. Secrets never enter these models; they are separate top-level keys read as
Pulumi secrets (see `SECRET_KEYS`).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt,
    TypeAdapter, ValidationError, ValidationInfo, field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

import extra_env as env_rules
import runtimes

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
]
#: Generated secrets that `openwhisk:rotate` can rotate.
ROTATABLE: tuple[str, ...] = get_args(Rotatable)

MUTABLE_TAGS = {"latest", "nightly"}
#: A Docker image tag.
IMAGE_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
#: Docker's reference grammar: an optional registry host[:port], lowercase path components, then
#: an optional tag and an optional digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
REPOSITORY = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
IMAGE_REF = rf"^{REPOSITORY}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
#: Tags that name a release line (`2`, `3.9`, `v3`), which moves to each new patch release.
FLOATING_TAG = re.compile(r"v?[0-9]+(\.[0-9]+)?")
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


class ConfigError(Exception):
    """Every problem found in a stack's config, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


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


def _tag_of(image: str) -> str | None:
    if "@sha256:" in image:
        return None  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


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
    kafka: ImageRef = "wurstmeister/kafka:2.13-2.7.0"
    etcd: ImageRef = "gcr.io/etcd-development/etcd:v3.5.33"
    elasticsearch: ImageRef = "docker.elastic.co/elasticsearch/elasticsearch:6.8.23"
    nginx: ImageRef = "nginx:1.30.4"
    apigateway: ImageRef = "openwhisk/apigateway:1.0.0"
    redis: ImageRef = "redis:7.2.16"


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
        ports = {"port": self.port, "management_port": self.management_port,
                 "redis_port": self.redis_port}
        for name, value in ports.items():
            same = [n for n, v in ports.items() if v == value and n != name]
            if same:
                raise _invalid(f"{name} and {same[0]} are both {value}, on the edge's host",
                               "give the gateway's API, its management API and Redis three "
                               "different host ports")
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


@dataclass(frozen=True)
class Stack:
    """A validated stack: its config, its runtime manifest and which secrets it supplies."""

    config: StackConfig
    manifest: runtimes.Manifest
    supplied_secrets: frozenset[str]


# --------------------------------------------------------------------------------------------
# Parsing and cross-checks


def _path(loc: tuple[Any, ...]) -> str:
    out = f"{NAMESPACE}:{loc[0]}"
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class _Encrypted:
    """Stands for the value of a key that is stored encrypted but is not a secret key."""

    def __repr__(self) -> str:
        return "an encrypted value"


#: The raw value `read_stack_config` passes for an encrypted key that is not in SECRET_KEYS.
ENCRYPTED: Any = _Encrypted()


def _show(value: Any) -> str:
    """A short display of a config value: strings quoted, everything else as YAML/JSON writes it."""
    if value is ENCRYPTED:
        return repr(value)
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, separators=(", ", ": "), default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _set_hint(path: str, placeholder: str = "<value>") -> str:
    return f"set it with pulumi config set --path '{path.split(':', 1)[1]}' {placeholder}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at `loc` (a pydantic error location below StackConfig)."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = model.model_fields[part].annotation
        while get_args(model) and not (isinstance(model, type) and issubclass(model, BaseModel)):
            model = next((a for a in get_args(model)
                          if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


#: Keys the program generates and never reads from config: supplying one is explained, not
#: treated as a spelling mistake.
GENERATED_KEYS = {"guest_auth": "guestAuth", "system_auth": "systemAuth"}
#: Upstream's published example keys (ansible/files/auth.guest and auth.whisk.system, the Helm
#: chart's values.yaml): anyone can read them, so no deployment may use them anywhere.
WELL_KNOWN_KEYS = {
    "23bc46b1-71f6-4ed5-8c54-816aa4f8c502": "upstream's example guest key",
    "789c46b1-71f6-4ed5-8c54-816aa4f8c502": "upstream's example whisk.system key",
    "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP":
        "the secret part of upstream's example guest key",
    "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP":
        "the secret part of upstream's example whisk.system key",
}


def _generated_key(key: str, got: Any) -> str:
    rm = f"pulumi config rm {NAMESPACE}:{key}"
    return (f"{NAMESPACE}:{key}: the {key.split('_')[0]} key is generated by the program and never "
            f"read from config (got {'a secret' if got is ENCRYPTED else 'a plain'} value, not shown); remove "
            f"it ({rm}). The current key is the {GENERATED_KEYS[key]} output (pulumi stack output "
            f"{GENERATED_KEYS[key]} --show-secrets); to replace it, bump rotate.{key}")


def _well_known_keys(raw: dict[str, Any]) -> list[str]:
    """Every config value that holds one of upstream's published keys, by path."""
    out: list[str] = []

    def walk(value: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*loc, k))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, (*loc, i))
        elif isinstance(value, str):
            for part, what in WELL_KNOWN_KEYS.items():
                if part in value:
                    out.append(f"{_path(loc)}: holds {what} ({part[:8]}...), which is published "
                               f"with OpenWhisk, so anyone could use it (got a value containing "
                               f"it); remove it: the program generates every key (guestAuth, "
                               f"systemAuth and each namespace's in the namespaces output)")
                    break
    for key in sorted(raw):
        walk(raw[key], (key,))
    return out


def _unknown_key(path: str, got: Any, known: list[str]) -> str:
    key = re.split(r"[.:\]]", path)[-1]
    close = difflib.get_close_matches(key, known, n=1)
    nested = key != path.split(":", 1)[1]
    rm = f"pulumi config rm --path '{path.split(':', 1)[1]}'" if nested else f"pulumi config rm {path}"
    if close:
        return f"{path}: unknown key (got {_show(got)}); rename it to {close[0]!r} or remove it ({rm})"
    return (f"{path}: unknown key (got {_show(got)}); remove it ({rm}) or fix its spelling "
            f"(known keys: {', '.join(known)})")


_EXPECTED = {  # pydantic error type: (what is wrong, placeholder of the fix)
    "int_parsing": ("expected an integer", "<integer>"),
    "int_type": ("expected an integer", "<integer>"),
    "int_from_float": ("expected a whole number", "<integer>"),
    "bool_parsing": ("expected true or false", "<true|false>"),
    "bool_type": ("expected true or false", "<true|false>"),
    "string_type": ("expected a string", "<string>"),
    "model_type": ("expected a map of keys", None),
    "model_attributes_type": ("expected a map of keys", None),
    "dict_type": ("expected a map of keys", None),
    "tuple_type": ("expected a list", None),
    "list_type": ("expected a list", None),
}

_PATTERNS = {
    IMAGE_TAG: "expected an image tag: up to 128 letters, digits, '_', '.' or '-', not starting "
               "with '.' or '-', without spaces",
    DURATION: "expected a duration such as '1 d', '12 hours' or '90 s'",
    HOST_NAME: "expected a short lowercase name: a letter, then up to 30 letters, digits or '-'",
    CouchDB.model_fields["db_prefix"].metadata[0].pattern:
        "expected lowercase letters, digits or '_', starting with a letter",
    SSH_USER: "expected a user name: up to 32 letters, digits, '.', '_' or '-', not starting with '-'",
    DNS_LABEL: "expected a DNS label: up to 63 lowercase letters, digits or '-', starting and ending "
               "with a letter or digit",
    RELEASE: "expected a short DNS label: lowercase letters, digits or '-', starting with a letter",
    DNS_SUBDOMAIN: "expected a DNS name: lowercase letters, digits, '-' and '.'",
    QUANTITY: "expected a Kubernetes quantity such as 10Gi or 500Mi",
    CPU: "expected a CPU quantity: millicores such as 500m, or cores such as 2 or 1.5",
    LABEL_KEY: "expected a label key: [prefix/]name, up to 63 letters, digits, '-', '_' or '.'",
    LABEL_VALUE: "expected a label value: up to 63 letters, digits, '-', '_' or '.'",
    REGISTRY_USER: "expected a user name: letters, digits, '.', '_' or '-'",
    PLATFORM: "expected a platform written os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8",
    NAMESPACE_NAME: "expected a namespace name: 5 to 64 letters, digits, '_', '.', '@' or '-', "
                    "starting with a letter or digit",
}


def _pydantic_lines(err: ValidationError, prefix: tuple[Any, ...]) -> list[str]:
    """Each pydantic error as `<path>: <what> (got <value>); <fix>`."""
    lines = []
    for e in err.errors():
        loc = prefix + tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind, got, ctx = e["type"], e.get("input"), e.get("ctx") or {}
        if loc[-1] == "[key]":  # a bad key of a map such as rotate
            loc = loc[:-1]
            kind = "extra_forbidden"
        path = _path(loc)
        if kind == "extra_forbidden":
            known = [a.strip("'") for a in re.split(r", | or ", ctx["expected"])] if "expected" in ctx \
                else _fields_at(loc[:-1])
            lines.append(_unknown_key(path, got, known))
        elif kind == "missing":
            lines.append(f"{path}: required key is missing (got none); {_set_hint(path)}")
        elif kind == "config":
            lines.append(f"{path}: {ctx['what']} (got {_show(got)}); {ctx['fix']}")
        elif kind == "literal_error":
            choices = [a.strip("'") for a in re.split(r", | or ", ctx["expected"])]
            close = [c for c in choices if c.lower() == str(got).lower()] \
                or difflib.get_close_matches(str(got), choices, n=1)
            lines.append(f"{path}: expected {ctx['expected']} (got {_show(got)}); "
                         f"{_set_hint(path, close[0] if close else '<value>')}")
        elif kind in ("greater_than_equal", "less_than_equal"):
            bound = (f"at least {ctx['ge']}" if "ge" in ctx else f"at most {ctx['le']}")
            lines.append(f"{path}: must be {bound} (got {_show(got)}); {_set_hint(path, '<integer>')}")
        elif kind == "string_too_short":
            lines.append(f"{path}: must not be empty (got {_show(got)}); {_set_hint(path, '<string>')}")
        elif kind == "too_short":
            if got:  # emptied by failing items, which have their own lines
                continue
            lines.append(f"{path}: must not be empty (got {_show(got)}); list at least one item")
        elif kind == "string_pattern_mismatch":
            what = _PATTERNS.get(ctx["pattern"], f"expected a string matching {ctx['pattern']}")
            lines.append(f"{path}: {what} (got {_show(got)}); {_set_hint(path, '<string>')}")
        elif kind in _EXPECTED:
            what, placeholder = _EXPECTED[kind]
            each, sub = ("key", ".<key>") if "map" in what else ("item", "[0]")
            fix = _set_hint(path, placeholder) if placeholder else \
                f"fix it in the stack file, or set each {each} with pulumi config set --path " \
                f"'{path.split(':', 1)[1]}{sub}' <value>"
            lines.append(f"{path}: {what} (got {_show(got)}); {fix}")
        else:
            lines.append(f"{path}: {e['msg'][0].lower()}{e['msg'][1:]} (got {_show(got)}); "
                         f"{_set_hint(path)}")
    return lines


def parse(raw: dict[str, Any], *, secret_keys: frozenset[str] = frozenset(),
          plain_keys: frozenset[str] = frozenset(), base_dir: Path | str = ".") -> Stack:
    """Validate a stack's raw `openwhisk:*` values (keys without the namespace) into a Stack.

    `secret_keys` are the secret keys the stack supplies; `plain_keys` those of them stored
    unencrypted. Raises ConfigError with every problem found.
    """
    problems: list[str] = []
    known = [*StackConfig.model_fields, *SECRET_KEYS]
    for key in sorted(raw):
        if key in GENERATED_KEYS:
            problems.append(_generated_key(key, raw[key]))
        elif key not in known:
            problems.append(_unknown_key(f"{NAMESPACE}:{key}", raw[key], known))
    problems += _well_known_keys(raw)
    for key in sorted(k for k in raw if k in StackConfig.model_fields and raw[k] is ENCRYPTED):
        problems.append(f"{NAMESPACE}:{key}: stored encrypted, but only {', '.join(SECRET_KEYS)} "
                        f"are secrets (got an encrypted value); set it again without --secret, or "
                        f"move the secret part to one of those keys")
    for key in sorted(plain_keys & SECRET_KEYS.keys()):
        problems.append(f"{NAMESPACE}:{key}: a secret stored in plain text (got an unencrypted "
                        f"value); set it again with pulumi config set --secret {key} <value>")

    # A section is in `sections` only when it is valid (or defaulted), so that each cross-check
    # can run on whatever validated and every problem is reported in one pass.
    sections: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        if name in raw and raw[name] is ENCRYPTED:
            pass  # reported above
        elif name in raw:
            try:
                adapter = TypeAdapter(Annotated.__class_getitem__((field.annotation, *field.metadata))) \
                    if field.metadata else TypeAdapter(field.annotation)
                sections[name] = adapter.validate_python(raw[name])
            except ValidationError as err:
                problems += _pydantic_lines(err, (name,))
        elif field.is_required():
            problems.append(f"{NAMESPACE}:{name}: required key is missing (got none); "
                            f"{_set_hint(f'{NAMESPACE}:{name}.tag', '<image tag>')}"
                            if name == "version" else
                            f"{NAMESPACE}:{name}: required key is missing (got none); "
                            f"{_set_hint(f'{NAMESPACE}:{name}')}")
        else:
            sections[name] = field.get_default()

    manifest = None
    if "runtimes" in sections:
        version = sections.get("version")
        path = sections["runtimes"].manifest
        try:
            # Without a valid version the mutable-tag rule cannot be judged, so it is not applied.
            manifest = runtimes.load_manifest(
                Path(base_dir) / path, allow_mutable_tags=version is None or version.allow_mutable_tags)
        except runtimes.ManifestError as err:
            problems += [f"{NAMESPACE}:runtimes.manifest: {p.replace(str(Path(base_dir) / path), path)}"
                         for p in err.problems]
    problems += _cross_checks(sections, frozenset(secret_keys), manifest, Path(base_dir))
    if problems:
        raise ConfigError(problems)
    assert manifest is not None
    try:
        config = StackConfig(**sections)
    except ValidationError as err:  # a model-level rule: report it like the others
        raise ConfigError(_pydantic_lines(err, ())) from None
    return Stack(config, manifest, frozenset(secret_keys))


def _cross_checks(s: dict[str, Any], supplied: frozenset[str],
                  manifest: runtimes.Manifest | None, base_dir: Path) -> list[str]:
    """Rules that span keys; each runs only when the sections it reads are valid."""
    out: list[str] = []
    version: Version | None = s.get("version")
    mode = None
    if version is not None:
        out += _version_checks(version, s.get("images"), s.get("registry"), s.get("catalog"))
        known = version.known
        mode = version.mode or (known.default_mode if known else None)

    platform, invoker, hosts = s.get("platform"), s.get("invoker"), s.get("hosts")
    factory = None
    if invoker is not None and platform is not None:
        factory = invoker.container_factory or ("kubernetes" if platform == "kubernetes" else "docker")
    if invoker is not None and invoker.container_factory == "kubernetes" and platform == "docker":
        out.append(f"{NAMESPACE}:invoker.container_factory: the kubernetes container factory "
                   f"needs platform: kubernetes (got 'kubernetes' with platform 'docker'); use "
                   f"'docker' on Docker hosts")
    if invoker is not None and factory == "kubernetes" and invoker.use_runc:
        out.append(f"{NAMESPACE}:invoker.use_runc: runc pause/resume works only with the docker "
                   f"container factory (got true with container_factory 'kubernetes'); set "
                   f"use_runc: false or use container_factory: docker")
    edge = s.get("edge")
    for key, file in (("edge_tls_cert", "cert.pem"), ("edge_tls_key", "key.pem")):
        if edge is not None and edge.tls == "provided" and key not in supplied:
            out.append(f"{NAMESPACE}:{key}: required by edge.tls: provided (got none); set it "
                       f"with pulumi config set --secret {key} < {file}, or use edge.tls: "
                       f"self-signed")
        if edge is not None and edge.tls == "self-signed" and key in supplied:
            out.append(f"{NAMESPACE}:{key}: set, but edge.tls is self-signed, so it would be "
                       f"ignored (got a secret value); set edge.tls: provided to use it, or remove "
                       f"it (pulumi config rm {NAMESPACE}:{key})")
    out += _extra_env_checks(s, mode)
    scheduler = s.get("scheduler")
    if mode == "classic" and scheduler is not None:
        out += [f"{NAMESPACE}:scheduler.{key}: used only in scheduler mode, but the stack runs in "
                f"classic mode (got {_show(getattr(scheduler, key))}); remove it (pulumi config rm "
                f"--path 'scheduler.{key}') or set version.mode: scheduler"
                for key in sorted(scheduler.model_fields_set - {"extra_env"})]
    out += _namespace_checks(s.get("namespaces"), manifest, s.get("runtimes"))
    if platform == "kubernetes":
        return out + _kubernetes_checks(s, supplied, manifest, mode, factory, base_dir)
    if platform == "docker" and s.get("kubernetes") is not None:
        out.append(f"{NAMESPACE}:kubernetes: used only with platform: kubernetes (got "
                   f"{_show(s['kubernetes'].model_dump(exclude_defaults=True))}); remove it "
                   f"(pulumi config rm {NAMESPACE}:kubernetes) or set platform: kubernetes")
    registry = s.get("registry")
    if platform == "docker" and registry is not None and registry.builder is not None:
        out.append(f"{NAMESPACE}:registry.builder: used only with platform: kubernetes (got "
                   f"{registry.builder!r}); remove it: on Docker hosts registry.build_host names "
                   f"the host that builds and pushes")
    if hosts is None or platform != "docker":
        return out
    out += _host_checks(hosts, mode, s.get("activation_store"))
    out += _registry_checks(hosts, registry, s.get("builds"), supplied, base_dir)
    if invoker is not None and manifest is not None:
        out += _memory_checks(hosts, invoker, manifest, s["runtimes"].manifest)
    controllers = sum("controller" in h.roles for h in hosts)
    out += _seed_count_check(s.get("controller"), controllers, "give the controller role to more hosts")
    if "ssh" in s:
        out += _ssh_key_checks(hosts, s["ssh"], supplied)
    brokers = sum("kafka" in h.roles for h in hosts)
    out += _replication_check(s.get("kafka"), brokers, "give the kafka role to more hosts")
    return out


def _namespace_checks(namespaces: tuple[Namespace, ...] | None, manifest: runtimes.Manifest | None,
                      runtimes_cfg: Runtimes | None) -> list[str]:
    """Names unique (also as the secret that holds their key) and allowed kinds in the manifest."""
    out: list[str] = []
    first: dict[str, int] = {}
    for i, ns in enumerate(namespaces or ()):
        where = f"{NAMESPACE}:namespaces[{i}]"
        key = namespace_secret(ns.name)
        if key in first:
            j = first[key]
            same = namespaces[j].name == ns.name  # type: ignore[index]
            out.append(f"{where}.name: {'the same name as' if same else 'differs only in case or in _ . @ - from'} "
                       f"namespaces[{j}] (got {ns.name!r}, and {namespaces[j].name!r} there); "  # type: ignore[index]
                       f"{'list each namespace once' if same else 'choose names that differ in a letter or digit'}")
            continue
        first[key] = i
        if manifest is None or ns.limits.allowed_kinds is None:
            continue
        known = sorted(k.kind for kinds in manifest.runtimes.values() for k in kinds)
        for kind in ns.limits.allowed_kinds:
            if kind not in known:
                out.append(f"{where}.limits.allowed_kinds: {kind!r} is not a kind of the runtime "
                           f"manifest {runtimes_cfg.manifest if runtimes_cfg else ''} (got {kind!r}); "
                           f"use one of {', '.join(known)}")
    return out


def _kubernetes_checks(s: dict[str, Any], supplied: frozenset[str],
                       manifest: runtimes.Manifest | None, mode: str | None, factory: str | None,
                       base_dir: Path) -> list[str]:
    """platform: kubernetes: the instances come from kubernetes.replicas, not from hosts, and
    what only Docker hosts have (ssh, host directories, published ports) is refused."""
    out: list[str] = []
    hosts = s.get("hosts")
    if hosts:
        out.append(f"{NAMESPACE}:hosts: used only with platform: docker (got {len(hosts)} "
                   f"host(s)); remove it (pulumi config rm {NAMESPACE}:hosts): on kubernetes the "
                   f"instances of each service come from kubernetes.replicas")
    where = f"{NAMESPACE}:kubernetes"
    kube: Kubernetes | None = (s["kubernetes"] or Kubernetes()) if "kubernetes" in s else None
    store = s.get("activation_store")
    es = store is not None and store.backend == "elasticsearch"
    if kube is not None:
        r = kube.replicas
        explicit = r.model_fields_set
        for name in ("zookeeper", "etcd"):
            n = getattr(r, name)
            if n % 2 == 0:
                out.append(f"{where}.replicas.{name}: a quorum needs an odd number of members "
                           f"(got {n}); set it to {n - 1} or {n + 1}")
        if mode == "classic":
            out += [f"{where}.replicas.{name}: used only in scheduler mode, but the stack runs in "
                    f"classic mode (got {getattr(r, name)}); remove it or set version.mode: "
                    f"scheduler" for name in ("etcd", "scheduler") if name in explicit]
        if not es and store is not None and "elasticsearch" in explicit:
            out.append(f"{where}.replicas.elasticsearch: used only with activation_store.backend: "
                       f"elasticsearch (got {r.elasticsearch}); remove it or set "
                       f"activation_store.backend: elasticsearch")
        if factory == "docker" and "invoker" in explicit:
            out.append(f"{where}.replicas.invoker: the docker container factory runs one invoker "
                       f"on every node that matches kubernetes.invoker_node_label (a DaemonSet) "
                       f"(got {r.invoker}); remove it, or use invoker.container_factory: "
                       f"kubernetes for a fixed number of invokers")
        out += _replication_check(s.get("kafka"), r.kafka, "raise kubernetes.replicas.kafka")
        out += _seed_count_check(s.get("controller"), r.controller,
                                 "raise kubernetes.replicas.controller")
        out += _kubernetes_edge_checks(kube, s.get("edge"))
        out += _kubernetes_resource_checks(kube, s)
        if mode is not None and factory is not None:
            out += _kubernetes_name_checks(kube, mode, es, factory, s.get("kafka"))
    out += _kubernetes_registry_checks(s.get("registry"), s.get("builds"), supplied, base_dir)
    out += _docker_only_checks(s, supplied, factory)
    invoker = s.get("invoker")
    if invoker is not None and manifest is not None:
        need = runtimes.stem_cell_memory_mb(manifest)
        if need > invoker.user_memory_mb:
            out.append(f"{NAMESPACE}:invoker.user_memory_mb: less than the {need} MB that the stem "
                       f"cells of the runtime manifest take when an invoker starts (got "
                       f"{invoker.user_memory_mb}); raise it to at least {need} or lower stemCells "
                       f"in {s['runtimes'].manifest}")
    return out


#: Services whose heap the plan sets to half their memory (planner.kubernetes.HEAP).
HEAP_SERVICES = ("controller", "scheduler", "invoker", "kafka", "zookeeper", "elasticsearch")
#: The least memory of a service with a JVM: a heap of 256 MiB.
MIN_JVM_MEMORY_MIB = 512


def _kubernetes_resource_checks(kube: Kubernetes, s: dict[str, Any]) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:kubernetes.resources"
    for name in PodResourcesByService.model_fields:
        r: PodResources = getattr(kube.resources, name)
        if name in HEAP_SERVICES and r.memory is not None and quantity_mib(r.memory) < MIN_JVM_MEMORY_MIB:
            out.append(f"{where}.{name}.memory: the heap is half of it, and a heap under 256 MiB "
                       f"does not run {name} (got {r.memory!r}); give it at least 512Mi")
        cpu = r.cpu or DEFAULT_POD_RESOURCES[name][0]
        if r.cpu_limit is not None and cpu_cores(r.cpu_limit) < cpu_cores(cpu):
            out.append(f"{where}.{name}.cpu_limit: below the CPU request {cpu!r}, which "
                       f"Kubernetes refuses (got {r.cpu_limit!r}); raise it to at least {cpu!r}, "
                       f"or lower {name}.cpu too")
    for section in env_rules.SECTIONS:
        model = s.get(section)
        for key, field in env_rules.KUBERNETES_PLANNED.items():
            if model is not None and key in model.extra_env:
                out.append(f"{NAMESPACE}:{section}.extra_env.{key}: on kubernetes the plan sets "
                           f"the heap to half the pod's memory (got {_show(model.extra_env[key])}); "
                           f"remove it and set {field.format(section=section)} instead")
    return out


def _kubernetes_edge_checks(kube: Kubernetes, edge: Edge | None) -> list[str]:
    out: list[str] = []
    if edge is None:
        return out
    if kube.ingress is None and edge.api_host is None:
        out.append(f"{NAMESPACE}:edge.api_host: required on kubernetes without kubernetes.ingress "
                   f"(got none); set it to the name or address wsk reaches the edge Service at "
                   f"(e.g. the load balancer's DNS name), or set kubernetes.ingress.host")
    if kube.ingress is not None and edge.api_host not in (None, kube.ingress.host):
        out.append(f"{NAMESPACE}:edge.api_host: differs from kubernetes.ingress.host, which is the "
                   f"API host with an ingress (got {edge.api_host!r}); remove it or set it to "
                   f"{kube.ingress.host!r}")
    if kube.edge_service_type == "NodePort":
        for key in ("https_port", "http_port"):
            port = getattr(edge, key)
            if port is not None and not 30000 <= port <= 32767:
                out.append(f"{NAMESPACE}:edge.{key}: with kubernetes.edge_service_type NodePort it "
                           f"is the node port, which Kubernetes takes from 30000-32767 (got "
                           f"{port}); set it to a free port in that range, e.g. "
                           f"{31001 if key == 'https_port' else 31080}")
    if edge.http_port is not None and edge.http_port == edge.https_port:
        out.append(f"{NAMESPACE}:edge.http_port: the same port as edge.https_port, and one "
                   f"{'node port' if kube.edge_service_type == 'NodePort' else 'Service port'} "
                   f"cannot serve both (got {edge.http_port}); give it another port, or null for "
                   f"no plain-HTTP redirect")
    return out


def _kubernetes_name_checks(kube: Kubernetes, mode: str, es: bool, factory: str,
                            kafka: Kafka | None) -> list[str]:
    from planner import kube_names  # noqa: PLC0415 - config is loaded; planner imports config

    r = kube.replicas
    replicas = {"couchdb": 1, "zookeeper": r.zookeeper, "kafka": r.kafka,
                "controller": r.controller}
    if mode == "scheduler":
        replicas |= {"etcd": r.etcd, "scheduler": r.scheduler}
    if es:
        replicas["elasticsearch"] = r.elasticsearch
    if factory == "kubernetes":
        replicas["invoker"] = r.invoker
    scram = kafka is not None and kafka.sasl is not None and kafka.sasl.mechanism != "PLAIN"
    names = kube_names.expected_names(
        kube.release, replicas, jobs=("couchdb-init",) + (("kafka-scram-users",) if scram else ()),
        deployments=("edge",), daemonsets=("invoker",) if factory == "docker" else (),
        extra_services=("controller-api", "edge-backend"))
    over = [(len(n) - kube_names.limit(k), k, n) for k, n in names if len(n) > kube_names.limit(k)]
    if not over:
        return []
    excess, kind, name = max(over)
    return [f"{NAMESPACE}:kubernetes.release: too long for the object names made from it: "
            f"{kind} {name!r} would have {len(name)} characters, more than "
            f"{kube_names.limit(kind)} (got {kube.release!r}); use at most "
            f"{len(kube.release) - excess} characters"]


def _kubernetes_registry_checks(registry: Registry | None, builds: dict[str, Build] | None,
                                supplied: frozenset[str], base_dir: Path) -> list[str]:
    out: list[str] = []
    if registry is None:
        return out
    where = f"{NAMESPACE}:registry"
    if registry.mode == "deploy":
        out.append(f"{where}.mode: deploy runs the registry on a Docker host, and kubernetes has "
                   f"none (got 'deploy'); use mode: external with a registry the cluster's nodes "
                   f"can pull from, or none")
    out += _external_registry_checks(registry, supplied)
    if registry.mode == "external" and registry.builder is None:
        out.append(f"{where}.builder: required on kubernetes with mode external, to pull, build "
                   f"and push the images (got none); set it to a Docker endpoint, e.g. "
                   f"unix:///var/run/docker.sock or ssh://user@build-host")
    if registry.mode == "none" and registry.builder is not None:
        out.append(f"{where}.builder: used only with a registry (got {registry.builder!r}); remove "
                   f"it or set registry.mode: external")
    if registry.build_host is not None:
        out.append(f"{where}.build_host: names a Docker host, and kubernetes has none (got "
                   f"{registry.build_host!r}); remove it and set registry.builder instead")
    if registry.ca_cert is not None:
        out.append(f"{where}.ca_cert: the program cannot make the cluster's nodes trust a CA (got "
                   f"a certificate); install the CA on every node's container runtime and on the "
                   f"builder, then remove it")
    return out + _build_checks(registry, builds, base_dir, "external")


def _docker_only_checks(s: dict[str, Any], supplied: frozenset[str], factory: str | None) -> list[str]:
    """Settings that only mean something on Docker hosts (or with the docker factory)."""
    out: list[str] = []
    rm = "remove it (pulumi config rm --path '{}')"
    if s.get("ssh") is not None:
        out.append(f"{NAMESPACE}:ssh: used only to reach Docker hosts (got "
                   f"{_show(s['ssh'].model_dump(exclude_defaults=True))}); remove it (pulumi "
                   f"config rm {NAMESPACE}:ssh); an ssh:// registry.builder uses your ssh agent")
    if "ssh_private_key" in supplied:
        out.append(f"{NAMESPACE}:ssh_private_key: used only to prepare Docker hosts over ssh (got a "
                   f"secret value); remove it (pulumi config rm {NAMESPACE}:ssh_private_key)")
    storage = s.get("storage")
    if storage is not None and storage.data_dir is not None:
        out.append(f"{NAMESPACE}:storage.data_dir: a directory on Docker hosts (got "
                   f"{storage.data_dir!r}); {rm.format('storage.data_dir')}: on kubernetes data "
                   f"lives on PersistentVolumeClaims (kubernetes.storage_class, volume_size)")
    verify = s.get("verify")
    for key in ("enabled", "timeout_s"):
        if verify is not None and key in verify.model_fields_set and getattr(verify, key) is not False:
            out.append(f"{NAMESPACE}:verify.{key}: the post-deploy check runs only on the docker "
                       f"platform (got {_show(getattr(verify, key))}); "
                       f"{rm.format(f'verify.{key}')} and check a kubernetes stack with wsk (see "
                       f"the README, Kubernetes)")
    logs = s.get("logs")
    for key in sorted(logs.model_fields_set if logs is not None else ()):
        out.append(f"{NAMESPACE}:logs.{key}: log bounds of Docker hosts; on kubernetes the kubelet "
                   f"rotates container logs by its own settings (got "
                   f"{_show(getattr(logs, key).model_dump())}); {rm.format(f'logs.{key}')}")
    for section, key in (("couchdb", "port"), ("controller", "http_port"),
                         ("scheduler", "http_port"), ("invoker", "http_port")):
        model = s.get(section)
        if model is not None and key in model.model_fields_set:
            out.append(f"{NAMESPACE}:{section}.{key}: a port published on a Docker host; on "
                       f"kubernetes components reach each other at their container ports (got "
                       f"{getattr(model, key)}); {rm.format(f'{section}.{key}')}")
    invoker = s.get("invoker")
    if invoker is not None and factory == "kubernetes":
        for key in ("docker_root", "runc_state_dir"):
            if key in invoker.model_fields_set:
                out.append(f"{NAMESPACE}:invoker.{key}: used only with the docker container "
                           f"factory (got {getattr(invoker, key)!r}); "
                           f"{rm.format(f'invoker.{key}')} or set invoker.container_factory: "
                           f"docker")
    return out


def _seed_count_check(controller: Controller | None, controllers: int, more: str) -> list[str]:
    if controller is not None and controller.seed_count and controllers \
            and controller.seed_count > controllers:
        return [f"{NAMESPACE}:controller.seed_count: seed nodes are chosen among the "
                f"{controllers} controller(s), so at most {controllers} (got "
                f"{controller.seed_count}); lower it or {more}"]
    return []


def _replication_check(kafka: Kafka | None, brokers: int, more: str) -> list[str]:
    if kafka is not None and brokers and kafka.replication_factor > brokers:
        return [f"{NAMESPACE}:kafka.replication_factor: more than the number of Kafka brokers, "
                f"{brokers} (got {kafka.replication_factor}); lower it to at most {brokers} or "
                f"{more}"]
    return []


def _extra_env_checks(s: dict[str, Any], mode: str | None) -> list[str]:
    """Each refused key of the components' extra_env (rules and reasons in extra_env.py)."""
    out: list[str] = []
    version: Version | None = s.get("version")
    family = tag = None
    if version is not None:
        family = version.actor_system or (version.known.actor_system if version.known else None)
        tag = version.tag
    for section in env_rules.SECTIONS:
        model = s.get(section)
        if model is None:
            continue
        where = f"{NAMESPACE}:{section}.extra_env"
        if section == "scheduler" and mode == "classic" and model.extra_env:
            out.append(f"{where}: the stack runs in classic mode, which has no scheduler (got "
                       f"{_show(sorted(model.extra_env))}); remove it or set version.mode: "
                       f"scheduler")
            continue
        for key, value in model.extra_env.items():
            if section == "invoker" and key in env_rules.TRANSLATED:
                explicit = model.use_runc if "use_runc" in model.model_fields_set else None
                found = env_rules.use_runc_problem(value, explicit)
            else:
                found = env_rules.check(section, key, value, family, tag)
            if found is None:
                continue
            path = where if found.got else f"{where}.{key}"
            got = found.got or ("a hidden value" if env_rules.looks_secret(key) else _show(value))
            out.append(f"{path}: {found.what} (got {got}); {found.fix}")
    return out


def _ssh_key_checks(hosts: tuple[Host, ...], ssh: Ssh | None, supplied: frozenset[str]) -> list[str]:
    over_ssh = [repr(h.name) for h in hosts if docker_endpoint(h, ssh).startswith("ssh://")]
    key = f"{NAMESPACE}:ssh_private_key"
    if over_ssh and "ssh_private_key" not in supplied:
        which = f"host {over_ssh[0]} is" if len(over_ssh) == 1 else \
            f"hosts {', '.join(over_ssh)} are"
        return [f"{key}: required because {which} reached over ssh:// (got none); set it with "
                f"pulumi config set --secret ssh_private_key < ~/.ssh/id_ed25519 (the private key "
                f"the ssh user logs in with)"]
    if not over_ssh and "ssh_private_key" in supplied:
        return [f"{key}: set, but no host is reached over ssh://, so it would be ignored (got a "
                f"secret value); set {NAMESPACE}:ssh to reach the hosts over ssh, or remove it "
                f"(pulumi config rm {key})"]
    return [f"{NAMESPACE}:hosts[{i}].ssh_host_key: host {h.name!r} is not reached over ssh://, so "
            f"the key would be ignored (got {h.ssh_host_key[:20] + '...'!r}); remove it"
            for i, h in enumerate(hosts)
            if h.ssh_host_key and not docker_endpoint(h, ssh).startswith("ssh://")]


def _version_checks(version: Version, images: Images | None,
                    registry: Registry | None, catalog: Catalog | None = None) -> list[str]:
    out: list[str] = []
    known = version.known
    if version.tag in MUTABLE_TAGS and not version.allow_mutable_tags:
        out.append(f"{NAMESPACE}:version.tag: a mutable tag, so each host keeps whatever image it "
                   f"pulled last (got {version.tag!r}); pin a release tag (a short commit SHA such "
                   f"as '1fae641') or set version.allow_mutable_tags: true")
    if known is None:
        unknown = (f"required for tag {version.tag!r}, which is none of the known tags "
                   f"{', '.join(list(KNOWN_TAGS)[:-1])} and {list(KNOWN_TAGS)[-1]}")
        if version.actor_system is None:
            out.append(f"{NAMESPACE}:version.actor_system: {unknown} (got none); set it to 'pekko' "
                       f"for images built since 2025-10-19 (7538ced), else 'akka'")
        if version.mode is None:
            out.append(f"{NAMESPACE}:version.mode: {unknown} (got none); set it to 'scheduler' "
                       f"(the default since 2.0.0) or 'classic'")
    elif version.actor_system and version.actor_system != known.actor_system:
        out.append(f"{NAMESPACE}:version.actor_system: tag {version.tag!r} reads "
                   f"{known.actor_system} keys (got {version.actor_system!r}); remove the setting "
                   f"or set it to {known.actor_system!r}")
    # Every image reference the config holds: the third-party images and the deployed registry's.
    refs = {f"images.{k}": ref for k, ref in (images.model_dump() if images else {}).items()}
    if registry is not None:
        refs["registry.image"] = registry.image
    if catalog is not None and catalog.image is not None:
        refs["catalog.image"] = catalog.image
    if not version.allow_mutable_tags:
        for path, ref in refs.items():
            tag = _tag_of(ref)
            if tag in MUTABLE_TAGS:
                what = f"'{tag}' is a mutable tag" if ":" in ref.rsplit("/", 1)[-1] else \
                    "no tag means 'latest', a mutable tag"
                out.append(f"{NAMESPACE}:{path}: {what} (got {ref!r}); pin a version tag or "
                           f"a digest, or set version.allow_mutable_tags: true")
            elif tag is not None and FLOATING_TAG.fullmatch(tag):
                out.append(f"{NAMESPACE}:{path}: the tag '{tag}' names a release line, which moves "
                           f"to each new release (got {ref!r}); pin a full release tag (major.minor.patch) "
                           f"or a digest, or set version.allow_mutable_tags: true")
    return out


def _registry_checks(hosts: tuple[Host, ...], registry: Registry | None,
                     builds: dict[str, Build] | None, supplied: frozenset[str],
                     base_dir: Path) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:registry"
    carriers = [(i, h) for i, h in enumerate(hosts) if "registry" in h.roles]
    if registry is not None:
        if registry.mode == "deploy" and len(carriers) != 1:
            got = ", ".join(repr(h.name) for _, h in carriers) or "none"
            out.append(f"{where}.mode: deploy needs exactly one host with the role 'registry' (got "
                       f"{got}); give the role to one host")
        if registry.mode != "deploy":
            out += [f"{NAMESPACE}:hosts[{i}].roles: role 'registry' is used only with "
                    f"registry.mode: deploy (got mode {registry.mode!r}); remove the role or set "
                    f"registry.mode: deploy" for i, _ in carriers]
        out += _external_registry_checks(registry, supplied)
        if registry.ca_cert is not None and registry.mode != "external":
            out.append(f"{where}.ca_cert: used only with mode external (got a certificate); "
                       f"remove it (deploy mode makes its own CA)")
        names = [h.name for h in hosts]
        if registry.build_host is not None and registry.build_host not in names:
            out.append(f"{where}.build_host: no such host (got {registry.build_host!r}); use one "
                       f"of {', '.join(names)}")
        if registry.build_host is not None and registry.mode == "none":
            out.append(f"{where}.build_host: used only with a registry (got "
                       f"{registry.build_host!r}); remove it or set registry.mode")
    return out + _build_checks(registry, builds, base_dir, "deploy or external")


def _external_registry_checks(registry: Registry, supplied: frozenset[str]) -> list[str]:
    """What external mode needs, and what only it uses (both platforms)."""
    out = []
    where = f"{NAMESPACE}:registry"
    if registry.mode == "external":
        if registry.address is None:
            out.append(f"{where}.address: required with mode external (got none); set it "
                       f"with pulumi config set --path 'registry.address' host:port")
        if "registry_password" not in supplied:
            out.append(f"{NAMESPACE}:registry_password: required with registry.mode: external "
                       f"(got none); set it with pulumi config set --secret registry_password")
    elif registry.address is not None:
        out.append(f"{where}.address: used only with mode external (got "
                   f"{registry.address!r}); remove it or set registry.mode: external")
    if registry.mode != "external" and "registry_password" in supplied:
        out.append(f"{NAMESPACE}:registry_password: used only with registry.mode: external "
                   f"(got a secret value); remove it (pulumi config rm "
                   f"{NAMESPACE}:registry_password); deploy mode generates its own")
    return out


def _build_checks(registry: Registry | None, builds: dict[str, Build] | None, base_dir: Path,
                  modes: str) -> list[str]:
    out = []
    if builds and registry is not None and registry.mode == "none":
        out.append(f"{NAMESPACE}:builds: built images reach the hosts through a registry (got "
                   f"builds for {', '.join(sorted(builds))} with registry.mode 'none'); set "
                   f"registry.mode: {modes}")
    for key, build in sorted((builds or {}).items()):
        context = Path(base_dir) / build.context
        if not context.is_dir():
            out.append(f"{NAMESPACE}:builds.{key}.context: not a directory (got "
                       f"{build.context!r}); point it at the build context, relative to the "
                       f"project directory")
        elif not (context / (build.dockerfile or "Dockerfile")).is_file():
            out.append(f"{NAMESPACE}:builds.{key}.dockerfile: no such file in the context (got "
                       f"{build.dockerfile or 'Dockerfile'!r}); set dockerfile relative to "
                       f"{build.context!r}")
    return out


REQUIRED_ROLES = ("couchdb", "zookeeper", "kafka", "controller", "invoker", "edge")
SCHEDULER_ROLES = ("etcd", "scheduler")
SINGLE_ROLES = ("couchdb", "edge")


#: One `authorized_keys`/`ssh-keyscan` key: type, base64 blob, optional comment.
SSH_PUBLIC_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|"
                            r"sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( \S.*)?")


def _free_ids(taken: set[int]):
    """The ids not in `taken`, lowest first."""
    n = 0
    while True:
        if n not in taken:
            yield n
        n += 1


def _host_checks(hosts: tuple[Host, ...], mode: str | None,
                 store: ActivationStore | None) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:hosts"
    if not hosts:
        return [f"{where}: no hosts (got none); list at least one host with its name, address "
                f"and roles"]
    for field in ("name", "address"):
        seen: dict[str, int] = {}
        for i, h in enumerate(hosts):
            value = getattr(h, field)
            if value.lower() in seen:
                out.append(f"{where}[{i}].{field}: hosts[{seen[value.lower()]}] has the same "
                           f"{field} (got {value!r}); give every host a unique {field}")
            seen.setdefault(value.lower(), i)
    if len(hosts) > 1:
        free = _free_ids({h.id for h in hosts if h.id is not None})
        ids: dict[int, int] = {}
        for i, h in enumerate(hosts):
            if h.id is None:
                out.append(f"{where}[{i}].id: required when the stack has several hosts (got none); "
                           f"give host {h.name!r} a number that never changes, e.g. {next(free)}")
            elif h.id in ids:
                out.append(f"{where}[{i}].id: hosts[{ids[h.id]}] has the same id (got {h.id}); "
                           f"give every host a unique id, e.g. {next(free)}")
            else:
                ids[h.id] = i
    out += _role_id_checks(hosts)
    # Checked here, not on the field, so that a too-small override on one host does not hide the
    # stem-cell rule's findings on the others (which needs the hosts section valid).
    out += [f"{where}[{i}].user_memory_mb: must be at least {MIN_MEMORY_MB} (got {h.user_memory_mb}); "
            f"set it with pulumi config set --path 'hosts[{i}].user_memory_mb' <integer>"
            for i, h in enumerate(hosts)
            if h.user_memory_mb is not None and h.user_memory_mb < MIN_MEMORY_MB]
    present = [r for r in get_args(Role) if any(r in h.roles for h in hosts)]
    needed = [(r, "every stack needs") for r in REQUIRED_ROLES]
    if mode == "scheduler":
        needed += [(r, "scheduler mode needs") for r in SCHEDULER_ROLES]
    for role, why in needed:
        if role not in present:
            out.append(f"{where}: no host has the role {role!r}, which {why} (got roles "
                       f"{', '.join(present)}); add {role!r} to the roles of one host")
    for role in SINGLE_ROLES:
        carriers = [repr(h.name) for h in hosts if role in h.roles]
        if len(carriers) > 1:
            out.append(f"{where}: role {role!r} is on {len(carriers)} hosts (got hosts "
                       f"{', '.join(carriers)}); keep it on exactly one host")
    if mode == "classic":
        for i, h in enumerate(hosts):
            for role in SCHEDULER_ROLES:
                if role in h.roles:
                    out.append(f"{where}[{i}].roles: role {role!r} is used only in scheduler mode, "
                               f"but the stack runs in classic mode (got {role!r}); remove the role "
                               f"or set version.mode: scheduler")
    for role in ("zookeeper", "etcd"):
        carriers = [repr(h.name) for h in hosts if role in h.roles]
        n = len(carriers)
        if n % 2 == 0 and n:
            out.append(f"{where}: an even number of hosts have the role {role!r}, but a quorum needs "
                       f"an odd number (got {n} hosts: {', '.join(carriers)}); give the role to "
                       f"{n - 1} or {n + 1} hosts")
    if store is not None:
        es_hosts = [i for i, h in enumerate(hosts) if "elasticsearch" in h.roles]
        if store.backend == "elasticsearch" and not es_hosts:
            out.append(f"{NAMESPACE}:activation_store.backend: no host has the role "
                       f"'elasticsearch' (got 'elasticsearch'); add 'elasticsearch' to the roles "
                       f"of one host or use backend: couchdb")
        if store.backend == "couchdb":
            out += [f"{where}[{i}].roles: role 'elasticsearch' is used only with "
                    f"activation_store.backend: elasticsearch (got backend 'couchdb'); remove the "
                    f"role or set activation_store.backend: elasticsearch" for i in es_hosts]
    out += _invoker_id_checks(hosts)
    return out


#: Roles whose service takes its id from the host id, with the highest id it accepts and why.
ROLE_ID_LIMITS = {
    "zookeeper": (254, "ZooKeeper's myid is the host id plus one and at most 255"),
    "kafka": (1000, "the Kafka broker id is the host id, and Kafka refuses ids above "
                    "reserved.broker.max.id (1000)"),
}


def _role_id_checks(hosts: tuple[Host, ...]) -> list[str]:
    """Host ids are otherwise unbounded; only the roles that turn them into a service id limit them."""
    out: list[str] = []
    taken = {h.id for h in hosts if h.id is not None}
    for i, h in enumerate(hosts):
        for role, (most, why) in ROLE_ID_LIMITS.items():
            if role in h.roles and h.id is not None and h.id > most:
                free = next((n for n in range(most + 1) if n not in taken), None)
                fix = (f"give host {h.name!r} a free id from 0 to {most}, e.g. {free}" if free is not None
                       else f"move the role {role!r} to a host with an id from 0 to {most}")
                out.append(f"{NAMESPACE}:hosts[{i}].id: host {h.name!r} has the role {role!r}: "
                           f"{why} (got {h.id}); {fix}")
    return out


def _invoker_id_checks(hosts: tuple[Host, ...]) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:hosts"
    carriers = [(i, h) for i, h in enumerate(hosts) if "invoker" in h.roles]
    free = _free_ids({n for _, h in carriers for n in (h.invoker_ids or ())})
    owner: dict[int, int] = {}
    for i, h in enumerate(hosts):
        if h.invoker_ids is not None and "invoker" not in h.roles:
            out.append(f"{where}[{i}].invoker_ids: host {h.name!r} has no 'invoker' role (got "
                       f"{list(h.invoker_ids)}); add the role or remove invoker_ids")
    for i, h in carriers:
        for n in h.invoker_ids or ():
            if n in owner:
                out.append(f"{where}[{i}].invoker_ids: invoker id {n} is also on "
                           f"hosts[{owner[n]}] (got {list(h.invoker_ids or ())}); give every "
                           f"invoker its own id, e.g. {next(free)}")
            owner.setdefault(n, i)
    if len(carriers) > 1:
        for i, h in carriers:
            if h.invoker_ids is None:
                out.append(f"{where}[{i}].invoker_ids: required when several hosts run invokers "
                           f"(got none); ids stay with their host, so set e.g. [{next(free)}]")
    return out


def _memory_checks(hosts: tuple[Host, ...], invoker: Invoker, manifest: runtimes.Manifest,
                   manifest_path: str) -> list[str]:
    need = runtimes.stem_cell_memory_mb(manifest)
    short: dict[str, list[str]] = {}  # config path -> names of the invoker hosts it leaves short
    for i, h in enumerate(hosts):
        have = invoker.user_memory_mb if h.user_memory_mb is None else h.user_memory_mb
        if "invoker" in h.roles and need > have >= MIN_MEMORY_MB:
            where = "invoker.user_memory_mb" if h.user_memory_mb is None else f"hosts[{i}].user_memory_mb"
            short.setdefault(where, []).append(h.name)
    out = []
    for where, names in short.items():
        have = invoker.user_memory_mb if where.startswith("invoker.") else \
            hosts[int(where[6:where.index("]")])].user_memory_mb
        out.append(f"{NAMESPACE}:{where}: less than the {need} MB that the stem cells of the "
                   f"runtime manifest take when an invoker starts on host"
                   f"{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} (got "
                   f"{have}); raise it to at least {need} or lower stemCells in {manifest_path}")
    return out


def read_stack_config(base_dir: Path | str = ".") -> Stack:
    """Read and validate this stack's `openwhisk:*` config from the running Pulumi program."""
    import pulumi  # noqa: PLC0415 - kept local so the planner's import graph stays Pulumi-free
    from pulumi.runtime import config as runtime_config  # noqa: PLC0415

    prefix = f"{NAMESPACE}:"
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    secret, plain = set(), set()
    for full_key, value in merged.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if key in SECRET_KEYS:
            (secret if runtime_config.is_config_secret(full_key) else plain).add(key)
            continue
        if runtime_config.is_config_secret(full_key):
            raw[key] = ENCRYPTED  # never let a secret's value reach a problem line
            continue
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raw[key] = value
    del pulumi
    return parse(raw, secret_keys=frozenset(secret | plain), plain_keys=frozenset(plain),
                 base_dir=base_dir)
