"""The CouchDB init step's files (script and design documents), read from components/assets/couchdb."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets" / "couchdb"


@cache
def couchdb_init_files() -> tuple[tuple[str, str], ...]:
    """(file name, content) of init.sh and every design document, in a stable order."""
    return tuple((p.name, p.read_text()) for p in sorted(ASSETS.iterdir())
                 if p.is_file() and p.suffix in (".sh", ".json"))
