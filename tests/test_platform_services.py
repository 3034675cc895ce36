"""The platform after `up` under the planner: the catalog step and its image, the API gateway
and Redis, and how the edge routes to them, on Docker hosts (Kubernetes: test_kubernetes_plan)."""

from __future__ import annotations

import subprocess

import planner
from planner import catalog
from planner.images import build_push_script, build_script
from planner.model import File, Health, Mount, Port, Secret
from tests.test_planner import stack

ASSETS = catalog.ASSETS


def container(p, key):
    return next(c for c in p.containers() if c.key == key)


def test_the_catalog_step_installs_through_the_first_controller_with_the_system_key():
    p = planner.plan(stack())
    step = container(p, "catalog-dev")
    assert (step.service, step.host, step.name, step.image, step.one_shot) == (
        "catalog", "dev", "ow-catalog", "catalog", True)
    assert step.entrypoint == ("python3", "/ow-catalog/install.py")
    assert step.env_dict() == {
        "OW_API_URL": "http://172.17.0.1:10001", "OW_APIGW_URL": "http://172.17.0.1:9000/v2",
        "OW_AUTH_FILE": "/ow-catalog/system.auth",
        "OW_PACKAGES": "utils samples websocket github slack", "OW_TIMEOUT_S": "300"}
    # The installer is the project's own file; the key reaches it in a file, never the command line.
    assert step.files == (File("/ow-catalog/install.py", (ASSETS / "install.py").read_text()),
                          File("/ow-catalog/system.auth", Secret.of("system_auth")))
    assert step.depends_on == ("controller-dev", "apigateway-dev")


def test_without_a_registry_the_installer_image_is_built_on_the_host_that_runs_it():
    p = planner.plan(stack())
    image = p.image("catalog")
    tag = image.ref.split(":", 1)[1]
    assert image.ref == f"openwhisk-pulumi/catalog:{tag}" and image.target is None
    assert tag.startswith("1.0.0-") and len(tag) == len("1.0.0-") + 12
    assert [n for n, _ in image.inline.files] == ["Dockerfile", "tree_digest.py"]
    assert dict(image.inline.args) == {
        "CATALOG_DIGEST": "sha256:a4d7ab70b2343d41c793c732beada78d4707ee96ceba35054a7bdf50855eec4a",
        "CATALOG_URL": "https://github.com/apache/openwhisk-catalog/archive/"
                       "8983c3e1720b214e51527bdfda390acf02fc5baa.tar.gz",
        "CATALOG_VERSION": "1.0.0",
        "ROUTEMGMT_COMMIT": "ef725a653ab112391f79c274d8e3dcfb915d59a3",
        "ROUTEMGMT_DIGEST": "sha256:14567ab0822c28da3171d2f9f661048a5b2612d1a4b988725c3fdcbc02233c75",
        "ROUTEMGMT_URL": "https://github.com/apache/openwhisk/archive/"
                         "ef725a653ab112391f79c274d8e3dcfb915d59a3.tar.gz"}
    # The tag follows the build: another pin (or another tag's route management) is another tag.
    other = planner.plan(stack(catalog={"build_args": {"BASE": "node:20.18.2-bookworm-slim"}}))
    assert other.image("catalog").ref != image.ref
    assert dict(other.image("catalog").inline.args)["BASE"] == "node:20.18.2-bookworm-slim"
    assert planner.plan(stack(version={"tag": "4fac03a", "mode": "classic"})).image("catalog").ref \
        != image.ref


def test_the_build_scripts_write_the_context_verbatim_and_build_only_a_missing_tag(tmp_path):
    image = planner.plan(stack()).image("catalog")
    script = build_script("docker", image)
    assert script.startswith(f"set -eu\nif ! docker image inspect {image.ref} >/dev/null 2>&1; then\n")
    assert script.endswith(f"docker image inspect --format '{{{{.Id}}}}' {image.ref}\n")
    # Run with a fake docker that reports the tag missing and records the build's context: the
    # heredocs reproduce every file byte for byte (no expansion of $ or backquotes).
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\ncase "$1" in\n  image) [ "$2" = inspect ] && [ "$3" = --format ] '
                    '&& echo sha256:built && exit 0; exit 1 ;;\n  build) for a; do ctx=$a; done; '
                    f'cp -r "$ctx" {tmp_path}/context; echo "$@" > {tmp_path}/args ;;\nesac\n')
    fake.chmod(0o755)
    done = subprocess.run(["sh", "-c", build_script(str(fake), image)], capture_output=True,
                          text=True, check=True)
    assert done.stdout == "sha256:built\n"
    for name, content in image.inline.files:
        assert (tmp_path / "context" / name).read_text() == content.rstrip("\n") + "\n", name
    args = (tmp_path / "args").read_text()
    assert "--build-arg ROUTEMGMT_COMMIT=ef725a653ab112391f79c274d8e3dcfb915d59a3" in args
    assert f"-t {image.ref} " in args
    # With a registry: built on the build host, pushed, and reported by digest.
    pushed = planner.plan(stack(registry={"mode": "deploy"}, hosts=[
        {"name": "dev", "address": "172.17.0.1",
         "roles": ["couchdb", "zookeeper", "kafka", "controller", "invoker", "edge", "registry"]}]))
    image = pushed.image("catalog")
    assert image.target == f"172.17.0.1:5000/builds/catalog:{image.ref.split(':', 1)[1]}"
    script = build_push_script("docker", image)
    assert f"docker tag {image.ref} {image.target}\ndocker push -q {image.target} >/dev/null\n" in script


def test_a_prebuilt_installer_image_is_used_as_given():
    p = planner.plan(stack(catalog={"image": "registry.example.com/ow/catalog:1.0.0"}))
    assert (p.image("catalog").ref, p.image("catalog").inline, p.image("catalog").target) == (
        "registry.example.com/ow/catalog:1.0.0", None, None)


def test_an_unknown_tag_installs_the_catalog_without_route_management_and_says_so():
    p = planner.plan(stack(version={"tag": "0abc123", "actor_system": "pekko", "mode": "classic"}))
    assert container(p, "catalog-dev").env_dict()["OW_APIGW_URL"] == ""
    assert p.warnings[-1] == (
        "openwhisk:catalog.build_args: route management (package apimgmt, which `wsk api` calls) "
        "is pinned for the known tags only, and version.tag is not one (got '0abc123'), so it is "
        "not installed; set ROUTEMGMT_URL, ROUTEMGMT_DIGEST and ROUTEMGMT_COMMIT to the archive "
        "of that OpenWhisk commit and its content digest (components/assets/catalog/tree_digest.py)")


def test_the_gateway_and_redis_run_on_the_edge_host_with_a_generated_password():
    p = planner.plan(stack())
    redis, gateway = container(p, "redis-dev"), container(p, "apigateway-dev")
    assert (redis.image, redis.command, redis.ports) == (
        "redis", ("redis-server", "/usr/local/etc/redis/redis.conf"), (Port(6379, 6379, "redis"),))
    assert redis.mounts == (Mount("/data", volume="redis-dev-data"),)
    assert redis.files == (File("/usr/local/etc/redis/redis.conf", Secret(
        "bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nappendonly yes\n"
        "requirepass ${redis_password}\n")),)
    # The health check hands the password to redis-cli in its environment, not its arguments.
    assert redis.health == Health(("CMD-SHELL", "REDISCLI_AUTH=\"$(sed -n 's/^requirepass //p' "
                                   "/usr/local/etc/redis/redis.conf)\" redis-cli ping | grep -q PONG"),
                                  wait=True, start_period_s=5)
    assert [(v.key, v.name, v.owner) for v in p.service("redis").volumes] == [
        ("redis-dev-data", "ow-redis-data", (999, 999))]
    assert gateway.env_dict() == {
        "PUBLIC_MANAGEDURL_HOST": "172.17.0.1", "PUBLIC_MANAGEDURL_PORT": "443",
        "REDIS_HOST": "172.17.0.1", "REDIS_PASS": Secret.of("redis_password"), "REDIS_PORT": "6379"}
    assert gateway.ports == (Port(8080, 9001, "api"), Port(9000, 9000, "management"))
    assert gateway.depends_on == ("redis-dev",)
    assert gateway.health.test == ("CMD-SHELL", "curl -fsS http://127.0.0.1:9000/v1/apis >/dev/null")
    assert p.endpoints["apigateway"] == "http://172.17.0.1:9000"
    assert [i.ref for i in p.images if i.key in ("redis", "apigateway")] == [
        "redis:7.2.16", "openwhisk/apigateway:1.0.0"]


def test_without_the_gateway_there_is_no_redis_no_route_and_no_route_management():
    p = planner.plan(stack(apigateway={"enabled": False}))
    assert {s.name for s in p.services} & {"redis", "apigateway"} == set()
    assert "redis_password" not in {s.name for s in p.secrets}
    [(_, conf)] = container(p, "edge-dev").live_config.files
    assert "apigateway" not in conf and "location /api/" not in conf
    assert container(p, "catalog-dev").env_dict()["OW_APIGW_URL"] == ""
    assert container(p, "catalog-dev").depends_on == ("controller-dev",)


def test_without_the_catalog_there_is_no_installer():
    p = planner.plan(stack(catalog={"enabled": False}))
    assert "catalog" not in {s.name for s in p.services} | {i.key for i in p.images}
