"""Private registry and image pipeline: planned targets, digest pinning, and what a rebuild touches."""

from __future__ import annotations

import json
import re

import pytest

import config
import planner
from planner.images import repo_path
from planner.model import Digests, Secret
from tests.conftest import ROOT, load_stack_file, parse_stack_file, run_program, unwrap

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

CONTAINER = "docker:index/container:Container"
PULL = "docker:index/remoteImage:RemoteImage"
REMOTE = "command:remote:Command"


def prod(**over):
    return parse_stack_file("prod", **over)


@pytest.mark.parametrize("ref,path", [
    ("apache/couchdb:2.3.1", "apache/couchdb:2.3.1"),
    ("zookeeper:3.5.9", "zookeeper:3.5.9"),
    ("quay.io/coreos/etcd:v3.4.0", "coreos/etcd:v3.4.0"),
    ("gcr.io/etcd-development/etcd:v3.5.33", "etcd-development/etcd:v3.5.33"),
    ("docker.elastic.co/elasticsearch/elasticsearch:6.7.2", "elasticsearch/elasticsearch:6.7.2"),
    ("localhost/x:1", "x:1"),
    ("reg.example.com:5000/a/b@sha256:" + "0" * 64, "a/b@sha256:" + "0" * 64),
])
def test_repo_path_drops_only_the_registry_host(ref, path):
    assert repo_path(ref) == path


def test_deploy_mode_plans_the_registry_and_mirrors_everything():
    p = planner.plan(prod())
    assert p.registry.address == "10.20.0.11:5000"
    assert p.registry.build_host == "core-1"
    targets = {i.key: (i.ref, i.target) for i in p.images}
    assert targets["registry"] == ("registry:2.8.3", None)  # bootstraps from upstream
    assert targets["invoker"] == ("openwhisk/invoker:1fae641",
                                  "10.20.0.11:5000/openwhisk/invoker:1fae641")
    assert targets["elasticsearch"][1] == "10.20.0.11:5000/elasticsearch/elasticsearch:6.8.23"
    assert targets["runtime-openwhisk-action-nodejs-v20"] == (
        "openwhisk/action-nodejs-v20:1.22.0", "10.20.0.11:5000/openwhisk/action-nodejs-v20:1.22.0")
    assert all(t for k, (_, t) in targets.items() if k != "registry")
    reg = next(c for c in p.containers() if c.service == "registry")
    assert (reg.key, reg.host, reg.name) == ("registry-core-1", "core-1", "ow-registry")
    assert [(x.container, x.published) for x in reg.ports] == [(5000, 5000)]
    assert [f.path for f in reg.files] == ["/auth/htpasswd", "/certs/registry.crt",
                                           "/certs/registry.key"]
    assert all(isinstance(f.content, Secret) for f in reg.files)
    assert p.services[0].name == "registry"


def test_runtime_manifest_names_every_image_by_digest_under_the_runtimes_registry():
    p = planner.plan(prod())
    inv = next(c for c in p.containers() if c.key == "invoker-1").env_dict()
    assert inv["CONFIG_whisk_containerFactory_runtimesRegistry_url"] == "10.20.0.11:5000/"
    manifest = inv["RUNTIMES_MANIFEST"]
    assert isinstance(manifest, Digests)
    assert manifest.names == (
        "digest_runtime_openwhisk_action_nodejs_v18", "digest_runtime_openwhisk_action_nodejs_v20",
        "digest_runtime_openwhisk_action_python_v3_10", "digest_runtime_openwhisk_action_python_v3_11",
        "digest_runtime_openwhisk_dockerskeleton")
    rendered = json.loads(manifest.render({n: "sha256:" + "a" * 64 for n in manifest.names}))
    node20 = next(k for k in rendered["runtimes"]["nodejs"] if k["kind"] == "nodejs:20")
    assert node20["image"] == {"prefix": "openwhisk", "name": "action-nodejs-v20",
                               "tag": "1.22.0@sha256:" + "a" * 64}
    assert rendered["blackboxes"] == [{"prefix": "openwhisk", "name": "dockerskeleton",
                                       "tag": "1.15.0@sha256:" + "a" * 64}]
    # Every JVM component reads the same manifest.
    for c in p.containers():
        if c.service in ("controller", "scheduler", "invoker"):
            assert c.env_dict()["RUNTIMES_MANIFEST"] == manifest


def test_registry_secrets_are_planned_in_dependency_order():
    names = [s.name for s in planner.plan(prod()).secrets]
    reg = [n for n in names if n.startswith("registry_")]
    assert reg == ["registry_password", "registry_htpasswd", "registry_ca_key", "registry_ca_cert",
                   "registry_tls_key", "registry_tls_cert"]
    cert = next(s for s in planner.plan(prod()).secrets if s.name == "registry_tls_cert")
    assert (cert.ca, cert.key, cert.tls.ip_addresses) == ("registry_ca_cert", "registry_tls_key",
                                                          ("10.20.0.11",))


def test_a_rotated_registry_password_relabels_the_registry_through_its_htpasswd():
    def labels(p):
        return {c.key: c.labels for c in p.containers()}
    before, after = labels(planner.plan(prod())), labels(planner.plan(prod(rotate={"registry_password": 3})))
    assert sorted(k for k in after if after[k] != before[k]) == ["registry-core-1"]


def test_external_registry_uses_its_address_and_ca():
    hosts = [h.model_dump(exclude_none=True) for h in prod().config.hosts]
    hosts[0]["roles"] = [r for r in hosts[0]["roles"] if r != "registry"]
    plain, _ = load_stack_file("prod")
    raw = {k.split(":", 1)[1]: v for k, v in plain.items() if k.startswith("openwhisk:")}
    raw |= {"hosts": hosts, "registry": {"mode": "external", "address": "reg.example.com",
                                         "ca_cert": CA_PEM}}
    st = config.parse(raw, base_dir=ROOT,
                      secret_keys=frozenset({"registry_password", "ssh_private_key"}))
    p = planner.plan(st)
    assert (p.registry.address, p.registry.build_host, p.registry.ca_cert, p.registry.deployed) == (
        "reg.example.com", "core-1", CA_PEM, False)
    assert not [s for s in p.services if s.name == "registry"]
    assert [s.name for s in p.secrets if s.name.startswith("registry")] == ["registry_password"]
    assert next(i for i in p.images if i.key == "couchdb").target == \
        "reg.example.com/apache/couchdb:3.5.2.1"


def test_builds_replace_the_mirror_of_that_image():
    p = planner.plan(prod(builds={"invoker": {"context": "tests/fixtures/invoker-build",
                                              "args": {"REV": "7"}}}))
    inv = next(i for i in p.images if i.key == "invoker")
    assert inv.target == "10.20.0.11:5000/builds/invoker:1fae641"
    assert (inv.build.context, inv.build.args, inv.build.platform) == (
        "tests/fixtures/invoker-build", (("REV", "7"),), "linux/amd64")
    assert next(i for i in p.images if i.key == "controller").build is None


# -- whole program ---------------------------------------------------------------------------------


def test_prod_stack_inventory_matches_golden(golden):
    from tests.conftest import inventory
    golden("prod.inventory.txt", inventory(run_program(*load_stack_file("prod"), stack="prod")))


def _pulls(run) -> dict[str, str]:
    """Name -> reference of every image pull: host commands and RemoteImages."""
    out = {r["name"]: r["inputs"]["triggers"][0] for r in run.mocks.of_type(REMOTE)
           if r["name"].endswith("-pull")}
    return out | {r["name"]: r["inputs"]["name"] for r in run.mocks.of_type(PULL)}


def test_prod_every_host_pulls_by_digest_from_the_registry():
    run = run_program(*load_stack_file("prod"), stack="prod")
    pulls = _pulls(run)
    # Only the registry itself comes from upstream (nothing to log in to yet); ssh hosts pull
    # with commands only.
    assert run.mocks.of_type(PULL) == []
    assert pulls["core-1-registry-pull"] == "registry:2.8.3"
    assert sorted(d.split("::")[-1] for d in run.monitor.opts(REMOTE, "core-1-registry-pull")[
        "dependencies"]) == ["core-1-command", "core-1-data-dirs", "core-1-registry-ca"]
    for name, ref in pulls.items():
        if name != "core-1-registry-pull":
            assert re.fullmatch(r"10\.20\.0\.11:5000/[a-z0-9./-]+@sha256:[0-9a-f]{64}", ref), name
            assert name.endswith("-pull"), name
    assert pulls["invoker-1-invoker-pull"].startswith("10.20.0.11:5000/openwhisk/invoker@sha256:")
    assert "invoker-2-runtime-openwhisk-action-nodejs-v20-pull" in pulls
    for r in run.mocks.of_type(CONTAINER):
        assert r["inputs"]["image"].startswith("sha256:"), r["name"]  # the pulled image ID
    inv = run.mocks.named("invoker-0", CONTAINER)["inputs"]["envs"]
    manifest = next(e for e in inv if e.startswith("RUNTIMES_MANIFEST="))  # no secret: plain
    assert re.search(r'"tag":"1\.22\.0@sha256:[0-9a-f]{64}"', manifest)
    assert "${" not in manifest


def test_prod_docker_providers_hold_no_registry_credentials():
    run = run_program(*load_stack_file("prod"), stack="prod")
    providers = run.mocks.of_type("pulumi:providers:docker")
    assert sorted(r["name"] for r in providers) == [
        "core-1-docker", "core-2-docker", "core-3-docker", "invoker-1-docker", "invoker-2-docker"]
    for r in providers:
        assert sorted(r["inputs"]) == ["host", "sshOpts"], r["name"]


def test_prod_pulls_wait_for_the_login_and_the_push_and_the_push_for_the_registry():
    run = run_program(*load_stack_file("prod"), stack="prod")
    deps = [d.split("$")[-1] for d in run.monitor.opts(REMOTE, "invoker-1-invoker-pull")["dependencies"]]
    assert sorted(deps) == ["command:remote:Command::invoker-1-action-network",
                            "command:remote:Command::invoker-1-registry-ca",
                            "command:remote:Command::invoker-1-registry-docker-login",
                            "command:remote:Command::mirror-invoker",
                            "pulumi:providers:command::invoker-1-command",
                            "pulumi:providers:command::invoker-1-registry-command"]
    mirror = run.monitor.opts(REMOTE, "mirror-controller")["dependencies"]
    assert sorted(d.split("::")[-1] for d in mirror) == [
        "core-1-command", "core-1-data-dirs", "core-1-registry-ca", "core-1-registry-command",
        "core-1-registry-docker-login", "registry-core-1"]
    script = run.mocks.named("mirror-controller", REMOTE)["inputs"]["create"]
    assert "docker push -q 10.20.0.11:5000/openwhisk/controller:1fae641 >/dev/null" in script
    assert unwrap(run.mocks.named("mirror-controller", REMOTE)["inputs"]["connection"])[0][
        "host"] == "10.20.0.11"  # the build host


def _by_urn(run):
    return {o["urn"]: r["inputs"] for r in run.mocks.resources
            for key, o in run.monitor.options.items() if key == f"{r['type']}::{r['name']}"}


def test_a_rebuilt_image_replaces_only_its_consumers():
    plain, secret = load_stack_file("prod")

    def with_rev(rev):
        cfg = dict(plain)
        cfg["openwhisk:builds"] = {"invoker": {"context": "tests/fixtures/invoker-build",
                                               "args": {"REV": rev}}}
        return _by_urn(run_program(cfg, secret, stack="prod"))
    before, after = with_rev("1"), with_rev("2")
    assert before.keys() == after.keys()
    changed = sorted(u.split("::")[-1] for u in before if before[u] != after[u])
    assert changed == ["build-invoker", "invoker-0", "invoker-1", "invoker-1-invoker-pull",
                       "invoker-2-invoker-pull"]


def test_every_host_trusts_the_registry_ca_before_pulling_and_logs_in_once_it_runs():
    p = planner.plan(prod())
    for h in p.hosts:
        ca = next(s for s in h.prep if s.name == "registry-ca")
        assert ca.script == ("set -eu\nsudo -n install -d -m 0755 /etc/docker/certs.d/10.20.0.11:5000\n"
                             "sudo -n tee /etc/docker/certs.d/10.20.0.11:5000/ca.crt >/dev/null\n")
        assert ca.stdin == Secret.of("registry_ca_cert")
        assert h.login[0].script == ("set -eu\ndocker login 10.20.0.11:5000 --username openwhisk "
                                     "--password-stdin >/dev/null\n")
        assert h.login[0].stdin == Secret.of("registry_password")
    run = run_program(*load_stack_file("prod"), stack="prod")
    login = run.monitor.opts("command:remote:Command", "core-2-registry-docker-login")
    assert sorted(d.split("::")[-1] for d in login["dependencies"]) == [
        "registry-core-1", "registry_password"]  # the running registry, and stdin's password
    stdin, secret = unwrap(run.mocks.named("core-2-registry-docker-login")["inputs"]["stdin"])
    assert secret and stdin == "pw-registry_password"
    # Containers do not wait for the logins: the registry host's own containers could not.
    registry = run.monitor.opts(CONTAINER, "registry-core-1")["dependencies"]
    assert not [d for d in registry if "login" in d]
