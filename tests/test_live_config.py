"""Config a running container reloads in place (planner/live_config.py): the host command's
script, run with a recording stand-in for `docker` that keeps the config volume in a directory.
Its effect on a real nginx and a real daemon is shown in the engine tier (a controller added
while the edge keeps serving, tests/engine/test_prod.py)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from planner import live_config
from planner.model import LiveConfig

LIVE = LiveConfig(volume="ow-edge-config", target="/etc/nginx/ow", files=(("nginx.conf", "a 'b'\n$c\n"),),
                  check=("nginx", "-t", "-q", "-c", "/etc/nginx/ow/nginx.conf.next"),
                  reload=("nginx", "-s", "reload", "-c", "/etc/nginx/ow/nginx.conf"))


def run(tmp_path: Path, *, running: bool, check_ok: bool = True) -> tuple[int, list[str], Path]:
    """Runs the script against a fake docker: `run` executes its shell command with /live mapped
    to a directory, `inspect` answers whether the container runs, `exec` is recorded and fails
    for the check when `check_ok` is false. Returns (exit status, calls, the volume directory)."""
    volume, log = tmp_path / "volume", tmp_path / "calls"
    volume.mkdir(exist_ok=True)
    fake = tmp_path / "docker"
    fake.write_text(f"""#!/bin/sh
echo "$*" >>{log}
case "$1" in
  inspect) [ {str(running).lower()} = true ] && echo true || exit 1 ;;
  exec) [ "$3" = nginx ] && [ "$4" = -t ] && exit {0 if check_ok else 1}; exit 0 ;;
  run) eval "last=\\${{$#}}"; exec sh -c "$(printf %s "$last" | sed 's#/live#{volume}#g')" ;;
esac
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    script = live_config.script(str(fake), "ow-edge", "sha256:abc", LIVE)
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    calls = [line.replace(str(fake), "docker") for line in log.read_text().splitlines()]
    return proc.returncode, calls, volume


def test_before_the_container_exists_the_files_are_only_written(tmp_path):
    status, calls, volume = run(tmp_path, running=False)
    assert status == 0
    assert (volume / "nginx.conf").read_text() == "a 'b'\n$c\n"
    assert not (volume / "nginx.conf.next").exists()
    assert [c.split(" ")[0:2] for c in calls] == [["run", "--rm"], ["inspect", "-f"], ["run", "--rm"]]
    assert calls[0].startswith("run --rm -i --network none --user 0:0 --entrypoint sh -v ow-edge-config:/live "
                               "sha256:abc -c ")


def test_a_running_container_checks_the_new_files_then_reloads(tmp_path):
    (tmp_path / "volume").mkdir()
    (tmp_path / "volume" / "nginx.conf").write_text("old\n")
    status, calls, volume = run(tmp_path, running=True)
    assert status == 0 and (volume / "nginx.conf").read_text() == "a 'b'\n$c\n"
    assert [c for c in calls if c.startswith("exec")] == [
        "exec ow-edge nginx -t -q -c /etc/nginx/ow/nginx.conf.next",
        "exec ow-edge nginx -s reload -c /etc/nginx/ow/nginx.conf"]


def test_a_failed_check_fails_the_command_and_keeps_the_running_config(tmp_path):
    (tmp_path / "volume").mkdir()
    (tmp_path / "volume" / "nginx.conf").write_text("old\n")
    status, calls, volume = run(tmp_path, running=True, check_ok=False)
    assert status != 0
    assert (volume / "nginx.conf").read_text() == "old\n"
    assert not any("reload" in c for c in calls)


def test_the_script_writes_next_files_and_moves_them_into_place():
    text = live_config.script("docker", "ow-edge", "sha256:abc", LIVE)
    assert text.startswith("set -eu\n")
    assert "cat > /live/nginx.conf.next" in text and "mv /live/nginx.conf.next /live/nginx.conf" in text
