"""Where role instances go, and how other containers reach them, on either platform.

A placement is one instance of a role: its `name` (part of container keys), its stable `id` and
the static `address` other containers reach it at. On Docker the instances are the hosts carrying
the role (name = host name, id = host id, address = host address); on Kubernetes they are the
replicas `0..n-1` of `kubernetes.replicas` (name = id = the index, address = the stable DNS name of
the instance's pod, see planner/kube_names.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from config import Host, StackConfig
from planner import kube_names

PREFIX = "ow"
"""Prefix of every container and volume name on Docker hosts (Kubernetes: kubernetes.release)."""

_SINGLE = ("couchdb", "edge", "redis", "apigateway", "user-events", "prometheus", "grafana")
"""Roles with exactly one instance."""
_SERVICE_ADDRESS = ("edge",)
"""Roles reached through a Service address rather than a pod's (a Deployment's pods come and go)."""


@dataclass(frozen=True)
class Placed:
    """One instance of a role: where it runs and the id it has there."""

    name: str
    """Host name (Docker) or replica index (Kubernetes); containers are keyed `<role>-<name>`."""
    id: int
    address: str
    """Static address other containers reach the instance at."""
    host: Host | None = None
    """The Docker host; None on Kubernetes."""

    @property
    def host_name(self) -> str | None:
        return self.host.name if self.host is not None else None


def replicas(cfg: StackConfig, role: str) -> int:
    """Kubernetes: the number of instances of `role`."""
    return 1 if role in _SINGLE else getattr(cfg.kube.replicas, role)


def placed(cfg: StackConfig, role: str) -> list[Placed]:
    """Every instance of `role`, lowest id first."""
    if cfg.platform != "kubernetes":
        return [Placed(h.name, h.id or 0, h.address, h) for h in cfg.hosts_with(role)]
    k = cfg.kube
    if role in _SERVICE_ADDRESS:
        return [Placed("0", 0, kube_names.service_address(k.release, k.namespace, k.cluster_domain,
                                                          role))]
    return [Placed(str(i), i, kube_names.pod_address(k.release, k.namespace, k.cluster_domain,
                                                     role, i))
            for i in range(replicas(cfg, role))]


def beside_edge(cfg: StackConfig, role: str) -> Placed:
    """A single service that runs next to the edge (the API gateway and its Redis, monitoring):
    on Docker the edge's host; on Kubernetes the role's own single pod."""
    return placed(cfg, role)[0] if cfg.platform == "kubernetes" else placed(cfg, "edge")[0]


def reach_port(cfg: StackConfig, container_port: int, host_port: int) -> int:
    """The port other containers reach a service at: the port published on its Docker host, or on
    Kubernetes the container port itself (pods are reached directly; headless Services map no
    ports). Every endpoint the planner builds goes through here."""
    return container_port if cfg.platform == "kubernetes" else host_port


def prefix(cfg: StackConfig) -> str:
    """Prefix of physical names: `ow` on Docker hosts, kubernetes.release on Kubernetes."""
    return cfg.kube.release if cfg.platform == "kubernetes" else PREFIX
