"""Shared test harness: recording Pulumi mocks, stack-file loading and a whole-program runner."""

from __future__ import annotations

import hashlib
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
import yaml
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "openwhisk"
ORGANIZATION = "organization"  # what the CLI passes with a DIY backend


def fake_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def unwrap(value: Any) -> tuple[Any, bool]:
    """(plain value, was it a secret) of a mock-recorded input."""
    if isinstance(value, dict) and value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
        return value["value"], True
    return value, False


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registration and fabricates the computed outputs the program reads."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []
        self.stack_outputs: dict[str, Any] = {}
        """What a StackReference reads: the outputs of the stack's last deployment (none: new)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(dict(type=args.typ, name=args.name, inputs=args.inputs,
                                   provider=args.provider, custom=args.custom))
        outs = dict(args.inputs)
        t = args.typ
        if t == "docker:index/remoteImage:RemoteImage":
            outs["imageId"] = fake_digest(args.inputs["name"])
        elif t == "random:index/randomPassword:RandomPassword":
            # A new generation (rotation) yields a new value, as the real provider does.
            gen = (args.inputs.get("keepers") or {}).get("generation", "0")
            outs["result"] = f"pw-{args.name}" + ("" if gen == "0" else f"-g{gen}")
            outs["bcryptHash"] = f"BCRYPT-{args.name}"
        elif t == "random:index/randomUuid:RandomUuid":
            gen = (args.inputs.get("keepers") or {}).get("generation", "0")
            outs["result"] = f"uuid-{args.name}" + ("" if gen == "0" else f"-g{gen}")
        elif t == "tls:index/privateKey:PrivateKey":
            outs["privateKeyPem"] = f"KEY-{args.name}"
        elif t == "tls:index/selfSignedCert:SelfSignedCert":
            # A certificate follows its subject and names, as a re-issued one would.
            names = [args.inputs.get(k) for k in ("subject", "dnsNames", "ipAddresses")]
            outs["certPem"] = f"CERT-{args.name}-" + fake_digest(json.dumps(names))[7:15]
        elif t == "tls:index/certRequest:CertRequest":
            outs["certRequestPem"] = f"CSR-{args.name}"
        elif t == "tls:index/locallySignedCert:LocallySignedCert":
            outs["certPem"] = f"SIGNED-{args.name}"
        elif t.startswith("command:") and args.name.startswith(("mirror-", "build-")):
            # A mirror (or a build and push) prints the pushed digest, which follows what was
            # pushed (its triggers).
            outs["stdout"] = fake_digest("pushed:" + json.dumps(args.inputs.get("triggers")))
        elif t.startswith("command:") and args.name.endswith(("-pull", "-build")):
            # A pull (or a build on the host) prints the image ID of the reference it pulled or
            # built (its trigger).
            outs["stdout"] = fake_digest((args.inputs.get("triggers") or [args.name])[0])
        elif t == "docker:index/image:Image":
            # A build's digest follows its inputs, as a rebuilt context would.
            repo = args.inputs["imageName"].rsplit(":", 1)[0]
            outs["repoDigest"] = f"{repo}@" + fake_digest("built:" + json.dumps(args.inputs["build"], sort_keys=True))
        elif t == "pulumi:pulumi:StackReference":
            outs = {"name": args.inputs["name"], "outputs": self.stack_outputs,
                    "secretOutputNames": []}
        elif t.startswith("kubernetes:") and "name" not in (args.inputs.get("metadata") or {}):
            # Auto-naming, as the provider does it: the logical name and a random suffix.
            outs["metadata"] = {**(args.inputs.get("metadata") or {}),
                                "name": f"{args.name}-{hashlib.sha256(args.name.encode()).hexdigest()[:8]}"}
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == typ]

    def named(self, name: str, typ: str | None = None) -> dict[str, Any]:
        found = [r for r in self.resources if r["name"] == name and (typ is None or r["type"] == typ)]
        assert len(found) == 1, f"{name}: {len(found)} resources"
        return found[0]


class RecordingMonitor(MockMonitor):
    """Also records each registration's options, which MockResourceArgs does not carry."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.options: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.options[f"{request.type}::{request.name}"] = dict(
            parent=request.parent, delete_before_replace=request.deleteBeforeReplace,
            retain_on_delete=request.retainOnDelete, dependencies=list(request.dependencies),
            replace_on_changes=list(request.replaceOnChanges),
            ignore_changes=list(request.ignoreChanges), provider=request.provider,
            urn=response.urn, aliases=list(request.aliases),
            replacement_trigger=json_format.MessageToDict(request.replacement_trigger)
            if request.HasField("replacement_trigger") else None)
        return response

    def opts(self, typ: str, name: str) -> dict[str, Any]:
        return self.options[f"{typ}::{name}"]


@dataclass
class Run:
    mocks: RecordingMocks
    monitor: RecordingMonitor
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)


def effective_env(c: Any) -> dict[str, Any]:
    """A JVM container's environment as the component reads it: the `path = "value"` lines of its
    secrets file (planner.env.secrets_file, named by CONFIG_config_file) back as CONFIG_
    variables, with the document's kind (Secret) and an exact check of its first line."""
    import re

    out = c.env_dict()
    path = out.pop("CONFIG_config_file", None)
    if path is None:
        return out
    doc = next(f.content for f in c.files if f.path == path)
    first, *lines = doc.template.splitlines()
    assert first == 'include classpath("application.conf")', first
    for line in lines:
        key, value = line.split(" = ", 1)
        name = "CONFIG_" + "_".join(re.sub(r"-([a-z0-9])", lambda m: m[1].upper(), s)
                                    for s in key.split("."))
        out[name] = type(doc)(json.loads(value))
    return out


def load_stack_file(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(plain config, secret config) of Pulumi.<name>.yaml, keys as in the file, secrets as placeholders."""
    data = yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())
    plain, secret = {}, {}
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret[key] = f"placeholder-{key.split(':', 1)[1]}"
        else:
            plain[key] = value
    return plain, secret


def parse_stack_file(name: str, **overrides: Any):
    """config.parse of Pulumi.<name>.yaml's openwhisk keys (secrets supplied), with overrides."""
    import config  # noqa: PLC0415 - keeps the harness importable without the program

    plain, secret = load_stack_file(name)
    raw = {k.split(":", 1)[1]: v for k, v in plain.items() if k.startswith("openwhisk:")}
    raw.update(overrides)
    keys = frozenset(k.split(":", 1)[1] for k in secret if k.startswith("openwhisk:"))
    return config.parse(raw, base_dir=ROOT, secret_keys=keys)


def run_pulumi(fn, *, stack: str = "test", preview: bool = False) -> Run:
    """Run `fn` (which declares resources) under fresh recording mocks; wait for everything."""
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.reset_options(project=PROJECT, stack=stack, preview=preview)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.test(fn)()
    return Run(mocks, monitor)


def run_program(plain: dict[str, Any], secret: dict[str, str] | None = None, *,
                stack: str = "test", preview: bool = False,
                deployed: dict[str, Any] | None = None) -> Run:
    """Run the real __main__.py under recording mocks with the given stack config; `deployed`:
    the stack outputs of its last deployment (default: none, a new stack)."""
    secret = secret or {}
    mocks = RecordingMocks()
    mocks.stack_outputs = deployed or {}
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.reset_options(project=PROJECT, stack=stack, preview=preview,
                                          organization=ORGANIZATION)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor,
                             organization=ORGANIZATION)
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in {**plain, **secret}.items()}
    pulumi.runtime.set_all_config(values, secret_keys=list(secret))
    run = Run(mocks, monitor)

    @pulumi.runtime.test
    def _run():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        outputs = pulumi.runtime.get_root_resource().outputs

        def record(values: dict[str, Any]) -> None:
            run.exports.update(values)

        async def secrets() -> None:
            for key, value in outputs.items():
                if isinstance(value, pulumi.Output) and await value.is_secret():
                    run.secret_exports.add(key)

        pulumi.Output.from_input(secrets()).apply(lambda _: None)
        return pulumi.Output.from_input(outputs).apply(record)

    try:
        _run()
    finally:
        pulumi.runtime.set_all_config({})
    return run


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current program instead of comparing")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with <under>/<name> (default tests/golden), or rewrite it under --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str, *, under: str = "tests/golden") -> None:
        path = ROOT / under / name
        if update:
            path.write_text(text)
        assert path.exists(), f"{path} missing; run pytest --update-golden and review the diff"
        assert text == path.read_text(), f"{name} changed; review, then run pytest --update-golden"
    return check


def inventory(run: "Run") -> str:
    """One line per resource: its URN without the stack and project, sorted."""
    urns = sorted(o["urn"].split("::", 2)[2] for o in run.monitor.options.values())
    return "\n".join(urns) + "\n"


@pytest.fixture
def dev_stack() -> tuple[dict[str, Any], dict[str, str]]:
    return load_stack_file("dev")


def plan_problems(plan: Any) -> list[str]:
    """Rules every plan keeps, whatever its config; one line per broken rule."""
    from planner.model import Secret  # noqa: PLC0415

    out = []
    for c in plan.containers():
        for key, value in c.env:
            text = value.template if isinstance(value, Secret) else value
            # transformEnvironment.sh wraps each CONFIG_ value in single quotes on the JVM command line.
            if key.startswith("CONFIG_") and "'" in text:
                out.append(f"{c.key}: {key} contains a single quote")
            # The Kafka image writes KAFKA_* raw into server.properties, where a backslash escapes.
            if c.image == "kafka" and key.startswith("KAFKA_") and ("\\" in text or "\n" in text):
                out.append(f"{c.key}: {key} contains a backslash or a newline")
    return out


@pytest.fixture(autouse=True)
def every_plan_keeps_the_invariants(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check `plan_problems` on every plan any test builds, the whole-program runs included."""
    import planner  # noqa: PLC0415

    original = planner.plan

    def checked(stack: Any) -> Any:
        plan = original(stack)
        assert plan_problems(plan) == []
        return plan
    monkeypatch.setattr(planner, "plan", checked)
