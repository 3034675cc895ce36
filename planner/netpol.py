"""Kubernetes NetworkPolicies: what the action network's firewall does on Docker hosts. Pure.

Every planned service with running pods except the edge accepts connections only from the pods of
its clients (CLIENTS), on its own container ports. Action pods (the kubernetes container factory
labels them `user-action-pod: "true"` and `release: <kubernetes.release>`) accept connections only
from invokers, and open connections only to the cluster's DNS, the edge, the API gateway's
management port and, as `invoker.action_network` allows, addresses outside `blocked_cidrs`.
NetworkPolicies take effect only with a network plugin that enforces them (Calico, Cilium, ...).
"""

from __future__ import annotations

from config import StackConfig
from planner import kube_names as names
from planner.model import KubeNetworkPolicy, KubePeer, KubeRule, Service

#: Label the kubernetes container factory puts on every action pod, with `release`.
ACTION_POD = ("user-action-pod", "true")
ACTIONS = "actions"
#: Service -> the services (any of their pods, one-shot Jobs included) that connect to it;
#: ACTIONS stands for action pods. The edge takes connections from anyone.
CLIENTS: dict[str, tuple[str, ...]] = {
    "couchdb": ("couchdb", "controller", "invoker", "scheduler"),
    "zookeeper": ("zookeeper", "invoker", "scheduler"),
    "kafka": ("kafka", "controller", "invoker", "scheduler", "user-events"),
    "etcd": ("etcd", "etcd-auth", "controller", "invoker", "scheduler"),
    "elasticsearch": ("elasticsearch", "controller", "invoker", "scheduler"),
    "redis": ("apigateway",),
    "controller": ("controller", "scheduler", "invoker", "edge", "catalog", "prometheus"),
    "scheduler": ("scheduler", "controller", "invoker", "prometheus"),
    "invoker": ("controller", "scheduler", "prometheus"),
    "apigateway": ("edge", "catalog", ACTIONS),
    "user-events": ("prometheus",),
    "prometheus": ("grafana",),
}
#: The action proxy's port inside an action pod, which the invoker calls.
ACTION_PORT = 8080
GATEWAY_MANAGEMENT = "management"


def _pods(rel: str, service: str) -> tuple[tuple[str, str], ...]:
    if service == ACTIONS:
        return (ACTION_POD, ("release", rel))
    return (("app.kubernetes.io/instance", rel), ("app.kubernetes.io/name", service))


def _ports(s: Service, only: str | None = None) -> tuple[tuple[str, int], ...]:
    return tuple(sorted({("TCP", p.container) for c in s.containers if not c.one_shot
                         for p in c.ports if only is None or p.name == only}))


def policies(cfg: StackConfig, services: list[Service]) -> tuple[KubeNetworkPolicy, ...]:
    rel = cfg.kube.release
    present = {s.name for s in services}
    running = {s.name: s for s in services if any(not c.one_shot for c in s.containers)}
    out = []
    for name, s in running.items():
        clients = CLIENTS.get(name)
        if clients is None:
            continue
        pods = tuple(KubePeer(pods=_pods(rel, c)) for c in clients if c in present)
        rules = [KubeRule(pods, _ports(s))] if pods else []
        if ACTIONS in clients and cfg.container_factory == "kubernetes":
            # Action pods reach the gateway's management port only.
            rules.append(KubeRule((KubePeer(pods=_pods(rel, ACTIONS)),),
                                  _ports(s, GATEWAY_MANAGEMENT)))
        out.append(KubeNetworkPolicy(
            names.service_name(rel, name), tuple(names.selector(rel, name, name).items()),
            tuple(names.labels(rel, name, "network-policy").items()), tuple(rules)))
    if cfg.container_factory == "kubernetes":
        out.append(_actions(cfg, running))
    return tuple(out)


def _actions(cfg: StackConfig, running: dict[str, Service]) -> KubeNetworkPolicy:
    rel, net = cfg.kube.release, cfg.invoker.action_network
    egress = [KubeRule((KubePeer(all_namespaces=True),), (("UDP", 53), ("TCP", 53))),
              KubeRule((KubePeer(pods=_pods(rel, "edge")),), _ports(running["edge"]))]
    if "apigateway" in running:
        egress.append(KubeRule((KubePeer(pods=_pods(rel, "apigateway")),),
                               _ports(running["apigateway"], GATEWAY_MANAGEMENT)))
    egress += [KubeRule((KubePeer(cidr=c),), ()) for c in net.allowed_cidrs]
    if net.egress == "internet":
        egress.append(KubeRule((KubePeer(cidr="0.0.0.0/0", excepted=net.blocked_cidrs),), ()))
    return KubeNetworkPolicy(
        names.service_name(rel, ACTIONS), (ACTION_POD, ("release", rel)),
        tuple(names.labels(rel, "invoker", "action-network-policy").items()),
        (KubeRule((KubePeer(pods=_pods(rel, "invoker")),), (("TCP", ACTION_PORT),)),),
        tuple(egress))
