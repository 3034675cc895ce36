"""The API gateway for `wsk api`: openwhisk/apigateway and its Redis, next to the edge. Pure.

The gateway serves API traffic on container port 8080 (the edge routes `/api/<namespace>/...`
there) and its management API on 9000 (route management's `gwUrlV2`, and the health check).
Redis keeps the routes on a retained volume; its password is a generated secret, in its config
file, never on a command line.
"""

from __future__ import annotations

from config import StackConfig
from planner.model import Container, File, Health, Mount, Port, Secret, Service, VolumePlan
from planner import kube_names
from planner.placement import PREFIX, beside_edge, reach_port

API_PORT, MANAGEMENT_PORT, REDIS_PORT = 8080, 9000, 6379
REDIS_CONF = "/usr/local/etc/redis/redis.conf"
#: The redis image's `redis` user, which owns /data.
REDIS_OWNER = (999, 999)
#: Kubernetes: the ClusterIP Service in front of the gateway's API port, the edge's upstream.
API_SERVICE = "apigateway-api"


def services(cfg: StackConfig, public_host: str, public_port: int) -> list[Service]:
    """Redis, then the gateway (one instance of each); `wsk api` URLs name the public host and
    port, the API host's."""
    gw = cfg.apigateway
    at = beside_edge(cfg, "redis")
    host = at.host_name
    data = VolumePlan(f"redis-{at.name}-data", host, f"{PREFIX}-redis-data", owner=REDIS_OWNER)
    redis = Container(
        key=f"redis-{at.name}", service="redis", host=host, name=f"{PREFIX}-redis",
        image="redis", command=("redis-server", REDIS_CONF),
        ports=(Port(REDIS_PORT, reach_port(cfg, REDIS_PORT, gw.redis_port), "redis"),),
        mounts=(Mount("/data", volume=data.key),),
        files=(File(REDIS_CONF, Secret("bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\n"
                                       "appendonly yes\nrequirepass ${redis_password}\n")),),
        # The password reaches redis-cli in its environment, not on its command line.
        health=Health(("CMD-SHELL", f"REDISCLI_AUTH=\"$(sed -n 's/^requirepass //p' {REDIS_CONF})\" "
                                    "redis-cli ping | grep -q PONG"), wait=True, start_period_s=5))
    gw_at = beside_edge(cfg, "apigateway")
    gateway = Container(
        key=f"apigateway-{gw_at.name}", service="apigateway", host=gw_at.host_name,
        name=f"{PREFIX}-apigateway", image="apigateway",
        env=(("PUBLIC_MANAGEDURL_HOST", public_host),
             ("PUBLIC_MANAGEDURL_PORT", str(public_port)),
             ("REDIS_HOST", at.address),
             ("REDIS_PASS", Secret.of("redis_password")),
             ("REDIS_PORT", str(reach_port(cfg, REDIS_PORT, gw.redis_port)))),
        ports=(Port(API_PORT, reach_port(cfg, API_PORT, gw.port), "api"),
               Port(MANAGEMENT_PORT, reach_port(cfg, MANAGEMENT_PORT, gw.management_port),
                    "management")),
        health=Health(("CMD-SHELL", f"curl -fsS http://127.0.0.1:{MANAGEMENT_PORT}/v1/apis >/dev/null"),
                      wait=True, start_period_s=10),
        depends_on=(redis.key,))
    return [Service("redis", (redis,), (data,)), Service("apigateway", (gateway,))]


def management_address(cfg: StackConfig) -> str:
    """The gateway's management API, as the other containers reach it."""
    at = beside_edge(cfg, "apigateway")
    return f"http://{at.address}:{reach_port(cfg, MANAGEMENT_PORT, cfg.apigateway.management_port)}"


def management_url(cfg: StackConfig) -> str:
    """Route management's gwUrlV2."""
    return f"{management_address(cfg)}/v2"


def api_upstream(cfg: StackConfig) -> tuple[str, int]:
    """The edge's upstream for `/api/<namespace>/...`: on Kubernetes a ClusterIP Service, whose
    address stays when the pod is replaced (nginx resolves its upstreams once, at start)."""
    if cfg.platform == "kubernetes":
        k = cfg.kube
        return kube_names.service_address(k.release, k.namespace, k.cluster_domain,
                                          API_SERVICE), API_PORT
    return beside_edge(cfg, "apigateway").address, cfg.apigateway.port
