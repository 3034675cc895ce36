"""components/assets/catalog: install.py against the fake controller, tree_digest.py, the pins and
the Dockerfile's fetch-verify step. Offline; the tests that read the upstream git mirrors skip
when a mirror is absent."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fake_openwhisk import FakeOpenWhisk

ASSETS = ROOT / "components" / "assets" / "catalog"
INSTALL = ASSETS / "install.py"
PINS = json.loads((ASSETS / "pins.json").read_text())
CATALOG_MIRROR = Path("/work/.mirror/apache+openwhisk-catalog/repo")
OPENWHISK_MIRROR = Path("/work/.mirror/apache+openwhisk/repo")
NEEDS_CATALOG = pytest.mark.skipif(not CATALOG_MIRROR.is_dir(),
                                   reason=f"no openwhisk-catalog git mirror at {CATALOG_MIRROR}")
NEEDS_OPENWHISK = pytest.mark.skipif(not OPENWHISK_MIRROR.is_dir(),
                                     reason=f"no apache/openwhisk git mirror at {OPENWHISK_MIRROR}")

AUTH = "789c46b1-71f6-4ed5-8c54-816aa4f8c502:whiskSystemS3cretKey0123456789abcdef"
GW_PASSWORD = "gwPassw0rdNeverPrinted"
GW_URL = "http://10.0.0.7:9000/v2"
NODE_PY = {"nodejs": [{"kind": "nodejs:20", "default": True}],
           "python": [{"kind": "python:3", "default": True}]}
P = "/api/v1/namespaces/_/packages/"
A = "/api/v1/namespaces/_/actions/"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


install = _load("catalog_install_script", INSTALL)
tree_digest = _load("catalog_tree_digest", ASSETS / "tree_digest.py")


# ---------------------------------------------------------------- a small catalog


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


UTILS_MANIFEST = """\
project:
    name: WhiskSystem
    packages:
        utils:
            version: 0.0.1
            public: true
            annotations:
                description: "Tiny utilities"
                parameters: [{"name": "greeting", "required": false}]
            inputs:
                greeting: hello
                place: {type: string, default: world}
            actions:
                echo:
                    function: echo.js
                    annotations:
                        description: "Returns its input"
                shout:
                    function: py/shout.py
                    main: shout
                    inputs:
                        times: 2
                mirror:
                    function: swift/mirror.swift
                    annotations:
                        description: "Swift, skipped without a swift runtime"
"""

WEBSOCKET_MANIFEST = """\
project:
    packages:
        websocket:
            public: true
            annotations:
                description: "Talks to websockets"
            actions:
                send:
                    function: send.zip
                    runtime: nodejs:default
                    annotations:
                        description: "Send a message"
"""


def make_catalog(root: Path) -> Path:
    cat = root / "catalog"
    write(cat / "utils" / "manifest.yaml", UTILS_MANIFEST)
    write(cat / "utils" / "echo.js", "function main(p) { return p }\n")
    write(cat / "utils" / "py" / "shout.py", "def shout(p):\n    return {'s': 'HI'}\n")
    write(cat / "utils" / "swift" / "mirror.swift",
          "func main(args: [String:Any]) -> [String:Any] { args }\n")
    ws = cat / "websocket"
    write(ws / "manifest.yaml", WEBSOCKET_MANIFEST)
    write(ws / "package.json", '{"main": "send.js", "dependencies": {"ws": "7.2.1"}}\n')
    write(ws / "send.js", "exports.main = p => p\n")
    write(ws / ".gitignore", "send.zip\n")
    write(ws / ".cache" / "state.json", "{}\n")
    write(ws / "node_modules" / "ws" / "index.js", "module.exports = {}\n")
    write(ws / "node_modules" / "ws" / ".npmignore", "test\n")
    (ws / "node_modules" / ".bin").mkdir()
    os.symlink("../ws/index.js", ws / "node_modules" / ".bin" / "wscat")
    return cat


def make_routemgmt(root: Path, copy_common: bool = False) -> Path:
    rm = root / "routemgmt"
    write(rm / "common" / "utils.js", "exports.u = 1\n")
    write(rm / "common" / "apigw-utils.js", "exports.g = 1\n")
    write(rm / "common" / "README.txt", "not a .js file\n")
    for action in ("createApi", "deleteApi", "getApi"):
        write(rm / action / f"{action}.js", f"exports.main = p => ({{action: '{action}'}})\n")
        write(rm / action / "package.json", f'{{"main": "{action}.js"}}\n')
        write(rm / action / "node_modules" / "lodash" / "index.js", "module.exports = {}\n")
        if copy_common:
            for f in ("utils.js", "apigw-utils.js"):
                shutil.copy(rm / "common" / f, rm / action / f)
    return rm


@pytest.fixture
def ow():
    with FakeOpenWhisk(AUTH) as fake:
        fake.runtimes = NODE_PY
        yield fake


@pytest.fixture
def tree(tmp_path):
    make_catalog(tmp_path)
    make_routemgmt(tmp_path)
    write(tmp_path / "auth", AUTH + "\n")
    write(tmp_path / "gwpwd", GW_PASSWORD + "\n")
    return tmp_path


def env(tmp: Path, url: str, **over: str) -> dict[str, str]:
    return {
        "OW_API_URL": url,
        "OW_AUTH_FILE": str(tmp / "auth"),
        "OW_CATALOG_DIR": str(tmp / "catalog"),
        "OW_PACKAGES": "utils websocket",
        "OW_ROUTEMGMT_DIR": str(tmp / "routemgmt"),
        "OW_APIGW_URL": GW_URL,
        "OW_APIGW_USER": "gwuser",
        "OW_APIGW_PASSWORD_FILE": str(tmp / "gwpwd"),
        "OW_TIMEOUT_S": "5",
    } | over


def run(environ: dict[str, str]) -> tuple[int, list[str], str]:
    proc = subprocess.run([sys.executable, str(INSTALL)], env=environ, capture_output=True,
                          text=True, timeout=30, check=False)
    for secret in (AUTH, AUTH.split(":")[1], GW_PASSWORD):
        assert secret not in proc.stdout and secret not in proc.stderr
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


FIRST_PUTS = [
    P + "utils", A + "utils/echo", A + "utils/shout",
    P + "websocket", A + "websocket/send",
    P + "apimgmt", A + "apimgmt/getApi", A + "apimgmt/createApi", A + "apimgmt/deleteApi",
]
ENTITIES = ["package utils", "package utils action echo", "package utils action shout",
            "SKIP", "package websocket", "package websocket action send", "package apimgmt",
            "package apimgmt action getApi", "package apimgmt action createApi",
            "package apimgmt action deleteApi"]
SKIP_LINE = ("catalog install: skipped utils/mirror: kind swift:default is not in this "
             "deployment's runtime manifest")
PACKAGES = "(utils, websocket, apimgmt)"


def expected_lines(state: str) -> list[str]:
    return [SKIP_LINE if e == "SKIP" else f"catalog install: {e} {state}" for e in ENTITIES]


def zip_names(action: dict) -> list[str]:
    assert action["exec"]["binary"] is True
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(action["exec"]["code"]))) as zf:
        return zf.namelist()


def annotations(entity: dict) -> dict:
    return {a["key"]: a["value"] for a in entity["annotations"]}


def strip_digest(entity: dict) -> dict:
    body = {k: v for k, v in entity.items() if k not in ("name", "namespace")}
    body["annotations"] = [a for a in body["annotations"] if a["key"] != install.DIGEST_KEY]
    return body


# ---------------------------------------------------------------- install.py


def test_first_run_puts_packages_and_actions_in_order(ow, tree):
    code, out, err = run(env(tree, ow.url))
    assert (code, err) == (0, "")
    assert out == expected_lines("created or updated") + [
        f"catalog install: 9 created or updated, 0 unchanged, 1 skipped {PACKAGES}"]
    assert ow.puts() == FIRST_PUTS
    assert ow.requests[:3] == [("GET", "/ping"), ("GET", "/api/v1/namespaces/_/packages"),
                               ("GET", "/")]

    utils = ow.packages["utils"]
    assert strip_digest(utils) == {
        "publish": True,
        "annotations": [{"key": "description", "value": "Tiny utilities"},
                        {"key": "parameters", "value": [{"name": "greeting", "required": False}]}],
        "parameters": [{"key": "greeting", "value": "hello"}, {"key": "place", "value": "world"}]}
    digest = "sha256:" + hashlib.sha256(json.dumps(
        strip_digest(utils), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert annotations(utils)[install.DIGEST_KEY] == digest
    assert strip_digest(ow.actions["utils/echo"]) == {
        "exec": {"kind": "nodejs:default", "code": "function main(p) { return p }\n"},
        "annotations": [{"key": "description", "value": "Returns its input"}], "parameters": []}
    assert strip_digest(ow.actions["utils/shout"]) == {
        "exec": {"kind": "python:default", "main": "shout",
                 "code": "def shout(p):\n    return {'s': 'HI'}\n"},
        "annotations": [], "parameters": [{"key": "times", "value": 2}]}
    assert "utils/mirror" not in ow.actions

    send = ow.actions["websocket/send"]
    assert send["exec"]["kind"] == "nodejs:default"
    # like `zip -r send.zip *`: no top-level dotfiles; node_modules/.bin links left out
    assert zip_names(send) == ["manifest.yaml", "node_modules/ws/.npmignore",
                               "node_modules/ws/index.js", "package.json", "send.js"]

    apimgmt = ow.packages["apimgmt"]
    assert apimgmt["publish"] is False
    assert apimgmt["parameters"] == [{"key": "gwUser", "value": "gwuser"},
                                     {"key": "gwPwd", "value": GW_PASSWORD},
                                     {"key": "gwUrlV2", "value": GW_URL}]
    for action in ("getApi", "createApi", "deleteApi"):
        body = ow.actions[f"apimgmt/{action}"]
        assert body["exec"]["kind"] == "nodejs:default"
        assert {k: v for k, v in annotations(body).items()
                if k in ("web-export", "final")} == {"web-export": True, "final": True}
        assert annotations(body)["description"]
        assert zip_names(body) == sorted([f"{action}.js", "apigw-utils.js", "package.json",
                                          "node_modules/lodash/index.js", "utils.js"])


def test_second_run_sends_no_put(ow, tree):
    assert run(env(tree, ow.url))[0] == 0
    first = len(ow.requests)
    code, out, err = run(env(tree, ow.url))
    assert (code, err) == (0, "")
    assert out == expected_lines("unchanged") + [
        f"catalog install: 0 created or updated, 9 unchanged, 1 skipped {PACKAGES}"]
    assert [r for r in ow.requests[first:] if r[0] != "GET"] == []


def test_a_changed_action_file_puts_that_action_only(ow, tree):
    assert run(env(tree, ow.url))[0] == 0
    first = len(ow.requests)
    write(tree / "catalog" / "utils" / "echo.js", "function main(p) { return {echo: p} }\n")
    code, out, _ = run(env(tree, ow.url))
    assert code == 0
    assert [path for method, path in ow.requests[first:] if method == "PUT"] == [A + "utils/echo"]
    assert "catalog install: package utils action echo created or updated" in out
    assert out[-1] == f"catalog install: 1 created or updated, 8 unchanged, 1 skipped {PACKAGES}"
    assert ow.actions["utils/echo"]["exec"]["code"] == "function main(p) { return {echo: p} }\n"


def test_a_changed_gateway_url_puts_the_apimgmt_package_only(ow, tree):
    assert run(env(tree, ow.url))[0] == 0
    first = len(ow.requests)
    assert run(env(tree, ow.url, OW_APIGW_URL="http://10.0.0.8:9000/v2"))[0] == 0
    assert [p for m, p in ow.requests[first:] if m == "PUT"] == [P + "apimgmt"]
    assert ow.packages["apimgmt"]["parameters"][2] == {"key": "gwUrlV2",
                                                       "value": "http://10.0.0.8:9000/v2"}


def test_an_action_answered_400_fails_with_one_line(ow, tree):
    ow.fail_next("PUT", A + "websocket/send", 400,
                 {"error": "The request content was malformed: exec kind", "code": "c0ffee"})
    code, out, err = run(env(tree, ow.url))
    assert code == 1
    assert err == ("catalog install: FAILED: package websocket action send: controller "
                   "answered HTTP 400: The request content was malformed: exec kind\n")
    assert ow.puts() == FIRST_PUTS[:5]  # no retry of a 4xx, nothing after the failure
    assert out[-1] == "catalog install: package websocket created or updated"


def test_an_error_echoing_the_key_is_redacted(ow, tree):
    ow.fail_next("PUT", P + "utils", 403, {"error": f"key {AUTH} may not write"})
    code, _, err = run(env(tree, ow.url))  # run() asserts the key is not in the output
    assert code == 1
    assert err == ("catalog install: FAILED: package utils: controller answered HTTP 403: "
                   "key *** may not write\n")


def test_transient_answers_are_retried(ow, tree):
    ow.fail_next("PUT", A + "utils/echo", 503, {"error": "busy"})
    ow.fail_next("GET", "/ping", 502, "bad gateway")
    code, _, err = run(env(tree, ow.url))
    assert (code, err) == (0, "")
    assert ow.puts().count(A + "utils/echo") == 2
    assert [r for r in ow.requests if r[1] == "/ping"] == [("GET", "/ping")] * 2
    assert ow.actions["utils/echo"]["exec"]["kind"] == "nodejs:default"


def test_an_unreachable_controller_fails_after_the_timeout(tree):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run(env(tree, f"http://127.0.0.1:{port}", OW_TIMEOUT_S="0.3"))
    assert (code, out) == (1, [])
    assert err.startswith("catalog install: FAILED: cannot connect: ")
    assert err.endswith("(gave up after 0.3 s)\n") and err.count("\n") == 1


def test_a_wrong_key_fails_at_once(ow, tree):
    write(tree / "auth", "789c46b1-71f6-4ed5-8c54-816aa4f8c502:wrongKeyValue\n")
    code, _, err = run(env(tree, ow.url))
    assert code == 1
    assert err == (f"catalog install: FAILED: controller {ow.url} refused the whisk.system key "
                   "on GET /api/v1/namespaces/_/packages: HTTP 401: The supplied authentication "
                   "is invalid.\n")
    assert ow.puts() == []
    assert "wrongKeyValue" not in err


def test_no_gateway_url_no_apimgmt(ow, tree):
    code, out, _ = run(env(tree, ow.url, OW_APIGW_URL="", OW_PACKAGES="utils"))
    assert code == 0
    assert not [r for r in ow.requests if "apimgmt" in r[1]]
    assert ow.puts() == FIRST_PUTS[:3]
    assert out[-1] == "catalog install: 3 created or updated, 0 unchanged, 1 skipped (utils)"


def test_nothing_to_install(ow, tree):
    code, out, _ = run(env(tree, ow.url, OW_APIGW_URL="", OW_PACKAGES=""))
    assert (code, ow.puts()) == (0, [])
    assert out == ["catalog install: 0 created or updated, 0 unchanged, 0 skipped (no packages)"]


def test_only_deployed_runtimes_are_used(ow, tree):
    ow.runtimes = {"python": [{"kind": "python:3", "default": True}]}
    code, out, _ = run(env(tree, ow.url))
    assert code == 0
    assert ow.puts() == [P + "utils", A + "utils/shout", P + "websocket", P + "apimgmt"]
    assert [line for line in out if line.startswith("catalog install: skipped ")] == [
        f"catalog install: skipped {a}: kind {k} is not in this deployment's runtime manifest"
        for a, k in [("utils/echo", "nodejs:default"), ("utils/mirror", "swift:default"),
                     ("websocket/send", "nodejs:default"), ("apimgmt/getApi", "nodejs:default"),
                     ("apimgmt/createApi", "nodejs:default"),
                     ("apimgmt/deleteApi", "nodejs:default")]]
    assert out[-1] == f"catalog install: 4 created or updated, 0 unchanged, 6 skipped {PACKAGES}"


def test_unsupported_manifest_keys_are_refused(ow, tree):
    manifest = tree / "catalog" / "utils" / "manifest.yaml"
    manifest.write_text(UTILS_MANIFEST.replace("            actions:\n",
                                               "            sequences: {}\n            actions:\n"))
    code, _, err = run(env(tree, ow.url))
    assert code == 1
    assert err == ("catalog install: FAILED: package utils: manifest key(s) sequences are not "
                   "supported\n")
    assert ow.puts() == []


def test_built_zips_are_deterministic(tmp_path):
    cat = make_catalog(tmp_path / "a")
    first = install.zip_dir(str(cat / "websocket"), "send.zip")
    for path in (cat / "websocket").rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (1_700_000_000, 1_700_000_000))
            path.chmod(0o600)
    assert install.zip_dir(str(cat / "websocket"), "send.zip") == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        infos = zf.infolist()
    assert {(i.date_time, i.external_attr >> 16, i.compress_type) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), 0o100644, zipfile.ZIP_DEFLATED)}
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    write(cat / "websocket" / "send.js", "exports.main = p => ({})\n")
    assert install.zip_dir(str(cat / "websocket"), "send.zip") != first

    # the image copies common/*.js into each action directory; the zip is the same either way
    plain, copied = make_routemgmt(tmp_path / "b"), make_routemgmt(tmp_path / "c", True)
    common = {"utils.js": str(plain / "common" / "utils.js"),
              "apigw-utils.js": str(plain / "common" / "apigw-utils.js")}
    assert install.zip_dir(str(plain / "getApi"), "getApi.zip", common) == \
        install.zip_dir(str(copied / "getApi"), "getApi.zip", common)


def test_same_trees_send_the_same_bytes(tree):
    bodies = []
    for _ in range(2):
        with FakeOpenWhisk(AUTH) as fake:
            fake.runtimes = NODE_PY
            assert run(env(tree, fake.url))[0] == 0
            bodies.append((fake.packages, fake.actions))
    assert bodies[0] == bodies[1]


def test_a_symlink_outside_node_modules_bin_is_refused(ow, tree):
    os.symlink("send.js", tree / "catalog" / "websocket" / "alias.js")
    code, _, err = run(env(tree, ow.url))
    assert code == 1
    assert err.startswith("catalog install: FAILED: package websocket action send: ")
    assert err.endswith("alias.js is a symbolic link; only node_modules/.bin links are left out "
                        "of a zip\n")


# ---------------------------------------------------------------- the real catalog 1.0.0


def git_extract(mirror: Path, commit: str, tree: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(mirror), "archive", commit, tree],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        tf.extractall(dest, filter="data")
    return dest


@NEEDS_CATALOG
def test_the_real_catalog_on_nodejs_and_python(ow, tmp_path):
    git_extract(CATALOG_MIRROR, PINS["catalog"]["commit"], "packages", tmp_path)
    write(tmp_path / "auth", AUTH)
    code, out, err = run(env(tmp_path, ow.url, OW_CATALOG_DIR=str(tmp_path / "packages"),
                             OW_PACKAGES="utils samples websocket github slack", OW_APIGW_URL=""))
    assert (code, err) == (0, "")
    utils = ["echo", "cat", "smash", "split", "sort", "head", "date", "namespace", "hosturl"]
    samples = ["countdown", "curl", "greeting", "helloWorld", "helloPromises", "printParams",
               "wordCount", "wordCountAsync"]
    assert ow.puts() == ([P + "utils"] + [A + "utils/" + a for a in utils]
                         + [P + "samples"] + [A + "samples/" + a for a in samples]
                         + [P + "websocket", A + "websocket/send", P + "github",
                            A + "github/webhook", P + "slack", A + "slack/post"])
    assert [line for line in out if line.startswith("catalog install: skipped ")] == [
        f"catalog install: skipped samples/{a}: kind swift:default is not in this deployment's "
        f"runtime manifest" for a in ("cat", "head", "invoke")]
    assert out[-1] == ("catalog install: 25 created or updated, 0 unchanged, 3 skipped "
                       "(utils, samples, websocket, github, slack)")
    assert all(p["publish"] is True for p in ow.packages.values())
    assert annotations(ow.packages["slack"])["parameters"][0]["name"] == "username"
    assert annotations(ow.actions["github/webhook"])["feed"] is True
    assert zip_names(ow.actions["websocket/send"]) == [
        "README.md", "build.sh", "manifest.yaml", "package.json", "sendWebSocketMessageAction.js"]


# ---------------------------------------------------------------- tree_digest.py and the pins


def test_tree_digest_is_the_documented_listing(tmp_path):
    write(tmp_path / "t" / "b.txt", "b\n")
    write(tmp_path / "t" / "a" / "z.js", "z\n")
    write(tmp_path / "t" / "a.js", "a\n")
    (tmp_path / "t" / "empty").mkdir()
    files = ["a.js", "a/z.js", "b.txt"]  # byte order: '.' < '/'
    listing = b"".join(f.encode() + b"\0" + hashlib.sha256((tmp_path / "t" / f).read_bytes())
                       .hexdigest().encode() + b"\n" for f in files)
    want = "sha256:" + hashlib.sha256(listing).hexdigest()
    assert tree_digest.tree_digest(str(tmp_path), "t") == want
    proc = subprocess.run([sys.executable, str(ASSETS / "tree_digest.py"), str(tmp_path / "t")],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == want + "\n"


@pytest.mark.parametrize("change", ["changed", "added", "removed", "renamed", "symlink"])
def test_tree_digest_notices_any_change(tmp_path, change):
    root = tmp_path / "t"
    write(root / "x" / "a.js", "a\n")
    write(root / "b.js", "b\n")
    before = tree_digest.tree_digest(str(root))
    if change == "changed":
        write(root / "x" / "a.js", "A\n")
    elif change == "added":
        write(root / "x" / "c.js", "")
    elif change == "removed":
        (root / "b.js").unlink()
    elif change == "renamed":
        (root / "b.js").rename(root / "c.js")
    else:
        os.symlink("b.js", root / "link.js")
        with pytest.raises(tree_digest.TreeError, match="link.js is a symbolic link"):
            tree_digest.tree_digest(str(root))
        return
    assert tree_digest.tree_digest(str(root)) != before


@NEEDS_CATALOG
def test_catalog_pin_matches_the_mirror(tmp_path):
    pin = PINS["catalog"]
    commit = subprocess.run(["git", "-C", str(CATALOG_MIRROR), "rev-parse",
                             f"{pin['version']}^{{commit}}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    assert pin["commit"] == commit
    assert pin["url"] == f"https://github.com/apache/openwhisk-catalog/archive/{commit}.tar.gz"
    git_extract(CATALOG_MIRROR, commit, pin["tree"], tmp_path)
    assert tree_digest.tree_digest(str(tmp_path), pin["tree"]) == pin["digest"]


@NEEDS_OPENWHISK
@pytest.mark.parametrize("tag", ["ef725a6", "4fac03a", "7538ced", "1fae641"])
def test_routemgmt_pins_match_the_mirror(tmp_path, tag):
    assert_openwhisk_pin(PINS["routemgmt"][tag], tag, tmp_path)


def assert_openwhisk_pin(pin: dict, tag: str, tmp_path: Path) -> None:
    """A pin of an apache/openwhisk tree names the tag's commit, its archive, and the content
    digest of that tree in the mirror."""
    commit = subprocess.run(["git", "-C", str(OPENWHISK_MIRROR), "rev-parse", f"{tag}^{{commit}}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    assert pin["commit"] == commit
    assert pin["url"] == f"https://github.com/apache/openwhisk/archive/{commit}.tar.gz"
    git_extract(OPENWHISK_MIRROR, commit, pin["tree"], tmp_path)
    assert tree_digest.tree_digest(str(tmp_path), pin["tree"]) == pin["digest"]


def test_pins_cover_the_known_tags_and_the_dockerfile_defaults_are_pins():
    assert sorted(PINS["routemgmt"]) == sorted(["ef725a6", "4fac03a", "7538ced", "1fae641"])
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", (ASSETS / "Dockerfile").read_text(), re.MULTILINE))
    newest = PINS["routemgmt"]["1fae641"]
    assert args == {
        "BASE": "node:20.18.1-bookworm-slim",
        "CATALOG_VERSION": PINS["catalog"]["version"], "CATALOG_URL": PINS["catalog"]["url"],
        "CATALOG_DIGEST": PINS["catalog"]["digest"], "ROUTEMGMT_COMMIT": newest["commit"],
        "ROUTEMGMT_URL": newest["url"], "ROUTEMGMT_DIGEST": newest["digest"]}


# ---------------------------------------------------------------- the Dockerfile's fetch-verify


def fetch_verify_script() -> str:
    text = (ASSETS / "Dockerfile").read_text()
    block = text.split("# BEGIN fetch-verify\n")[1].split("# END fetch-verify\n")[0]
    assert block.startswith("RUN ")
    return block[len("RUN "):]


def github_archive(mirror: Path, commit: str, tree: str, name: str, out: Path) -> Path:
    """A .tar.gz laid out like GitHub's (one top directory), of one tree."""
    subprocess.run(["git", "-C", str(mirror), "archive", "--format=tar.gz",
                    f"--prefix={name}-{commit}/", "-o", str(out), commit, tree], check=True)
    return out


@pytest.fixture
def archives(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def run_fetch_verify(tmp: Path, environ: dict[str, str]) -> subprocess.CompletedProcess:
    work = tmp / "root"
    (work / "ow-catalog").mkdir(parents=True)
    shutil.copy(ASSETS / "tree_digest.py", work / "ow-catalog")
    bindir = tmp / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    return subprocess.run(["sh", "-c", fetch_verify_script()], cwd=work, capture_output=True,
                          text=True, timeout=30, check=False,
                          env={"PATH": f"{bindir}:{os.environ['PATH']}"} | environ)


@NEEDS_CATALOG
@NEEDS_OPENWHISK
@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_fetch_verify_accepts_pinned_archives_and_refuses_a_tampered_one(tmp_path, archives):
    served, base = archives
    cat, rm = PINS["catalog"], PINS["routemgmt"]["1fae641"]
    github_archive(CATALOG_MIRROR, cat["commit"], "packages", "openwhisk-catalog",
                   served / "catalog.tar.gz")
    github_archive(OPENWHISK_MIRROR, rm["commit"], "core/routemgmt", "openwhisk",
                   served / "openwhisk.tar.gz")
    pins = {"CATALOG_URL": f"{base}/catalog.tar.gz", "CATALOG_DIGEST": cat["digest"],
            "ROUTEMGMT_URL": f"{base}/openwhisk.tar.gz", "ROUTEMGMT_DIGEST": rm["digest"]}

    ok = run_fetch_verify(tmp_path / "ok", pins)
    assert (ok.returncode, ok.stderr) == (0, "")
    root = tmp_path / "ok" / "root"
    assert tree_digest.tree_digest(str(root / "catalog" / "packages")) == cat["digest"]
    assert tree_digest.tree_digest(str(root / "routemgmt")) == rm["digest"]
    assert (root / "catalog" / "packages" / "websocket" / "manifest.yaml").is_file()

    # the same archive with one byte of one file changed
    with tarfile.open(served / "openwhisk.tar.gz") as src, \
            tarfile.open(served / "tampered.tar.gz", "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("core/routemgmt/common/utils.js"):
                data = data.replace(b"gwUrl", b"gwUrL", 1)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    bad = run_fetch_verify(tmp_path / "bad", pins | {"ROUTEMGMT_URL": f"{base}/tampered.tar.gz"})
    assert bad.returncode == 1
    got = bad.stderr.rsplit("got ", 1)[1].strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", got) and got != rm["digest"]
    assert bad.stderr == (f"fetch-verify: {base}/tampered.tar.gz: content of core/routemgmt does "
                          f"not match its pin: expected {rm['digest']}, got {got}\n")
    assert not (tmp_path / "bad" / "root" / "routemgmt").exists()

    missing = run_fetch_verify(tmp_path / "missing", pins | {"CATALOG_URL": f"{base}/nope.tar.gz"})
    assert missing.returncode == 1
    assert missing.stderr.endswith(f"fetch-verify: cannot download {base}/nope.tar.gz\n")
