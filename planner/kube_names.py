"""Kubernetes object names, DNS names and labels, from the release and namespace. Pure, no Pulumi.

Every instance of a service is its own single-replica StatefulSet `<release>-<service>-<i>`, and
all instances of a service sit behind one headless Service `<release>-<service>`, so instance i's
pod has the stable DNS name `<release>-<service>-<i>-0.<release>-<service>.<namespace>.svc.<domain>`.
That name is the instance's static address: seed nodes, advertised listeners and canonical
hostnames are built from it, as host addresses are on Docker hosts.
"""

from __future__ import annotations

import hashlib
import json

STATEFULSET_NAME_MAX = 52
"""A StatefulSet's (and DaemonSet's) pods carry the label `controller-revision-hash:
<name>-<hash of up to 10 characters>`, and label values have at most 63 characters."""
NAME_MAX = 63
"""Services are DNS labels, and Job names become the `job-name` label of their pods."""

PART_OF = "openwhisk"
MANAGED_BY = "pulumi"
REPLICA_LABEL = "openwhisk/replica"
"""Selects the one pod of an instance's StatefulSet among the pods of its service."""


def service_name(release: str, service: str) -> str:
    """The headless Service of a planned service (and the stem of its workloads' names)."""
    return f"{release}-{service}"


def workload_name(release: str, service: str, index: int) -> str:
    """The single-replica StatefulSet of instance `index` of `service`."""
    return f"{release}-{service}-{index}"


def pod_address(release: str, namespace: str, domain: str, service: str, index: int) -> str:
    """The stable DNS name of instance `index`'s pod (ordinal 0 of its StatefulSet)."""
    return (f"{workload_name(release, service, index)}-0.{service_name(release, service)}."
            f"{namespace}.svc.{domain}")


def service_address(release: str, namespace: str, domain: str, name: str) -> str:
    """The DNS name of the Service `<release>-<name>`."""
    return f"{release}-{name}.{namespace}.svc.{domain}"


def job_name(release: str, role: str, inputs: object) -> str:
    """A one-shot step's Job, versioned by a hash of its inputs: a Job's pod template cannot
    change, so a changed step is a new Job that runs again, and an unchanged one is left alone."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=repr).encode()).hexdigest()
    return f"{release}-{role}-{digest[:10]}"


JOB_NAME_EXAMPLE_HASH = "0" * 10


def labels(release: str, service: str, component: str) -> dict[str, str]:
    """The recommended labels of every object and pod template of `component` (a role such as
    `kafka` or `couchdb-init`) of `service`."""
    return {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(release: str, service: str, component: str) -> dict[str, str]:
    """What selects the pods of `component`: enough to tell releases and components apart."""
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/instance": release,
            "app.kubernetes.io/component": component}


def expected_names(release: str, replicas: dict[str, int], *, jobs: tuple[str, ...],
                   deployments: tuple[str, ...], daemonsets: tuple[str, ...],
                   extra_services: tuple[str, ...]) -> list[tuple[str, str]]:
    """(kind, name) of every named object a config would produce, for the length check in
    config/rules.py; `replicas` maps each StatefulSet-backed service to its instance count."""
    out: list[tuple[str, str]] = []
    for service, n in replicas.items():
        out.append(("Service", service_name(release, service)))
        out += [("StatefulSet", workload_name(release, service, i)) for i in range(n)]
    out += [("Job", f"{release}-{role}-{JOB_NAME_EXAMPLE_HASH}") for role in jobs]
    out += [("Deployment", service_name(release, d)) for d in deployments]
    out += [("Service", service_name(release, d)) for d in deployments + extra_services]
    out += [("DaemonSet", service_name(release, d)) for d in daemonsets]
    return out


def limit(kind: str) -> int:
    return STATEFULSET_NAME_MAX if kind in ("StatefulSet", "DaemonSet") else NAME_MAX
