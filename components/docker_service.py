"""DockerService: the images, data volumes and containers of one service, across its hosts.

Pulls each image each host of the service needs: on a host reached over ssh or logged in to the
private registry, with a command on the host (`<host>-<key>-pull`, after the login if any; it also
keeps only the images in use and the ones before them, see planner.images.pull_script): each such
command is one ssh connection of its own, dialled again when sshd drops it, where a `RemoteImage`
would hold one of the Docker connection's few multiplexed sessions for the whole pull. On a local
socket without a login, with a `RemoteImage` (kept locally when the resource goes away). An image
the plan builds on the hosts that run it (no registry) is built there by a command instead
(`<host>-<key>-build`), again only when its tag, a hash of its build, changes. Creates
one retained `docker.Volume` per planned data volume and one `docker.Container` per planned
container, on the provider of the container's host and after the host's preparation.
Containers run the pulled image ID, so a new digest replaces exactly the containers that use it.
A container with a live config (the edge's nginx.conf) gets a config volume and a
command on its host (`<key>-config`) that writes the files there and reloads the container, so a
changed file is an update of the command instead of a replacement (planner.live_config).
Containers have fixed names and ports, so they are replaced delete-first, and are stopped with
their service's grace period before they are removed. Each logs to a bounded json-file log
(`log_options`). A container that waits for its health check and did not become healthy is
replaced on the next update (`#initerror`), never accepted.

A one-shot step (an init script) is a container that is created but not started, and a command
on its host that runs it to completion (`docker start --attach`): the command fails the update on
a non-zero exit, with the step's output, before anything that depends on the step is created; a
failed command is not recorded, so the next update runs the step again. A replaced container
replaces its command, which runs the new step. Steps run through one pulumi-command provider per
host of the service. Exposes `containers` (container key -> container) and `ready` (container
key -> what dependents wait for: the container, or a step's command).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components._commands import host_command
from components._values import env_list, go_duration, resolve, rolling
from components.docker_host import DockerHost
from planner import live_config
from planner.images import build_script, pull_script
from planner.model import Container, ImagePlan, Service


@dataclass(frozen=True, kw_only=True)
class DockerServiceArgs:
    service: Service
    hosts: Mapping[str, DockerHost]
    """Host name -> its DockerHost (provider)."""
    images: Mapping[str, pulumi.Input[str]]
    """Image key -> reference to pull: a pinned tag, or a registry digest (whose Output orders the
    pull after the push)."""
    secrets: Mapping[str, pulumi.Output[str]]
    after: Mapping[str, pulumi.Resource]
    """Container key -> resource of services declared earlier, for depends_on."""
    digests: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Image key -> digest, for values that name images by digest (the runtime manifest)."""
    deployed: pulumi.Input[Sequence[str] | None] = None
    """Ids of the quorum members the last deployment ran (Container.member_id); None: none."""
    logins: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """Host name -> its registry login, which the host's pull commands run after."""
    local_builds: Mapping[str, ImagePlan] = field(default_factory=dict)
    """Image key -> an image built on each host that runs it (no registry) instead of pulled."""
    log_options: Mapping[str, str] = field(default_factory=dict)
    """Options of the json-file log driver every container gets (Plan.log_options)."""
    pulled: Mapping[tuple[str, str], pulumi.Output[str]] = field(default_factory=dict)
    """(host name, image key) -> image ID, of the images earlier services pulled: a host pulls an
    image once, and a later service's step that runs it there uses that pull."""


class DockerService(pulumi.ComponentResource):
    containers: dict[str, docker.Container]
    ready: dict[str, pulumi.Resource]

    def __init__(self, name: str, args: DockerServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:DockerService", name, None, opts)
        self._commands: dict[str, command.Provider] = {}
        self.image_ids: dict[tuple[str, str], pulumi.Output[str]] = {}
        for host, keys in args.service.pulls().items():
            for key in keys:
                pulled = args.pulled.get((host, key))
                self.image_ids[host, key] = pulled if pulled is not None else self._pull(args, host, key)
        volumes = {}
        for v in args.service.volumes:
            volumes[v.key] = docker.Volume(v.key, name=v.name, opts=pulumi.ResourceOptions(
                parent=self, provider=args.hosts[v.host].provider, retain_on_delete=True))
        self.containers, self.ready = {}, {}
        for c in args.service.containers:
            host = args.hosts[c.host]
            deps = [self.ready.get(k) or args.after[k] for k in c.depends_on]
            deps += [host.ready] if host.ready else []
            if c.live_config is not None:
                deps.append(self._live_config(c, host, args, deps))
            ctr = self._container(c, args, volumes, rolling(c, deps, self.ready, args.deployed))
            self.containers[c.key] = ctr
            self.ready[c.key] = self._run(c, ctr, host, args) if c.one_shot else ctr
        self.register_outputs({"containers": {k: r.name for k, r in self.containers.items()}})

    def _pull(self, args: DockerServiceArgs, host: str, key: str) -> pulumi.Output[str]:
        """The image ID of image `key` on `host`, once pulled."""
        target = args.hosts[host]
        ready = [target.ready] if target.ready else []
        build = args.local_builds.get(key)
        if build is not None:
            return host_command(
                f"{host}-{key}-build", target.host, args.secrets,
                script=build_script(target.host.docker_cli, build), triggers=[build.ref],
                opts=pulumi.ResourceOptions(parent=self, provider=self._command_provider(host, args),
                                            depends_on=ready or None)).stdout
        login = args.logins.get(host)
        if login is None and target.host.ssh is None:
            return docker.RemoteImage(
                f"{host}-{key}", name=args.images[key], keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=target.provider,
                                            depends_on=ready or None)).image_id
        ref = pulumi.Output.from_input(args.images[key])
        return host_command(
            f"{host}-{key}-pull", target.host, args.secrets,
            script=ref.apply(lambda r: pull_script(target.host.docker_cli, key, r)),
            triggers=[ref],
            opts=pulumi.ResourceOptions(parent=self, provider=self._command_provider(host, args),
                                        depends_on=[*ready, *([login] if login else [])])).stdout

    def _command_provider(self, host: str, args: DockerServiceArgs) -> command.Provider:
        """The pulumi-command provider of this service's commands on `host` (pulls, steps)."""
        if host not in self._commands:
            self._commands[host] = command.Provider(
                f"{args.service.name}-{host}-steps", opts=pulumi.ResourceOptions(parent=self))
        return self._commands[host]

    def _container(self, c: Container, args: DockerServiceArgs, volumes: Mapping[str, docker.Volume],
                   depends_on: pulumi.Input[list[pulumi.Resource]]) -> docker.Container:
        host = args.hosts[c.host]
        mounts = [
            docker.ContainerVolumeArgs(container_path=m.target, volume_name=volumes[m.volume].name)
            if m.volume else
            docker.ContainerVolumeArgs(container_path=m.target, host_path=m.host_path,
                                       read_only=m.read_only or None)
            for m in c.mounts
        ]
        if c.live_config is not None:
            mounts.append(docker.ContainerVolumeArgs(container_path=c.live_config.target,
                                                     volume_name=c.live_config.volume, read_only=True))
        health = c.health and docker.ContainerHealthcheckArgs(
            tests=list(c.health.test), interval=go_duration(c.health.interval_s),
            timeout=go_duration(c.health.timeout_s), retries=c.health.retries,
            start_period=go_duration(c.health.start_period_s))
        waits = bool(c.health and c.health.wait)
        return docker.Container(
            c.key,
            name=c.name,
            image=self.image_ids[c.host, c.image],
            envs=env_list(c.env, args.secrets, args.digests) or None,
            command=list(c.command) or None,
            entrypoints=list(c.entrypoint) or None,
            hostname=c.hostname,
            ports=[docker.ContainerPortArgs(internal=p.container, external=p.published)
                   for p in c.ports] or None,
            volumes=mounts or None,
            uploads=[docker.ContainerUploadArgs(file=f.path, content=resolve(f.content, args.secrets))
                     for f in c.files] or None,
            privileged=c.privileged or None,
            pid_mode="host" if c.host_pid else None,
            userns_mode="host" if c.host_userns else None,
            ulimits=[docker.ContainerUlimitArgs(name=n, soft=s, hard=h) for n, s, h in c.ulimits]
            or None,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in c.labels] or None,
            healthcheck=health or None,
            wait=waits or None,
            wait_timeout=c.health.wait_timeout_s if waits else None,
            restart="no" if c.one_shot else "unless-stopped",
            log_driver="json-file" if args.log_options else None,
            log_opts=dict(args.log_options) or None,
            # A one-shot step is created stopped; its command (_run) starts it.
            start=False if c.one_shot else None,
            must_run=not c.one_shot,
            destroy_grace_seconds=c.stop_grace_s,
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.provider, depends_on=depends_on,
                # Fixed names and host ports cannot exist twice: remove the old container first.
                delete_before_replace=True,
                # The provider stores a new healthcheck without applying it to a running
                # container; and a container that never became healthy is created again.
                replace_on_changes=["healthcheck", *(["#initerror"] if waits else [])]
                if health else None,
            ),
        )

    def _live_config(self, c: Container, host: DockerHost, args: DockerServiceArgs,
                     deps: list[pulumi.Resource]) -> pulumi.Resource:
        """The command that writes a container's live config onto its volume (which Docker
        creates on first use; it holds nothing that is not in the plan) and reloads the running
        container: it runs after what the container waits for (a new controller is up before the
        edge is told about it), before the container is created, and again, as an update,
        whenever the files change."""
        live = c.live_config
        assert live is not None
        script = self.image_ids[c.host, c.image].apply(
            lambda image: live_config.script(host.host.docker_cli, c.name, image, live))
        return host_command(
            f"{c.key}-config", host.host, args.secrets, script=script, update=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self._command_provider(c.host, args),
                                        depends_on=deps or None))

    def _run(self, c: Container, ctr: docker.Container, host: DockerHost,
             args: DockerServiceArgs) -> pulumi.Resource:
        """The command that runs a one-shot step's container to completion on its host."""
        return host_command(
            f"{c.key}-run", host.host, args.secrets,
            script=ctr.id.apply(lambda i: f"{host.host.docker_cli} start --attach {i}"),
            triggers=[ctr.id],
            opts=pulumi.ResourceOptions(parent=self, provider=self._command_provider(c.host, args),
                                        depends_on=[ctr]))
