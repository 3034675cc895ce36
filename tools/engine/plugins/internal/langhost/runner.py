# Runs a Pulumi Python program for the engine tier's pulumi-language-python.
#
# The Go host starts this with the program's Python (`python -u -c <this file> ...`). It configures
# the Pulumi SDK's runtime settings (monitor and engine addresses, project, stack, organization,
# root directory, dry run, parallelism) and config, then runs the program's __main__ with runpy
# inside pulumi.runtime.run_in_stack.
#
# Exit codes: 0 success; 32 the failure was already reported to the engine (the host then tells
# the CLI to bail without adding a message of its own); anything else is unexpected.
import argparse
import asyncio
import concurrent.futures
import json
import logging
import os
import runpy
import signal
import sys
import traceback

REPORTED = 32
# The SDK's RunError once the engine has stopped taking requests (after a failed step, which the
# engine has already reported).
MONITOR_GONE = "Resource monitor has terminated"


def user_traceback(program_dir):
    """The traceback from the first frame in the user's program on (the runner's and runpy's
    frames are noise), or the whole traceback when no frame is the user's."""
    exc_type, exc, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    prefix = os.path.join(os.path.abspath(program_dir), "")
    for i, frame in enumerate(frames):
        if os.path.isabs(frame.filename) and frame.filename.startswith(prefix):
            frames = frames[i:]
            break
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(exc_type, exc)
    return "".join(lines)


def main():
    ap = argparse.ArgumentParser(prog="pulumi-language-python runner")
    ap.add_argument("--monitor", required=True)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--stack", required=True)
    ap.add_argument("--organization", default=None)
    ap.add_argument("--root-directory", default=None)
    ap.add_argument("--program-directory", required=True)
    ap.add_argument("--pwd", default=None)
    ap.add_argument("--parallel", type=int, default=0)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("program")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()

    try:
        import grpc
        import pulumi
        import pulumi.runtime
    except ImportError:
        traceback.print_exc()
        print(
            "\nThe Pulumi SDK is not installed in this Python environment (%s).\n"
            "Install the program's requirements into it: %s -m pip install -r requirements.txt"
            % (sys.prefix, sys.executable),
            file=sys.stderr,
        )
        return 1

    config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    secret_keys = json.loads(os.environ.get("PULUMI_CONFIG_SECRET_KEYS") or "[]")
    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi.runtime.configure(
        pulumi.runtime.Settings(
            monitor=a.monitor,
            engine=a.engine,
            project=a.project,
            stack=a.stack,
            parallel=a.parallel or None,
            dry_run=a.dry_run,
            organization=a.organization or None,
            root_directory=a.root_directory or None,
        )
    )

    sys.argv = [a.program] + a.args
    if a.pwd:
        os.chdir(a.pwd)
    # The program's own modules import from its directory (runpy adds it only while __main__ runs;
    # code in apply callbacks may import later).
    sys.path.insert(0, a.program_directory)

    # The CLI interrupts its plugins' process group when it closes them (after a failed step, or
    # on Ctrl-C). By then the engine has reported what went wrong: leave quietly rather than print
    # a KeyboardInterrupt traceback from wherever the program was.
    def interrupted(signum, frame):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(REPORTED)

    signal.signal(signal.SIGINT, interrupted)

    # An unfinished dataflow graph at exit makes asyncio log complaints about pending tasks; they
    # say nothing useful to the user.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK makes its blocking monitor calls (each resource registration waits there until the
    # resource's step is done) on the loop's default executor. Python's default pool has only
    # min(32, cores + 4) threads, which would cap the steps in flight at 6 on a 2-core machine
    # whatever `--parallel` says; the real language host sizes the pool from `--parallel`, times
    # four (pulumi/pulumi#20362), and so does this one.
    if a.parallel > 0:
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=a.parallel * 4))

    def report(message):
        # Through the engine, so the CLI shows it against the stack; if the engine is gone there
        # is no one left to tell (it has reported its own failure).
        try:
            pulumi.log.error(message)
        except Exception:  # noqa: BLE001
            pass

    code = 0
    try:
        loop.run_until_complete(
            pulumi.runtime.run_in_stack(lambda: runpy.run_path(a.program, run_name="__main__"))
        )
    except pulumi.RunError as e:
        if not str(e).startswith(MONITOR_GONE):
            report(str(e))
        code = REPORTED
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.UNAVAILABLE:  # UNAVAILABLE: the engine is shutting down
            report("Program failed with an unhandled exception:\n" + user_traceback(a.program_directory))
        code = REPORTED
    except Exception:  # noqa: BLE001 - every program error is reported to the engine
        report("Program failed with an unhandled exception:\n" + user_traceback(a.program_directory))
        code = REPORTED
    finally:
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
