"""Component tests: each component under a recording mock, with a hand-written plan slice."""

from __future__ import annotations

import json

import pulumi
from dataclasses import replace

import pytest

from components import (
    DockerHost, DockerHostArgs, DockerService, DockerServiceArgs, Secrets, SecretsArgs,
)
from components._values import go_duration
from components.image_pipeline import ImagePipeline, ImagePipelineArgs
from planner.images import mirror_script, pull_script
from planner.model import (
    BuildPlan, Container, File, Health, HostPlan, ImagePlan, Mount, Port, Secret, SecretSpec, Service,
    SshTarget, TlsPlan, VolumePlan,
)
from tests.conftest import fake_digest, run_pulumi, unwrap

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
HOST = HostPlan("h1", "10.0.0.5", "ssh://deploy@10.0.0.5")
IMAGES = {"kafka": "wurstmeister/kafka:2.13-2.7.0", "runtime-x": "openwhisk/action-x:1.0.0"}


def test_docker_host_declares_its_provider_without_registry_credentials():
    ssh_host = replace(HOST, ssh_opts=("-o", "BatchMode=yes"))
    run = run_pulumi(lambda: DockerHost("h1", DockerHostArgs(host=ssh_host)))
    provider = run.mocks.named("h1-docker", "pulumi:providers:docker")["inputs"]
    # Nothing in it depends on a generated secret, so a preview never sees it unknown.
    assert provider == {"host": "ssh://deploy@10.0.0.5", "sshOpts": '["-o", "BatchMode=yes"]'}
    assert run.monitor.opts("pulumi:providers:docker", "h1-docker")["parent"].endswith(
        "openwhisk:components:DockerHost::h1")


KAFKA = Service("kafka", (
    Container(key="kafka-h1", service="kafka", host="h1", name="ow-kafka", image="kafka",
              env=(("A", "1"), ("SECRET_PASSWORD", Secret("pw=${p}"))),
              ports=(Port(9092, 19092, "kafka"),), mounts=(
                  Mount("/kafka", volume="kafka-h1-data"),
                  Mount("/var/run/docker.sock", host_path="/var/run/docker.sock", read_only=True)),
              files=(File("/etc/x.conf", "plain"), File("/etc/key.pem", Secret.of("p"))),
              health=Health(("CMD", "true"), wait=True, start_period_s=7)),
    Container(key="kafka-init-h1", service="kafka", host="h1", name="ow-kafka-init", image="kafka",
              entrypoint=("/bin/sh", "/init.sh"), one_shot=True, depends_on=("kafka-h1",)),
), (VolumePlan("kafka-h1-data", "h1", "ow-kafka-data"),))


def _service(preview=False):
    secrets = {"p": pulumi.Output.secret("s3cret")}

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=HOST))
        DockerService("kafka", DockerServiceArgs(service=KAFKA, hosts={"h1": host}, images=IMAGES,
                                                 secrets=secrets, after={}))
    return run_pulumi(declare, preview=preview)


def test_docker_service_pulls_each_image_once_per_host_and_prepulls():
    svc = Service(KAFKA.name, KAFKA.containers, KAFKA.volumes, prepull=("runtime-x",))

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=HOST))
        DockerService("kafka", DockerServiceArgs(service=svc, hosts={"h1": host}, images=IMAGES,
                                                 secrets={"p": pulumi.Output.secret("x")}, after={}))
    run = run_pulumi(declare)
    pulled = {r["name"]: r["inputs"] for r in run.mocks.of_type(IMAGE)}
    assert pulled == {
        "h1-kafka": {"name": "wurstmeister/kafka:2.13-2.7.0", "keepLocally": True},
        "h1-runtime-x": {"name": "openwhisk/action-x:1.0.0", "keepLocally": True},
    }
    assert run.monitor.opts(IMAGE, "h1-kafka")["provider"].split("::")[3] == "h1-docker"


def test_a_host_with_a_registry_login_pulls_with_a_command_after_it():
    digest_ref = "10.0.0.9:5000/wurstmeister/kafka@sha256:" + "1" * 64

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=HOST))
        login = pulumi.CustomResource("test:index:Login", "h1-login")
        DockerService("kafka", DockerServiceArgs(
            service=KAFKA, hosts={"h1": host}, images={"kafka": pulumi.Output.from_input(digest_ref)},
            secrets={"p": pulumi.Output.secret("x")}, after={}, logins={"h1": login}))
    run = run_pulumi(declare)
    assert not run.mocks.of_type(IMAGE)
    pull = run.mocks.named("h1-kafka-pull", "command:local:Command")["inputs"]
    assert pull == {"create": pull_script("docker -H ssh://deploy@10.0.0.5", "kafka", digest_ref),
                    "triggers": [digest_ref]}
    opts = run.monitor.opts("command:local:Command", "h1-kafka-pull")
    assert [d.split("::")[-1] for d in opts["dependencies"]] == ["h1-login"]
    assert opts["provider"].split("::")[3] == "kafka-h1-steps"
    # Both containers run the image ID the pull printed.
    for key in ("kafka-h1", "kafka-init-h1"):
        assert run.mocks.named(key, CONTAINER)["inputs"]["image"] == fake_digest(digest_ref)


def test_docker_service_container_contract():
    run = _service()
    c = run.mocks.named("kafka-h1", CONTAINER)["inputs"]
    assert c["name"] == "ow-kafka"
    assert c["image"] == fake_digest("wurstmeister/kafka:2.13-2.7.0")
    assert c["ports"] == [{"internal": 9092, "external": 19092, "ip": "0.0.0.0", "protocol": "tcp"}] \
        or c["ports"] == [{"internal": 9092, "external": 19092}]
    assert c["volumes"] == [{"containerPath": "/kafka", "volumeName": "ow-kafka-data"},
                            {"containerPath": "/var/run/docker.sock",
                             "hostPath": "/var/run/docker.sock", "readOnly": True}]
    assert c["healthcheck"] == {"tests": ["CMD", "true"], "interval": "10s", "timeout": "5s",
                                "retries": 6, "startPeriod": "7s"}
    # Waits until Docker would call it unhealthy: 7 s start period, then 6 failed probes and one more.
    assert (c["wait"], c["waitTimeout"], c["restart"], c["mustRun"]) == (True, 77, "unless-stopped", True)
    # Kafka moves partition leadership away and flushes before it is killed.
    assert c["destroyGraceSeconds"] == 120
    assert "attach" not in c and "start" not in c


def test_planned_labels_reach_the_container():
    labelled = Service("kafka", (replace(KAFKA.containers[0], labels=(("a.b", "x=1"),)),),
                       KAFKA.volumes)

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=HOST))
        DockerService("kafka", DockerServiceArgs(service=labelled, hosts={"h1": host},
                                                 images=IMAGES, secrets={"p": pulumi.Output.secret("s")},
                                                 after={}))
    run = run_pulumi(declare)
    assert run.mocks.named("kafka-h1", CONTAINER)["inputs"]["labels"] == [{"label": "a.b", "value": "x=1"}]
    assert "labels" not in _service().mocks.named("kafka-h1", CONTAINER)["inputs"]


@pytest.mark.parametrize("seconds,form", [(0, "0s"), (5, "5s"), (59, "59s"), (60, "1m0s"),
                                          (90, "1m30s"), (120, "2m0s"), (3600, "1h0m0s"),
                                          (3725, "1h2m5s")])
def test_durations_are_written_as_the_provider_reads_them_back(seconds, form):
    # The provider reads a healthcheck back with Go's Duration.String(); any other form of the
    # same value is a diff (and, with replace_on_changes, a replacement) on every update.
    assert go_duration(seconds) == form


def test_secret_env_and_files_stay_secret_and_render():
    run = _service()
    c = run.mocks.named("kafka-h1", CONTAINER)["inputs"]
    # One secret element makes the whole list a secret on the wire.
    assert unwrap(c["envs"]) == (["A=1", "SECRET_PASSWORD=pw=s3cret"], True)
    assert unwrap(c["uploads"]) == ([{"file": "/etc/x.conf", "content": "plain"},
                                     {"file": "/etc/key.pem", "content": "s3cret"}], True)


def test_secret_inputs_are_marked_secret():
    seen = {}

    def declare():
        secrets = {"p": pulumi.Output.secret("s3cret")}
        host = DockerHost("h1", DockerHostArgs(host=HOST))
        svc = DockerService("kafka", DockerServiceArgs(service=KAFKA, hosts={"h1": host},
                                                       images=IMAGES, secrets=secrets, after={}))
        ctr = svc.containers["kafka-h1"]
        pulumi.Output.all(ctr.envs.is_secret(), ctr.uploads.is_secret()).apply(
            lambda v: seen.update(envs=v[0], uploads=v[1]))
    run_pulumi(declare)
    assert seen == {"envs": True, "uploads": True}


def test_containers_replace_delete_first_and_volumes_are_retained():
    run = _service()
    for name in ("kafka-h1", "kafka-init-h1"):
        opts = run.monitor.opts(CONTAINER, name)
        assert opts["delete_before_replace"] is True
        assert opts["provider"].split("::")[3] == "h1-docker"
    # A container that never became healthy is created again instead of accepted.
    assert run.monitor.opts(CONTAINER, "kafka-h1")["replace_on_changes"] == ["healthcheck", "#initerror"]
    assert run.monitor.opts(VOLUME, "kafka-h1-data")["retain_on_delete"] is True
    assert run.mocks.named("kafka-h1-data", VOLUME)["inputs"] == {"name": "ow-kafka-data"}


def test_one_shot_container_is_created_stopped_after_its_dependency():
    run = _service()
    init = run.mocks.named("kafka-init-h1", CONTAINER)["inputs"]
    assert (init["start"], init["mustRun"], init["restart"], init["destroyGraceSeconds"]) == (
        False, False, "no", 10)
    assert "attach" not in init and "wait" not in init
    assert init["entrypoints"] == ["/bin/sh", "/init.sh"]
    deps = run.monitor.opts(CONTAINER, "kafka-init-h1")["dependencies"]
    assert sorted(d.split("::")[-1] for d in deps) == ["h1-kafka", "kafka-h1"]  # image, server


def test_one_shot_step_runs_in_a_command_that_fails_on_its_exit_code():
    run = _service()
    step = run.mocks.named("kafka-init-h1-run", "command:local:Command")["inputs"]
    # The host is reached through its Docker endpoint; the command is the container's id only.
    assert step == {"create": "docker -H ssh://deploy@10.0.0.5 start --attach kafka-init-h1-id",
                    "triggers": ["kafka-init-h1-id"]}
    opts = run.monitor.opts("command:local:Command", "kafka-init-h1-run")
    assert [d.split("::")[-1] for d in opts["dependencies"]] == ["kafka-init-h1"]
    assert opts["provider"].split("::")[3] == "kafka-h1-steps"


def test_one_shot_step_on_an_ssh_host_runs_there():
    ssh = SshTarget("deploy", "10.0.0.5", 2222, Secret.of("key"), host_key="ssh-ed25519 AAAA")

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=HostPlan("h1", "10.0.0.5", HOST.docker, ssh=ssh)))
        DockerService("kafka", DockerServiceArgs(
            service=KAFKA, hosts={"h1": host}, images=IMAGES, after={},
            secrets={"p": pulumi.Output.secret("s3cret"), "key": pulumi.Output.secret("PRIVATE")}))
    run = run_pulumi(declare)
    step = run.mocks.named("kafka-init-h1-run", "command:remote:Command")["inputs"]
    connection, secret = unwrap(step["connection"])
    assert (step["create"], step["triggers"]) == ("docker start --attach kafka-init-h1-id",
                                                  ["kafka-init-h1-id"])
    assert secret and connection == {"host": "10.0.0.5", "port": 2222, "user": "deploy",
                                     "privateKey": "PRIVATE", "hostKey": "ssh-ed25519 AAAA",
                                     **{k: v for k, v in connection.items()
                                        if k not in ("host", "port", "user", "privateKey", "hostKey")}}


def test_dependents_of_a_one_shot_step_wait_for_its_command():
    later = Service("controller", (
        Container(key="controller-h1", service="controller", host="h1", name="ow-controller",
                  image="kafka", depends_on=("kafka-init-h1", "kafka-h1")),))

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=HOST))
        kafka = DockerService("kafka", DockerServiceArgs(
            service=KAFKA, hosts={"h1": host}, images=IMAGES, after={},
            secrets={"p": pulumi.Output.secret("s3cret")}))
        DockerService("controller", DockerServiceArgs(
            service=later, hosts={"h1": host}, images=IMAGES, secrets={}, after=kafka.ready))
    run = run_pulumi(declare)
    deps = run.monitor.opts(CONTAINER, "controller-h1")["dependencies"]
    assert sorted(d.split("$")[-1] for d in deps) == [
        "command:local:Command::kafka-init-h1-run", "docker:index/container:Container::kafka-h1",
        "docker:index/remoteImage:RemoteImage::h1-kafka"]


TLS = TlsPlan("ow.example.com", ("10.0.0.5",), ("ow.example.com",))
SPECS = (SecretSpec("db_password", "password", 2), SecretSpec("guest_auth", "auth"),
         SecretSpec("supplied_password", "password"), SecretSpec("edge_tls_key", "tls_key"),
         SecretSpec("edge_tls_cert", "tls_cert", key="edge_tls_key", tls=TLS))


def test_secrets_generates_what_is_not_supplied():
    values = {}

    def declare():
        s = Secrets("secrets", SecretsArgs(specs=SPECS, supplied={"supplied_password": "given"}))
        pulumi.Output.all(**s.values).apply(values.update)
        pulumi.Output.all(*[v.is_secret() for v in s.values.values()]).apply(
            lambda flags: values.update(all_secret=all(flags)))
    run = run_pulumi(declare)
    assert {(r["type"].split(":")[-1], r["name"]) for r in run.mocks.resources if r["custom"]} == {
        ("RandomPassword", "db_password"), ("RandomUuid", "guest_auth-uuid"),
        ("RandomPassword", "guest_auth-key"), ("PrivateKey", "edge_tls_key"),
        ("SelfSignedCert", "edge_tls_cert")}
    assert run.mocks.named("db_password")["inputs"] == {
        "length": 32, "special": False, "keepers": {"generation": "2"}}
    assert run.mocks.named("guest_auth-key")["inputs"]["length"] == 64
    # A key has no keepers: its generation replaces it as the engine's replacement trigger.
    assert run.monitor.opts("tls:index/privateKey:PrivateKey", "edge_tls_key")[
        "replacement_trigger"] == "0"
    cert = run.mocks.named("edge_tls_cert")["inputs"]
    assert (cert["subject"], cert["dnsNames"], cert["ipAddresses"]) == (
        {"commonName": "ow.example.com", "organization": "OpenWhisk"}, ["ow.example.com"],
        ["10.0.0.5"])
    assert cert["allowedUses"] == ["key_encipherment", "digital_signature", "server_auth"]
    assert values["guest_auth"] == "uuid-guest_auth-uuid:pw-guest_auth-key"
    assert values["supplied_password"] == "given"
    assert values["all_secret"] is True


def test_supplied_certificate_is_not_generated():
    def declare():
        Secrets("secrets", SecretsArgs(specs=SPECS, supplied={
            "supplied_password": "x", "edge_tls_cert": "CERT", "edge_tls_key": "KEY"}))
    run = run_pulumi(declare)
    assert not [r for r in run.mocks.resources if r["type"].startswith("tls:")]


REG_TLS = TlsPlan("10.0.0.9", ("10.0.0.9",), ())


def test_secrets_registry_ca_signs_the_registry_certificate_and_htpasswd_hashes():
    specs = (SecretSpec("registry_password", "password"),
             SecretSpec("registry_htpasswd", "htpasswd", source="registry_password", user="ow"),
             SecretSpec("registry_ca_key", "tls_key"),
             SecretSpec("registry_ca_cert", "ca_cert", key="registry_ca_key",
                        tls=TlsPlan("OpenWhisk registry CA", (), ())),
             SecretSpec("registry_tls_key", "tls_key"),
             SecretSpec("registry_tls_cert", "tls_cert", key="registry_tls_key", tls=REG_TLS,
                        ca="registry_ca_cert"))
    values = {}

    def declare():
        s = Secrets("secrets", SecretsArgs(specs=specs))
        pulumi.Output.all(**s.values).apply(values.update)
    run = run_pulumi(declare)
    ca = run.mocks.named("registry_ca_cert", "tls:index/selfSignedCert:SelfSignedCert")["inputs"]
    assert (ca["isCaCertificate"], ca["allowedUses"], unwrap(ca["privateKeyPem"])) == (
        True, ["cert_signing", "crl_signing", "digital_signature"], ("KEY-registry_ca_key", True))
    req = run.mocks.named("registry_tls_cert", "tls:index/certRequest:CertRequest")["inputs"]
    assert (req["ipAddresses"], req["subject"]["commonName"]) == (["10.0.0.9"], "10.0.0.9")
    signed = run.mocks.named("registry_tls_cert", "tls:index/locallySignedCert:LocallySignedCert")
    assert signed["inputs"]["caCertPem"].startswith("CERT-registry_ca_cert-")
    assert unwrap(signed["inputs"]["caPrivateKeyPem"]) == ("KEY-registry_ca_key", True)
    assert values["registry_htpasswd"] == "ow:BCRYPT-registry_password"
    assert values["registry_tls_cert"] == "SIGNED-registry_tls_cert"
    assert signed["inputs"]["allowedUses"] == ["key_encipherment", "digital_signature", "server_auth"]


def test_secrets_a_certificate_for_peers_is_also_a_client_certificate():
    """ElasticSearch's nodes present the transport certificate to each other: Java's TLS refuses
    a client certificate whose extended key usage lacks clientAuth."""
    from planner import elasticsearch
    specs = tuple(s for s in elasticsearch.secret_specs() if s.kind in ("tls_key", "ca_cert", "tls_cert"))

    def declare():
        Secrets("secrets", SecretsArgs(specs=specs))
    run = run_pulumi(declare)
    signed = run.mocks.named("elasticsearch_transport_cert",
                             "tls:index/locallySignedCert:LocallySignedCert")["inputs"]
    assert signed["allowedUses"] == ["key_encipherment", "digital_signature", "server_auth",
                                     "client_auth"]
    assert signed["caCertPem"].startswith("CERT-elasticsearch_ca_cert-")
    req = run.mocks.named("elasticsearch_transport_cert", "tls:index/certRequest:CertRequest")["inputs"]
    # No address: nodes check each other's CA only, so adding a node changes no certificate.
    assert (req.get("ipAddresses"), req.get("dnsNames"), req["subject"]["commonName"]) == (
        [], [], "OpenWhisk ElasticSearch transport")


PIPELINE_IMAGES = (
    ImagePlan("controller", "openwhisk/controller:1fae641", "core",
              target="10.0.0.9:5000/openwhisk/controller:1fae641"),
    ImagePlan("invoker", "openwhisk/invoker:1fae641", "core",
              target="10.0.0.9:5000/builds/invoker:1fae641",
              build=BuildPlan("../openwhisk/core/invoker", None, (("REV", "2"),), None,
                              "linux/amd64")),
    ImagePlan("registry", "registry:2.8.3", "service"),
)


def test_image_pipeline_mirrors_on_the_build_host_and_builds_into_the_registry():
    refs = {}
    ssh_host = replace(HOST, ssh=SshTarget("deploy", "10.0.0.5", 22, Secret.of("ssh_private_key"),
                                           "ssh-ed25519 AAAA"))

    def declare():
        host = DockerHost("h1", DockerHostArgs(host=ssh_host))
        p = ImagePipeline("images", ImagePipelineArgs(
            images=PIPELINE_IMAGES, host=ssh_host,
            secrets={"ssh_private_key": pulumi.Output.secret("KEY")}, provider=host.provider,
            registry="10.0.0.9:5000", username="ow", password=pulumi.Output.secret("pw")))
        pulumi.Output.all(**p.refs).apply(refs.update)
    run = run_pulumi(declare)
    assert {(r["type"].split(":")[-1], r["name"]) for r in run.mocks.resources if r["custom"]
            and not r["type"].startswith("pulumi:providers")} == {
        ("Command", "mirror-controller"), ("Image", "build-invoker")}
    mirror = run.mocks.named("mirror-controller", "command:remote:Command")["inputs"]
    assert mirror["triggers"] == ["openwhisk/controller:1fae641",
                                  "10.0.0.9:5000/openwhisk/controller:1fae641"]
    assert mirror["create"] == mirror_script("docker", PIPELINE_IMAGES[0])
    assert "stdin" not in mirror and "update" not in mirror  # no credential: the host's login
    assert unwrap(mirror["connection"])[0]["host"] == "10.0.0.5"
    assert run.monitor.opts("command:remote:Command", "mirror-controller")["provider"].split(
        "::")[3] == "mirror"
    built = run.mocks.named("build-invoker", "docker:index/image:Image")["inputs"]
    assert built["imageName"] == "10.0.0.9:5000/builds/invoker:1fae641"
    assert built["build"] == {"context": "../openwhisk/core/invoker", "args": {"REV": "2"},
                              "platform": "linux/amd64"}
    assert unwrap(built["registry"])[0]["server"] == "10.0.0.9:5000"
    assert refs == {
        "controller": "10.0.0.9:5000/openwhisk/controller@" + fake_digest("pushed:" + json.dumps(
            ["openwhisk/controller:1fae641", "10.0.0.9:5000/openwhisk/controller:1fae641"])),
        "invoker": "10.0.0.9:5000/builds/invoker@" + fake_digest("built:" + json.dumps(
            {"context": "../openwhisk/core/invoker", "args": {"REV": "2"}, "platform": "linux/amd64"},
            sort_keys=True)),
    }
