"""Content digest of a source tree, used to pin upstream archives without trusting their bytes.

GitHub's archive tarballs are generated on the fly and gzip output is not stable, so a hash of
the .tar.gz cannot be pinned. This pins what matters instead: the files of one tree.

    python3 tree_digest.py DIR [SUBDIR]      prints sha256:<hex> of DIR/SUBDIR

The digest is sha256 over a canonical listing with one line per regular file under the tree,
sorted by its POSIX path relative to the tree (compared as UTF-8 bytes):

    <relative path> NUL <sha256 hex of the file's content> LF

Only paths and contents count: file modes, timestamps, owners and empty directories do not.
A symbolic link, device, FIFO or socket anywhere in the tree is refused (exit 1): the pinned
upstream trees hold none, and a link could make the same listing mean different content.

Python 3 standard library only; importable (tree_digest(), TreeError).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys


class TreeError(Exception):
    """The tree cannot be digested (missing, or holds something other than files and dirs)."""


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def listing(root: str, subdir: str | None = None) -> list[tuple[str, str]]:
    """[(relative POSIX path, sha256 hex)] of every regular file, sorted by path bytes."""
    top = os.path.join(root, subdir) if subdir else root
    st = os.lstat(top) if os.path.lexists(top) else None
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise TreeError(f"{top} is not a directory")
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise TreeError(f"{rel} is a symbolic link; trees with links are refused")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise TreeError(f"{rel} is not a regular file")
            out.append((rel, _file_sha256(path)))
    out.sort(key=lambda item: item[0].encode("utf-8"))
    return out


def tree_digest(root: str, subdir: str | None = None) -> str:
    """sha256:<hex> of the canonical listing of root/subdir (see the module docstring)."""
    h = hashlib.sha256()
    for rel, digest in listing(root, subdir):
        h.update(rel.encode("utf-8") + b"\0" + digest.encode("ascii") + b"\n")
    return "sha256:" + h.hexdigest()


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: tree_digest.py DIR [SUBDIR]", file=sys.stderr)
        return 2
    try:
        print(tree_digest(*argv))
    except (TreeError, OSError) as e:
        print(f"tree_digest: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
