"""OpenWhisk action runtime stand-in. TEST STAND-IN ONLY, not an OpenWhisk runtime image.

Speaks the action proxy protocol on port 8080, as the invoker expects of a runtime container:
  POST /init {"value": {"name", "main", "code", "binary", "env"}}  once per container
  POST /run  {"value": <params>, "activation_id", "namespace", "action_name", "deadline"}
/run answers the dictionary the action's `main` returns, or 502 {"error": ...}.

OW_RUNTIME_FAMILY picks how code runs: `nodejs` with Debian's node (the code is a script defining
`main`, or a module exporting it), `python` with this python3 (a `main(args)` function).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from typing import Any

sys.path.insert(0, "/standin")
from standin import Reply, Request, exit_on_signal, log, serve_http  # noqa: E402

FAMILY = os.environ.get("OW_RUNTIME_FAMILY", "nodejs")
NODE_RUNNER = r"""
const fs = require('fs');
const [codeFile, mainName] = process.argv.slice(1);  // node -e: no script path in argv
const params = JSON.parse(fs.readFileSync(0, 'utf8'));
const mod = {exports: {}};
const main = new Function('module', 'exports', 'require',
    fs.readFileSync(codeFile, 'utf8') +
    `\nreturn typeof ${mainName} === 'function' ? ${mainName} : (module.exports.${mainName} || module.exports);`
)(mod, mod.exports, require);
Promise.resolve().then(() => main(params)).then(
    r => process.stdout.write(JSON.stringify(r === undefined ? {} : r)),
    e => process.stdout.write(JSON.stringify({error: String((e && e.message) || e)})));
"""
state: dict[str, Any] = {}
lock = threading.Lock()


def run_node(params: dict[str, Any], env: dict[str, str]) -> Any:
    done = subprocess.run(["node", "-e", NODE_RUNNER, state["file"], state["main"]],
                          input=json.dumps(params), capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    if done.stderr:
        print(done.stderr, end="", file=sys.stderr, flush=True)
    return json.loads(done.stdout) if done.stdout.strip() else {"error": "The action produced no result."}


def run_python(params: dict[str, Any], env: dict[str, str]) -> Any:
    os.environ.update(env)
    scope: dict[str, Any] = {}
    exec(compile(state["code"], "__main__", "exec"), scope)  # noqa: S102 - it is the action's code
    return scope[state["main"]](params)


def handle(req: Request) -> Reply:
    body = req.json() or {}
    if req.method == "POST" and req.path == "/init":
        with lock:
            if state:
                return Reply(403, {"error": "Cannot initialize the action more than once."})
            value = body.get("value") or {}
            main = value.get("main") or "main"
            if value.get("binary") or not re.fullmatch(r"[A-Za-z_$][\w$]*", main):
                return Reply(502, {"error": "The action failed to initialize: only plain-text code "
                                            "with an identifier as main is supported by the stand-in."})
            state.update(main=main, code=value.get("code", ""), env=value.get("env") or {})
            if FAMILY == "nodejs":
                fd, state["file"] = tempfile.mkstemp(suffix=".js")
                with os.fdopen(fd, "w") as f:
                    f.write(state["code"])
        return Reply(200, {"ok": True})
    if req.method == "POST" and req.path == "/run":
        if not state:
            return Reply(502, {"error": "The action was not initialized."})
        env = {**state["env"], "__OW_ACTIVATION_ID": str(body.get("activation_id", "")),
               "__OW_NAMESPACE": str(body.get("namespace", "")),
               "__OW_ACTION_NAME": str(body.get("action_name", ""))}
        try:
            result = (run_node if FAMILY == "nodejs" else run_python)(body.get("value") or {}, env)
        except Exception as err:  # noqa: BLE001 - the action's failure is its result
            return Reply(502, {"error": f"{type(err).__name__}: {err}"})
        if not isinstance(result, dict):
            return Reply(502, {"error": "The action did not return a dictionary."})
        return Reply(200, result)  # a result with an `error` field is an application error
    return Reply(404, {"error": "not found"})


if __name__ == "__main__":
    exit_on_signal()
    serve_http(8080, handle)
    log(f"{FAMILY} action runtime on :8080")
    threading.Event().wait()
