"""The stack configuration: the schema of every `openwhisk:*` key and the one place it is read.

`parse()` is pure (no Pulumi import): it turns the raw key/value map of a stack into a frozen
`StackConfig`, or raises `ConfigError` listing every problem at once, each line naming the config
path, the value found, what is expected and how to fix it. `read_stack_config()` feeds it from the
running Pulumi program. Secrets never enter these models; they are separate top-level keys read as
Pulumi secrets (see `SECRET_KEYS`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

import runtimes

NAMESPACE = "openwhisk"

Platform = Literal["docker", "kubernetes"]
ActorSystem = Literal["akka", "pekko"]
Mode = Literal["classic", "scheduler"]
Role = Literal[
    "couchdb", "zookeeper", "kafka", "elasticsearch", "etcd",
    "controller", "scheduler", "invoker", "edge",
]

#: Secret keys, each a top-level `openwhisk:<key>` set with `pulumi config set --secret`.
#: All are optional: what is not supplied is generated and kept as a Pulumi secret.
SECRET_KEYS = {
    "couchdb_admin_password": "CouchDB admin password (generated when unset)",
    "edge_tls_cert": "PEM certificate for the edge (needs edge.tls: provided)",
    "edge_tls_key": "PEM private key for the edge (needs edge.tls: provided)",
}

#: Generated secrets that `openwhisk:rotate` can rotate.
ROTATABLE = (
    "couchdb_admin_password", "couchdb_controller_password", "couchdb_invoker_password",
    "couchdb_scheduler_password", "guest_auth", "system_auth", "controller_admin_password",
    "invoker_admin_password", "scheduler_admin_password", "elasticsearch_password", "edge_tls",
)

MUTABLE_TAGS = {"latest", "nightly"}


@dataclass(frozen=True)
class KnownTag:
    """What an upstream image tag (a short commit SHA) is known to read."""

    actor_system: ActorSystem
    default_mode: Mode
    build_date: str
    scheduler_needs_zookeeper: bool


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


def _tag_of(image: str) -> str | None:
    if "@sha256:" in image:
        return None  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


class Version(Model):
    """The OpenWhisk core image version and the key family it reads."""

    tag: str = Field(min_length=1)
    """Pinned image tag of openwhisk/controller, invoker and scheduler (a short commit SHA)."""
    actor_system: ActorSystem | None = None
    """`akka` or `pekko` key family; filled from KNOWN_TAGS, required for other tags."""
    mode: Mode | None = None
    """`classic` (controller load balancer) or `scheduler` (etcd + scheduler); default from the tag."""
    build_date: str | None = None
    """Shown by GET /api/v1; filled from KNOWN_TAGS, else `unknown`."""
    image_prefix: str = "openwhisk"
    """Repository prefix of the core images."""
    allow_mutable_tags: bool = False
    """Allow `latest`/`nightly` tags (for throw-away dev stacks only)."""

    @property
    def known(self) -> KnownTag | None:
        return KNOWN_TAGS.get(self.tag)


class Host(Model):
    """One machine running Docker."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    """Stable key of the host: logical names and container placement derive from it."""
    address: str
    """Static IP or DNS name other hosts and containers reach this host at."""
    docker: str = "unix:///var/run/docker.sock"
    """Docker endpoint: `unix:///path` or `ssh://user@host[:port]`."""
    roles: tuple[Role, ...] = Field(min_length=1)
    id: int | None = Field(default=None, ge=0, le=254)
    """Stable number of the host: instance id of its controller, scheduler, Kafka broker, etc."""
    invoker_ids: tuple[int, ...] | None = None
    """Ids of the invokers on this host; default [0] when only one host runs invokers."""
    use_runc: bool | None = None
    """Per-host override of invoker.use_runc."""
    user_memory_mb: int | None = Field(default=None, ge=256)
    """Per-host override of invoker.user_memory_mb."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        problem = address_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("docker")
    @classmethod
    def _docker(cls, value: str) -> str:
        if not re.fullmatch(r"unix:///\S+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:\d{1,5})?", value):
            raise ValueError(
                "expected unix:///var/run/docker.sock or ssh://user@host[:port]; "
                "set the host's docker endpoint to one of those forms"
            )
        return value

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        dupes = sorted({r for r in value if value.count(r) > 1})
        if dupes:
            raise ValueError(f"role {dupes[0]!r} is listed twice; list each role once")
        return value

    @field_validator("invoker_ids")
    @classmethod
    def _invoker_ids(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or len(set(value)) != len(value) or min(value) < 0):
            raise ValueError("expected a non-empty list of distinct ids >= 0, e.g. [0] or [2, 3]")
        return value


def address_problem(value: str) -> str | None:
    """Why `value` cannot be an address other hosts and containers use, or None."""
    fix = "use the host's static IP or a DNS name reachable from every host and container"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        labels = value.rstrip(".").split(".")
        if not all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", x) for x in labels) \
                or value.replace(".", "").isdigit():
            return f"not an IP address or DNS name; {fix}"
        if value.lower() == "localhost":
            return f"localhost means the container itself inside a container; {fix}"
        return None
    if ip.is_loopback or ip.is_unspecified:
        return f"a loopback or unspecified address means the container itself inside a container; {fix}"
    return None


class Edge(Model):
    """The nginx edge in front of the controllers."""

    api_host: str | None = None
    """Name or IP that `wsk` and action containers use; default: the edge host's address."""
    https_port: int = Field(default=443, ge=1, le=65535)
    http_port: int | None = Field(default=80, ge=1, le=65535)
    """Plain-HTTP port that redirects to HTTPS; null to not listen."""
    tls: Literal["self-signed", "provided"] = "self-signed"
    """`provided` reads the secrets edge_tls_cert and edge_tls_key."""

    @field_validator("api_host")
    @classmethod
    def _api_host(cls, value: str | None) -> str | None:
        problem = value is not None and address_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Invoker(Model):
    """Invoker settings shared by every invoker (hosts may override some)."""

    container_factory: Literal["docker", "kubernetes"] = "docker"
    use_runc: bool = False
    """Pause/resume warm containers with the runc bundled in the image; must match the host's runc."""
    runc_state_dir: str = "/run/docker/runtime-runc/moby"
    """Host directory of the daemon's runc state, mapped to /run/runc when use_runc is true."""
    user_memory_mb: int = Field(default=2048, ge=256)
    """Memory for action containers per invoker."""
    docker_root: str = "/var/lib/docker"
    """The daemon's root directory; its containers/ subdirectory holds activation logs."""
    http_port: int = Field(default=12001, ge=1, le=65000)
    """Host port of invoker id 0; invoker N publishes http_port + N."""


class Controller(Model):
    http_port: int = Field(default=10001, ge=1, le=65535)
    remoting_port: int = Field(default=25520, ge=1, le=65535)
    """Fixed actor-system port, the same inside the container and on the host."""
    seed_count: int | None = Field(default=None, ge=1)
    """Seed nodes are the K controllers with the lowest ids; default all."""
    downing: Literal["none", "split-brain-resolver"] = "none"
    """Automatic downing of unreachable members (auto-down no longer exists in Akka 2.6/Pekko)."""


class Limits(Model):
    invokes_per_minute: int = Field(default=60, ge=1)
    concurrent_invokes: int = Field(default=30, ge=1)
    fires_per_minute: int = Field(default=60, ge=1)
    sequence_max_length: int = Field(default=50, ge=1)


class Runtimes(Model):
    manifest: str = "runtimes/default.json"
    """Runtime manifest path, relative to the project directory."""


class ActivationStore(Model):
    backend: Literal["couchdb", "elasticsearch"] = "couchdb"
    index_pattern: str = "openwhisk-%s"
    """ElasticSearch index per namespace; `%s` becomes the namespace."""


class Kafka(Model):
    port: int = Field(default=9092, ge=1, le=65535)
    replication_factor: int = Field(default=1, ge=1)


class Scheduler(Model):
    http_port: int = Field(default=14001, ge=1, le=65535)
    rpc_port: int = Field(default=13001, ge=1, le=65535)
    remoting_port: int = Field(default=25521, ge=1, le=65535)
    etcd_lease_timeout_s: int = Field(default=10, ge=1)
    time_window: str = "1 d"
    """Duration checker window (CONFIG_whisk_durationChecker_timeWindow)."""
    max_peek: int = Field(default=500, ge=1)
    """Invoker container-creation max peek."""


class CouchDB(Model):
    port: int = Field(default=5984, ge=1, le=65535)
    db_prefix: str = Field(default="whisk_", pattern=r"^[a-z][a-z0-9_]*$")


class Images(Model):
    """Third-party images, each pinned by tag or digest."""

    couchdb: str = "apache/couchdb:2.3.1"
    zookeeper: str = "zookeeper:3.5.9"
    kafka: str = "wurstmeister/kafka:2.13-2.7.0"
    etcd: str = "quay.io/coreos/etcd:v3.4.0"
    elasticsearch: str = "docker.elastic.co/elasticsearch/elasticsearch:6.7.2"
    nginx: str = "nginx:1.27.3"


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
    rotate: dict[str, int] = {}
    """Generation of each generated secret; bump one (e.g. guest_auth: 1) to rotate it."""

    @field_validator("rotate")
    @classmethod
    def _rotate(cls, value: dict[str, int]) -> dict[str, int]:
        for key, n in value.items():
            if key not in ROTATABLE:
                raise ValueError(f"{key!r} is not a generated secret; expected one of "
                                 f"{', '.join(ROTATABLE)}")
            if n < 0:
                raise ValueError(f"generation of {key!r} must be >= 0")
        return value

    @property
    def actor_system(self) -> ActorSystem:
        return self.version.actor_system or self.version.known.actor_system  # type: ignore[union-attr]

    @property
    def mode(self) -> Mode:
        return self.version.mode or self.version.known.default_mode  # type: ignore[union-attr]

    def hosts_with(self, role: str) -> list[Host]:
        """Hosts carrying `role`, ordered by host id (stable, never by list position)."""
        return sorted((h for h in self.hosts if role in h.roles), key=lambda h: (h.id or 0, h.name))


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


def _set_hint(path: str) -> str:
    return f"pulumi config set --path '{path.split(':', 1)[1]}' <value>"


def _pydantic_lines(err: ValidationError, prefix: tuple[Any, ...]) -> list[str]:
    lines = []
    for e in err.errors():
        loc = prefix + tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _path(loc)
        got = e.get("input")
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key (got {got!r}); remove it "
                         f"(pulumi config rm --path '{path.split(':', 1)[1]}') or fix its spelling")
        elif e["type"] == "missing":
            lines.append(f"{path}: required key is missing; set it with {_set_hint(path)}")
        elif e["type"] == "value_error":
            msg = str(e["ctx"]["error"]) if "ctx" in e else e["msg"]
            lines.append(f"{path}: {msg} (got {got!r})")
        else:
            lines.append(f"{path}: {e['msg'].lower()} (got {got!r}); set it with {_set_hint(path)}")
    return lines


def parse(raw: dict[str, Any], *, secret_keys: frozenset[str] = frozenset(),
          plain_keys: frozenset[str] = frozenset(), base_dir: Path | str = ".") -> Stack:
    """Validate a stack's raw `openwhisk:*` values (keys without the namespace) into a Stack.

    `secret_keys` are the secret keys the stack supplies; `plain_keys` those of them stored
    unencrypted. Raises ConfigError with every problem found.
    """
    problems: list[str] = []
    for key in sorted(raw):
        if key not in StackConfig.model_fields and key not in SECRET_KEYS:
            problems.append(f"{NAMESPACE}:{key}: unknown key (got {raw[key]!r}); remove it "
                            f"(pulumi config rm {NAMESPACE}:{key}) or fix its spelling")
    for key in sorted(plain_keys & SECRET_KEYS.keys()):
        problems.append(f"{NAMESPACE}:{key}: stored in plain text (got a non-secret value); "
                        f"set it with pulumi config set --secret {key} <value>")

    # A section is in `sections` only when it is valid (or defaulted), so that each cross-check
    # can run on whatever validated and every problem is reported in one pass.
    sections: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        if name in raw:
            try:
                sections[name] = TypeAdapter(field.annotation).validate_python(raw[name])
            except ValidationError as err:
                problems += _pydantic_lines(err, (name,))
        elif field.is_required():
            problems.append(f"{NAMESPACE}:{name}: required key is missing; set it with "
                            f"pulumi config set --path '{name}.tag' <image tag>")
        else:
            sections[name] = field.get_default()

    manifest = None
    if "runtimes" in sections:
        version = sections.get("version")
        try:
            manifest = runtimes.load_manifest(
                Path(base_dir) / sections["runtimes"].manifest,
                allow_mutable_tags=bool(version and version.allow_mutable_tags))
        except runtimes.ManifestError as err:
            problems += [f"{NAMESPACE}:runtimes.manifest: {p}" for p in err.problems]
    problems += _cross_checks(sections, frozenset(secret_keys), manifest)
    if problems:
        raise ConfigError(problems)
    assert manifest is not None
    return Stack(StackConfig(**sections), manifest, frozenset(secret_keys))


def _cross_checks(s: dict[str, Any], supplied: frozenset[str],
                  manifest: runtimes.Manifest | None) -> list[str]:
    """Rules that span keys; each runs only when the sections it reads are valid."""
    out: list[str] = []
    version: Version | None = s.get("version")
    mode = None
    if version is not None:
        out += _version_checks(version, s.get("images"))
        known = version.known
        mode = version.mode or (known.default_mode if known else None)

    platform, invoker, hosts = s.get("platform"), s.get("invoker"), s.get("hosts")
    if platform == "kubernetes":
        out.append(f"{NAMESPACE}:platform: 'kubernetes' is not available yet (got 'kubernetes'); "
                   f"use 'docker'")
    if invoker is not None and invoker.container_factory == "kubernetes":
        if platform == "docker":
            out.append(f"{NAMESPACE}:invoker.container_factory: the kubernetes factory needs "
                       f"platform: kubernetes (got 'kubernetes'); use 'docker' on Docker hosts")
        if invoker.use_runc:
            out.append(f"{NAMESPACE}:invoker.use_runc: runc pause/resume applies only to the docker "
                       f"container factory (got true with container_factory 'kubernetes'); set "
                       f"use_runc: false")
    if hosts is None or platform != "docker":
        return out
    out += _host_checks(hosts, mode, s.get("activation_store"))
    if invoker is not None and manifest is not None:
        out += _memory_checks(hosts, invoker, manifest)
    kafka = s.get("kafka")
    brokers = sum("kafka" in h.roles for h in hosts)
    if kafka is not None and brokers and kafka.replication_factor > brokers:
        out.append(f"{NAMESPACE}:kafka.replication_factor: {kafka.replication_factor} is more than "
                   f"the {brokers} Kafka broker(s) (got {kafka.replication_factor}); lower it to at "
                   f"most {brokers} or give the kafka role to more hosts")
    edge = s.get("edge")
    if edge is not None and edge.tls == "provided":
        for key in ("edge_tls_cert", "edge_tls_key"):
            if key not in supplied:
                out.append(f"{NAMESPACE}:{key}: required by edge.tls: provided (got none); set it "
                           f"with pulumi config set --secret {key} < file.pem")
    return out


def _version_checks(version: Version, images: Images | None) -> list[str]:
    out: list[str] = []
    known = version.known
    if version.tag in MUTABLE_TAGS and not version.allow_mutable_tags:
        out.append(f"{NAMESPACE}:version.tag: {version.tag!r} is a mutable tag, so each host keeps "
                   f"whatever image it pulled last; pin a release tag (a short commit SHA such as "
                   f"'1fae641') or set version.allow_mutable_tags: true")
    if known is None:
        for key, choices in (("actor_system", "'akka' or 'pekko'"), ("mode", "'classic' or 'scheduler'")):
            if getattr(version, key) is None:
                out.append(f"{NAMESPACE}:version.{key}: required for tag {version.tag!r}, which is "
                           f"not in the table of known tags (got none); state {choices} (images "
                           f"built after 2025-10-19 are pekko; since 2.0.0 the default mode is "
                           f"scheduler)")
    elif version.actor_system and version.actor_system != known.actor_system:
        out.append(f"{NAMESPACE}:version.actor_system: tag {version.tag!r} reads "
                   f"{known.actor_system} keys (got {version.actor_system!r}); remove the setting "
                   f"or set it to {known.actor_system!r}")
    if images is not None and not version.allow_mutable_tags:
        for key, ref in images.model_dump().items():
            if _tag_of(ref) in MUTABLE_TAGS:
                out.append(f"{NAMESPACE}:images.{key}: mutable tag (got {ref!r}); pin a version "
                           f"tag or a digest, or set version.allow_mutable_tags: true")
    return out


REQUIRED_ROLES = ("couchdb", "zookeeper", "kafka", "controller", "invoker", "edge")
SINGLE_ROLES = ("couchdb", "edge")


def _host_checks(hosts: tuple[Host, ...], mode: str | None,
                 store: ActivationStore | None) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:hosts"
    if not hosts:
        return [f"{where}: no hosts (got []); list at least one host with its address, docker "
                f"endpoint and roles"]
    for field in ("name", "address"):
        seen: dict[str, int] = {}
        for i, h in enumerate(hosts):
            value = getattr(h, field)
            if value in seen:
                out.append(f"{where}[{i}].{field}: duplicate {field} {value!r} (also hosts[{seen[value]}]); "
                           f"give every host a unique {field}")
            seen.setdefault(value, i)
    if len(hosts) > 1:
        ids: dict[int, int] = {}
        for i, h in enumerate(hosts):
            if h.id is None:
                out.append(f"{where}[{i}].id: required when the stack has several hosts (got none); "
                           f"give host {h.name!r} a stable number that never changes, e.g. {i}")
            elif h.id in ids:
                out.append(f"{where}[{i}].id: duplicate id {h.id} (also hosts[{ids[h.id]}]); "
                           f"give every host a unique id")
            else:
                ids[h.id] = i
    needed = list(REQUIRED_ROLES) + (["etcd", "scheduler"] if mode == "scheduler" else [])
    for role in needed:
        if not any(role in h.roles for h in hosts):
            out.append(f"{where}: no host has the role {role!r}, which is required; add {role!r} "
                       f"to the roles of one host")
    for role in SINGLE_ROLES:
        carriers = [h.name for h in hosts if role in h.roles]
        if len(carriers) > 1:
            out.append(f"{where}: role {role!r} is on {len(carriers)} hosts ({', '.join(carriers)}); "
                       f"exactly one host may carry it")
    if mode == "classic":
        for role in ("etcd", "scheduler"):
            for i, h in enumerate(hosts):
                if role in h.roles:
                    out.append(f"{where}[{i}].roles: {role!r} is only used in scheduler mode "
                               f"(got it with mode classic); remove the role or set version.mode: "
                               f"scheduler")
    for role in ("zookeeper", "etcd"):
        n = sum(role in h.roles for h in hosts)
        if n and n % 2 == 0:
            out.append(f"{where}: {n} hosts have the role {role!r}; a quorum needs an odd number, "
                       f"so use {n - 1} or {n + 1}")
    if store is not None:
        es_hosts = [i for i, h in enumerate(hosts) if "elasticsearch" in h.roles]
        if store.backend == "elasticsearch" and not es_hosts:
            out.append(f"{where}: activation_store.backend is elasticsearch but no host has the "
                       f"role 'elasticsearch'; add it to the roles of one host")
        if store.backend == "couchdb":
            out += [f"{where}[{i}].roles: 'elasticsearch' is only used with activation_store."
                    f"backend: elasticsearch (got backend couchdb); remove the role or switch the "
                    f"backend" for i in es_hosts]
    out += _invoker_id_checks(hosts)
    return out


def _invoker_id_checks(hosts: tuple[Host, ...]) -> list[str]:
    out: list[str] = []
    where = f"{NAMESPACE}:hosts"
    carriers = [(i, h) for i, h in enumerate(hosts) if "invoker" in h.roles]
    taken = sorted({n for _, h in carriers for n in (h.invoker_ids or ())})
    owner: dict[int, int] = {}
    for i, h in enumerate(hosts):
        if h.invoker_ids is not None and "invoker" not in h.roles:
            out.append(f"{where}[{i}].invoker_ids: host {h.name!r} has no 'invoker' role (got "
                       f"{list(h.invoker_ids)}); add the role or remove invoker_ids")
        for n in h.invoker_ids or ():
            if n in owner:
                out.append(f"{where}[{i}].invoker_ids: invoker id {n} is also on hosts[{owner[n]}]; "
                           f"every invoker needs its own id")
            owner.setdefault(n, i)
    if len(carriers) > 1:
        free = next(n for n in range(len(taken) + 1) if n not in taken)
        for i, h in carriers:
            if h.invoker_ids is None:
                out.append(f"{where}[{i}].invoker_ids: required when several hosts run invokers "
                           f"(got none); ids stay with their host, so set e.g. [{free}] (the lowest "
                           f"free id)")
    return out


def _memory_checks(hosts: tuple[Host, ...], invoker: Invoker, manifest: runtimes.Manifest) -> list[str]:
    out: list[str] = []
    need = runtimes.stem_cell_memory_mb(manifest)
    for i, h in enumerate(hosts):
        if "invoker" not in h.roles:
            continue
        have = h.user_memory_mb or invoker.user_memory_mb
        if need > have:
            where = (f"hosts[{i}].user_memory_mb" if h.user_memory_mb else "invoker.user_memory_mb")
            out.append(f"{NAMESPACE}:{where}: the runtime manifest's stem cells need {need} MB but "
                       f"invokers on host {h.name!r} get {have} MB (got {have}); raise the user "
                       f"memory to at least {need} or reduce stemCells in the manifest")
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
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raw[key] = value
    del pulumi
    return parse(raw, secret_keys=frozenset(secret | plain), plain_keys=frozenset(plain),
                 base_dir=base_dir)
