"""A Mermaid flowchart of a plan: hosts (or, on Kubernetes, services) as boxes, containers inside,
dependencies as arrows.

Pure text from the plan, so the diagram of a stack is known before anything is deployed and changes
exactly when the topology does.
"""

from __future__ import annotations

import re

from planner.model import Container, Plan


def _node(key: str) -> str:
    return re.sub(r"\W", "_", key)


def _line(c: Container, stateful: set[str]) -> str:
    ports = ", ".join(str(p.published) for p in c.ports)
    label = c.name + (f" :{ports}" if ports else "") + (" (init)" if c.one_shot else "")
    shape = f'[("{label}")]' if c.key in stateful else f'["{label}"]'
    return f"    {_node(c.key)}{shape}"


def mermaid(plan: Plan) -> str:
    """`flowchart LR` with one subgraph per host, or on Kubernetes per service (its workloads,
    named as in the cluster, with container ports); stores (with data volumes or claims) are
    drawn as cylinders."""
    stateful = {c.key for c in plan.containers() if any(m.volume or m.data for m in c.mounts)}
    lines = ["flowchart LR"]
    if plan.kubernetes is not None:
        for s in plan.services:
            lines.append(f'  subgraph {_node("svc_" + s.name)}["{s.name}"]')
            lines += [_line(c, stateful) for c in s.containers]
            lines.append("  end")
    for host in plan.hosts if plan.kubernetes is None else ():
        lines.append(f'  subgraph {_node("host_" + host.name)}["{host.name} ({host.address})"]')
        lines += [_line(c, stateful) for c in plan.containers() if c.host == host.name]
        lines.append("  end")
    lines.append(f'  clients(["wsk / clients"]) -->|"{plan.endpoints["apiHost"]}"| '
                 f'{_node(next(c.key for c in plan.containers() if c.service == "edge"))}')
    for c in plan.containers():
        for dep in c.depends_on:
            lines.append(f"  {_node(c.key)} --> {_node(dep)}")
    return "\n".join(lines) + "\n"
