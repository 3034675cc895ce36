"""Post-deploy check of an OpenWhisk deployment, run by the Verification component.

Invoked as `python3 components/assets/verify.py` from the project directory. Standard library
only. Every input comes from the environment:

  OW_VERIFY_API_HOST     edge URL, e.g. https://10.0.0.5 or https://ow.example.com:8443
  OW_VERIFY_AUTH         the guest key, `uuid:key`; a secret, never printed
  OW_VERIFY_CONTROLLERS  JSON list of {"url", "host", "container"}, one per controller
  OW_VERIFY_INVOKERS     JSON object: invoker name (invoker<N>) -> {"host", "container"}
  OW_VERIFY_EDGE         JSON {"host", "container"} of the nginx edge
  OW_VERIFY_INSECURE     "true" to skip verifying the edge certificate (self-signed)
  OW_VERIFY_TIMEOUT_S    time limit of the whole check, in seconds

Within that one time limit, retrying with backoff while success is still possible:
  1. every controller answers GET /ping with pong;
  2. every controller's GET /invokers reports at least one invoker `up`;
  3. through the edge, with the guest key: create or update the action openwhisk-verify-hello,
     invoke it (blocking, result only), check the greeting, and delete the action.
Exit status 0 when all pass; 1 with one line naming what is unhealthy and what to check; 2 when
the environment itself is malformed.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

ACTION = "openwhisk-verify-hello"
CODE = "function main(p){return {greeting: 'hello ' + (p.name || 'world')}}"
PARAMS = {"name": "openwhisk"}
EXPECTED = {"greeting": "hello openwhisk"}
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
REQUEST_TIMEOUT_S = 30.0
INVOKE_TIMEOUT_S = 75.0
"""A blocking invoke waits up to 60 s on the controller before it answers 202."""
TRANSIENT = {429, 502, 503, 504}
"""Statuses that may pass on their own while the deployment settles."""

T = TypeVar("T")


class Failure(Exception):
    """What is unhealthy and what to check; printed as is (after redaction)."""


class BadInput(Exception):
    """The environment is malformed: a bug in the program that planned it."""


class Unreachable(Exception):
    """No HTTP answer: connection refused, DNS, timeout, TLS."""


@dataclass(frozen=True)
class Where:
    host: str
    container: str

    def logs(self) -> str:
        return f"docker logs {self.container} on {self.host}"


@dataclass(frozen=True)
class Controller:
    url: str
    where: Where


@dataclass(frozen=True)
class Settings:
    api_host: str
    auth: str
    controllers: tuple[Controller, ...]
    invokers: dict[str, Where]
    edge: Where
    insecure: bool
    timeout_s: float

    @staticmethod
    def from_env(env: Mapping[str, str]) -> Settings:
        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise BadInput(f"{name} is not set")
            return value

        def where(name: str, value: Any) -> Where:
            if not (isinstance(value, dict) and isinstance(value.get("host"), str)
                    and isinstance(value.get("container"), str)):
                raise BadInput(f"{name}: expected {{\"host\": ..., \"container\": ...}}")
            return Where(value["host"], value["container"])

        def parse(name: str) -> Any:
            try:
                return json.loads(need(name))
            except json.JSONDecodeError as err:
                raise BadInput(f"{name} is not JSON ({err.msg})") from None

        controllers = parse("OW_VERIFY_CONTROLLERS")
        if not isinstance(controllers, list) or not controllers or not all(
                isinstance(c, dict) and isinstance(c.get("url"), str) for c in controllers):
            raise BadInput("OW_VERIFY_CONTROLLERS: expected a non-empty list of {\"url\", \"host\", "
                           "\"container\"}")
        invokers = parse("OW_VERIFY_INVOKERS")
        if not isinstance(invokers, dict):
            raise BadInput("OW_VERIFY_INVOKERS: expected an object of invoker name -> where")
        try:
            timeout = float(need("OW_VERIFY_TIMEOUT_S"))
        except ValueError:
            raise BadInput("OW_VERIFY_TIMEOUT_S is not a number") from None
        auth = need("OW_VERIFY_AUTH")
        if ":" not in auth:
            raise BadInput("OW_VERIFY_AUTH is not a uuid:key pair")
        return Settings(
            api_host=need("OW_VERIFY_API_HOST").rstrip("/"),
            auth=auth,
            controllers=tuple(Controller(c["url"].rstrip("/"), where("OW_VERIFY_CONTROLLERS", c))
                              for c in controllers),
            invokers={n: where("OW_VERIFY_INVOKERS", w) for n, w in invokers.items()},
            edge=where("OW_VERIFY_EDGE", parse("OW_VERIFY_EDGE")),
            insecure=env.get("OW_VERIFY_INSECURE", "false") == "true",
            timeout_s=timeout,
        )


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace").strip()

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except json.JSONDecodeError:
            return None

    def short(self) -> str:
        text = " ".join(self.text.split())
        return f"HTTP {self.status}" + (f" {text[:200]}" if text else "")


def _secs(value: float) -> str:
    return f"{value:g}"


class Check:
    """One run: the settings, a deadline, and the HTTP calls and waits the steps share."""

    def __init__(self, settings: Settings, out: TextIO, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.s = settings
        self.out = out
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + settings.timeout_s
        self.tls = ssl.create_default_context()
        if settings.insecure:
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE

    def say(self, line: str) -> None:
        print(f"verify: {line}", file=self.out, flush=True)

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def request(self, method: str, url: str, *, body: Any = None, auth: bool = False,
                timeout: float = REQUEST_TIMEOUT_S) -> Response:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(self.s.auth.encode()).decode()
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        # Each attempt gets at least a second, so that a nearly spent deadline still tries once.
        limit = min(timeout, max(self.remaining(), 1.0))
        try:
            with urllib.request.urlopen(req, timeout=limit, context=self.tls) as res:
                return Response(res.status, res.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read())
        except urllib.error.URLError as err:
            if isinstance(err.reason, ssl.SSLCertVerificationError):
                raise Failure(
                    f"the edge certificate of {self.s.api_host} is not trusted here "
                    f"({err.reason.verify_message}); give this machine the CA that signed "
                    f"openwhisk:edge_tls_cert, or use edge.tls: self-signed") from None
            raise Unreachable(str(err.reason)) from None
        except (OSError, ValueError) as err:  # timeouts, resets, bad status lines
            raise Unreachable(str(err) or type(err).__name__) from None

    def until(self, attempt: Callable[[], T | None]) -> T | None:
        """Call `attempt` until it returns a value or the deadline passes (then None)."""
        delay = FIRST_DELAY_S
        while True:
            result = attempt()
            if result is not None:
                return result
            left = self.remaining()
            if left <= 0:
                return None
            self.sleep(min(delay, left))
            delay = min(delay * 2, MAX_DELAY_S)

    # -- the steps ----------------------------------------------------------------------------

    def controllers_answer(self) -> None:
        for ctl in self.s.controllers:
            last = "no answer yet"

            def ping() -> bool | None:
                nonlocal last
                try:
                    res = self.request("GET", f"{ctl.url}/ping")
                except Unreachable as err:
                    last = str(err)
                    return None
                if res.status == 200 and res.text.strip('"') == "pong":
                    return True
                last = res.short()
                return None

            if not self.until(ping):
                raise Failure(
                    f"controller {ctl.url} did not answer GET /ping with pong within "
                    f"{_secs(self.s.timeout_s)} s (last: {last}); check {ctl.where.logs()}, and "
                    f"that this machine can reach {ctl.url}")
            self.say(f"controller {ctl.url} answers pong")

    def invokers_up(self) -> None:
        reports: dict[str, str] = {c.url: "no answer yet" for c in self.s.controllers}
        states: dict[str, dict[str, str]] = {}

        def poll() -> bool | None:
            for ctl in self.s.controllers:
                try:
                    res = self.request("GET", f"{ctl.url}/invokers")
                except Unreachable as err:
                    reports[ctl.url] = str(err)
                    continue
                seen = res.json()
                if res.status != 200 or not isinstance(seen, dict):
                    reports[ctl.url] = res.short()
                    continue
                states[ctl.url] = {str(k): str(v) for k, v in seen.items()}
                reports[ctl.url] = json.dumps(states[ctl.url], sort_keys=True)
            ok = all("up" in states.get(c.url, {}).values() for c in self.s.controllers)
            return True if ok else None

        if self.until(poll):
            for ctl in self.s.controllers:
                up = sorted(n for n, state in states[ctl.url].items() if state == "up")
                self.say(f"controller {ctl.url} sees invokers up: {', '.join(up)}")
            return
        ctl = next(c for c in self.s.controllers if "up" not in states.get(c.url, {}).values())
        # Point at the invokers this controller reports unhealthy, else at every planned one.
        named = [self._invoker(n) for n, st in sorted(states.get(ctl.url, {}).items()) if st != "up"]
        suspects = [w for w in named if w] or list(self.s.invokers.values())
        raise Failure(
            f"no invoker is up after {_secs(self.s.timeout_s)} s: GET {ctl.url}/invokers reports "
            f"{reports[ctl.url]}; check the invoker logs ("
            f"{', '.join(w.logs() for w in suspects)}), that the nodejs runtime images are pulled "
            f"on the invoker hosts (docker images | grep action-nodejs), and the controller logs "
            f"({ctl.where.logs()})")

    def _invoker(self, name: str) -> Where | None:
        # Newer controllers report `invoker0/<unique name>`; the planned name is the first part.
        return self.s.invokers.get(name.split("/", 1)[0])

    def hello_roundtrip(self) -> None:
        url = f"{self.s.api_host}/api/v1/namespaces/_/actions/{ACTION}"
        self._edge_call("create or update the action", "PUT", f"{url}?overwrite=true",
                        {"exec": {"kind": "nodejs:default", "code": CODE}}, ok={200})
        self.say(f"action {ACTION} created through {self.s.api_host}")
        failed = True
        try:
            self._invoke(url)
            failed = False
        finally:
            try:
                self._edge_call("delete the action", "DELETE", url, None, ok={200, 404})
            except Failure:
                if not failed:
                    raise
        self.say(f"action {ACTION} deleted")

    def _invoke(self, url: str) -> None:
        last = "no answer yet"

        def attempt() -> Response | None:
            nonlocal last
            try:
                res = self.request("POST", f"{url}?blocking=true&result=true", body=PARAMS,
                                   auth=True, timeout=INVOKE_TIMEOUT_S)
            except Unreachable as err:
                last = str(err)
                return None
            if res.status in TRANSIENT and not (res.status == 502 and _is_result(res)):
                last = res.short()
                return None
            return res

        res = self.until(attempt)
        if res is None:
            raise Failure(f"invoking {ACTION} got no answer within {_secs(self.s.timeout_s)} s "
                          f"(last: {last}); {self._invoke_hint()}")
        if res.status == 202:
            result = self._activation_result(res)
        elif res.status == 200:
            result = res.json()
        else:
            raise Failure(f"invoking {ACTION} failed: {res.short()}; {self._invoke_hint()}")
        if result != EXPECTED:
            raise Failure(f"invoking {ACTION} returned {json.dumps(result, sort_keys=True)[:200]} "
                          f"instead of {json.dumps(EXPECTED)}; {self._invoke_hint()}")
        self.say(f"action {ACTION} returned {json.dumps(result)}")

    def _activation_result(self, accepted: Response) -> Any:
        """Wait for the activation of an invoke that outlived the controller's blocking wait."""
        body = accepted.json()
        aid = body.get("activationId") if isinstance(body, dict) else None
        if not isinstance(aid, str):
            raise Failure(f"invoking {ACTION} answered {accepted.short()} without an activation "
                          f"id; check the controller logs ({self._controller_logs()})")
        url = f"{self.s.api_host}/api/v1/namespaces/_/activations/{aid}"

        def fetch() -> dict | None:
            try:
                res = self.request("GET", url, auth=True)
            except Unreachable:
                return None
            doc = res.json()
            return doc if res.status == 200 and isinstance(doc, dict) else None

        doc = self.until(fetch)
        if doc is None:
            raise Failure(f"activation {aid} of {ACTION} did not finish within "
                          f"{_secs(self.s.timeout_s)} s; {self._invoke_hint()}")
        response = doc.get("response") or {}
        if not response.get("success"):
            raise Failure(f"invoking {ACTION} failed: activation {aid} ended with "
                          f"{json.dumps(response.get('result'))[:200]}; {self._invoke_hint()}")
        return response.get("result")

    def _edge_call(self, what: str, method: str, url: str, body: Any, *, ok: set[int]) -> Response:
        last = "no answer yet"

        def attempt() -> Response | None:
            nonlocal last
            try:
                res = self.request(method, url, body=body, auth=True)
            except Unreachable as err:
                last = str(err)
                return None
            if res.status in TRANSIENT:
                last = res.short()
                return None
            return res

        res = self.until(attempt)
        if res is None:
            raise Failure(f"could not {what} {ACTION} through {self.s.api_host} within "
                          f"{_secs(self.s.timeout_s)} s (last: {last}); check the edge "
                          f"({self.s.edge.logs()}) and the controller logs "
                          f"({self._controller_logs()})")
        if res.status in (401, 403):
            raise Failure(f"the edge rejected the guest key ({res.short()}); check the output of "
                          f"the CouchDB init step (docker logs ow-couchdb-init on the couchdb "
                          f"host) and the controller logs ({self._controller_logs()})")
        if res.status not in ok:
            raise Failure(f"could not {what} {ACTION}: {res.short()}; check the controller logs "
                          f"({self._controller_logs()})")
        return res

    def _controller_logs(self) -> str:
        return ", ".join(c.where.logs() for c in self.s.controllers)

    def _invoke_hint(self) -> str:
        return (f"check that the invoker hosts have the nodejs runtime image (docker images | grep "
                f"action-nodejs) and the invoker logs "
                f"({', '.join(w.logs() for w in self.s.invokers.values())})")

    def run(self) -> None:
        self.controllers_answer()
        self.invokers_up()
        self.hello_roundtrip()
        self.say(f"OpenWhisk at {self.s.api_host} works")


def _is_result(res: Response) -> bool:
    """A 502 carrying the action's own error result (not a gateway error from nginx)."""
    body = res.json()
    return isinstance(body, dict) and "error" in body


def _redact(text: str, auth: str) -> str:
    for secret in (auth, auth.split(":", 1)[-1]):
        if len(secret) >= 8:
            text = text.replace(secret, "<guest key>")
    return text


def main(env: Mapping[str, str] = os.environ, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr, **check_kwargs: Any) -> int:
    try:
        settings = Settings.from_env(env)
    except BadInput as problem:
        print(f"verify: bad input from the Pulumi program: {problem}", file=err)
        return 2
    try:
        Check(settings, out, **check_kwargs).run()
    except Failure as failure:
        print(f"verify: FAILED: {_redact(str(failure), settings.auth)}", file=err, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
