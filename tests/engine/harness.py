"""Drives the real Pulumi CLI against a copy of the project, with a local file backend.

The project is copied into a temporary directory (its `venv` links to the running virtualenv), so
the engine tier never writes into the work tree. The stack's config lives in that copy's
`Pulumi.<stack>.yaml` and is edited there as YAML.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.changes import short

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "engine-tier-passphrase"
#: What the program needs at run time; tests, docs, CI files and tools stay behind.
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROJECT_DIRS = ("components", "config", "planner", "runtimes", "policy", "tests/engine/images")


class PulumiError(AssertionError):
    """A pulumi command failed; the message holds its command line and output."""


@dataclass
class Result:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Project:
    """A copy of the project with one stack on a file backend under `home`."""

    home: Path
    bin_dir: Path
    stack: str = "e2e"
    log: list[Result] = field(default_factory=list)
    path: list[Path] = field(default_factory=list)
    """Directories put first on PATH (e.g. the test hosts' `ssh` wrapper)."""

    @property
    def dir(self) -> Path:
        return self.home / "project"

    @property
    def config_file(self) -> Path:
        return self.dir / f"Pulumi.{self.stack}.yaml"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        return env | {
            "PATH": os.pathsep.join([*map(str, self.path), str(self.bin_dir), env.get("PATH", "")]),
            "PULUMI_HOME": str(self.home / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DIY_BACKEND_GZIP": "false",
            "PULUMI_SKIP_CONFIRMATIONS": "1",
            "NO_COLOR": "1",
            # Makes `--event-log` available (timing of each step).
            "PULUMI_DEBUG_COMMANDS": "true",
        }

    @classmethod
    def create(cls, home: Path, bin_dir: Path, config: dict[str, Any], stack: str = "e2e",
               path: list[Path] | None = None) -> Project:
        project = cls(home=home, bin_dir=bin_dir, stack=stack, path=list(path or []))
        project.dir.mkdir(parents=True)
        for name in PROJECT_FILES:
            shutil.copy2(ROOT / name, project.dir / name)
        for name in PROJECT_DIRS:
            shutil.copytree(ROOT / name, project.dir / name,
                            ignore=shutil.ignore_patterns("__pycache__", "venv"))
        (project.dir / "venv").symlink_to(Path(sys.prefix))
        (project.dir / "policy" / "venv").symlink_to(Path(sys.prefix))
        (home / "state").mkdir()
        project.run("login", f"file://{home / 'state'}")
        project.run("stack", "init", stack)
        project.write_config(config)
        return project

    # -- config -----------------------------------------------------------------------------

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_file.read_text())["config"]

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the stack's config, keeping the secrets provider's salt."""
        doc = yaml.safe_load(self.config_file.read_text()) if self.config_file.exists() else {}
        doc = {k: v for k, v in (doc or {}).items() if k != "config"} | {"config": config}
        self.config_file.write_text(yaml.safe_dump(doc, sort_keys=False))

    # -- commands ---------------------------------------------------------------------------

    def set_secret(self, key: str, value: str) -> None:
        """`pulumi config set --secret` with the value on stdin (multi-line values too)."""
        proc = subprocess.run(["pulumi", "config", "set", "--secret", key, "--stack", self.stack,
                               "--non-interactive"], cwd=self.dir, env=self.env(), input=value,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise PulumiError(f"pulumi config set --secret {key}: {proc.stderr}")

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> Result:
        cmd = ["pulumi", *args]
        if args[0] != "login" and args[:2] != ("stack", "init"):
            cmd += ["--stack", self.stack]
        cmd.append("--non-interactive")
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=self.dir, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        result = Result(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        self.log.append(result)
        if check and proc.returncode != 0:
            saved = self.home / f"failed-{len(self.log)}-{args[0]}.log"
            saved.write_text(result.output)
            raise PulumiError(f"{' '.join(cmd)} exited {proc.returncode} after "
                              f"{result.seconds:.0f} s (whole output: {saved}):\n"
                              f"{_tail(result.output)}")
        return result

    def up(self, *extra: str, check: bool = True) -> Result:
        return self.run("up", "--yes", "--skip-preview", "--diff", *extra, check=check)

    def preview_steps(self, *extra: str) -> dict[str, str]:
        """`pulumi preview --json` as {URN tail `type::name`: op}, without same-steps and reads (the
        StackReference to the stack itself, `last-deployment`, is read on every run)."""
        out = json.loads(self.run("preview", "--json", *extra).stdout)
        return {short(s["urn"]): s["op"] for s in out.get("steps", [])
                if s["op"] not in ("same", "read")}

    def expect_no_changes(self) -> Result:
        return self.run("preview", "--expect-no-changes", "--diff")

    def destroy(self) -> Result:
        return self.run("destroy", "--yes", "--skip-preview")

    def outputs(self, *, secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if secrets else [])
        return json.loads(self.run(*args).stdout)

    def export(self) -> str:
        return self.run("stack", "export").stdout

    def urns(self) -> list[str]:
        """Every resource's URN in the stack's state, sorted."""
        return sorted(r["urn"] for r in json.loads(self.export())["deployment"]["resources"])


def _tail(text: str, lines: int = 80) -> str:
    """The last lines of a command's output, without the CLI's notes that plugins come from PATH."""
    kept = [line for line in text.strip().splitlines()
            if not (line.startswith("warning: using pulumi-") and " from $PATH at " in line)]
    return "\n".join(kept[-lines:])
