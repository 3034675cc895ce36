"""Benchmark: whole-program evaluation under mocks versus a floor, for 10, 100 and 1000 invokers.

The floor registers the same resources the program does (same types, same count, same component
nesting) directly through their SDK classes with only their required inputs, under the same
recording mocks. Each SDK class creates one Output per declared property, so that cost is the
unavoidable part; the ratio measures what the program adds on top: reading and validating the
config, planning, and wiring inputs and dependencies. Run from the repository root:

    python bench/run.py            # prints a Markdown table
    python bench/run.py --repeat 9 # best of 9 per size (default 5)
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import load_stack_file, run_program, run_pulumi  # noqa: E402

PER_HOST = 10
"""Invokers per invoker host."""


def config_for(invokers: int) -> tuple[dict, dict]:
    plain, secret = load_stack_file("dev")
    plain = dict(plain)
    core = {"name": "core", "id": 0, "address": "10.0.0.1",
            "roles": ["couchdb", "zookeeper", "kafka", "controller", "edge"]}
    hosts = [core]
    for h in range(-(-invokers // PER_HOST)):
        ids = list(range(h * PER_HOST, min(invokers, (h + 1) * PER_HOST)))
        hosts.append({"name": f"inv-{h}", "id": h + 1, "address": f"10.1.{h // 250}.{h % 250 + 1}",
                      "roles": ["invoker"], "invoker_ids": ids})
    plain["openwhisk:hosts"] = hosts
    return plain, secret


def _minimal(typ: str, name: str, parent: pulumi.Resource | None) -> pulumi.Resource:
    """The resource of type `typ`, declared with its required inputs only."""
    import pulumi_docker as docker
    import pulumi_random as random
    import pulumi_tls as tls

    opts = pulumi.ResourceOptions(parent=parent)
    makers = {
        "docker:index/container:Container": lambda: docker.Container(name, image="i", opts=opts),
        "docker:index/remoteImage:RemoteImage": lambda: docker.RemoteImage(name, name="i", opts=opts),
        "docker:index/volume:Volume": lambda: docker.Volume(name, opts=opts),
        "docker:index/tag:Tag": lambda: docker.Tag(name, source_image="a", target_image="b", opts=opts),
        "docker:index/registryImage:RegistryImage": lambda: docker.RegistryImage(name, opts=opts),
        "docker:index/image:Image": lambda: docker.Image(name, image_name="i", opts=opts),
        "pulumi:providers:docker": lambda: docker.Provider(name, opts=opts),
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
    }
    if typ in makers:
        return makers[typ]()
    if typ.startswith("openwhisk:components:"):
        component = pulumi.ComponentResource(typ, name, None, opts)
        component.register_outputs({})
        return component
    return pulumi.CustomResource(typ, name, {}, opts)


class Bare(pulumi.CustomResource):
    """A resource with no properties at all: the literal "bare" floor."""

    def __init__(self, name: str) -> None:
        super().__init__("bench:index:Bare", name, {})


def floor_program(resources: list[tuple[str, str, str | None]]) -> None:
    """Declare `resources` ((type, name, parent type::name) in registration order) directly."""
    made: dict[str, pulumi.Resource] = {}
    for typ, name, parent in resources:
        made[f"{typ}::{name}"] = _minimal(typ, name, made.get(parent) if parent else None)


def timed(fn) -> float:
    """Seconds `fn` takes, starting from a collected heap so no run pays for the previous one."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def declared(run) -> list[tuple[str, str, str | None]]:
    """(type, name, parent type::name or None) of every resource a run registered, in order."""
    by_urn = {o["urn"]: key for key, o in run.monitor.options.items()}
    out = []
    for key, o in run.monitor.options.items():
        typ, name = key.rsplit("::", 1)
        if typ != "pulumi:pulumi:Stack":
            parent = by_urn.get(o["parent"], "")
            out.append((typ, name, None if parent.startswith("pulumi:pulumi:Stack") else parent))
    return out


def measure(invokers: int, repeat: int) -> tuple[int, float, float, float]:
    """(resources, program seconds, same-resources floor seconds, bare floor seconds), each the
    best of `repeat` runs; the three are interleaved so that drift in the machine hits all alike."""
    plain, secret = config_for(invokers)
    resources = declared(run_program(plain, secret, stack="bench"))
    runs = {
        "program": lambda: run_program(plain, secret, stack="bench"),
        "floor": lambda: run_pulumi(lambda: floor_program(resources)),
        "bare": lambda: run_pulumi(lambda: [Bare(f"r{i}") for i in range(len(resources))]),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    best = {name: min(t) for name, t in times.items()}
    return len(resources), best["program"], best["floor"], best["bare"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    args = parser.parse_args()
    print("| invokers | resources | program (s) | floor (s) | ratio | bare floor (s) | ratio to bare "
          "| per resource: program / floor / bare (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        count, program, floor, bare = measure(n, args.repeat)
        per = " / ".join(f"{1000 * t / count:.2f}" for t in (program, floor, bare))
        print(f"| {n} | {count} | {program:.3f} | {floor:.3f} | {program / floor:.2f} | "
              f"{bare:.3f} | {program / bare:.2f} | {per} |", flush=True)


if __name__ == "__main__":
    main()
