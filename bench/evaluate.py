"""One cold evaluation: a fresh process runs the real program (or its floor) under Pulumi's mocks
on a prod-shaped stack, then exits. Time the whole process from outside, e.g.

    /usr/bin/time -f '%e s %M KiB' .venv/bin/python bench/evaluate.py --invokers 1000
    .venv/bin/python bench/evaluate.py --invokers 1000 --save /tmp/r1000.json   # not a measurement
    /usr/bin/time -f '%e s %M KiB' .venv/bin/python bench/evaluate.py --floor /tmp/r1000.json

The stack is Pulumi.prod.yaml's: its three core hosts (stores, controllers, schedulers, edge,
registry), then invoker hosts with PER_HOST invokers each (1000 invokers: 250 hosts), each with
its own id and address and the prod file's SSH settings.

The floor declares the resources a program run declared (`--save`: type, name and parent of each,
in registration order) directly through their SDK classes, with only their required inputs and no
dependencies, under the same recording mocks and harness, and with the collector set as the
program sets it (components.sdk_tuning.FULL_GC_AFTER): the same resources without the program.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PER_HOST = 4
"""Invokers per invoker host."""

STACK = "prod"

from components.sdk_tuning import FULL_GC_AFTER  # noqa: E402 - the program's setting, which the floor uses too


def config_for(invokers: int) -> tuple[dict, dict]:
    """(plain, secret) config of Pulumi.prod.yaml with `invokers` invokers, PER_HOST to a host."""
    from tests.conftest import load_stack_file

    plain, secret = load_stack_file(STACK)
    plain = dict(plain)
    given = plain["openwhisk:hosts"]
    hosts = [{**h, "id": i} for i, h in enumerate(h for h in given if "invoker" not in h["roles"])]
    template = next(h for h in given if "invoker" in h["roles"])
    for k in range(-(-invokers // PER_HOST)):
        hosts.append({**template, "name": f"invoker-{k + 1}", "id": len(hosts),
                      "address": f"10.21.{k // 250}.{k % 250 + 1}",
                      "invoker_ids": list(range(k * PER_HOST, min(invokers, (k + 1) * PER_HOST)))})
    plain["openwhisk:hosts"] = hosts
    return plain, secret


def run_program(invokers: int):
    """The real __main__.py under the recording mocks, on the prod-shaped stack."""
    from tests.conftest import run_program as run

    return run(*config_for(invokers), stack=STACK)


def declared(run) -> list[tuple[str, str, str | None]]:
    """(type, name, parent type::name or None) of every resource a run registered, in order, then
    of those it read (the StackReference)."""
    by_urn = {o["urn"]: key for key, o in run.monitor.options.items()}
    out = []
    for key, o in run.monitor.options.items():
        typ, name = key.rsplit("::", 1)
        if typ != "pulumi:pulumi:Stack":
            parent = by_urn.get(o["parent"], "")
            out.append((typ, name, None if parent.startswith("pulumi:pulumi:Stack") else parent))
    return out + [(r["type"], r["name"], None) for r in run.mocks.resources
                  if f"{r['type']}::{r['name']}" not in run.monitor.options]


def _minimal(typ: str, name: str, parent):
    """The resource of type `typ`, declared through its SDK class with its required inputs only."""
    import pulumi
    import pulumi_command as command
    import pulumi_docker as docker
    import pulumi_random as random
    import pulumi_tls as tls

    opts = pulumi.ResourceOptions(parent=parent)
    makers = {
        "docker:index/container:Container": lambda: docker.Container(name, image="i", opts=opts),
        "docker:index/remoteImage:RemoteImage": lambda: docker.RemoteImage(name, name="i", opts=opts),
        "docker:index/volume:Volume": lambda: docker.Volume(name, opts=opts),
        "docker:index/network:Network": lambda: docker.Network(name, opts=opts),
        "docker:index/tag:Tag": lambda: docker.Tag(name, source_image="a", target_image="b", opts=opts),
        "docker:index/registryImage:RegistryImage": lambda: docker.RegistryImage(name, opts=opts),
        "docker:index/image:Image": lambda: docker.Image(name, image_name="i", opts=opts),
        "pulumi:providers:docker": lambda: docker.Provider(name, opts=opts),
        "pulumi:providers:command": lambda: command.Provider(name, opts=opts),
        "command:local:Command": lambda: command.local.Command(name, opts=opts),
        "command:remote:Command": lambda: command.remote.Command(
            name, connection=command.remote.ConnectionArgs(host="h"), opts=opts),
        "random:index/randomPassword:RandomPassword":
            lambda: random.RandomPassword(name, length=8, opts=opts),
        "random:index/randomUuid:RandomUuid": lambda: random.RandomUuid(name, opts=opts),
        "tls:index/privateKey:PrivateKey": lambda: tls.PrivateKey(name, algorithm="ECDSA", opts=opts),
        "tls:index/selfSignedCert:SelfSignedCert": lambda: tls.SelfSignedCert(
            name, private_key_pem="k", validity_period_hours=1, allowed_uses=[], opts=opts),
        "tls:index/certRequest:CertRequest": lambda: tls.CertRequest(name, private_key_pem="k",
                                                                     opts=opts),
        "tls:index/locallySignedCert:LocallySignedCert": lambda: tls.LocallySignedCert(
            name, cert_request_pem="c", ca_cert_pem="c", ca_private_key_pem="k",
            validity_period_hours=1, allowed_uses=[], opts=opts),
        "pulumi:pulumi:StackReference": lambda: pulumi.StackReference(name, "o/p/s", opts=opts),
    }
    if typ in makers:
        return makers[typ]()
    if typ.startswith("openwhisk:components:"):
        component = pulumi.ComponentResource(typ, name, None, opts)
        component.register_outputs({})
        return component
    return pulumi.CustomResource(typ, name, {}, opts)


def floor_program(resources: list[tuple[str, str, str | None]]) -> None:
    """Declare `resources` ((type, name, parent type::name) in registration order) directly."""
    made: dict = {}
    for typ, name, parent in resources:
        made[f"{typ}::{name}"] = _minimal(typ, name, made.get(parent) if parent else None)


def run_floor(resources: list[tuple[str, str, str | None]]):
    from tests.conftest import run_pulumi

    gc.set_threshold(*gc.get_threshold()[:2], FULL_GC_AFTER)
    return run_pulumi(lambda: floor_program(resources), stack=STACK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--invokers", type=int, help="run the program with this many invokers")
    what.add_argument("--floor", type=Path, help="run the floor of the resources saved in FLOOR")
    parser.add_argument("--save", type=Path,
                        help="with --invokers: write the declared resources here, for --floor")
    args = parser.parse_args()
    if args.floor:
        resources = [tuple(r) for r in json.loads(args.floor.read_text())]
        run = run_floor(resources)
    else:
        run = run_program(args.invokers)
        if args.save:
            args.save.write_text(json.dumps(declared(run)))
    # What was declared (registered or read), for the driver (bench/run.py) to count.
    print(json.dumps({"resources": len(run.mocks.resources)}))


if __name__ == "__main__":
    main()
