"""The OpenWhisk policies: what a preview must not contain before anything is applied.

This module only defines policy objects and their validate functions; importing it starts nothing
(constructing the `PolicyPack` in `__main__.py` does, and blocks). Tests import it directly.

Policies (all mandatory except `stateful-stores-flagged`, which is advisory):

- `no-mutable-image-tags`: image references must carry a fixed tag or a digest, never `latest`,
  `nightly` or no tag.
- `actor-system-static-address`: a container that advertises an Akka/Pekko actor system must
  advertise a reachable address and a fixed port that the container publishes.
- `stateful-volumes-retained`: Docker volumes and Kubernetes PersistentVolumeClaims are declared
  with `retain_on_delete`. pulumi-policy 1.21.0 does not pass that option to policies, so in a real
  preview this policy reports itself not applicable; the test suite runs the same function on the
  program's graph with the option the program registered.
- `stateful-containers-keep-data`: a long-running container of a stateful image (CouchDB, Kafka,
  ZooKeeper, etcd, ElasticSearch, registry, Redis) mounts a data volume or a writable bind mount.
- `no-plain-secrets`: credentials never travel as plain container environment, command-line
  arguments, Kubernetes literal env values or ConfigMap keys.
- `stateful-data-kept`: compared with the deployed stack (policy config, from `baseline.py`), no
  store's data volume, data directory or claim moves to new, empty storage.
- `stateful-stores-flagged` (advisory): lists the stores a change replaces or removes, and the data
  volumes it stops declaring.

How policies see secrets: the engine sends secret properties wrapped, and pulumi-policy 1.21.0
unwraps them to plain values before calling `validate`, so a policy cannot tell a secret from a
plain value. `secret_markers.install_secret_markers()` (run when this module is imported) makes
the pack's deserializer keep that one bit: every string inside a secret arrives as a `SecretStr`,
which is a `str` in every other respect.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import deserialize as _deserialize
from pulumi_policy.proxy import UnknownValueError

if __package__:  # imported as policy.policies (the tests)
    from .secret_markers import SecretStr, install_secret_markers
else:  # the pack's own process, which runs from policy/
    from secret_markers import SecretStr, install_secret_markers

install_secret_markers()

# Resource types.
DOCKER_CONTAINER = "docker:index/container:Container"
DOCKER_REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
DOCKER_TAG = "docker:index/tag:Tag"
DOCKER_IMAGE = "docker:index/image:Image"
DOCKER_REGISTRY_IMAGE = "docker:index/registryImage:RegistryImage"
DOCKER_VOLUME = "docker:index/volume:Volume"
COMMANDS = ("command:remote:Command", "command:local:Command")
K8S_POD = "kubernetes:core/v1:Pod"
K8S_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
K8S_PVC = "kubernetes:core/v1:PersistentVolumeClaim"
K8S_CRON_JOB = "kubernetes:batch/v1:CronJob"
K8S_TEMPLATED = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
)
K8S_WORKLOADS = (K8S_POD, K8S_CRON_JOB, *K8S_TEMPLATED)

# Image-producing resources and the property that holds the reference they produce.
IMAGE_REFERENCE_PROPS = {
    DOCKER_REMOTE_IMAGE: ("name",),
    DOCKER_TAG: ("sourceImage", "targetImage"),
    DOCKER_IMAGE: ("imageName",),
    DOCKER_REGISTRY_IMAGE: ("name",),
}


def image_command_refs(resource_type: str, name: str, props: Any) -> list[str]:
    """The image references of the program's image commands, which name them in `triggers`: a
    mirror (`mirror-<key>`: upstream reference, then registry target), a build and push
    (`build-<key>`: local tag, then registry target), a host's pull (`<host>-<key>-pull`: the
    reference it pulls) and a host's build (`<host>-<key>-build`: the tag it builds). Empty for
    every other resource."""
    if resource_type not in COMMANDS or not (name.startswith(("mirror-", "build-"))
                                             or name.endswith(("-pull", "-build"))):
        return []
    return [t for t in elements(field(props, "triggers")) if isinstance(t, str)]


# --------------------------------------------------------------------------------------------------
# Secret markers (secret_markers.py: the one place that reaches into pulumi-policy's internals)


def is_secret(value: Any) -> bool:
    return isinstance(value, SecretStr)


# --------------------------------------------------------------------------------------------------
# Reading properties that may be unknown during preview

UNKNOWN = object()
"""A value the engine does not know yet (computed during the update)."""


def field(obj: Any, key: str) -> Any:
    """obj[key]: None when absent, UNKNOWN when not known yet."""
    if not isinstance(obj, Mapping):
        return None
    try:
        return obj[key]
    except KeyError:
        return None
    except UnknownValueError:
        return UNKNOWN


def elements(seq: Any) -> Iterator[Any]:
    """The elements of a list property; UNKNOWN for elements not known yet. Nothing for a non-list."""
    if isinstance(seq, str) or not isinstance(seq, Sequence):
        return
    for i in range(len(seq)):
        try:
            yield seq[i]
        except UnknownValueError:
            yield UNKNOWN


def path(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = field(obj, key)
        if obj is None or obj is UNKNOWN:
            return obj
    return obj


def kind(resource_type: str) -> str:
    """`docker:index/remoteImage:RemoteImage` -> `RemoteImage`."""
    return resource_type.rsplit(":", 1)[-1]


def env_entries(envs: Any) -> Iterator[tuple[str, str, Any]]:
    """(key, value, raw entry) of each known `KEY=value` entry of a Docker container's envs."""
    for entry in elements(envs):
        if isinstance(entry, str) and "=" in entry:
            key, value = entry.split("=", 1)
            yield key, value, entry


def pod_specs(resource_type: str, props: Any) -> list[Any]:
    """The pod spec(s) of a Kubernetes workload."""
    if resource_type == K8S_POD:
        spec = field(props, "spec")
    elif resource_type == K8S_CRON_JOB:
        spec = path(props, "spec", "jobTemplate", "spec", "template", "spec")
    elif resource_type in K8S_TEMPLATED:
        spec = path(props, "spec", "template", "spec")
    else:
        return []
    return [] if spec is None or spec is UNKNOWN else [spec]


def pod_containers(spec: Any) -> Iterator[Any]:
    for key in ("initContainers", "containers"):
        for c in elements(field(spec, key)):
            if c is not UNKNOWN:
                yield c


# --------------------------------------------------------------------------------------------------
# no-mutable-image-tags

MUTABLE_TAGS = ("latest", "nightly")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


def split_reference(ref: str) -> tuple[str, str | None]:
    """(repository, tag or None) of an image reference without a digest."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, None


def mutable_reference_problem(ref: str) -> str | None:
    """Why `ref` does not pin an image, or None when it does (fixed tag, digest or image ID)."""
    if not ref or _IMAGE_ID.match(ref) or _DIGEST.search(ref):
        return None
    repo, tag = split_reference(ref.split("@", 1)[0])
    if tag is None:
        return f"has no tag, so Docker resolves it to '{repo}:latest'"
    if tag.lower() in MUTABLE_TAGS:
        return f"uses the moving tag '{tag}'"
    return None


def _image_fix(ref: str) -> str:
    repo, _ = split_reference(ref.split("@", 1)[0])
    return (f"Pin a release tag ('{repo}:<version>') or a digest ('{repo}@sha256:<digest>'); "
            "a moving tag deploys whatever was pushed last, and a later pull changes it silently")


def validate_image_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    where = f"{kind(args.resource_type)} '{args.name}'"
    checks: list[tuple[str, Any]] = []
    if args.resource_type in IMAGE_REFERENCE_PROPS:
        checks = [(p, field(args.props, p)) for p in IMAGE_REFERENCE_PROPS[args.resource_type]]
    elif args.resource_type in COMMANDS:
        checks = [("trigger", r) for r in image_command_refs(args.resource_type, args.name, args.props)]
    elif args.resource_type == DOCKER_CONTAINER:
        checks = [("image", field(args.props, "image"))]
    else:
        for spec in pod_specs(args.resource_type, args.props):
            for c in pod_containers(spec):
                checks.append((f"container '{field(c, 'name')}' image", field(c, "image")))
    for label, ref in checks:
        if not isinstance(ref, str):
            continue  # absent or not known yet
        problem = mutable_reference_problem(ref)
        if problem:
            report(f"{where}: {label} '{ref}' {problem}. {_image_fix(ref)}.", None)


no_mutable_image_tags = ResourceValidationPolicy(
    name="no-mutable-image-tags",
    description="Images are referenced by a fixed tag or a digest, never 'latest', 'nightly' or no tag.",
    validate=validate_image_tags,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --------------------------------------------------------------------------------------------------
# actor-system-static-address

ACTOR_SYSTEMS = ("akka", "pekko")
_LOOPBACK_OR_ANY = re.compile(r"^(0\.0\.0\.0|127\.\d+\.\d+\.\d+|localhost|::|::1|\[::1?\])$", re.I)


def _port_number(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def validate_actor_address(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DOCKER_CONTAINER:
        return
    envs = field(args.props, "envs")
    if envs is None or envs is UNKNOWN:
        return
    env = {key: value for key, value, _ in env_entries(envs)}
    some_unknown = any(e is UNKNOWN for e in elements(envs))
    where = f"Container '{args.name}'"
    for system in ACTOR_SYSTEMS:
        host_key = f"CONFIG_{system}_remote_artery_canonical_hostname"
        port_key = f"CONFIG_{system}_remote_artery_canonical_port"
        bind_key = f"CONFIG_{system}_remote_artery_bind_port"
        if host_key not in env:
            continue
        host = env[host_key].strip()
        if not host or _LOOPBACK_OR_ANY.match(host):
            shown = "empty" if not host else f"'{host}'"
            report(f"{where}: {host_key} is {shown}, an address other cluster members cannot reach. "
                   "Set it to the static address of the container's host "
                   "(openwhisk:hosts[].address).", None)
        if port_key not in env:
            if some_unknown:
                continue  # it may be among the entries not known yet
            report(f"{where}: {host_key} is set but {port_key} is not, so the actor system "
                   f"advertises a random port. Set {port_key} to the fixed remoting port and "
                   "publish that port on the container.", None)
            continue
        port = _port_number(env[port_key])
        if port is None or not 0 < port < 65536:
            report(f"{where}: {port_key} is '{env[port_key]}', not a port number. Set it to the "
                   "fixed remoting port and publish that port on the container.", None)
            continue
        ports = field(args.props, "ports")
        if ports is UNKNOWN:
            continue
        published = [p for p in elements(ports) if p is not UNKNOWN]
        if any(field(p, "external") is UNKNOWN for p in published):
            continue
        matching = [p for p in published if _port_number(field(p, "external")) == port]
        if not matching:
            report(f"{where}: {port_key} is {port}, but the container publishes no external "
                   f"port {port}, so other members cannot connect to the address it advertises. "
                   f"Publish it: ports: [{{internal: {port}, external: {port}}}].", None)
            continue
        bind = _port_number(env.get(bind_key))
        if bind is not None and not any(_port_number(field(p, "internal")) == bind for p in matching):
            internals = ", ".join(str(_port_number(field(p, "internal"))) for p in matching)
            report(f"{where}: external port {port} ({port_key}) is published to container port "
                   f"{internals}, but the actor system binds {bind} ({bind_key}). Publish "
                   f"{port} to container port {bind}.", None)


actor_system_static_address = ResourceValidationPolicy(
    name="actor-system-static-address",
    description=("Containers that run an Akka/Pekko actor system advertise a reachable static "
                 "address and a fixed, published port."),
    validate=validate_actor_address,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --------------------------------------------------------------------------------------------------
# stateful-volumes-retained

RETAIN_UNAVAILABLE = (
    "pulumi-policy 1.21.0 does not pass the retainOnDelete resource option to policies; "
    "tests/test_policy.py checks it on the program's graph instead")


def retain_on_delete(opts: Any) -> bool | None:
    """The resource's retainOnDelete option, or None when the policy engine does not provide it.

    `PolicyResourceOptions` in pulumi-policy 1.21.0 has protect, ignore_changes,
    delete_before_replace, aliases, custom_timeouts, additional_secret_outputs and parent, and the
    analyzer protocol carries nothing more; the test harness adds `retain_on_delete` from what the
    program registered.
    """
    value = getattr(opts, "retain_on_delete", None)
    return None if value is None else bool(value)


def validate_volume_retained(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (DOCKER_VOLUME, K8S_PVC):
        return
    retained = retain_on_delete(args.opts)
    if retained is None:
        args.not_applicable(RETAIN_UNAVAILABLE)
    if retained:
        return
    if args.resource_type == DOCKER_VOLUME:
        name = field(args.props, "name")
        what = f"Volume '{args.name}'" + (f" (Docker volume '{name}')" if isinstance(name, str) else "")
    else:
        what = f"PersistentVolumeClaim '{args.name}'"
    report(f"{what} is not retained on delete: if Pulumi replaces or removes it, the data is "
           "deleted with it. Declare it with pulumi.ResourceOptions(retain_on_delete=True).", None)


stateful_volumes_retained = ResourceValidationPolicy(
    name="stateful-volumes-retained",
    description="Data volumes and PersistentVolumeClaims are declared with retain_on_delete.",
    validate=validate_volume_retained,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --------------------------------------------------------------------------------------------------
# stateful-containers-keep-data

STATEFUL_IMAGES = {
    "couchdb": "/opt/couchdb/data",
    "kafka": "/var/lib/kafka/data",
    "zookeeper": "/data and /datalog",
    "etcd": "its --data-dir",
    "elasticsearch": "/usr/share/elasticsearch/data",
    "registry": "/var/lib/registry",
    "redis": "/data",
}


def stateful_family(ref: str) -> str | None:
    """`apache/couchdb:3.5.2.1` -> `couchdb`; None for images that keep no data."""
    repo, _ = split_reference(ref.split("@", 1)[0])
    return repo.rsplit("/", 1)[-1] if repo.rsplit("/", 1)[-1] in STATEFUL_IMAGES else None


def _reference_of(resource: PolicyResource) -> str | None:
    refs = image_command_refs(resource.resource_type, resource.name, resource.props)
    if refs:
        return refs[-1]
    for prop in reversed(IMAGE_REFERENCE_PROPS.get(resource.resource_type, ())):
        ref = field(resource.props, prop)
        if isinstance(ref, str) and ref:
            return ref
    return None


def container_image_reference(container: PolicyResource, resources: list[PolicyResource]) -> str | None:
    """The image reference a Docker container runs.

    Containers run the pulled image ID (`sha256:...`), so the reference comes from the image
    resource the `image` property depends on, else from the image resource whose ID or digest
    equals it, else from the property itself when it is a reference.
    """
    for dep in container.property_dependencies.get("image", []):
        ref = _reference_of(dep)
        if ref:
            return ref
    image = field(container.props, "image")
    if not isinstance(image, str):
        return None
    if not image.startswith("sha256:"):
        return image
    for r in resources:
        if r.resource_type in IMAGE_REFERENCE_PROPS or r.resource_type in COMMANDS:
            ids = (field(r.props, "imageId"), field(r.props, "repoDigest"), field(r.props, "sha256Digest"),
                   field(r.props, "stdout"))
            if image in ids and _reference_of(r):
                return _reference_of(r)
    return None


def has_data_mount(props: Any) -> bool | None:
    """True with a named volume or writable bind mount, False without, None when not known yet."""
    found_unknown = False
    for key in ("volumes", "mounts"):
        value = field(props, key)
        if value is UNKNOWN:
            found_unknown = True
            continue
        for m in elements(value):
            if m is UNKNOWN:
                found_unknown = True
                continue
            if field(m, "readOnly") is True:
                continue
            if key == "volumes" and (field(m, "volumeName") or field(m, "hostPath")):
                return True
            if key == "mounts" and field(m, "type") in ("volume", "bind"):
                return True
    return None if found_unknown else False


def is_one_shot(props: Any) -> bool:
    """A one-shot step's container: created stopped, run to completion by its step command."""
    return field(props, "start") is False


def validate_stateful_containers(args: StackValidationArgs, report: ReportViolation) -> None:
    for r in args.resources:
        if r.resource_type != DOCKER_CONTAINER:
            continue
        if is_one_shot(r.props):
            continue  # one-shot step: runs to completion, keeps nothing
        ref = container_image_reference(r, args.resources)
        family = stateful_family(ref) if ref else None
        if not family or has_data_mount(r.props) is not False:
            continue
        report(f"Container '{r.name}' runs the {family} image '{ref}' without a data volume or "
               "writable bind mount, so its data lives in the container and is lost whenever the "
               f"container is replaced. Mount a retained docker.Volume at {STATEFUL_IMAGES[family]} "
               "(volumes: [{volumeName, containerPath}]).", r.urn)


stateful_containers_keep_data = StackValidationPolicy(
    name="stateful-containers-keep-data",
    description=("Containers of stateful images (CouchDB, Kafka, ZooKeeper, etcd, ElasticSearch, "
                 "registry) keep their data on a volume or bind mount."),
    validate=validate_stateful_containers,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --------------------------------------------------------------------------------------------------
# no-plain-secrets

SECRET_NAME_SUFFIXES = ("PASSWORD", "_KEY", "SECRET", "TOKEN", "_AUTH", "JAAS_CONFIG", "SASLJAASCONFIG")
NOT_CREDENTIALS = {
    "REGISTRY_AUTH": "the Docker registry's auth backend name (htpasswd)",
    "REGISTRY_HTTP_TLS_KEY": "the path of the registry's TLS key file",
}
"""Variables whose names look like credentials but whose values never are."""

_PASSWORD_ARG = re.compile(r"password=", re.I)
_AUTH_KEY = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[A-Za-z0-9]{32,}", re.I)


def is_credential_name(name: str) -> bool:
    upper = name.upper()
    if upper in NOT_CREDENTIALS or upper.endswith("PUBLIC_KEY"):
        return False
    return upper.endswith(SECRET_NAME_SUFFIXES)


def _docker_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    where = f"Container '{args.name}'"
    for key, value, entry in env_entries(field(args.props, "envs")):
        if value and is_credential_name(key) and not is_secret(entry):
            report(f"{where}: environment variable {key} holds a credential in plain text, so it "
                   "shows in the preview diff and in the state. Build the value from a secret "
                   "(config.require_secret or pulumi.Output.secret) so that the entry is secret.", None)
    for prop in ("command", "entrypoints"):
        for i, arg in enumerate(elements(field(args.props, prop))):
            if not isinstance(arg, str):
                continue
            if _PASSWORD_ARG.search(arg):
                what = "a password ('password=...')"
            elif _AUTH_KEY.search(arg):
                what = "an OpenWhisk auth key (uuid:key)"
            else:
                continue
            report(f"{where}: {prop}[{i}] contains {what}; anyone on the host can read it in the "
                   "process list and in docker inspect. Pass it in a secret environment variable "
                   "or a secret file upload instead.", None)


def _k8s_env_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    where = f"{kind(args.resource_type)} '{args.name}'"
    for spec in pod_specs(args.resource_type, args.props):
        for c in pod_containers(spec):
            for e in elements(field(c, "env")):
                name = field(e, "name")
                if not isinstance(name, str) or not is_credential_name(name):
                    continue
                container = f"container '{field(c, 'name')}'"
                if field(e, "value") is not None:
                    report(f"{where}: {container} sets env {name} to a literal value, which is "
                           "stored in the pod spec in plain text. Read it from a Secret: "
                           "valueFrom.secretKeyRef.", None)
                elif field(e, "valueFrom") is not UNKNOWN and path(e, "valueFrom", "secretKeyRef") is None:
                    report(f"{where}: {container} reads env {name} from somewhere other than a "
                           "Secret. Read it from a Secret: valueFrom.secretKeyRef.", None)


def _config_map_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prop in ("data", "binaryData"):
        data = field(args.props, prop)
        if not isinstance(data, Mapping):
            continue
        for key in data:
            if is_credential_name(key):
                report(f"ConfigMap '{args.name}': {prop} key {key} looks like a credential, and "
                       "ConfigMaps are stored and shown in plain text. Move it to a Secret.", None)


def validate_no_plain_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == DOCKER_CONTAINER:
        _docker_secrets(args, report)
    elif args.resource_type in K8S_WORKLOADS:
        _k8s_env_secrets(args, report)
    elif args.resource_type == K8S_CONFIG_MAP:
        _config_map_secrets(args, report)


no_plain_secrets = ResourceValidationPolicy(
    name="no-plain-secrets",
    description=("Credentials are never plain container environment, command-line arguments, "
                 "Kubernetes literal env values or ConfigMap keys."),
    validate=validate_no_plain_secrets,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --------------------------------------------------------------------------------------------------
# stateful-data-kept and stateful-stores-flagged: what a change does to stored data
#
# A policy sees the desired state, never the planned operation or the state it replaces. These two
# policies get the deployed side from their config: `policy/baseline.py` turns
# `pulumi stack export --show-secrets` into a `deployed` map (URN -> entry), and the policies
# compare it with the resources of the preview, using the same `stateful_entries` on both sides.
# An entry records a stateful resource's *data identity* in plain values (host or cluster, volume
# names, data directories, claim names) and its *store identity* as digests of the inputs whose
# change replaces it; credential-named env entries are left out, so no secret reaches the config.

K8S_STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DEPLOYED_SCHEMA = PolicyConfigSchema(properties={"deployed": {
    "type": "object",
    "description": "URN -> stateful entry of the deployed stack, written by policy/baseline.py",
}})
NO_BASELINE = ("no deployed baseline in the policy config: run `pulumi stack export --show-secrets "
               "| python policy/baseline.py > policy-config.json` and pass it with "
               "--policy-pack-config (docs/ci.md)")
CHANGING = "(not known until the update)"


def plain(value: Any) -> Any:
    """A property as plain JSON values (whole numbers as int); UNKNOWN if any part is unknown."""
    if value is UNKNOWN or value is None or isinstance(value, (str, bool)):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else value
    if isinstance(value, Mapping):
        out = {}
        for key in list(value.keys()):
            item = plain(field(value, key))
            if item is UNKNOWN:
                return UNKNOWN
            out[str(key)] = item
        return out
    if isinstance(value, Sequence):
        items = [plain(v) for v in elements(value)]
        return UNKNOWN if any(i is UNKNOWN for i in items) else items
    return str(value)


def digest(value: Any) -> str:
    if value is UNKNOWN:
        return CHANGING
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def target_of(resource: PolicyResource) -> str | None:
    """The Docker host or Kubernetes cluster a resource lives on, from its provider."""
    props = resource.provider.props if resource.provider is not None else None
    for key in ("host", "clusterIdentifier", "context"):
        value = field(props, key)
        if isinstance(value, str) and value:
            return value
    return None


def _docker_mounts(props: Any, writable_only: bool) -> Any:
    mounts = []
    for m in elements(field(props, "volumes")):
        m = plain(m)
        if m is UNKNOWN:
            return UNKNOWN
        if writable_only and m.get("readOnly") is True:
            continue
        source = (f"volume {m['volumeName']}" if m.get("volumeName") else
                  f"directory {m['hostPath']}" if m.get("hostPath") else None)
        if source:
            mounts.append(f"{source} at {m.get('containerPath')}")
    return sorted(mounts)


def _docker_env(props: Any) -> Any:
    envs = plain(field(props, "envs"))
    if envs is UNKNOWN or envs is None:
        return envs
    return sorted(e for e in envs if not (isinstance(e, str) and is_credential_name(e.split("=", 1)[0])))


def _docker_store(r: PolicyResource, resources: list[PolicyResource]) -> dict[str, Any] | None:
    if is_one_shot(r.props):
        return None  # one-shot step
    ref = container_image_reference(r, resources)
    family = stateful_family(ref) if ref else None
    if not family:
        return None
    host = target_of(r)
    ports = plain(field(r.props, "ports"))
    if isinstance(ports, list):
        ports = sorted(f"{p.get('external')}:{p.get('internal')}" for p in ports)
    return {
        "kind": "store", "type": r.resource_type, "name": r.name,
        "what": f"Container '{r.name}' ({family}{f' on {host}' if host else ''})",
        "data": {"host": host, "mounts": _docker_mounts(r.props, writable_only=True)},
        "store": {"name": plain(field(r.props, "name")), "image": plain(field(r.props, "image")),
                  "env": _docker_env(r.props), "command": plain(field(r.props, "command")),
                  "entrypoints": plain(field(r.props, "entrypoints")), "ports": ports,
                  "volumes": _docker_mounts(r.props, writable_only=False)},
    }


def _claim(template: Any) -> dict[str, Any]:
    return {"name": path(template, "metadata", "name"),
            "storageClassName": path(template, "spec", "storageClassName"),
            "accessModes": path(template, "spec", "accessModes"),
            "storage": path(template, "spec", "resources", "requests", "storage")}


def _k8s_store(r: PolicyResource) -> dict[str, Any] | None:
    templates = plain(path(r.props, "spec", "volumeClaimTemplates"))
    if not templates:
        return None
    claims = UNKNOWN if templates is UNKNOWN else [_claim(t) for t in templates]
    namespace, name = plain(path(r.props, "metadata", "namespace")), plain(path(r.props, "metadata", "name"))
    return {
        "kind": "store", "type": r.resource_type, "name": r.name,
        "what": f"StatefulSet '{r.name}' (namespace {namespace})",
        "data": {"cluster": target_of(r), "namespace": namespace, "name": name,
                 "claims": claims if claims is UNKNOWN else sorted(c["name"] for c in claims)},
        # The fields Kubernetes cannot change in place: a change replaces the StatefulSet.
        "store": {"serviceName": plain(path(r.props, "spec", "serviceName")),
                  "selector": plain(path(r.props, "spec", "selector")),
                  "podManagementPolicy": plain(path(r.props, "spec", "podManagementPolicy")),
                  "volumeClaimTemplates": claims},
    }


def _volume(r: PolicyResource) -> dict[str, Any]:
    if r.resource_type == DOCKER_VOLUME:
        host, name = target_of(r), plain(field(r.props, "name"))
        return {"kind": "volume", "type": r.resource_type, "name": r.name,
                "what": f"Volume '{r.name}' (Docker volume '{name}'{f' on {host}' if host else ''})",
                "data": {"host": host, "name": name, "driver": plain(field(r.props, "driver")),
                         "driverOpts": plain(field(r.props, "driverOpts")) or None},
                "store": {}}
    namespace, name = plain(path(r.props, "metadata", "namespace")), plain(path(r.props, "metadata", "name"))
    return {"kind": "volume", "type": r.resource_type, "name": r.name,
            "what": f"PersistentVolumeClaim '{r.name}' (namespace {namespace})",
            "data": {"cluster": target_of(r), "namespace": namespace, "name": name,
                     "storageClassName": plain(path(r.props, "spec", "storageClassName"))},
            "store": {}}


def stateful_entries(resources: list[PolicyResource]) -> dict[str, dict[str, Any]]:
    """URN -> entry of every stateful resource: data volumes and claims, store containers and
    StatefulSets with claim templates. Store identities are reduced to digests."""
    entries = {}
    for r in resources:
        if r.resource_type in (DOCKER_VOLUME, K8S_PVC):
            entry = _volume(r)
        elif r.resource_type == DOCKER_CONTAINER:
            entry = _docker_store(r, resources)
        elif r.resource_type == K8S_STATEFUL_SET:
            entry = _k8s_store(r)
        else:
            entry = None
        if entry:
            entry["store"] = {k: digest(v) for k, v in entry["store"].items() if v is not None}
            entries[r.urn] = entry
    return entries


def _shown(value: Any) -> str:
    if value is UNKNOWN:
        return CHANGING
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _data_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How the data identity changes; fields the new side leaves unset or unknown are skipped."""
    return [f"{k} {_shown(old.get(k))} -> {_shown(v)}" for k, v in new.items()
            if v is not None and v is not UNKNOWN and v != old.get(k)]


def _store_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    return [k + (f" {CHANGING}" if v == CHANGING else "") for k, v in new.items()
            if v != old.get(k)]


def _left_behind(entry: Mapping[str, Any]) -> str:
    data = entry["data"]
    if entry["kind"] == "volume":
        return "Pulumi forgets it, and the volume stays, retained, with its data"
    if "mounts" in data:
        sources = ", ".join(m.split(" at ")[0] for m in data["mounts"] or [])
        return f"the container is deleted, and its data stays in {sources or 'nothing'}"
    return (f"the StatefulSet is deleted, and its claims ({_shown(data['claims'])}) stay in "
            f"namespace {data['namespace']}")


def stateful_findings(deployed: Mapping[str, Any], resources: list[PolicyResource]
                      ) -> tuple[list[tuple[str, str]], list[tuple[str, str | None]]]:
    """(data findings, store findings) as (message, URN) for the preview's resources against the
    deployed entries. Data: stored data that would no longer be mounted. Stores: store containers
    or StatefulSets that are replaced or removed, and data volumes no longer declared."""
    current = stateful_entries(resources)
    by_alias = {alias: r.urn for r in resources for alias in (getattr(r.opts, "aliases", None) or [])}
    present = {r.urn for r in resources}
    data, stores = [], []
    for urn, old in sorted(deployed.items()):
        now_urn = urn if urn in present else by_alias.get(urn)
        new = current.get(now_urn) if now_urn else None
        if now_urn and new is None:
            continue  # still declared, but not recognisably stateful any more
        if new is None:
            if any(e["type"] == old["type"] and e["data"] == old["data"] for e in current.values()):
                continue  # declared under another name, on the same data
            stores.append((f"{old['what']} is no longer declared: {_left_behind(old)}. Remove it by "
                           "hand once it is no longer needed.", None))
            continue
        moved = _data_changes(old["data"], new["data"])
        if moved:
            data.append((f"{old['what']} would start on new, empty storage ({'; '.join(moved)}). The "
                         "old data stays where it was, but nothing mounts it any more. Keep these "
                         "settings, or move the data first and preview the change with "
                         "stateful-data-kept set to advisory (docs/ci.md).", now_urn))
            continue
        changed = _store_changes(old["store"], new["store"])
        if changed:
            stores.append((f"{new['what']} is replaced ({', '.join(changed)} changed): the store "
                           "restarts, on the same data.", now_urn))
    return data, stores


def _deployed(args: StackValidationArgs) -> Mapping[str, Any]:
    deployed = (args.get_config() or {}).get("deployed")
    if not isinstance(deployed, Mapping):
        args.not_applicable(NO_BASELINE)
    return deployed


def validate_stateful_data(args: StackValidationArgs, report: ReportViolation) -> None:
    for message, urn in stateful_findings(_deployed(args), args.resources)[0]:
        report(message, urn)


def validate_stateful_stores(args: StackValidationArgs, report: ReportViolation) -> None:
    for message, urn in stateful_findings(_deployed(args), args.resources)[1]:
        report(message, urn)


stateful_data_kept = StackValidationPolicy(
    name="stateful-data-kept",
    description=("A change never moves a store's data, volume or claim out from under it (compared "
                 "with the deployed stack, from the policy config)."),
    validate=validate_stateful_data,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=DEPLOYED_SCHEMA,
)

stateful_stores_flagged = StackValidationPolicy(
    name="stateful-stores-flagged",
    description=("Stores that a change replaces or removes, and data volumes it stops declaring, "
                 "are listed (compared with the deployed stack, from the policy config)."),
    validate=validate_stateful_stores,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=DEPLOYED_SCHEMA,
)


# --------------------------------------------------------------------------------------------------
# The deployed side: entries from `pulumi stack export --show-secrets`

class EncryptedStateError(ValueError):
    pass


def _decrypted(value: Any) -> Any:
    if isinstance(value, list):
        return [_decrypted(v) for v in value]
    if isinstance(value, dict):
        if value.get(_deserialize.SPECIAL_SIG_KEY) == _deserialize.SPECIAL_SECRET_SIG:
            if "plaintext" not in value:
                raise EncryptedStateError(
                    "the export holds encrypted secrets; export with "
                    "`pulumi stack export --show-secrets` (the baseline keeps no secret values)")
            text = value["plaintext"]
            try:
                return _decrypted(json.loads(text))
            except (TypeError, ValueError):
                return text
        return {k: _decrypted(v) for k, v in value.items()}
    return value


def deployed_entries(export: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`stateful_entries` of the resources in a `pulumi stack export --show-secrets` document."""
    deployment = export.get("deployment", export)
    raw = [r for r in deployment.get("resources") or [] if not r.get("delete")]
    providers = {f"{r['urn']}::{r.get('id', '')}": r for r in raw
                 if r["type"].startswith("pulumi:providers:")}
    resources: dict[str, PolicyResource] = {}
    for r in raw:
        prov = providers.get(r.get("provider") or "")
        provider = None if prov is None else PolicyProviderResource(
            prov["type"], _decrypted(prov.get("inputs") or {}), prov["urn"], prov["urn"].rsplit("::", 1)[-1])
        opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.get("parent"))
        resources[r["urn"]] = PolicyResource(
            r["type"], _decrypted(r.get("outputs") or r.get("inputs") or {}), r["urn"],
            r["urn"].rsplit("::", 1)[-1], opts, provider, None, [], {})
    for r in raw:
        resources[r["urn"]].property_dependencies = {
            k: [resources[u] for u in urns if u in resources]
            for k, urns in (r.get("propertyDependencies") or {}).items()}
    return stateful_entries(list(resources.values()))


def baseline_config(export: Mapping[str, Any], data_level: str = "mandatory") -> dict[str, Any]:
    """The policy-pack config for both stateful policies, from a stack export."""
    deployed = deployed_entries(export)
    return {stateful_data_kept.name: {"enforcementLevel": data_level, "deployed": deployed},
            stateful_stores_flagged.name: {"enforcementLevel": "advisory", "deployed": deployed}}


POLICIES = [
    no_mutable_image_tags,
    actor_system_static_address,
    stateful_volumes_retained,
    stateful_containers_keep_data,
    no_plain_secrets,
    stateful_data_kept,
    stateful_stores_flagged,
]
