"""The plan: plain, frozen data describing every resource to declare. No Pulumi import.

Values that depend on secrets are `Secret` templates (`${name}` placeholders filled from the
generated or supplied secrets by the components), so the plan itself never holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Template
from typing import Literal, Union


@dataclass(frozen=True)
class _Template:
    template: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({m.group("braced") for m in Template.pattern.finditer(self.template)
                             if m.group("braced")}))

    def render(self, values: dict[str, str]) -> str:
        return Template(self.template).substitute(values)


@dataclass(frozen=True)
class Secret(_Template):
    """A value built from secrets: `template` with `${secret_name}` placeholders."""

    @staticmethod
    def of(name: str) -> Secret:
        return Secret("${" + name + "}")


@dataclass(frozen=True)
class Digests(_Template):
    """A value naming images by digest: `${digest_<image key>}` placeholders (not secret)."""


@dataclass(frozen=True)
class ConfigMapRef:
    """Kubernetes only: a value read from `key` of the cluster-wide ConfigMap `name` (a key of
    KubernetesPlan.config_maps), so that a large value such as the runtime manifest is stored once."""

    name: str
    key: str


@dataclass(frozen=True)
class FieldRef:
    """Kubernetes only: a value from the pod's own fields (the downward API), e.g. `spec.nodeName`."""

    path: str


Value = Union[str, Secret, Digests, ConfigMapRef, FieldRef]


@dataclass(frozen=True)
class Port:
    container: int
    published: int
    name: str


@dataclass(frozen=True)
class Mount:
    """A volume (`volume` = key of a VolumePlan) or a host path bound at `target`."""

    target: str
    volume: str | None = None
    host_path: str | None = None
    read_only: bool = False
    data: bool = False
    """A host path that holds the service's data (a data volume turned into a bind mount)."""


@dataclass(frozen=True)
class File:
    """A file written into the container before it starts."""

    path: str
    content: Value


@dataclass(frozen=True)
class Health:
    test: tuple[str, ...]
    """Docker healthcheck test, e.g. ("CMD-SHELL", "curl -fsS http://127.0.0.1:5984/_up")."""
    wait: bool
    """Block dependents until healthy (only for images whose probe tools are known)."""
    start_period_s: int = 30
    interval_s: int = 10
    timeout_s: int = 5
    retries: int = 6

    @property
    def wait_timeout_s(self) -> int:
        """How long to wait for healthy: until Docker would call the container unhealthy (its
        start period, then `retries` failed probes), and one more probe."""
        return self.start_period_s + self.interval_s * (self.retries + 1)


@dataclass(frozen=True)
class LiveConfig:
    """Config files a running container re-reads in place (Docker hosts). They live on the
    volume `volume`, mounted read-only at `target`; a command on the host writes them before the
    container first starts and again whenever they change, checking the new files with `check`
    in the running container before they go live and then running `reload` there. A change is
    an update of that command, never a replacement of the container, so nothing stops serving."""

    volume: str
    """Docker volume name, e.g. `ow-edge-config`."""
    target: str
    files: tuple[tuple[str, str], ...]
    """(file name in `target`, content)."""
    check: tuple[str, ...]
    """Run in the running container while the new files are at `<name>.next` in `target` (see
    planner.live_config.NEXT), before they go live."""
    reload: tuple[str, ...]


@dataclass(frozen=True)
class Container:
    """One container (Docker) or one pod replica's main container (Kubernetes)."""

    key: str
    """Stable logical name, keyed by host name or a stable id, e.g. `kafka-core-1`, `invoker-3`
    (on Kubernetes by the replica index, e.g. `kafka-0`)."""
    service: str
    host: str | None
    """Docker host name; None on Kubernetes."""
    name: str
    """Container name on its host, e.g. `ow-kafka`; on Kubernetes the name of the workload object
    (StatefulSet, Job, Deployment or DaemonSet), e.g. `ow-kafka-0`."""
    image: str
    """Key into Plan.images."""
    env: tuple[tuple[str, Value], ...] = ()
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    hostname: str | None = None
    ports: tuple[Port, ...] = ()
    mounts: tuple[Mount, ...] = ()
    files: tuple[File, ...] = ()
    privileged: bool = False
    host_pid: bool = False
    host_userns: bool = False
    one_shot: bool = False
    """Runs to completion (an init step) instead of staying up."""
    health: Health | None = None
    depends_on: tuple[str, ...] = ()
    """Keys of containers that must exist (and be healthy, if they wait) first."""
    rolls_after: str | None = None
    """Quorum members (kubernetes.QUORUM): the key of the member this one waits for like a
    `depends_on`, but only when both were already deployed (the last deployment's
    `quorumMembers` output). A first member cannot become healthy before the others start, so on
    a first deploy they start together (and a new member never waits); on later updates they
    roll one at a time."""
    epoch: str = ""
    """Quorum members: a setting every member of the role must share (e.g. `security`). The
    members' ids in `quorumMembers` carry it, so when it changes no member counts as deployed
    and they restart together, as a cluster whose members cannot talk across the change needs."""
    ulimits: tuple[tuple[str, int, int], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    """Docker labels (never secret)."""
    live_config: LiveConfig | None = None

    def env_dict(self) -> dict[str, Value]:
        return dict(self.env)

    def secret_names(self) -> list[str]:
        """The secrets the container reads, from its environment and files, sorted."""
        values = [v for _, v in self.env] + [f.content for f in self.files]
        return sorted({n for v in values if isinstance(v, Secret) for n in v.names})

    def _id(self, key: str) -> str:
        return f"{key}@{self.epoch}" if self.epoch else key

    @property
    def member_id(self) -> str:
        """The id a quorum member has in `quorumMembers`: its key, with its epoch if it has one."""
        return self._id(self.key)

    @property
    def rolls_after_id(self) -> str | None:
        """The id of the member this one rolls after (the members of a role share an epoch)."""
        return None if self.rolls_after is None else self._id(self.rolls_after)

    @property
    def stop_grace_s(self) -> int:
        """Seconds between SIGTERM and SIGKILL when the container is stopped or replaced."""
        return ONE_SHOT_STOP_GRACE_S if self.one_shot else STOP_GRACE_S[self.service]


#: How long each service may take to shut down cleanly before it is killed: stores flush and
#: close their files (Kafka first moves partition leadership away), JVM components leave their
#: actor cluster (invokers also remove their action containers), nginx finishes its requests.
STOP_GRACE_S = {"couchdb": 60, "zookeeper": 30, "kafka": 120, "etcd": 30, "elasticsearch": 60,
                "registry": 30, "controller": 30, "scheduler": 60, "invoker": 60, "edge": 10,
                "redis": 30, "apigateway": 10, "user-events": 30, "prometheus": 60, "grafana": 30}
ONE_SHOT_STOP_GRACE_S = 10


@dataclass(frozen=True)
class VolumePlan:
    """A named data volume on a host, retained when its container or the stack goes away; on
    Kubernetes a PersistentVolumeClaim template of the container's StatefulSet."""

    key: str
    host: str | None
    """Docker host name; None on Kubernetes."""
    name: str
    """Docker volume name, e.g. `ow-kafka-data`; on Kubernetes the claim template's name, e.g.
    `data` (its claims are named `data-<StatefulSet>-0`)."""
    owner: tuple[int, int] = (0, 0)
    """uid and gid the image writes its data as; the owner of the directory when bind-mounted."""
    size: str | None = None
    """Kubernetes: the claim's requested storage, e.g. `10Gi`."""


@dataclass(frozen=True)
class Service:
    name: str
    containers: tuple[Container, ...]
    volumes: tuple[VolumePlan, ...] = ()
    prepull: tuple[str, ...] = ()
    """Image keys pulled on every host of the service besides its containers' own images."""

    def pulls(self) -> dict[str, tuple[str, ...]]:
        """Host name -> image keys to pull there, in a stable order."""
        out: dict[str, dict[str, None]] = {}
        for c in self.containers:
            out.setdefault(c.host, {})[c.image] = None
        return {h: tuple(keys) + tuple(k for k in self.prepull if k not in keys)
                for h, keys in out.items()}


@dataclass(frozen=True)
class PrepStep:
    """One idempotent host-preparation command, run before anything else on the host."""

    name: str
    """Stable key of the step on its host, e.g. `vm-max-map-count`; part of the logical name."""
    script: str
    """POSIX sh script; a change to it re-runs the step (an update, never a replacement)."""
    stdin: Value | None = None
    """Fed to the script on stdin: the way to pass a secret (never on the command line)."""
    delete: str | None = None
    """POSIX sh script run when the step leaves the host (its role left), undoing the step."""


@dataclass(frozen=True)
class SshTarget:
    """Where host-preparation commands log in over ssh."""

    user: str
    host: str
    port: int
    private_key: Value
    """Normally `Secret.of("ssh_private_key")`."""
    host_key: str | None = None
    """The host's public key; None: the connection does not verify the host (a plan warning)."""


@dataclass(frozen=True)
class HostPlan:
    name: str
    address: str
    docker: str
    """Docker endpoint: `unix:///path` or `ssh://user@host:port`."""
    ssh: SshTarget | None = None
    """Set when the host is reached over ssh; None: commands run on the machine running Pulumi."""
    ssh_opts: tuple[str, ...] = ()
    """Extra arguments of the docker provider's ssh client (ssh hosts only)."""
    prep: tuple[PrepStep, ...] = ()
    """Preparation steps, in order; the host's image pulls and containers wait for them."""
    login: tuple[PrepStep, ...] = ()
    """Steps that need the private registry running; they run once it is."""

    @property
    def docker_cli(self) -> str:
        return docker_cli(self.ssh is not None, self.docker)


def docker_cli(over_ssh: bool, endpoint: str) -> str:
    """The docker CLI as a host command runs it: on an ssh host against its own daemon, else
    on the machine running Pulumi against the host's endpoint."""
    return "docker" if over_ssh else f"docker -H {endpoint}"


@dataclass(frozen=True)
class BuildPlan:
    context: str
    dockerfile: str | None
    args: tuple[tuple[str, str], ...]
    target: str | None
    platform: str


@dataclass(frozen=True)
class InlineBuild:
    """An image built by a command on a host from a small context the plan carries as text
    (a Dockerfile and its files), so no host needs the project directory."""

    files: tuple[tuple[str, str], ...]
    """(file name, content) of the build context."""
    args: tuple[tuple[str, str], ...]
    """Build args, sorted."""


@dataclass(frozen=True)
class ImagePlan:
    key: str
    ref: str
    """Upstream reference, pinned by tag or digest."""
    kind: Literal["core", "service", "runtime"]
    target: str | None = None
    """`registry/path:tag` it is mirrored or pushed to; None when hosts pull `ref` directly."""
    build: BuildPlan | None = None
    """Set when the image is built from a local context instead of mirrored."""
    inline: InlineBuild | None = None
    """Set when the image is built by a host command: on the build host and pushed to `target`
    with a registry, else on each host that runs it, as `ref` (whose tag hashes the build)."""


@dataclass(frozen=True)
class RegistryPlan:
    address: str
    """`host:port` in every image reference."""
    username: str
    build_host: str
    """Host whose daemon mirrors, builds and pushes."""
    ca_cert: Value | None
    """CA the hosts must trust for this registry; None when publicly trusted."""
    deployed: bool
    """True when the stack runs the registry itself (service `registry`)."""


SecretKind = Literal["password", "auth", "htpasswd", "tls_key", "tls_cert", "ca_cert", "cluster_id"]


@dataclass(frozen=True)
class TlsPlan:
    common_name: str
    ip_addresses: tuple[str, ...]
    dns_names: tuple[str, ...]


@dataclass(frozen=True)
class SecretSpec:
    name: str
    kind: SecretKind
    generation: int = 0
    """Bump to rotate a generated secret."""
    key: str | None = None
    """tls_cert and ca_cert: name of the tls_key spec whose key signs or backs the certificate."""
    tls: TlsPlan | None = None
    """tls_cert and ca_cert: subject and alternative names."""
    ca: str | None = None
    """tls_cert: name of the ca_cert spec that signs it; None for a self-signed certificate."""
    source: str | None = None
    """htpasswd: name of the password spec it hashes."""
    user: str | None = None
    """htpasswd: the user name."""
    client_auth: bool = False
    """tls_cert: also usable by a TLS client (extended key usage clientAuth, next to serverAuth),
    for peers that present it to each other."""


@dataclass(frozen=True)
class VerifyPlan:
    """The post-deploy check: a local command and its environment."""

    command: str
    """Run from the project directory, e.g. `python3 components/assets/verify.py`."""
    env: tuple[tuple[str, Value], ...]


# --------------------------------------------------------------------------------------------
# Kubernetes: how each planned container and service becomes Kubernetes objects

Labels = tuple[tuple[str, str], ...]
WorkloadKind = Literal["StatefulSet", "Job", "Deployment", "DaemonSet"]


@dataclass(frozen=True)
class KubeResources:
    cpu: str
    """CPU requested."""
    memory: str
    """Memory requested and limited."""
    cpu_limit: str | None = None


@dataclass(frozen=True)
class KubeToleration:
    key: str | None
    operator: str
    value: str | None
    effect: str | None


@dataclass(frozen=True)
class KubeWorkload:
    """The workload object that runs one planned container."""

    key: str
    """The container's key."""
    kind: WorkloadKind
    """StatefulSet (long-running, one replica), Job (one-shot), Deployment (the edge) or DaemonSet
    (docker-factory invokers, one per node)."""
    name: str
    component: str
    """`app.kubernetes.io/component` and the container's name in the pod, e.g. `couchdb-init`."""
    labels: Labels
    """Labels of the object, its pod template, Secret and ConfigMap."""
    selector: Labels
    """The pod template labels the object selects (not for Jobs)."""
    service_name: str | None = None
    """StatefulSet: its headless Service, which gives the pod its DNS name."""
    service_account: str | None = None
    """The pod's ServiceAccount; None: no API token is mounted."""
    node_selector: Labels = ()
    fs_group: int | None = None
    """Group the claims are made writable for, when the image does not run as root."""
    pull_images: tuple[str, ...] = ()
    """DaemonSet: image keys an init container pulls with the node's Docker daemon first."""
    node_sysctls: tuple[tuple[str, int], ...] = ()
    """Kernel settings of the node that a privileged init container raises to at least the value
    (what host preparation does on Docker hosts), e.g. vm.max_map_count for ElasticSearch."""
    resources: KubeResources | None = None
    tolerations: tuple[KubeToleration, ...] = ()
    spread: Labels = ()
    """Pods with these labels (the other instances of the role) are kept off this pod's node."""
    spread_required: bool = False
    """The spread is a hard rule (the pod stays Pending) rather than a preference."""


@dataclass(frozen=True)
class KubePort:
    name: str
    port: int
    target: int
    node_port: int | None = None


@dataclass(frozen=True)
class KubeService:
    """A Service object: headless (`type` None) for pod DNS names, or a ClusterIP, NodePort or
    LoadBalancer Service in front of pods."""

    name: str
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] | None
    ports: tuple[KubePort, ...]
    selector: Labels
    labels: Labels
    early: bool = False
    """Must exist before the pods that address it by name (nginx resolves its upstream once, at
    start), so it is declared first and not awaited; otherwise it follows its pods and is awaited
    (endpoints, a load balancer's address). Headless Services always come first."""


@dataclass(frozen=True)
class KubeBudget:
    """A PodDisruptionBudget: at most `max_unavailable` pods of the selection evicted at a time."""

    name: str
    selector: Labels
    labels: Labels
    max_unavailable: int = 1


@dataclass(frozen=True)
class RbacRule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    """What the container factory does with it (a comment in the docs and the Role)."""


@dataclass(frozen=True)
class InvokerRbac:
    """The invokers' ServiceAccount, a Role limited to `rules` in the namespace, and its binding,
    all named `name`."""

    name: str
    labels: Labels
    rules: tuple[RbacRule, ...]


@dataclass(frozen=True)
class IngressPlan:
    name: str
    host: str
    class_name: str | None
    service: str
    """The Service (and its port `port`) the Ingress routes to."""
    port: str
    labels: Labels


@dataclass(frozen=True)
class KubePeer:
    """Who a NetworkPolicy rule lets through: pods of this namespace with `pods` labels, every
    pod of every namespace (`all_namespaces`), or addresses in `cidr` but not in `excepted`."""

    pods: Labels = ()
    all_namespaces: bool = False
    cidr: str | None = None
    excepted: tuple[str, ...] = ()


@dataclass(frozen=True)
class KubeRule:
    peers: tuple[KubePeer, ...]
    ports: tuple[tuple[str, int], ...]
    """(protocol, port) pairs; empty: every port."""


@dataclass(frozen=True)
class KubeNetworkPolicy:
    """A NetworkPolicy: pods with `selector` labels accept only `ingress` and, when `egress` is
    not None, open only `egress` connections."""

    name: str
    selector: Labels
    labels: Labels
    ingress: tuple[KubeRule, ...]
    egress: tuple[KubeRule, ...] | None = None


@dataclass(frozen=True)
class KubernetesPlan:
    namespace: str
    release: str
    cluster_domain: str
    context: str | None
    kubeconfig: str | None
    cluster_identifier: str | None
    """The context, when one is set: the provider is replaced (with every object) only when it
    changes, not when the kubeconfig file's path or contents do. None without a context: a
    constant would let a kubeconfig whose current context now points at another cluster deploy
    there as if it were the same one, so the provider's own check (the active cluster in the
    kubeconfig) decides instead."""
    storage_class: str | None
    labels: Labels
    """Labels of the namespace-wide objects (Namespace, pull Secret, runtime manifest)."""
    workloads: dict[str, KubeWorkload]
    """Container key -> its workload."""
    services: dict[str, tuple[KubeService, ...]]
    """Planned service name -> its Service objects."""
    budgets: dict[str, KubeBudget]
    """Planned service name -> its PodDisruptionBudget (services that keep running pods)."""
    config_maps: dict[str, tuple[tuple[str, Value], ...]]
    """Logical name -> (key, value) of a namespace-wide ConfigMap that ConfigMapRef values read."""
    pull_secret: str | None = None
    """Name of the image pull Secret for the private registry, if any."""
    rbac: InvokerRbac | None = None
    ingress: IngressPlan | None = None
    network_policies: tuple[KubeNetworkPolicy, ...] = ()


@dataclass(frozen=True)
class Plan:
    platform: str
    hosts: tuple[HostPlan, ...]
    images: tuple[ImagePlan, ...]
    secrets: tuple[SecretSpec, ...]
    services: tuple[Service, ...]
    """In dependency order."""
    api_host: str
    """`host[:port]` of the edge, as `wsk` wants it."""
    endpoints: dict[str, object] = field(default_factory=dict)
    """Plain (non-secret) endpoints to export."""
    insecure_tls: bool = True
    """True when the edge certificate is self-signed (wsk needs -i)."""
    registry: RegistryPlan | None = None
    """The private registry every image goes through, if any."""
    warnings: tuple[str, ...] = ()
    """Config that works but should be changed, one line each; logged before anything is declared."""
    verify: VerifyPlan | None = None
    """None when verification is switched off (and on Kubernetes)."""
    log_options: tuple[tuple[str, str], ...] = ()
    """Docker hosts: json-file options (max-size, max-file) of every container the program runs."""
    kubernetes: KubernetesPlan | None = None
    """How the services become Kubernetes objects; None on Docker hosts."""
    namespaces: tuple[tuple[str, str], ...] = ()
    """Tenant namespaces: (name, name of the generated secret holding its key), in config order."""

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def containers(self) -> list[Container]:
        return [c for s in self.services for c in s.containers]

    def image(self, key: str) -> ImagePlan:
        return next(i for i in self.images if i.key == key)
