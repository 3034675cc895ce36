"""The deployed side of the stateful policies: a policy-pack config from a stack export.

    pulumi stack export --stack prod --show-secrets | python policy/baseline.py > policy-config.json
    pulumi preview --stack prod --policy-pack policy --policy-pack-config policy-config.json

The export is read from standard input (or the file named as the argument) and never written
anywhere. The config holds, for each stateful resource, where its data lives (hosts, volume names,
data directories, claim names) and digests of the inputs whose change replaces it; credential-named
env entries are left out of those digests, so it holds no secret. `--data-level advisory` lowers
stateful-data-kept for a preview that moves data on purpose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from policies import EncryptedStateError, baseline_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", help="stack export file (default: standard input)")
    parser.add_argument("--data-level", choices=["mandatory", "advisory"], default="mandatory",
                        help="enforcement level of stateful-data-kept (default: mandatory)")
    args = parser.parse_args(argv)
    source = args.export or "standard input"
    try:
        text = Path(args.export).read_text() if args.export else sys.stdin.read()
        config = baseline_config(json.loads(text) if text.strip() else {}, args.data_level)
    except OSError as err:
        print(f"baseline.py: cannot read {source}: {err.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as err:
        print(f"baseline.py: {source} is not a stack export ({err}); pipe in the output of "
              "`pulumi stack export --show-secrets`", file=sys.stderr)
        return 2
    except EncryptedStateError as err:
        print(f"baseline.py: {err}", file=sys.stderr)
        return 2
    json.dump(config, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
