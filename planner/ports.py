"""Host ports the plan publishes, checked before anything is declared. Pure, no Pulumi.

The config rules judge each setting alone; two services publishing one host port on one host, or
an invoker whose port (`invoker.http_port` plus its id) passes 65535, only show in the plan, so
they are checked here, with the config path of each port.
"""

from __future__ import annotations

from config import NAMESPACE
from planner.model import Container, Plan

#: (service, port name) -> the setting that chooses the host port.
SETTINGS = {
    ("couchdb", "http"): "couchdb.port", ("kafka", "kafka"): "kafka.port",
    ("kafka", "controller"): "kafka.controller_port",
    ("controller", "http"): "controller.http_port", ("controller", "remoting"): "controller.remoting_port",
    ("scheduler", "http"): "scheduler.http_port", ("scheduler", "rpc"): "scheduler.rpc_port",
    ("scheduler", "remoting"): "scheduler.remoting_port", ("invoker", "http"): "invoker.http_port",
    ("edge", "https"): "edge.https_port", ("edge", "http"): "edge.http_port",
    ("registry", "https"): "registry.port", ("redis", "redis"): "apigateway.redis_port",
    ("apigateway", "api"): "apigateway.port", ("apigateway", "management"): "apigateway.management_port",
    ("user-events", "http"): "monitoring.user_events_port",
    ("prometheus", "http"): "monitoring.prometheus_port", ("grafana", "http"): "monitoring.grafana_port",
}


def _owner(c: Container, name: str, port: int) -> str:
    setting = SETTINGS.get((c.service, name))
    if setting is None:
        return f"{c.name}'s fixed {name} port"
    if c.service == "invoker":
        return f"{c.name} ({setting} plus its id)"
    return f"{c.name} ({setting})"


def port_problems(plan: Plan) -> list[str]:
    """One line per host port published twice on a host, or past 65535; empty on Kubernetes,
    where pods publish no host ports."""
    if plan.kubernetes is not None:
        return []
    out: list[str] = []
    for host in plan.hosts:
        seen: dict[int, tuple[Container, str]] = {}
        for c in (c for s in plan.services for c in s.containers if c.host == host.name):
            for p in c.ports:
                where = f"{NAMESPACE}:{SETTINGS.get((c.service, p.name), 'hosts')}"
                if p.published > 65535:
                    out.append(f"{where}: {c.name} on host {host.name!r} would publish port "
                               f"{p.published}, past 65535 (got {p.published}); lower "
                               f"invoker.http_port or the host's invoker ids")
                elif p.published in seen:
                    other, name = seen[p.published]
                    out.append(f"{where}: host {host.name!r} would publish port {p.published} "
                               f"twice, for {_owner(other, name, p.published)} and "
                               f"{_owner(c, p.name, p.published)} (got {p.published} for both); "
                               f"give one of them another port")
                else:
                    seen[p.published] = (c, p.name)
    return out
