"""Benchmark: cold whole-process evaluation of the program against a floor, for 10, 100 and 1000
invokers on a prod-shaped stack (see bench/evaluate.py).

Each measurement is a fresh `python bench/evaluate.py` process: interpreter start, imports, config,
planning, every registration under the mocks, exit. Its wall time is taken around the process and
its peak RSS from the kernel (os.wait4, the figure `/usr/bin/time -f %M` prints). Program and floor
processes take turns, so that drift in the machine hits both alike; each figure is the best of
--repeat runs. Run from the repository root:

    .venv/bin/python bench/run.py                 # Markdown table, best of 3 per size
    .venv/bin/python bench/run.py --repeat 5 --sizes 10 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVALUATE = [sys.executable, str(ROOT / "bench" / "evaluate.py")]


def process(args: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MiB, what it printed) of one `evaluate.py args` process."""
    start = time.perf_counter()
    child = subprocess.Popen([*EVALUATE, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"evaluate.py {' '.join(args)} failed ({child.returncode})")
    return wall, usage.ru_maxrss / 1024, json.loads(out)


def measure(invokers: int, repeat: int) -> dict:
    """Best of `repeat` program and floor processes for `invokers` invokers."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / f"resources-{invokers}.json"
        # Not measured: writes the resource list the floor declares (and warms the file cache).
        _, _, first = process(["--invokers", str(invokers), "--save", str(saved)])
        runs = {"program": ["--invokers", str(invokers)], "floor": ["--floor", str(saved)]}
        seen: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(repeat):
            for name, args in runs.items():
                wall, mib, out = process(args)
                assert out["resources"] == first["resources"], (name, out, first)
                seen[name].append((wall, mib))
    best = {name: (min(w for w, _ in s), min(m for _, m in s)) for name, s in seen.items()}
    return {"invokers": invokers, "resources": first["resources"], **{
        f"{name}_{unit}": best[name][i] for name in runs for i, unit in enumerate(("s", "mib"))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    args = parser.parse_args()
    print(f"best of {args.repeat} cold processes per figure\n")
    print("| invokers | resources | program (s) | program (MiB) | floor (s) | floor (MiB) "
          "| ratio (time) | ratio (memory) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        r = measure(n, args.repeat)
        print(f"| {n} | {r['resources']} | {r['program_s']:.2f} | {r['program_mib']:.0f} | "
              f"{r['floor_s']:.2f} | {r['floor_mib']:.0f} | {r['program_s'] / r['floor_s']:.2f} | "
              f"{r['program_mib'] / r['floor_mib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
