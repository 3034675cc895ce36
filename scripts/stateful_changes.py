"""Flag what a `pulumi preview --json` would do to stored data.

A policy pack sees the desired state, not the diff, so it cannot see a replacement. This reads the
preview's steps instead: deleting or replacing a data volume or claim fails the check (a new
volume starts empty, and the old one is only retained, not reattached); replacing a container
that holds a store is listed as a warning (its data stays on its volume or data directory, but
the service restarts). Exit status 1 when data would be lost, else 0.

    pulumi preview --stack prod --json > preview.json
    python scripts/stateful_changes.py preview.json
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

DATA_TYPES = {"docker:index/volume:Volume", "kubernetes:core/v1:PersistentVolumeClaim"}
STORE = re.compile(r"^(couchdb|zookeeper|kafka|etcd|elasticsearch|registry)-")
"""Logical names of containers and StatefulSets that hold a store's data."""
STORE_TYPES = {"docker:index/container:Container", "kubernetes:apps/v1:StatefulSet"}
REPLACING = {"replace", "create-replacement", "delete-replaced"}


def findings(preview: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the preview's steps, one line per resource."""
    errors, warnings = [], []
    seen: set[str] = set()
    for step in preview.get("steps", []):
        urn, op = step.get("urn", ""), step.get("op", "")
        typ = (step.get("newState") or step.get("oldState") or {}).get("type") or \
            urn.split("::")[2].rsplit("$", 1)[-1]
        name = urn.rsplit("::", 1)[-1]
        if urn in seen or (op not in REPLACING and op != "delete"):
            continue
        seen.add(urn)
        why = ", ".join(step.get("replaceReasons") or step.get("diffReasons") or []) or op
        if typ in DATA_TYPES:
            errors.append(f"{name}: the data volume would be {'deleted' if op == 'delete' else 'replaced'} "
                          f"({why}); its data would no longer be mounted. Keep its name and settings, "
                          f"or copy the data to the new volume first.")
        elif typ in STORE_TYPES and STORE.match(name) and op != "delete":
            warnings.append(f"{name}: the store's container is replaced ({why}); its data stays on its "
                            f"volume, but the service restarts.")
    return errors, warnings


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        errors, warnings = findings(json.load(f))
    for line in errors:
        print(f"error: {line}")
    for line in warnings:
        print(f"warning: {line}")
    if not errors and not warnings:
        print("stored data: untouched")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
