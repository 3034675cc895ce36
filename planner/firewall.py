"""The action network of a Docker invoker host and its firewall. Pure, no Pulumi.

Invokers start action containers (other people's code) on the Docker network ACTION_NETWORK,
whose bridge is ACTION_BRIDGE. Host preparation installs a loader script that writes two chains
with one atomic `iptables-restore --noflush` and jumps to them:

- `OW-ACTIONS` from `DOCKER-USER` (forwarded traffic, after Docker's own DNAT, so the rules match
  the *original* destination with conntrack): the invoker's bridge may open connections to its
  actions; an action may answer, open a TCP connection to the API's HTTPS port (and the API
  gateway's management port, which the route-management actions call), ask the host's
  resolvers (port 53), and reach nothing on any of the plan's hosts; then `allowed_cidrs`,
  `blocked_cidrs` and `egress` decide the rest;
- `OW-ACTIONS-IN` from `INPUT` for packets that arrive on the action bridge: the host itself
  (sshd, the Docker API, anything listening on it) answers no action, except the API's port when
  the API is published on this host (Docker's userland proxy answers it there).

Docker keeps `DOCKER-USER` and the jump to it when its daemon restarts, and on a host with systemd
a unit loads the rules again at boot, before Docker starts. The step's delete script (the role
left the host) removes the action containers, the network, the rules, the loader and the unit.
"""

from __future__ import annotations

import ipaddress
import shlex

ACTION_NETWORK = "ow-actions"
ACTION_BRIDGE = "ow-actions0"
CHAIN = "OW-ACTIONS"
INPUT_CHAIN = "OW-ACTIONS-IN"
LOADER = "/usr/local/sbin/openwhisk-action-firewall"
UNIT = "/etc/systemd/system/openwhisk-action-firewall.service"
NETWORK_LABEL = "org.openwhisk-pulumi.role=action-network"


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _rule(address: str, rule: str) -> str:
    """A line of the loader that prints `rule` with `{}` standing for each IPv4 address of
    `address`: an IP as it is, a DNS name resolved when the rules load (a name that does not
    resolve fails the load, so nothing is loaded half)."""
    if _is_ip(address):
        return f"echo {shlex.quote(rule.format(address))}"
    quoted = shlex.quote(address)
    return (f"a=$(ips {quoted}); [ -n \"$a\" ] || {{ echo \"cannot resolve {address}\" >&2; exit 1; }}; "
            f"for ip in $a; do echo \"{rule.format('$ip')}\"; done")


def loader(hosts: tuple[str, ...], api: tuple[tuple[str, int], ...], *, egress: str,
           blocked: tuple[str, ...], allowed: tuple[str, ...]) -> str:
    """The loader script: `$1` is the bridge of the host's service containers (the invoker's).
    `hosts`: every address of the plan's hosts; `api`: (address, port)s an action may always
    reach (the API's HTTPS port, the API gateway's management port)."""
    inbound = f"-A {CHAIN} -i {ACTION_BRIDGE}"
    to_api = "-p tcp -m conntrack --ctorigdst {} --ctorigdstport %d -j ACCEPT"
    lines = [
        "echo '*filter'",
        f"echo ':{CHAIN} - [0:0]'",
        f"echo ':{INPUT_CHAIN} - [0:0]'",
        f"echo \"-A {CHAIN} -i $services -o {ACTION_BRIDGE} -j ACCEPT\"",
        f"echo '{inbound} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'",
        *(_rule(a, f"{inbound} {to_api % port}") for a, port in api),
        # The resolvers Docker hands the action containers (the host's), for DNS only.
        "for ns in $(nameservers); do for p in udp tcp; do echo \"" + inbound
        + " -p $p -m conntrack --ctorigdst $ns --ctorigdstport 53 -j RETURN\"; done; done",
        *(_rule(a, f"{inbound} -m conntrack --ctorigdst {{}} -j DROP") for a in hosts),
        *(f"echo '{inbound} -m conntrack --ctorigdst {c} -j RETURN'" for c in allowed),
        *(f"echo '{inbound} -m conntrack --ctorigdst {c} -j DROP'" for c in blocked),
        *([f"echo '{inbound} -j DROP'"] if egress == "none" else []),
        # An API published on this host is answered by Docker's proxy on the host itself.
        f"echo '-A {INPUT_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'",
        *(_rule(a, f"-A {INPUT_CHAIN} {to_api % port}") for a, port in api),
        f"echo '-A {INPUT_CHAIN} -j DROP'",
        "echo COMMIT",
    ]
    body = "\n  ".join(lines)
    return f"""#!/bin/sh
# Written by openwhisk-pulumi's host preparation: the firewall of the action network
# {ACTION_NETWORK} (bridge {ACTION_BRIDGE}). Usage: {LOADER} <bridge of the service containers>
set -eu
services=$1
ips() {{ getent ahostsv4 "$1" | awk '{{print $1}}' | sort -u; }}
nameservers() {{
  cat ${{OW_RESOLV_CONF:-/etc/resolv.conf /run/systemd/resolve/resolv.conf}} 2>/dev/null \\
    | awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ && $2 !~ /^127\\./ {{print $2}}' | sort -u
}}
rules() {{
  {body}
}}
rules >/dev/null
iptables -N DOCKER-USER 2>/dev/null || true
rules | iptables-restore --noflush
iptables -C DOCKER-USER -j {CHAIN} 2>/dev/null || iptables -I DOCKER-USER -j {CHAIN}
iptables -C INPUT -i {ACTION_BRIDGE} -j {INPUT_CHAIN} 2>/dev/null \\
  || iptables -I INPUT -i {ACTION_BRIDGE} -j {INPUT_CHAIN}
"""


#: Privileged commands run as root: directly when the step's user is root, else through
#: `sudo -n` (passwordless), which fails the step with sudo's own message.
AS_ROOT = 'if [ "$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi\n'


def install_script(docker: str, loader_text: str) -> str:
    """Creates the network if missing, installs and runs the loader, and on a host with systemd
    a unit that runs it at boot before Docker."""
    sudo = "$sudo "
    create = (f"{docker} network create --driver bridge --label {NETWORK_LABEL} "
              f"-o com.docker.network.bridge.name={ACTION_BRIDGE} "
              f"-o com.docker.network.bridge.enable_icc=false {ACTION_NETWORK} >/dev/null")
    return f"""set -eu
{AS_ROOT}[ -z "$sudo" ] || sudo -n true 2>/dev/null || {{
  echo "the action network's firewall needs root on this host: run as root or allow sudo -n" >&2
  exit 1; }}
{docker} network inspect {ACTION_NETWORK} >/dev/null 2>&1 || {create}
services=$({docker} network inspect bridge -f '{{{{index .Options "com.docker.network.bridge.name"}}}}')
[ -n "$services" ] || services=docker0
{sudo}install -d -m 0755 {LOADER.rsplit('/', 1)[0]}
{sudo}tee {LOADER} >/dev/null <<'OW_LOADER'
{loader_text}OW_LOADER
{sudo}chmod 0755 {LOADER}
{sudo}{LOADER} "$services"
if [ -d /run/systemd/system ]; then
  printf '%s\\n' '[Unit]' 'Description=openwhisk-pulumi: the action network firewall' \\
    'Before=docker.service' '[Service]' 'Type=oneshot' "ExecStart={LOADER} $services" \\
    '[Install]' 'WantedBy=multi-user.target' | {sudo}tee {UNIT} >/dev/null
  {sudo}systemctl daemon-reload && {sudo}systemctl enable --quiet openwhisk-action-firewall
fi
"""


def remove_script(docker: str) -> str:
    """Undoes install_script: the action containers, the network, the rules, loader and unit."""
    sudo = "$sudo "
    return f"""set -u
{AS_ROOT}{docker} ps -aq --filter network={ACTION_NETWORK} | xargs -r {docker} rm -f >/dev/null
{docker} network rm {ACTION_NETWORK} >/dev/null 2>&1 || true
{sudo}iptables -D DOCKER-USER -j {CHAIN} 2>/dev/null || true
{sudo}iptables -D INPUT -i {ACTION_BRIDGE} -j {INPUT_CHAIN} 2>/dev/null || true
{sudo}iptables -F {CHAIN} 2>/dev/null && {sudo}iptables -X {CHAIN} || true
{sudo}iptables -F {INPUT_CHAIN} 2>/dev/null && {sudo}iptables -X {INPUT_CHAIN} || true
if [ -f {UNIT} ]; then
  {sudo}systemctl disable --quiet openwhisk-action-firewall || true
  {sudo}rm -f {UNIT} && {sudo}systemctl daemon-reload || true
fi
{sudo}rm -f {LOADER}
"""
