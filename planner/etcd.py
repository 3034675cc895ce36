"""etcd (scheduler mode): the members, and the one-shot step that turns on authentication. Pure.

OpenWhisk's etcd client logs in when `whisk.etcd.username` and `whisk.etcd.password` are both set
(EtcdClient.apply at every known scheduler-mode tag), over the same plain gRPC it always uses. The
step (components/assets/etcd/auth.sh) makes the users `root`, `openwhisk` (the controllers',
invokers' and schedulers' login, allowed every key) and `health` (no role), then enables
authentication. It runs in the CouchDB image, which has sh and curl (etcd's image has neither),
on the CouchDB host, against etcd's JSON gateway.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from planner.model import Container, File, Health, Mount, Port, Secret, SecretSpec, Service, VolumePlan
from planner.placement import PREFIX, Placed

SCRIPT = Path(__file__).resolve().parent.parent / "components" / "assets" / "etcd" / "auth.sh"
SCRIPT_PATH = "/ow-etcd/auth.sh"
CLIENT_PORT, PEER_PORT = 2379, 2380
#: The user the OpenWhisk components log in as, and the one the members' health checks use.
USER, HEALTH_USER = "openwhisk", "health"
ROOT_SECRET, PASSWORD_SECRET, HEALTH_SECRET = \
    "etcd_root_password", "etcd_password", "etcd_health_password"


@cache
def _script() -> str:
    return SCRIPT.read_text()


def secret_specs() -> list[SecretSpec]:
    return [SecretSpec(n, "password") for n in (ROOT_SECRET, PASSWORD_SECRET, HEALTH_SECRET)]


def client_env(hosts: str) -> dict[str, str | Secret]:
    """What every OpenWhisk component that builds an EtcdClient needs besides the pool keys."""
    return {"CONFIG_whisk_etcd_hosts": hosts, "CONFIG_whisk_etcd_username": USER,
            "CONFIG_whisk_etcd_password": Secret.of(PASSWORD_SECRET)}


def service(etcds: list[Placed]) -> Service:
    containers, volumes = [], []
    cluster = ",".join(f"etcd{e.id}=http://{e.address}:{PEER_PORT}" for e in etcds)
    for e in etcds:
        host = e.host_name
        data = VolumePlan(f"etcd-{e.name}-data", host, f"{PREFIX}-etcd-data")
        volumes.append(data)
        containers.append(Container(
            key=f"etcd-{e.name}", service="etcd", host=host, name=f"{PREFIX}-etcd", image="etcd",
            command=(
                "/usr/local/bin/etcd", "--name", f"etcd{e.id}", "--data-dir", "/etcd-data",
                "--listen-client-urls", f"http://0.0.0.0:{CLIENT_PORT}",
                "--advertise-client-urls", f"http://{e.address}:{CLIENT_PORT}",
                "--listen-peer-urls", f"http://0.0.0.0:{PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://{e.address}:{PEER_PORT}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "openwhisk-etcd",
                "--quota-backend-bytes", "2147483648",
                "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "10m"),
            # etcdctl reads its login from ETCDCTL_USER. `health` may read nothing: etcdctl counts
            # a denied read as healthy, and before the step enables authentication it logs in
            # without one (etcd's client ignores "authentication is not enabled").
            env=(("ETCDCTL_USER", Secret(f"{HEALTH_USER}:${{{HEALTH_SECRET}}}")),),
            ports=(Port(CLIENT_PORT, CLIENT_PORT, "client"), Port(PEER_PORT, PEER_PORT, "peer")),
            mounts=(Mount("/etcd-data", volume=data.key),),
            health=Health(("CMD", "etcdctl", "endpoint", "health"), wait=True),
        ))
    return Service("etcd", tuple(containers), tuple(volumes))


def auth_step(couch: Placed, etcds: list[Placed]) -> Service:
    """The step, after every member is healthy, talking to the first; it runs again only when its
    inputs change, and a run that finds everything in place changes nothing (a change would end
    every login)."""
    env = {
        "ETCD_URL": f"http://{etcds[0].address}:{CLIENT_PORT}",
        "ETCD_ROOT_PASSWORD": Secret.of(ROOT_SECRET),
        "ETCD_OPENWHISK_PASSWORD": Secret.of(PASSWORD_SECRET),
        "ETCD_HEALTH_PASSWORD": Secret.of(HEALTH_SECRET),
    }
    return Service("etcd-auth", (Container(
        key=f"etcd-auth-{couch.name}", service="etcd-auth", host=couch.host_name,
        name=f"{PREFIX}-etcd-auth", image="couchdb",
        entrypoint=("/bin/sh", SCRIPT_PATH), env=tuple(sorted(env.items())),
        files=(File(SCRIPT_PATH, _script()),), one_shot=True,
        depends_on=tuple(f"etcd-{e.name}" for e in etcds)),))
