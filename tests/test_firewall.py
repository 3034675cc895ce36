"""The action network's firewall (planner/firewall.py): the exact rules each invoker host loads,
run through the real loader script with `iptables`, `iptables-restore` and `getent` replaced by
recorders on PATH. The rules' effect on real traffic is measured in the engine tier
(tests/engine/test_prod.py, `isolation:`)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

import config
import planner
from planner import firewall
from tests.conftest import ROOT
from tests.test_config import problems

HOSTS = [
    {"name": "core", "address": "10.0.0.11", "id": 0,
     "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge"]},
    {"name": "inv", "address": "10.0.0.21", "id": 1, "roles": ["invoker"]},
]


KEY = frozenset({"ssh_private_key"})


def raw(**over):
    return {"version": {"tag": "ef725a6"}, "hosts": HOSTS, "ssh": {"user": "ops"}, **over}


def step(cfg_raw, host="inv"):
    p = planner.plan(config.parse(cfg_raw, base_dir=ROOT, secret_keys=KEY))
    h = next(h for h in p.hosts if h.name == host)
    return next((s for s in h.prep if s.name == "action-network"), None)


def loader_of(script: str) -> str:
    """The loader text the install script writes (between its heredoc markers)."""
    return script.split("<<'OW_LOADER'\n", 1)[1].split("OW_LOADER\n", 1)[0]


def load(tmp_path: Path, loader: str, resolve: dict[str, str] | None = None) -> list[str]:
    """Runs the loader with recording stand-ins for iptables, iptables-restore and getent:
    returns what it did, one line per call (`restore:` lines are the rules it loaded)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    fakes = {
        "iptables": f'echo "iptables $*" >>{log}\n[ "$1" != -C ]',  # no rule exists yet
        "iptables-restore": f'echo "restore $*" >>{log}\nsed "s/^/restore: /" >>{log}',
        "getent": "".join(f'[ "$2" = {n} ] && echo "{ip}       STREAM {n}"\n'
                          for n, ip in (resolve or {}).items()) + "exit 0",
    }
    for name, body in fakes.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    script = tmp_path / "loader"
    script.write_text(loader)
    resolv = tmp_path / "resolv.conf"  # only the first is a resolver actions may ask
    resolv.write_text("nameserver 10.0.0.2\nnameserver 127.0.0.53\nnameserver fd00::1\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OW_RESOLV_CONF": str(resolv)}
    done = subprocess.run(["sh", str(script), "docker0"], env=env, text=True, capture_output=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return [*calls, *([f"exit {done.returncode}: {done.stderr.strip()}"] if done.returncode else [])]


HEAD = ["iptables -N DOCKER-USER", "restore --noflush", "restore: *filter",
        "restore: :OW-ACTIONS - [0:0]", "restore: :OW-ACTIONS-IN - [0:0]",
        "restore: -A OW-ACTIONS -i docker0 -o ow-actions0 -j ACCEPT",
        "restore: -A OW-ACTIONS -i ow-actions0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
DNS = [f"restore: -A OW-ACTIONS -i ow-actions0 -p {p} -m conntrack --ctorigdst 10.0.0.2 "
       "--ctorigdstport 53 -j RETURN" for p in ("udp", "tcp")]
IN = "restore: -A OW-ACTIONS-IN"
TAIL = [f"{IN} -j DROP", "restore: COMMIT",
        "iptables -C DOCKER-USER -j OW-ACTIONS", "iptables -I DOCKER-USER -j OW-ACTIONS",
        "iptables -C INPUT -i ow-actions0 -j OW-ACTIONS-IN",
        "iptables -I INPUT -i ow-actions0 -j OW-ACTIONS-IN"]
A = "restore: -A OW-ACTIONS -i ow-actions0"


def test_default_rules_let_actions_reach_the_api_and_the_internet_only(tmp_path):
    assert load(tmp_path, loader_of(step(raw()).script)) == [
        *HEAD,
        f"{A} -p tcp -m conntrack --ctorigdst 10.0.0.11 --ctorigdstport 443 -j ACCEPT",
        f"{A} -p tcp -m conntrack --ctorigdst 10.0.0.11 --ctorigdstport 9000 -j ACCEPT",
        *DNS,
        f"{A} -m conntrack --ctorigdst 10.0.0.11 -j DROP",
        f"{A} -m conntrack --ctorigdst 10.0.0.21 -j DROP",
        *(f"{A} -m conntrack --ctorigdst {c} -j DROP" for c in config.BLOCKED_CIDRS),
        f"{IN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"{IN} -p tcp -m conntrack --ctorigdst 10.0.0.11 --ctorigdstport 443 -j ACCEPT",
        f"{IN} -p tcp -m conntrack --ctorigdst 10.0.0.11 --ctorigdstport 9000 -j ACCEPT",
        *TAIL]


def test_no_egress_allowed_cidrs_and_the_api_host_and_port(tmp_path):
    cfg = raw(invoker={"action_network": {"egress": "none", "allowed_cidrs": ["10.9.0.0/16"],
                                          "blocked_cidrs": ["10.0.0.0/8"]}},
              edge={"api_host": "api.example.org", "https_port": 8443},
              apigateway={"enabled": False})
    assert load(tmp_path, loader_of(step(cfg).script), {"api.example.org": "192.0.2.7"}) == [
        *HEAD,
        f"{A} -p tcp -m conntrack --ctorigdst 10.0.0.11 --ctorigdstport 8443 -j ACCEPT",
        f"{A} -p tcp -m conntrack --ctorigdst 192.0.2.7 --ctorigdstport 8443 -j ACCEPT",
        *DNS,
        f"{A} -m conntrack --ctorigdst 10.0.0.11 -j DROP",
        f"{A} -m conntrack --ctorigdst 10.0.0.21 -j DROP",
        f"{A} -m conntrack --ctorigdst 10.9.0.0/16 -j RETURN",
        f"{A} -m conntrack --ctorigdst 10.0.0.0/8 -j DROP",
        f"{A} -j DROP",
        f"{IN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"{IN} -p tcp -m conntrack --ctorigdst 10.0.0.11 --ctorigdstport 8443 -j ACCEPT",
        f"{IN} -p tcp -m conntrack --ctorigdst 192.0.2.7 --ctorigdstport 8443 -j ACCEPT",
        *TAIL]


def test_a_host_name_that_does_not_resolve_loads_nothing(tmp_path):
    hosts = [HOSTS[0], {**HOSTS[1], "address": "inv.example.org"}]
    assert load(tmp_path, loader_of(step(raw(hosts=hosts)).script)) == [
        "exit 1: cannot resolve inv.example.org"]
    assert "restore: COMMIT" in load(tmp_path / "..", loader_of(step(raw(hosts=hosts)).script),
                                     {"inv.example.org": "10.0.0.21"})


def test_only_invoker_hosts_get_the_step_and_it_undoes_itself():
    assert step(raw(), host="core") is None
    s = step(raw())
    assert s.script.startswith('set -eu\nif [ "$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi\n')
    assert ("docker network create --driver bridge --label org.openwhisk-pulumi.role=action-network "
            "-o com.docker.network.bridge.name=ow-actions0 "
            "-o com.docker.network.bridge.enable_icc=false ow-actions") in s.script
    assert s.delete.splitlines()[2:6] == [
        "docker ps -aq --filter network=ow-actions | xargs -r docker rm -f >/dev/null",
        "docker network rm ow-actions >/dev/null 2>&1 || true",
        "$sudo iptables -D DOCKER-USER -j OW-ACTIONS 2>/dev/null || true",
        "$sudo iptables -D INPUT -i ow-actions0 -j OW-ACTIONS-IN 2>/dev/null || true"]
    for script in (s.script, s.delete, loader_of(s.script)):
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def test_invokers_run_actions_on_the_action_network_on_docker_hosts_only():
    p = planner.plan(config.parse(raw(), base_dir=ROOT, secret_keys=KEY))
    (inv,) = [c for c in p.containers() if c.service == "invoker"]
    assert dict(inv.env)["CONFIG_whisk_containerFactory_containerArgs_network"] == "ow-actions"
    assert firewall.ACTION_NETWORK == "ow-actions"


@pytest.mark.parametrize("value, line", [
    (["10.0.0.1/8"], """'10.0.0.1/8' is not an IPv4 network in CIDR notation (got ["10.0.0.1/8"]); \
write it like 10.0.0.0/8 (host bits zero) or 10.1.2.3/32"""),
    (["fd00::/8"], """'fd00::/8' is IPv6; the action network is IPv4 only (got ["fd00::/8"]); \
list IPv4 networks only"""),
    (["10.0.0.0/8", "10.0.0.0/8"], """10.0.0.0/8 listed more than once \
(got ["10.0.0.0/8", "10.0.0.0/8"]); list each network once"""),
])
def test_bad_networks_are_refused_with_path_value_and_fix(value, line):
    assert problems(raw(invoker={"action_network": {"blocked_cidrs": value}}),
                    secret_keys=KEY) == [f"openwhisk:invoker.action_network.blocked_cidrs: {line}"]


def test_allowed_networks_are_checked_like_blocked_ones():
    assert problems(raw(invoker={"action_network": {"allowed_cidrs": ["10.9.0.0/33"]}}),
                    secret_keys=KEY) == [
        "openwhisk:invoker.action_network.allowed_cidrs: '10.9.0.0/33' is not an IPv4 network in "
        'CIDR notation (got ["10.9.0.0/33"]); write it like 10.0.0.0/8 (host bits zero) or '
        "10.1.2.3/32"]


def test_an_unknown_egress_is_refused():
    (line,) = problems(raw(invoker={"action_network": {"egress": "all"}}), secret_keys=KEY)
    assert line.startswith("openwhisk:invoker.action_network.egress: ")
    assert "'internet'" in line and "'none'" in line and "(got 'all')" in line
