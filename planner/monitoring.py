"""Monitoring (opt-in, `monitoring.enabled`): openwhisk/user-events, Prometheus and Grafana. Pure.

They run next to the edge (their own single pods on Kubernetes). The controllers, invokers and
schedulers report through Kamon (`planner.env.kamon_env`): each serves `/metrics` on its HTTP
port, which the edge keeps closed to the outside. user-events turns the `events` topic into
per-namespace activation metrics on its port 9095.

Prometheus scrapes every component at the addresses the plan gives them (`scrape_config`), so
an added host is scraped by the next `up` without any other change. Its config is a live config
on Docker hosts (checked with promtool, then reloaded with SIGHUP): a changed target list never
restarts Prometheus. Its samples and Grafana's database are on retained volumes.

Grafana gets its datasource and dashboard provider as provisioned files, its admin password
from a file (`GF_SECURITY_ADMIN_PASSWORD__FILE`, and set again at each start, so a rotation
applies to an existing database too), and the OpenWhisk dashboards from its image:
built from components/assets/grafana, which copies them out of a pinned apache/openwhisk
archive verified against a content digest, or `monitoring.grafana_image` prebuilt.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from config import StackConfig
from planner import kube_names
from planner.env import JVM_PORT
from planner.images import built_image, mirrored_image
from planner.model import (
    Container, File, Health, ImagePlan, LiveConfig, Mount, Port, Secret, Service, VolumePlan,
)
from planner.placement import PREFIX, beside_edge, reach_port

USER_EVENTS_PORT, PROMETHEUS_PORT, GRAFANA_PORT = 9095, 9090, 3000
PROMETHEUS_CONFIG = "/etc/prometheus/ow"
"""Where Prometheus's config lives (a live config volume on Docker hosts)."""
DASHBOARDS = "/etc/grafana/dashboards/openwhisk"
"""Where the Grafana image holds the OpenWhisk dashboards (built or prebuilt)."""
PROVISIONING = "/etc/grafana/provisioning"
ADMIN_USER = "admin"
"""Grafana's admin user, whose password is generated."""
ADMIN_PASSWORD_FILE = "/etc/grafana/secrets/admin_password"
#: Grafana's start: its admin password comes from the environment only when it creates its
#: database, so each start first sets the password in the file (stdin, never a command line) with
#: its CLI, then runs the image's own entry point. The CLI creates the database when there is
#: none yet; either way the admin password is the file's.
GRAFANA_START = (
    'grafana cli --homepath "$GF_PATHS_HOME" --config "$GF_PATHS_CONFIG" admin '
    'reset-admin-password --password-from-stdin <"$GF_SECURITY_ADMIN_PASSWORD__FILE" >/dev/null '
    '|| echo "openwhisk-pulumi: grafana cli could not set the admin password" >&2; exec /run.sh')
DATASOURCE = "Prometheus"
"""The datasource name upstream's dashboards refer to."""
#: uid:gid the images write their data as: prom/prometheus runs as nobody, grafana as 472.
PROMETHEUS_OWNER, GRAFANA_OWNER = (65534, 65534), (472, 0)

ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets"
#: The Grafana image's build context: its Dockerfile and the catalog's tree digest tool.
CONTEXT = (("Dockerfile", ASSETS / "grafana" / "Dockerfile"),
           ("tree_digest.py", ASSETS / "catalog" / "tree_digest.py"))
LOCAL_REPO = "openwhisk-pulumi/grafana"


@cache
def pins() -> dict:
    return json.loads((ASSETS / "grafana" / "pins.json").read_text())


def build_args(cfg: StackConfig) -> dict[str, str]:
    """The Dockerfile's base and the dashboard pin for the stack's OpenWhisk tag, then the
    stack's overrides."""
    out = {"BASE": cfg.images.grafana}
    pin = pins().get(cfg.version.tag)
    if pin is not None:
        # Tags whose dashboards are the same content share the first such pin, so that a new
        # OpenWhisk tag rebuilds Grafana only when its dashboards changed.
        pin = next(p for p in pins().values() if p["digest"] == pin["digest"])
        out |= {"DASHBOARDS_COMMIT": pin["commit"], "DASHBOARDS_URL": pin["url"],
                "DASHBOARDS_DIGEST": pin["digest"]}
    return dict(sorted((out | cfg.monitoring.build_args).items()))


def images(cfg: StackConfig, registry: str | None) -> tuple[ImagePlan, ...]:
    """Prometheus (mirrored like any upstream image) and Grafana: `monitoring.grafana_image` as
    given, else built from components/assets/grafana, tagged with a hash of its context and
    args. user-events is planned with the core images."""
    prometheus = mirrored_image("prometheus", cfg.images.prometheus, registry)
    if cfg.monitoring.grafana_image is not None:
        return prometheus, mirrored_image("grafana", cfg.monitoring.grafana_image, registry)
    version = cfg.images.grafana.rsplit(":", 1)[-1].split("@")[0]
    return prometheus, built_image(
        "grafana", LOCAL_REPO, version, tuple((name, path.read_text()) for name, path in CONTEXT),
        tuple(build_args(cfg).items()), registry)


def scrape_targets(cfg: StackConfig, http: dict[str, list[str]]) -> dict[str, list[str]]:
    """Job -> `host:port` of every scraped instance: the controllers', invokers' and schedulers'
    HTTP ports (`http`, by role, from the placements) and user-events. On Kubernetes,
    docker-factory invokers (a DaemonSet) have no planned addresses: scrape_config finds them
    through their headless Service instead."""
    ue = beside_edge(cfg, "user-events")
    return {job: hosts for job, hosts in http.items() if hosts} | {
        "user-events": [f"{ue.address}:"
                        f"{reach_port(cfg, USER_EVENTS_PORT, cfg.monitoring.user_events_port)}"]}


def scrape_config(cfg: StackConfig, targets: dict[str, list[str]]) -> str:
    """prometheus.yml: Prometheus itself, then one job per scraped service."""
    interval = f"{cfg.monitoring.scrape_interval_s}s"
    lines = ["# Written by openwhisk-pulumi from its plan; changes here are overwritten.",
             "global:", f"  scrape_interval: {interval}", f"  evaluation_interval: {interval}",
             "scrape_configs:",
             "  - job_name: prometheus",
             "    static_configs:",
             f"      - targets: ['127.0.0.1:{PROMETHEUS_PORT}']"]
    for job, hosts in targets.items():
        lines += [f"  - job_name: {job}", "    static_configs:",
                  f"      - targets: [{', '.join(repr(h) for h in hosts)}]"]
    if cfg.platform == "kubernetes" and cfg.container_factory == "docker":
        k = cfg.kube
        name = kube_names.service_address(k.release, k.namespace, k.cluster_domain, "invoker")
        lines += ["  - job_name: invoker", "    dns_sd_configs:", f"      - names: ['{name}']",
                  "        type: A", f"        port: {JVM_PORT}"]
    return "\n".join(lines) + "\n"


def _datasource(prometheus_url: str) -> str:
    return (f"apiVersion: 1\ndatasources:\n  - name: {DATASOURCE}\n    uid: openwhisk-prometheus\n"
            f"    type: prometheus\n    access: proxy\n    url: {prometheus_url}\n"
            f"    isDefault: true\n    editable: false\n")


DASHBOARD_PROVIDER = (
    "apiVersion: 1\nproviders:\n  - name: OpenWhisk\n    folder: OpenWhisk\n    type: file\n"
    f"    disableDeletion: true\n    allowUiUpdates: false\n    options:\n      path: {DASHBOARDS}\n")


def prometheus_url(cfg: StackConfig) -> str:
    at = beside_edge(cfg, "prometheus")
    return f"http://{at.address}:{reach_port(cfg, PROMETHEUS_PORT, cfg.monitoring.prometheus_port)}"


def grafana_url(cfg: StackConfig) -> str:
    at = beside_edge(cfg, "grafana")
    return f"http://{at.address}:{reach_port(cfg, GRAFANA_PORT, cfg.monitoring.grafana_port)}"


def services(cfg: StackConfig, kafka_hosts: str, kafka_env: dict, http: dict[str, list[str]],
             depends_on: tuple[str, ...]) -> list[Service]:
    """user-events, Prometheus and Grafana (one instance each), after the brokers user-events
    reads (`depends_on`). `kafka_env` is the Kafka client's security settings in user-events'
    keys; `http` the scraped components' addresses by role (scrape_targets)."""
    m = cfg.monitoring
    ue = beside_edge(cfg, "user-events")
    user_events = Container(
        key=f"user-events-{ue.name}", service="user-events", host=ue.host_name,
        name=f"{PREFIX}-user-events", image="user-events",
        env=tuple(sorted(({"KAFKA_HOSTS": kafka_hosts} | kafka_env).items())),
        ports=(Port(USER_EVENTS_PORT, reach_port(cfg, USER_EVENTS_PORT, m.user_events_port),
                    "http"),),
        health=Health(("CMD-SHELL", f"curl -fsS http://127.0.0.1:{USER_EVENTS_PORT}/ping"),
                      wait=True, start_period_s=120),
        depends_on=depends_on)

    pr = beside_edge(cfg, "prometheus")
    data = VolumePlan(f"prometheus-{pr.name}-data", pr.host_name, f"{PREFIX}-prometheus-data",
                      owner=PROMETHEUS_OWNER)
    config = scrape_config(cfg, scrape_targets(cfg, http))
    live = cfg.platform != "kubernetes"
    config_path = f"{PROMETHEUS_CONFIG}/prometheus.yml"
    prometheus = Container(
        key=f"prometheus-{pr.name}", service="prometheus", host=pr.host_name,
        name=f"{PREFIX}-prometheus", image="prometheus",
        command=(f"--config.file={config_path}", "--storage.tsdb.path=/prometheus",
                 f"--storage.tsdb.retention.time={m.retention_days}d",
                 f"--web.listen-address=:{PROMETHEUS_PORT}"),
        ports=(Port(PROMETHEUS_PORT, reach_port(cfg, PROMETHEUS_PORT, m.prometheus_port), "http"),),
        mounts=(Mount("/prometheus", volume=data.key),),
        files=() if live else (File(config_path, config),),
        live_config=LiveConfig(
            volume=f"{PREFIX}-prometheus-config", target=PROMETHEUS_CONFIG,
            files=(("prometheus.yml", config),),
            check=("/bin/promtool", "check", "config", f"{config_path}.next"),
            reload=("sh", "-c", "kill -HUP 1")) if live else None,
        health=Health(("CMD-SHELL", f"wget -qO- http://127.0.0.1:{PROMETHEUS_PORT}/-/ready "
                                    ">/dev/null"), wait=True, start_period_s=30),
        depends_on=(user_events.key,))

    gr = beside_edge(cfg, "grafana")
    gdata = VolumePlan(f"grafana-{gr.name}-data", gr.host_name, f"{PREFIX}-grafana-data",
                       owner=GRAFANA_OWNER)
    env = {
        "GF_SECURITY_ADMIN_USER": ADMIN_USER,
        "GF_SECURITY_ADMIN_PASSWORD__FILE": ADMIN_PASSWORD_FILE,
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        # No site reaches grafana.com from here; update checks would only log errors.
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
    }
    grafana = Container(
        key=f"grafana-{gr.name}", service="grafana", host=gr.host_name,
        name=f"{PREFIX}-grafana", image="grafana", env=tuple(sorted(env.items())),
        entrypoint=("sh", "-c", GRAFANA_START),
        ports=(Port(GRAFANA_PORT, reach_port(cfg, GRAFANA_PORT, m.grafana_port), "http"),),
        mounts=(Mount("/var/lib/grafana", volume=gdata.key),),
        files=(File(f"{PROVISIONING}/datasources/openwhisk.yaml", _datasource(prometheus_url(cfg))),
               File(f"{PROVISIONING}/dashboards/openwhisk.yaml", DASHBOARD_PROVIDER),
               File(ADMIN_PASSWORD_FILE, Secret.of("grafana_admin_password"))),
        health=Health(("CMD-SHELL", f"wget -qO- http://127.0.0.1:{GRAFANA_PORT}/api/health "
                                    ">/dev/null"), wait=True, start_period_s=30),
        depends_on=(prometheus.key,))
    return [Service("user-events", (user_events,)), Service("prometheus", (prometheus,), (data,)),
            Service("grafana", (grafana,), (gdata,))]
