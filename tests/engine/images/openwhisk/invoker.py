"""OpenWhisk invoker stand-in. TEST STAND-IN ONLY, not OpenWhisk.

`/init.sh --id <n> --uniqueName <s>` as the plan runs it. Like the real invoker of its tag (whisk.py
lists the sources): exits at startup when a required key is missing (at ef725a6 ZOOKEEPER_HOSTS
among them), rejects a bare positional id, takes its id from ZooKeeper when only --uniqueName is
given, needs the Docker daemon behind /var/run/docker.sock, removes its own leftover action
containers (`wsk<uniqueName><id>_*`), and never pulls runtime images.

Then it serves GET /ping (pong) and, with Kamon's Prometheus endpoint on, GET /metrics on PORT,
reports its health (classic: pings on the Kafka stand-in's `health` topic; FPC: its key in etcd) as
`up`, or `unhealthy` while the image of the manifest's nodejs:default kind is missing locally, and
runs the activations sent to topic `invoker<id>`: one fresh container of the kind's runtime image
per activation (POST /init, POST /run on 8080, on the network named by
CONFIG_whisk_containerFactory_containerArgs_network), recording the activation in the activation
store and answering on `completed<controller>`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import quote

sys.path.insert(0, "/standin")
from standin import Bus, Docker, Reply, Request, die, exit_on_signal, http_call, log, serve_http  # noqa: E402
from whisk import (  # noqa: E402
    ENV, ETCD, TAG, VERSION, Activations, Couch, Manifest, common_keys, etcd_client, now_ms, require, spi,
    wait_until, with_metrics,
)

STATUS = {0: "success", 1: "application error", 2: "action developer error", 3: "whisk internal error"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="/init.sh", add_help=False, exit_on_error=False)
    for flag in ("--id", "--overwriteId"):
        parser.add_argument(flag, type=int)
    for flag in ("--uniqueName", "--displayedName"):
        parser.add_argument(flag)
    try:
        args, extra = parser.parse_known_args(argv)
    except argparse.ArgumentError as err:
        die(f"Error processing command line arguments: {err}")
    if extra:
        die(f"Error processing command line arguments: unexpected {extra} (use --id <n> and/or --uniqueName <s>)")
    if args.id is None and args.uniqueName is None:
        die("Error processing command line arguments: either --id or --uniqueName must be given")
    return args


def assign_id(unique: str) -> int:
    """Id assignment through ZooKeeper, as InstanceIdAssigner does (§2.8.1)."""
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=ENV["ZOOKEEPER_HOSTS"], timeout=10)
    zk.start(timeout=60)
    path = f"/invokers/idAssignment/mapping/{unique}"
    try:
        if zk.exists(path):
            return int(zk.get(path)[0])
        zk.ensure_path("/invokers/idAssignment/mapping")
        new = len(zk.get_children("/invokers/idAssignment/mapping"))
        zk.create(path, str(new).encode())
        return new
    finally:
        zk.stop()


class Invoker:
    def __init__(self, instance: int, unique: str) -> None:
        self.id, self.unique = instance, unique
        self.name = f"invoker{instance}/{unique}"
        self.prefix = f"wsk{unique}{instance}_"
        self.fpc = spi("InvokerProvider", "FPCInvokerReactive" if VERSION.default_mode == "scheduler"
                       else "InvokerReactive").endswith("FPCInvokerReactive")
        self.manifest = Manifest(ENV["RUNTIMES_MANIFEST"],
                                 ENV.get("CONFIG_whisk_containerFactory_runtimesRegistry_url", ""))
        self.network = ENV.get("CONFIG_whisk_containerFactory_containerArgs_network") or "bridge"
        # containerArgs.extraArgs `log-driver` and `log-opt` (`docker run --log-opt k=v`), as the
        # real factory passes them; their env form numbers the values: ..._logOpt_0, _1, ...
        extra = "CONFIG_whisk_containerFactory_containerArgs_extraArgs_"
        opts = [ENV[k] for k in sorted(ENV) if k.startswith(extra + "logOpt_")]
        driver = ENV.get(extra + "logDriver_0")
        self.log_config = {"LogConfig": {"Type": driver or "json-file",
                                         "Config": dict(o.split("=", 1) for o in opts)}} \
            if driver or opts else {}
        self.api_host = (f"{ENV.get('WHISK_API_HOST_PROTO') or 'https'}://{ENV['WHISK_API_HOST_NAME']}"
                         f":{ENV.get('WHISK_API_HOST_PORT') or '443'}")
        self.docker = Docker()
        self.bus = Bus(ENV["KAFKA_HOSTS"], ENV)
        self.activations = Activations(Couch())
        self.etcd = etcd_client() if self.fpc else None
        self.cluster = ENV.get("CONFIG_whisk_cluster_name") or "whisk"
        self.seq = itertools.count()
        self.missing_image_logged = False

    def start(self) -> None:
        try:
            status, _ = self.docker.call("GET", "/_ping", timeout=10)
        except OSError as err:
            die(f"cannot reach the Docker daemon at {self.docker.path}: {err}")
        if status != 200:
            die(f"the Docker daemon at {self.docker.path} answered HTTP {status} to /_ping")
        self.remove_leftovers()
        wait_until(f"creating Kafka topic invoker{self.id} at {ENV['KAFKA_HOSTS']}",
                   lambda: self.bus.create_topic(f"invoker{self.id}") or True, timeout=120)
        self.bus.consume(f"invoker{self.id}", f"invoker{self.id}", self.run)
        threading.Thread(target=self.report_health, daemon=True).start()
        serve_http(int(ENV.get("PORT") or 8080), with_metrics("invoker", self.handle))
        log(f"{self.name} ({TAG}, {'FPC' if self.fpc else 'classic'}) up; actions on network "
            f"{self.network}, API host {self.api_host}")

    def remove_leftovers(self) -> None:
        _, found = self.docker.call("GET", "/containers/json?all=1&filters=" + quote(
            '{"name":["%s"]}' % self.prefix))
        for c in found or []:
            if any(n.lstrip("/").startswith(self.prefix) for n in c["Names"]):
                self.docker.call("DELETE", f"/containers/{c['Id']}?force=1")
                log(f"removed leftover action container {c['Names'][0]}")

    def handle(self, req: Request) -> Reply:
        if req.path == "/ping":
            return Reply(200, "pong")
        if req.path == "/isEnabled":
            return Reply(200, {"enabled": True})
        return Reply(404, {"error": "The requested resource does not exist."})

    # -- health ----------------------------------------------------------------------------------

    def state(self) -> str:
        entry = self.manifest.resolve("nodejs:default")
        if entry is None:
            return "unhealthy"
        image = self.manifest.image(entry)
        status, _ = self.docker.call("GET", f"/images/{quote(image, safe='')}/json")
        if status != 200 and not self.missing_image_logged:
            log(f"runtime image {image} (nodejs:default) is not on this host and the invoker never "
                f"pulls managed runtime images: reporting unhealthy")
            self.missing_image_logged = True
        return "up" if status == 200 else "unhealthy"

    def report_health(self) -> None:
        while True:
            try:
                ping = {"name": self.name, "id": self.id, "state": self.state(), "ts": now_ms()}
                if self.etcd is not None:
                    self.etcd.put(f"{self.cluster}/instance/invoker{self.id}", ping)
                else:
                    self.bus.produce("health", ping)
            except Exception as err:  # noqa: BLE001 - keep reporting
                log(f"health report failed: {type(err).__name__}: {err}")
            time.sleep(2)

    # -- activations -----------------------------------------------------------------------------

    def run(self, msg: dict[str, Any]) -> None:
        action, start = msg["action"], now_ms()
        code, result, container = 3, {"error": "The action did not run."}, None
        try:
            container = self.create(action)
            shown = self.docker.call("GET", f"/containers/{container}/json")[1]
            ip = shown["NetworkSettings"]["Networks"][self.network]["IPAddress"]
            # What Docker holds for the container (the engine tier checks the log bounds by it).
            log(f"action container {container}: LogConfig "
                f"{json.dumps(shown['HostConfig']['LogConfig'], sort_keys=True)}")
            init = {"value": {"name": action["name"], "main": action["exec"].get("main", "main"),
                              "code": action["exec"]["code"],
                              "binary": bool(action["exec"].get("binary")), "env": {}}}
            status, body = self.init(ip, init)
            if status != 200:
                code, result = 2, body if isinstance(body, dict) else {"error": str(body)}
            else:
                status, body = http_call("POST", f"http://{ip}:8080/run", {
                    "value": msg["params"], "namespace": msg["user"]["namespace"],
                    "action_name": f"/{action['namespace']}/{action['name']}",
                    "activation_id": msg["activationId"], "deadline": str(now_ms() + 60000)}, timeout=60)
                result = body if isinstance(body, dict) else {"error": str(body)}
                code = 0 if status == 200 and "error" not in result else (1 if status == 200 else 2)
        except Exception as err:  # noqa: BLE001 - any failure is the activation's result
            log(f"activation {msg['activationId']} failed: {type(err).__name__}: {err}")
            result = {"error": f"{type(err).__name__}: {err}"}
        finally:
            if container:
                self.docker.call("DELETE", f"/containers/{container}?force=1")
        end = now_ms()
        response = {"status": STATUS[code], "statusCode": code, "success": code == 0, "result": result}
        record = {"activationId": msg["activationId"], "namespace": msg["user"]["namespace"],
                  "name": action["name"], "subject": msg["user"]["subject"], "version": action["version"],
                  "start": start, "end": end, "duration": end - start, "response": response, "logs": [],
                  "annotations": [{"key": "kind", "value": action["exec"]["kind"]},
                                  {"key": "path", "value": f"{action['namespace']}/{action['name']}"}],
                  "publish": False}
        status, body = self.activations.put(record)
        if status not in (200, 201, 202):
            log(f"storing activation {msg['activationId']} failed: HTTP {status} {body}")
        self.bus.produce(f"completed{msg['controller']}", {
            "activationId": msg["activationId"], "invoker": self.name, "response": response, "record": record})
        log(f"activation {msg['activationId']} of {action['name']}: {response['status']}")

    @staticmethod
    def init(ip: str, init: dict[str, Any]) -> tuple[int, Any]:
        """POST /init once the runtime listens (it may take a moment to start)."""
        deadline = time.monotonic() + 20
        while True:
            try:
                return http_call("POST", f"http://{ip}:8080/init", init, timeout=30)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def resolve(self, image: str) -> str:
        """The image an activation runs: the controller sends it without the runtimes registry,
        which the invoker adds (ImageName.resolveImageName with whisk.containerFactory.
        runtimesRegistry.url), unless the manifest entry named a registry of its own."""
        first = image.split("/", 1)[0]
        if "/" in image and ("." in first or ":" in first or first == "localhost"):
            return image
        return f"{self.manifest.registry}{image}"

    def create(self, action: dict[str, Any]) -> str:
        name = f"{self.prefix}{next(self.seq)}_{action['namespace']}_{action['name']}"
        name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)
        image = self.resolve(action["image"])
        status, body = self.docker.call("POST", f"/containers/create?name={quote(name)}", {
            "Image": image, "Env": [f"__OW_API_HOST={self.api_host}"],
            "Labels": {"org.openwhisk-pulumi.stand-in": "action", "invoker": self.name},
            "HostConfig": {"NetworkMode": self.network, "Memory": 256 * 1024 * 1024,
                           **self.log_config}})
        if status != 201:
            raise RuntimeError(f"docker create {image}: HTTP {status} {body}")
        status, body = self.docker.call("POST", f"/containers/{body['Id']}/start")
        if status not in (204, 304):
            raise RuntimeError(f"docker start: HTTP {status} {body}")
        return name


def main() -> None:
    exit_on_signal()
    args = parse_args(sys.argv[1:])
    # §1c, §2.8.2: required of the invoker at every tag, plus zookeeper.hosts at ef725a6 (or
    # whenever the id comes from ZooKeeper) and the FPC keys in scheduler mode.
    keys = common_keys() + ["WHISK_API_HOST_NAME", "CONFIG_whisk_couchdb_databases_WhiskEntity",
                            "CONFIG_whisk_couchdb_databases_WhiskActivation"]
    if VERSION.zookeeper_required or args.id is None:
        keys.append("ZOOKEEPER_HOSTS")
    fpc_invoker = spi("InvokerProvider", "FPCInvokerReactive" if VERSION.default_mode == "scheduler"
                      else "InvokerReactive").endswith("FPCInvokerReactive")
    if fpc_invoker:
        keys += ETCD + ["CONFIG_whisk_invoker_containerCreation_maxPeek"]
    require("invoker", keys)
    instance = args.id if args.id is not None else assign_id(args.uniqueName)
    Invoker(instance, args.uniqueName or str(instance)).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
