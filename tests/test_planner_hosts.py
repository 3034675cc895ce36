"""Planner tests for reaching hosts (endpoints, ssh), preparing them, bind mounts and verification."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import config
import planner
from planner import hosts as hostplan
from planner.model import Mount, PrepStep, Secret, SshTarget, VerifyPlan
from tests.conftest import ROOT

ALL_ROLES = ["couchdb", "zookeeper", "kafka", "controller", "invoker", "edge"]
KEY = frozenset({"ssh_private_key"})


def stack(secret_keys=frozenset(), **over):
    raw = {"version": {"tag": "ef725a6"},
           "hosts": [{"name": "dev", "address": "172.17.0.1", "roles": ALL_ROLES}]}
    raw.update(over)
    return config.parse(raw, base_dir=ROOT, secret_keys=secret_keys)


def es_cluster(secret_keys=KEY, **over):
    """Two hosts in classic mode: core (everything but invokers) with ElasticSearch, and inv."""
    raw = {"version": {"tag": "ef725a6"},
           "hosts": [
               {"name": "core", "address": "10.0.0.11", "id": 0,
                "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge", "elasticsearch"]},
               {"name": "inv", "address": "10.0.0.21", "id": 1, "roles": ["invoker"]},
           ],
           "activation_store": {"backend": "elasticsearch"},
           "ssh": {"user": "ops", "port": 2222, "options": ["ProxyJump=bastion"]}}
    raw.update(over)
    return config.parse(raw, base_dir=ROOT, secret_keys=secret_keys)


def host(plan, name):
    return next(h for h in plan.hosts if h.name == name)


def test_dev_stack_keeps_the_local_socket_and_prepares_only_the_action_network():
    p = planner.plan(stack())
    (dev,) = p.hosts
    assert (dev.docker, dev.ssh, dev.ssh_opts, [s.name for s in dev.prep]) == (
        "unix:///var/run/docker.sock", None, (), ["action-network"])
    assert "docker -H unix:///var/run/docker.sock network create" in dev.prep[0].script


def test_ssh_hosts_get_a_derived_endpoint_login_and_ssh_options():
    p = planner.plan(es_cluster())
    core = host(p, "core")
    assert core.docker == "ssh://ops@10.0.0.11:2222"
    assert core.ssh == SshTarget("ops", "10.0.0.11", 2222, Secret("${ssh_private_key}"))
    assert core.ssh_opts == ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222",
                             "-o", "ProxyJump=bastion", "-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/openwhisk-%C", "-o", "ControlPersist=60", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
    assert host(p, "inv").docker == "ssh://ops@10.0.0.21:2222"


def test_explicit_endpoints_win_over_the_ssh_section():
    hosts = [{"name": "core", "address": "10.0.0.11", "id": 0, "docker": "ssh://root@mgmt-core",
              "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge", "elasticsearch"]},
             {"name": "inv", "address": "10.0.0.21", "id": 1, "roles": ["invoker"],
              "docker": "unix:///var/run/docker.sock"}]
    p = planner.plan(es_cluster(hosts=hosts))
    core, inv = host(p, "core"), host(p, "inv")
    assert (core.docker, core.ssh) == (
        "ssh://root@mgmt-core", SshTarget("root", "mgmt-core", 22, Secret("${ssh_private_key}")))
    assert core.ssh_opts == ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "22",
                             "-o", "ProxyJump=bastion", "-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/openwhisk-%C", "-o", "ControlPersist=60", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
    assert (inv.docker, inv.ssh, inv.ssh_opts) == ("unix:///var/run/docker.sock", None, ())


def test_explicit_ssh_endpoint_without_ssh_section_uses_the_defaults():
    p = planner.plan(stack(KEY, hosts=[{"name": "dev", "address": "10.0.0.5", "roles": ALL_ROLES,
                                        "docker": "ssh://deploy@10.0.0.5:2200"}]))
    (dev,) = p.hosts
    assert dev.ssh == SshTarget("deploy", "10.0.0.5", 2200, Secret("${ssh_private_key}"))
    assert dev.ssh_opts == ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2200",
                            "-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/openwhisk-%C", "-o", "ControlPersist=60", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")


ES_STEP = PrepStep("vm-max-map-count", """set -eu
if [ "$(cat /proc/sys/vm/max_map_count)" -lt 262144 ]; then
  sudo -n sysctl -q -w vm.max_map_count=262144
  echo 'vm.max_map_count = 262144' | sudo -n tee /etc/sysctl.d/99-openwhisk.conf >/dev/null
fi
""")


def test_elasticsearch_host_raises_vm_max_map_count_and_only_it():
    p = planner.plan(es_cluster())
    assert host(p, "core").prep == (ES_STEP,)
    assert [s.name for s in host(p, "inv").prep] == ["action-network"]


def test_sudo_false_runs_privileged_commands_as_the_ssh_user():
    p = planner.plan(es_cluster(ssh={"user": "root", "sudo": False}))
    assert host(p, "core").prep[0].script == ES_STEP.script.replace("sudo -n ", "")


def test_data_dir_turns_every_volume_into_a_bind_mount_and_a_prepared_directory():
    p = planner.plan(es_cluster(storage={"data_dir": "/srv/openwhisk/"}))
    assert [v for s in p.services for v in s.volumes] == []
    mounts = {c.key: c.mounts for c in p.containers() if c.host == "core" and c.mounts}
    assert mounts == {
        "couchdb-core": (Mount("/opt/couchdb/data", host_path="/srv/openwhisk/ow-couchdb-data",
                               data=True),),
        "zookeeper-core": (Mount("/data", host_path="/srv/openwhisk/ow-zookeeper-data", data=True),
                           Mount("/datalog", host_path="/srv/openwhisk/ow-zookeeper-datalog",
                                 data=True)),
        "kafka-core": (Mount("/var/lib/kafka/data", host_path="/srv/openwhisk/ow-kafka-kraft-data", data=True),),
        "elasticsearch-core": (Mount("/usr/share/elasticsearch/data",
                                     host_path="/srv/openwhisk/ow-elasticsearch-data", data=True),),
        "redis-core": (Mount("/data", host_path="/srv/openwhisk/ow-redis-data", data=True),),
    }
    assert host(p, "core").prep == (ES_STEP, PrepStep("data-dirs", """set -eu
sudo -n install -d -o 5984 -g 5984 -m 0750 /srv/openwhisk/ow-couchdb-data
sudo -n install -d -o 1000 -g 1000 -m 0750 /srv/openwhisk/ow-zookeeper-data
sudo -n install -d -o 1000 -g 1000 -m 0750 /srv/openwhisk/ow-zookeeper-datalog
sudo -n install -d -o 1000 -g 1000 -m 0750 /srv/openwhisk/ow-kafka-kraft-data
sudo -n install -d -o 1000 -g 0 -m 0750 /srv/openwhisk/ow-elasticsearch-data
sudo -n install -d -o 999 -g 999 -m 0750 /srv/openwhisk/ow-redis-data
"""))
    # The invoker host has no data volume, so only its action network; its host mounts unchanged.
    assert [s.name for s in host(p, "inv").prep] == ["action-network"]
    invoker = next(c for c in p.containers() if c.key == "invoker-0")
    assert Mount("/var/run/docker.sock", host_path="/var/run/docker.sock") in invoker.mounts


def test_etcd_data_is_owned_by_root_in_scheduler_mode():
    raw_hosts = [{"name": "dev", "address": "172.17.0.1",
                  "roles": [*ALL_ROLES, "etcd", "scheduler"]}]
    p = planner.plan(stack(version={"tag": "1fae641"}, hosts=raw_hosts,
                           storage={"data_dir": "/data"}))
    lines = p.hosts[0].prep[0].script.splitlines()
    assert "sudo -n install -d -o 0 -g 0 -m 0750 /data/ow-etcd-data" in lines


def test_without_data_dir_volumes_stay_named_volumes():
    p = planner.plan(es_cluster())
    assert [v.name for v in p.service("couchdb").volumes] == ["ow-couchdb-data"]
    assert next(c for c in p.containers() if c.key == "couchdb-core").mounts == (
        Mount("/opt/couchdb/data", volume="couchdb-core-data"),)


def test_prep_steps_is_the_single_ordered_extension_point():
    assert hostplan.PREP_STEPS == (hostplan._max_map_count, hostplan._data_dirs,
                                   hostplan._registry_ca, hostplan._action_network)
    assert hostplan.LOGIN_STEPS == (hostplan._registry_login,)
    cfg = es_cluster(storage={"data_dir": "/srv/ow"}).config
    ctx = hostplan.HostContext(cfg, cfg.hosts[0], (), ())
    assert hostplan.prep_steps(ctx) == ()  # nothing on the host: nothing to prepare


@pytest.mark.parametrize("sudo", [True, False])
def test_prep_scripts_are_valid_posix_sh(sudo):
    p = planner.plan(es_cluster(ssh={"user": "ops", "sudo": sudo}, storage={"data_dir": "/srv/ow"}))
    scripts = [s for h in p.hosts for step in h.prep for s in (step.script, step.delete) if s]
    assert len(scripts) == 4  # vm.max_map_count, data dirs, the action network and its removal
    for script in scripts:
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root for chown")
def test_data_dirs_script_is_idempotent_and_never_reowns_contents(tmp_path: Path):
    p = planner.plan(es_cluster(ssh={"user": "root", "sudo": False},
                                storage={"data_dir": str(tmp_path / "data")}))
    script = host(p, "core").prep[1].script
    subprocess.run(["sh", "-c", script], check=True)
    couch = tmp_path / "data" / "ow-couchdb-data"
    (couch / "shard").write_text("x")
    os.chown(couch / "shard", 1234, 1234)
    os.chmod(couch, 0o700)
    subprocess.run(["sh", "-c", script], check=True)
    st = couch.stat()
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (5984, 5984, "0o750")
    assert (couch / "shard").stat().st_uid == 1234
    es = (tmp_path / "data" / "ow-elasticsearch-data").stat()
    assert (es.st_uid, es.st_gid) == (1000, 0)


def test_verify_plan_environment_is_exact():
    p = planner.plan(es_cluster())
    assert p.verify == VerifyPlan("python3 components/assets/verify.py", (
        ("OW_VERIFY_API_HOST", "https://10.0.0.11"),
        ("OW_VERIFY_AUTH", Secret("${guest_auth}")),
        ("OW_VERIFY_CONTROLLERS", json.dumps([{"url": "http://10.0.0.11:10001", "host": "10.0.0.11",
                                               "container": "ow-controller"}])),
        ("OW_VERIFY_EDGE", json.dumps({"host": "10.0.0.11", "container": "ow-edge"})),
        ("OW_VERIFY_INSECURE", "true"),
        ("OW_VERIFY_INVOKERS", json.dumps({"invoker0": {"host": "10.0.0.21",
                                                        "container": "ow-invoker0"}})),
        ("OW_VERIFY_TIMEOUT_S", "600"),
    ))


def test_verify_plan_follows_edge_port_tls_and_timeout():
    p = planner.plan(stack(edge={"api_host": "ow.example.com", "https_port": 8443, "tls": "provided"},
                           verify={"timeout_s": 900},
                           secret_keys=frozenset({"edge_tls_cert", "edge_tls_key"})))
    env = dict(p.verify.env)
    assert (env["OW_VERIFY_API_HOST"], env["OW_VERIFY_INSECURE"], env["OW_VERIFY_TIMEOUT_S"]) == (
        "https://ow.example.com:8443", "false", "900")


def test_verify_can_be_switched_off():
    assert planner.plan(stack(verify={"enabled": False})).verify is None


def test_verify_command_runs_the_script_in_the_project():
    cmd = planner.plan(stack()).verify.command.split()
    assert cmd[0] == "python3" and (ROOT / cmd[1]).is_file() and not Path(cmd[1]).is_absolute()


def test_hosts_reached_over_ssh_without_a_host_key_are_warned_about():
    from tests.conftest import parse_stack_file
    prod = planner.plan(parse_stack_file("prod"))
    assert prod.warnings == ()
    assert {h.ssh.host_key.split()[0] for h in prod.hosts} == {"ssh-ed25519"}
    hosts = [h.model_dump(exclude_none=True) for h in parse_stack_file("prod").config.hosts]
    del hosts[3]["ssh_host_key"]
    p = planner.plan(parse_stack_file("prod", hosts=hosts))
    assert p.warnings == (
        "openwhisk:hosts[3].ssh_host_key: not set (got none), so host preparation on 'invoker-1' "
        "does not check that it reached the right machine before sending it scripts and secrets; "
        "set it to the line `ssh-keyscan -t ed25519 10.20.0.21` prints, without the host name",)
    assert next(h for h in p.hosts if h.name == "invoker-1").ssh.host_key is None
