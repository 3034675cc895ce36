"""Monitoring under the planner: what reports metrics, what Prometheus scrapes (from the plan), how
Grafana gets its datasource, dashboards and password, the Grafana image's pin, the config rules,
and the Kubernetes rendering."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import config
import planner
from planner import monitoring
from planner.model import File, Mount, Port, Secret
from tests import test_catalog_install as catalog_tests
from tests.test_catalog_install import NEEDS_OPENWHISK, OPENWHISK_MIRROR, git_extract, github_archive
from tests.test_config import change, problems
from tests.test_kubernetes_plan import BASE as K8S, SEED, plan_of
from tests.test_planner import cluster

ON = {"monitoring": {"enabled": True}}
KAMON = {
    "METRICS_KAMON": "true", "METRICS_KAMON_TAGS": "true",
    "CONFIG_whisk_metrics_prometheusEnabled": "true", "CONFIG_whisk_userEvents_enabled": "true",
    "CONFIG_kamon_metric_tickInterval": "15 seconds",
}
NEWEST = monitoring.pins()["1fae641"]
#: The catalog tests' local archive server (a fixture).
archives = catalog_tests.archives


def container(p, key):
    return next(c for c in p.containers() if c.key == key)


def scrape(p) -> str:
    prom = container(p, next(c.key for c in p.containers() if c.service == "prometheus"))
    if prom.live_config is not None:
        return dict(prom.live_config.files)["prometheus.yml"]
    return next(f.content for f in prom.files if f.path.endswith("prometheus.yml"))


# -- off by default -------------------------------------------------------------------------------


def test_off_by_default_nothing_reports_and_nothing_runs():
    p = planner.plan(cluster())
    assert not {"user-events", "prometheus", "grafana"} & {s.name for s in p.services}
    assert not {"user-events", "prometheus", "grafana"} & {i.key for i in p.images}
    assert "grafana_admin_password" not in {s.name for s in p.secrets}
    assert not {"prometheus", "grafana"} & set(p.endpoints)
    for c in p.containers():
        assert not set(KAMON) & set(c.env_dict()), c.key


# -- what reports -----------------------------------------------------------------------------------


def test_controllers_invokers_and_schedulers_report_through_kamon_and_nothing_else_does():
    p = planner.plan(cluster(**ON))
    jvm = [c for c in p.containers() if c.service in ("controller", "invoker", "scheduler")]
    assert len(jvm) == 3 + 3 + 3
    for c in jvm:
        assert {k: v for k, v in c.env_dict().items() if k in KAMON} == KAMON, c.key
    for c in p.containers():
        if c.service not in ("controller", "invoker", "scheduler"):
            assert not set(KAMON) & set(c.env_dict()), c.key
    slow = planner.plan(cluster(monitoring={"enabled": True, "scrape_interval_s": 60}))
    assert container(slow, "controller-core-a").env_dict()["CONFIG_kamon_metric_tickInterval"] == \
        "60 seconds"


# -- what Prometheus scrapes ----------------------------------------------------------------------


def test_prometheus_scrapes_every_component_at_its_planned_address():
    assert scrape(planner.plan(cluster(**ON))) == """\
# Written by openwhisk-pulumi from its plan; changes here are overwritten.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:9090']
  - job_name: controller
    static_configs:
      - targets: ['10.0.0.11:10001', '10.0.0.12:10001', '10.0.0.13:10001']
  - job_name: invoker
    static_configs:
      - targets: ['10.0.0.21:12001', '10.0.0.22:12002', '10.0.0.22:12003']
  - job_name: scheduler
    static_configs:
      - targets: ['10.0.0.11:14001', '10.0.0.12:14001', '10.0.0.13:14001']
  - job_name: user-events
    static_configs:
      - targets: ['10.0.0.11:9095']
"""


def test_an_added_invoker_host_is_scraped_with_no_other_change_and_prometheus_stays():
    before = planner.plan(cluster(**ON))
    raw_hosts = [h.model_dump(exclude_none=True) for h in cluster().config.hosts]
    added = raw_hosts + [{"name": "inv-c", "address": "10.0.0.23", "id": 5, "roles": ["invoker"],
                          "invoker_ids": [3]}]
    after = planner.plan(cluster(hosts=added, **ON))
    assert "'10.0.0.23:12004'" in scrape(after)
    assert scrape(after) == scrape(before).replace(
        "'10.0.0.22:12003']", "'10.0.0.22:12003', '10.0.0.23:12004']")
    # Only the live config changes: the container's own settings stay, so it is not replaced.
    old, new = container(before, "prometheus-core-a"), container(after, "prometheus-core-a")
    assert (old.command, old.env, old.ports, old.mounts, old.files) == \
        (new.command, new.env, new.ports, new.mounts, new.files)
    assert old.live_config != new.live_config


def test_prometheus_runs_on_the_edge_host_with_retained_data_and_a_live_config():
    p = planner.plan(cluster(monitoring={"enabled": True, "retention_days": 30,
                                         "prometheus_port": 19090}))
    prom = container(p, "prometheus-core-a")
    assert (prom.host, prom.name, prom.image) == ("core-a", "ow-prometheus", "prometheus")
    assert prom.command == ("--config.file=/etc/prometheus/ow/prometheus.yml",
                            "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=30d",
                            "--web.listen-address=:9090")
    assert prom.ports == (Port(9090, 19090, "http"),)
    assert prom.mounts == (Mount("/prometheus", volume="prometheus-core-a-data"),)
    volume = next(v for s in p.services if s.name == "prometheus" for v in s.volumes)
    assert (volume.name, volume.owner) == ("ow-prometheus-data", (65534, 65534))
    live = prom.live_config
    assert (live.volume, live.target) == ("ow-prometheus-config", "/etc/prometheus/ow")
    assert live.check == ("/bin/promtool", "check", "config", "/etc/prometheus/ow/prometheus.yml.next")
    assert live.reload == ("sh", "-c", "kill -HUP 1")
    assert prom.files == ()
    assert prom.health.test == ("CMD-SHELL", "wget -qO- http://127.0.0.1:9090/-/ready >/dev/null")
    assert prom.depends_on == ("user-events-core-a",)
    assert p.endpoints["prometheus"] == "http://10.0.0.11:19090"


# -- user-events ----------------------------------------------------------------------------------


def test_user_events_reads_the_events_topic_from_the_brokers():
    p = planner.plan(cluster(**ON))
    ue = container(p, "user-events-core-a")
    assert (ue.host, ue.name, ue.image, ue.command) == ("core-a", "ow-user-events", "user-events", ())
    assert ue.env_dict() == {"KAFKA_HOSTS": "10.0.0.11:9092,10.0.0.12:9092,10.0.0.13:9092"}
    assert ue.ports == (Port(9095, 9095, "http"),)
    assert ue.health.test == ("CMD-SHELL", "curl -fsS http://127.0.0.1:9095/ping")
    assert ue.depends_on == ("kafka-core-a", "kafka-core-b", "kafka-core-c")
    assert p.image("user-events").ref == "openwhisk/user-events:1fae641"
    assert p.image("user-events").kind == "core"


@pytest.mark.parametrize("tag, family", [("4fac03a", "akka"), ("1fae641", "pekko")])
def test_with_kafka_sasl_user_events_logs_in_like_the_other_clients_without_its_password_in_env(
        tag, family):
    p = planner.plan(cluster(tag=tag, kafka={"replication_factor": 3,
                                             "sasl": {"mechanism": "SCRAM-SHA-512"}}, **ON))
    ue = container(p, "user-events-core-a")
    prefix = f"CONFIG_{family}_kafka_consumer_kafkaClients_"
    assert ue.env_dict() == {
        "KAFKA_HOSTS": "10.0.0.11:9092,10.0.0.12:9092,10.0.0.13:9092",
        f"{prefix}security_protocol": "SASL_PLAINTEXT",
        f"{prefix}sasl_mechanism": "SCRAM-SHA-512",
        "CONFIG_config_file": "/openwhisk-pulumi/secrets.conf"}
    assert ue.files == (File("/openwhisk-pulumi/secrets.conf", Secret(
        'include classpath("application.conf")\n'
        f'{family}.kafka.consumer.kafka-clients.sasl.jaas.config = '
        '"org.apache.kafka.common.security.scram.ScramLoginModule required username=\\"openwhisk\\" '
        'password=\\"${kafka_client_password}\\";"\n')),)


# -- Grafana ----------------------------------------------------------------------------------------


def test_grafana_gets_its_datasource_dashboards_and_password_from_files():
    p = planner.plan(cluster(**ON))
    g = container(p, "grafana-core-a")
    assert (g.host, g.name, g.image) == ("core-a", "ow-grafana", "grafana")
    # The password reaches the CLI on stdin, from the file; then the image's own entry point.
    assert g.entrypoint == ("sh", "-c", (
        'grafana cli --homepath "$GF_PATHS_HOME" --config "$GF_PATHS_CONFIG" admin '
        'reset-admin-password --password-from-stdin <"$GF_SECURITY_ADMIN_PASSWORD__FILE" '
        '>/dev/null || echo "openwhisk-pulumi: grafana cli could not set the admin password" >&2; '
        'exec /run.sh'))
    assert g.env_dict() == {
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": "/etc/grafana/secrets/admin_password",
        "GF_USERS_ALLOW_SIGN_UP": "false", "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false"}
    assert g.files == (
        File("/etc/grafana/provisioning/datasources/openwhisk.yaml",
             "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    uid: openwhisk-prometheus\n"
             "    type: prometheus\n    access: proxy\n    url: http://10.0.0.11:9090\n"
             "    isDefault: true\n    editable: false\n"),
        File("/etc/grafana/provisioning/dashboards/openwhisk.yaml",
             "apiVersion: 1\nproviders:\n  - name: OpenWhisk\n    folder: OpenWhisk\n"
             "    type: file\n    disableDeletion: true\n    allowUiUpdates: false\n"
             "    options:\n      path: /etc/grafana/dashboards/openwhisk\n"),
        File("/etc/grafana/secrets/admin_password", Secret.of("grafana_admin_password")))
    assert g.ports == (Port(3000, 3000, "http"),)
    assert g.mounts == (Mount("/var/lib/grafana", volume="grafana-core-a-data"),)
    volume = next(v for s in p.services if s.name == "grafana" for v in s.volumes)
    assert (volume.name, volume.owner) == ("ow-grafana-data", (472, 0))
    assert g.health.test == ("CMD-SHELL", "wget -qO- http://127.0.0.1:3000/api/health >/dev/null")
    assert g.depends_on == ("prometheus-core-a",)
    assert p.endpoints["grafana"] == "http://10.0.0.11:3000"
    spec = next(s for s in p.secrets if s.name == "grafana_admin_password")
    assert (spec.kind, spec.generation) == ("password", 0)
    rotated = planner.plan(cluster(rotate={"grafana_admin_password": 2}, **ON))
    assert next(s for s in rotated.secrets if s.name == "grafana_admin_password").generation == 2


def test_upstream_dashboards_name_the_datasource_grafana_is_given():
    """Every panel of upstream's dashboards names the datasource `Prometheus` (or Grafana's own
    annotations): the provisioned datasource must carry that name."""
    assert monitoring.DATASOURCE == "Prometheus"


@NEEDS_OPENWHISK
def test_the_dashboards_at_the_pinned_commit_use_only_the_provisioned_datasource(tmp_path):
    git_extract(OPENWHISK_MIRROR, NEWEST["commit"], NEWEST["tree"], tmp_path)
    names = set()
    for path in sorted((tmp_path / NEWEST["tree"]).glob("*.json")):
        names |= set(re.findall(r'"datasource":\s*"([^"]+)"', path.read_text()))
    assert names == {"Prometheus", "-- Grafana --"}


def test_the_grafana_image_is_built_from_the_pinned_dashboards_of_the_stacks_tag():
    p = planner.plan(cluster(**ON))
    image = p.image("grafana")
    tag = image.ref.split(":", 1)[1]
    assert image.ref == f"openwhisk-pulumi/grafana:{tag}" and image.target is None
    assert re.fullmatch(r"12\.0\.2-[0-9a-f]{12}", tag)
    assert [n for n, _ in image.inline.files] == ["Dockerfile", "tree_digest.py"]
    # Every known tag has the same dashboards (one content digest), so all share the first pin.
    assert dict(image.inline.args) == {
        "BASE": "grafana/grafana:12.0.2",
        "DASHBOARDS_COMMIT": "ef725a653ab112391f79c274d8e3dcfb915d59a3",
        "DASHBOARDS_DIGEST": "sha256:15ecf28dbe8f7dc72069878a5135e5054c91c1931134af9e7533f00aeb3ba927",
        "DASHBOARDS_URL": "https://github.com/apache/openwhisk/archive/"
                          "ef725a653ab112391f79c274d8e3dcfb915d59a3.tar.gz"}
    assert planner.plan(cluster(tag="7538ced", **ON)).image("grafana").ref == image.ref
    # Another archive, or another base, is another image.
    mirrored = planner.plan(cluster(monitoring={"enabled": True, "build_args": {
        "DASHBOARDS_URL": "https://mirror.example.com/openwhisk-ef725a6.tar.gz"}}))
    assert mirrored.image("grafana").ref != image.ref
    assert dict(mirrored.image("grafana").inline.args)["DASHBOARDS_URL"] == \
        "https://mirror.example.com/openwhisk-ef725a6.tar.gz"
    other = planner.plan(cluster(images={"grafana": "grafana/grafana:12.0.3"}, **ON))
    assert other.image("grafana").ref.startswith("openwhisk-pulumi/grafana:12.0.3-")
    assert p.image("prometheus").ref == "prom/prometheus:v3.5.0"


def test_a_prebuilt_grafana_image_is_used_as_given_and_mirrored_with_a_registry():
    p = planner.plan(cluster(monitoring={"enabled": True,
                                         "grafana_image": "mirror.example.com/ops/grafana:12.0.2-ow"}))
    image = p.image("grafana")
    assert (image.ref, image.inline, image.target) == (
        "mirror.example.com/ops/grafana:12.0.2-ow", None, None)


def test_pins_cover_the_known_tags_and_the_dockerfile_defaults_are_the_newest_pin():
    assert sorted(monitoring.pins()) == sorted(config.KNOWN_TAGS)
    text = (monitoring.ASSETS / "grafana" / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    assert args == {"FETCH_BASE": "node:20.18.1-bookworm-slim", "BASE": "grafana/grafana:12.0.2",
                    "DASHBOARDS_COMMIT": NEWEST["commit"], "DASHBOARDS_URL": NEWEST["url"],
                    "DASHBOARDS_DIGEST": NEWEST["digest"]}
    assert args["BASE"] == config.Images().grafana


@NEEDS_OPENWHISK
@pytest.mark.parametrize("tag", sorted(config.KNOWN_TAGS))
def test_dashboard_pins_match_the_mirror(tmp_path, tag):
    catalog_tests.assert_openwhisk_pin(monitoring.pins()[tag], tag, tmp_path)


def _fetch_verify(tmp: Path, environ: dict[str, str]) -> subprocess.CompletedProcess:
    text = (monitoring.ASSETS / "grafana" / "Dockerfile").read_text()
    block = text.split("# BEGIN fetch-verify\n")[1].split("# END fetch-verify\n")[0]
    work = tmp / "root"
    (work / "fetch").mkdir(parents=True)
    shutil.copy(monitoring.ASSETS / "catalog" / "tree_digest.py", work / "fetch")
    bindir = tmp / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    return subprocess.run(["sh", "-c", block.removeprefix("RUN ")], cwd=work, capture_output=True,
                          text=True, timeout=30, check=False,
                          env={"PATH": f"{bindir}:{os.environ['PATH']}"} | environ)


@NEEDS_OPENWHISK
@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_fetch_verify_copies_the_pinned_dashboards_and_refuses_other_content(tmp_path, archives):
    served, base = archives
    github_archive(OPENWHISK_MIRROR, NEWEST["commit"], NEWEST["tree"], "openwhisk",
                   served / "openwhisk.tar.gz")
    ok = _fetch_verify(tmp_path / "ok", {"DASHBOARDS_URL": f"{base}/openwhisk.tar.gz",
                                         "DASHBOARDS_DIGEST": NEWEST["digest"]})
    assert (ok.returncode, ok.stderr) == (0, "")
    copied = tmp_path / "ok" / "root" / "dashboards"
    assert sorted(p.name for p in copied.iterdir()) == [
        "global-metrics.json", "openwhisk_events.json", "top-namespaces.json"]
    assert all(json.loads(p.read_text()).get("title") for p in copied.iterdir())

    wrong = "sha256:" + "0" * 64
    bad = _fetch_verify(tmp_path / "bad", {"DASHBOARDS_URL": f"{base}/openwhisk.tar.gz",
                                           "DASHBOARDS_DIGEST": wrong})
    assert bad.returncode == 1
    assert bad.stderr == (f"fetch-verify: {base}/openwhisk.tar.gz: content of {NEWEST['tree']} "
                          f"does not match its pin: expected {wrong}, got {NEWEST['digest']}\n")
    assert not (tmp_path / "bad" / "root" / "dashboards").exists()


# -- config rules -----------------------------------------------------------------------------------

SINGLE = {"version": {"tag": "ef725a6"},
          "hosts": [{"name": "dev", "address": "172.17.0.1", "roles": [
              "couchdb", "zookeeper", "kafka", "controller", "invoker", "edge"]}]}


@pytest.mark.parametrize("changes, expected", [
    pytest.param({"monitoring": {"enabled": True, "grafana_port": 9090}},
                 "openwhisk:monitoring: prometheus_port and grafana_port are both 9090, on the "
                 "edge's host (got {\"enabled\": true, \"grafana_port\": 9090}); give user-events, "
                 "Prometheus and Grafana three different host ports", id="same-port"),
    pytest.param({"monitoring": {"enabled": True, "scrape_interval_s": 1}},
                 "openwhisk:monitoring.scrape_interval_s: must be at least 5 (got 1); set it with "
                 "pulumi config set --path 'monitoring.scrape_interval_s' <integer>", id="scrape-too-often"),
    pytest.param({"monitoring": {"enabled": "yes"}},
                 "openwhisk:monitoring.enabled: expected true or false (got 'yes'); set it with "
                 "pulumi config set --path 'monitoring.enabled' <true|false>", id="enabled-not-bool"),
    pytest.param({"monitoring": {"enabled": True, "grafana_image": "grafana/grafana"}},
                 "openwhisk:monitoring.grafana_image: no tag means 'latest', a mutable tag (got "
                 "'grafana/grafana'); pin a version tag or a digest, or set "
                 "version.allow_mutable_tags: true", id="grafana-image-latest"),
    pytest.param({"version": {"tag": "abc1234", "actor_system": "pekko", "mode": "classic"},
                  "monitoring": {"enabled": True}},
                 "openwhisk:monitoring.build_args: the OpenWhisk dashboards are pinned for the "
                 "known tags only, and version.tag is not one (got 'abc1234'); set DASHBOARDS_URL, "
                 "DASHBOARDS_DIGEST and DASHBOARDS_COMMIT to the archive of that OpenWhisk commit "
                 "and its content digest (components/assets/catalog/tree_digest.py), or "
                 "monitoring.grafana_image to a prebuilt image", id="unknown-tag"),
    pytest.param({"monitoring": {"enabled": True, "build_args": {"DASHBOARD_URL": "x"}}},
                 None, id="unknown-build-arg"),
    pytest.param({"monitoring": {"enabled": True, "retention_days": 0}},
                 "openwhisk:monitoring.retention_days: must be at least 1 (got 0); set it with "
                 "pulumi config set --path 'monitoring.retention_days' <integer>", id="no-retention"),
    pytest.param({"monitoring": {"enabled": True, "grafana_port": 70000}},
                 "openwhisk:monitoring.grafana_port: must be at most 65535 (got 70000); set it with "
                 "pulumi config set --path 'monitoring.grafana_port' <integer>", id="port-range"),
    pytest.param({"monitoring": {"enabled": True, "user_events_port": True}},
                 "openwhisk:monitoring.user_events_port: expected an integer (got true); set it "
                 "with pulumi config set --path 'monitoring.user_events_port' <integer>",
                 id="port-bool"),
])
def test_each_monitoring_rule_reports_one_exact_line(changes, expected):
    got = problems(change(SINGLE, changes))
    if expected is None:
        assert len(got) == 1 and got[0].startswith(
            "openwhisk:monitoring.build_args.DASHBOARD_URL: ") and "DASHBOARDS_URL" in got[0]
    else:
        assert got == [expected]


def test_a_monitoring_port_taken_by_another_service_is_refused_before_anything_is_declared():
    from planner.ports import port_problems
    p = planner.plan(config.parse(change(SINGLE, {"monitoring": {"enabled": True,
                                                                 "prometheus_port": 9092}}),
                                  base_dir="."))
    assert port_problems(p) == [
        "openwhisk:monitoring.prometheus_port: host 'dev' would publish port 9092 twice, for "
        "ow-kafka (kafka.port) and ow-prometheus (monitoring.prometheus_port) (got 9092 for "
        "both); give one of them another port"]


def test_on_kubernetes_without_a_registry_grafana_needs_a_prebuilt_image():
    assert problems(change(K8S, ON)) == [
        "openwhisk:monitoring.grafana_image: on kubernetes the Grafana image with the dashboards "
        "is built on registry.builder and pushed for the cluster to pull, and this stack has no "
        "registry (got none); set registry (mode external, with builder), or "
        "monitoring.grafana_image to a prebuilt image that holds them at "
        "/etc/grafana/dashboards/openwhisk"]
    plan_of(change(K8S, {"monitoring": {"enabled": True, "grafana_image": "ops/grafana:12.0.2-ow"}}))


# -- Kubernetes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, expected", [
    pytest.param({"kubernetes.volume_size": {"prometheus": "lots"}},
                 "openwhisk:kubernetes.volume_size.prometheus: expected a Kubernetes quantity such "
                 "as 10Gi or 500Mi (got 'lots'); set it with pulumi config set --path "
                 "'kubernetes.volume_size.prometheus' <string>", id="volume-size"),
    pytest.param({"kubernetes.resources": {"user_events": {"memory": "256Mi"}}},
                 "openwhisk:kubernetes.resources.user_events.memory: the heap is half of it, and a "
                 "heap under 256 MiB does not run user_events (got '256Mi'); give it at least "
                 "512Mi", id="user-events-heap"),
])
def test_each_monitoring_kubernetes_rule_reports_one_exact_line(changes, expected):
    assert problems(change(K8S, changes)) == [expected]

NS = "openwhisk.svc.cluster.local"
PREBUILT = {"monitoring": {"enabled": True, "grafana_image": "ops/grafana:12.0.2-ow"}}


def test_on_kubernetes_prometheus_scrapes_the_pods_at_their_dns_names():
    p = plan_of(change(SEED, PREBUILT))
    text = scrape(p)
    assert "  - job_name: controller\n    static_configs:\n      - targets: " \
           f"['ow-controller-0-0.ow-controller.{NS}:8080', " \
           f"'ow-controller-1-0.ow-controller.{NS}:8080']\n" in text
    assert f"'ow-invoker-0-0.ow-invoker.{NS}:8080', 'ow-invoker-1-0.ow-invoker.{NS}:8080'" in text
    assert f"['ow-user-events-0-0.ow-user-events.{NS}:9095']" in text
    prom = container(p, "prometheus-0")
    assert prom.live_config is None
    assert prom.files == (File("/etc/prometheus/ow/prometheus.yml", text),)
    assert p.endpoints["grafana"] == f"http://ow-grafana-0-0.ow-grafana.{NS}:3000"


def test_docker_factory_invokers_are_found_through_their_headless_service():
    p = plan_of(change(K8S, PREBUILT | {"invoker.container_factory": "docker"}))
    text = scrape(p)
    assert "job_name: invoker\n    static_configs" not in text
    assert text.endswith(f"  - job_name: invoker\n    dns_sd_configs:\n"
                         f"      - names: ['ow-invoker.{NS}']\n        type: A\n        port: 8080\n")
    service = p.kubernetes.services["invoker"]
    assert [(s.name, s.type, [(x.name, x.port) for x in s.ports]) for s in service] == [
        ("ow-invoker", None, [("http", 8080)])]
    # Without monitoring the DaemonSet has no Service, as before.
    assert "invoker" not in plan_of(change(K8S, {"invoker.container_factory": "docker"})) \
        .kubernetes.services


def test_network_policies_let_prometheus_scrape_and_grafana_query_only():
    p = plan_of(change(K8S, PREBUILT))
    by_name = {n.name: n for n in p.kubernetes.network_policies}

    def clients(service):
        return sorted(dict(peer.pods)["app.kubernetes.io/name"]
                      for rule in by_name[f"ow-{service}"].ingress for peer in rule.peers
                      if peer.pods and "app.kubernetes.io/name" in dict(peer.pods))

    assert clients("user-events") == ["prometheus"]
    assert clients("prometheus") == ["grafana"]
    assert "prometheus" in clients("controller") and "prometheus" in clients("invoker")
    assert "user-events" in clients("kafka")
    assert "ow-grafana" not in by_name  # operators reach Grafana (port-forward)


def test_user_events_gets_a_heap_of_half_its_pod():
    p = plan_of(change(K8S, PREBUILT | {"kubernetes.resources": {"user_events": {"memory": "2Gi"}}}))
    ue = container(p, "user-events-0")
    assert ue.env_dict()["JAVA_OPTS"] == "-Xmx1024m"
    assert p.kubernetes.workloads["user-events-0"].resources.memory == "2Gi"


# -- the whole program ------------------------------------------------------------------------------


def test_the_program_exports_grafanas_login_as_one_secret_and_writes_the_password_only_to_its_file():
    from tests.conftest import load_stack_file, run_program
    plain, secret = load_stack_file("dev")
    plain["openwhisk:monitoring"] = {"enabled": True}
    run = run_program(plain, secret, stack="dev")
    assert run.exports["grafana"] == {"url": "http://172.17.0.1:3000", "username": "admin",
                                      "password": "pw-grafana_admin_password"}
    assert "grafana" in run.secret_exports
    assert run.exports["endpoints"]["prometheus"] == "http://172.17.0.1:9090"
    grafana = run.mocks.named("grafana-dev", "docker:index/container:Container")["inputs"]
    # A secret file makes the uploads secret as a whole (the SDK's secret marker).
    assert grafana["uploads"]["4dabf18193072939515e22adb298388d"] == \
        "1b47061264138c4ac30d75fd1eb44270"
    uploads = {u["file"]: u["content"] for u in grafana["uploads"]["value"]}
    assert uploads["/etc/grafana/secrets/admin_password"] == "pw-grafana_admin_password"
    assert not any("pw-grafana_admin_password" in str(v)
                   for k, v in grafana.items() if k != "uploads")
    # Prometheus's config reaches its host through the live-config command, not the container.
    prometheus = run.mocks.named("prometheus-dev", "docker:index/container:Container")["inputs"]
    assert "uploads" not in prometheus
    assert {"containerPath": "/etc/prometheus/ow", "volumeName": "ow-prometheus-config",
            "readOnly": True} in prometheus["volumes"]
