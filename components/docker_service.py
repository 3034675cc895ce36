"""DockerService: the images, data volumes and containers of one service, across its hosts.

Creates one `RemoteImage` per image each host of the service needs (kept locally when the resource
goes away), one retained `docker.Volume` per planned data volume and one `docker.Container` per
planned container, on the provider of the container's host and after the host's preparation.
Containers run the pulled image ID, so a new digest replaces exactly the containers that use it.
Containers have fixed names and ports, so they are replaced delete-first; one-shot containers (init
steps) run to completion and fail the update on a non-zero exit. Exposes `containers` (container
key -> resource) so later services can depend on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components._values import env_list, resolve
from components.docker_host import DockerHost
from planner.model import Container, Service

ONE_SHOT_TIMEOUT = "20m"


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


class DockerService(pulumi.ComponentResource):
    containers: dict[str, docker.Container]

    def __init__(self, name: str, args: DockerServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:DockerService", name, None, opts)
        self.image_ids: dict[tuple[str, str], pulumi.Output[str]] = {}
        for host, keys in args.service.pulls().items():
            for key in keys:
                self.image_ids[host, key] = docker.RemoteImage(
                    f"{host}-{key}", name=args.images[key], keep_locally=True,
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=args.hosts[host].provider,
                        depends_on=[args.hosts[host].ready] if args.hosts[host].ready else None)
                ).image_id
        volumes = {}
        for v in args.service.volumes:
            volumes[v.key] = docker.Volume(v.key, name=v.name, opts=pulumi.ResourceOptions(
                parent=self, provider=args.hosts[v.host].provider, retain_on_delete=True))
        self.containers = {}
        for c in args.service.containers:
            ready = [args.hosts[c.host].ready] if args.hosts[c.host].ready else []
            deps = [self.containers.get(k) or args.after[k] for k in c.depends_on]
            self.containers[c.key] = self._container(c, args, volumes, deps + ready)
        self.register_outputs({"containers": {k: r.name for k, r in self.containers.items()}})

    def _container(self, c: Container, args: DockerServiceArgs, volumes: Mapping[str, docker.Volume],
                   depends_on: list[pulumi.Resource]) -> docker.Container:
        host = args.hosts[c.host]
        mounts = [
            docker.ContainerVolumeArgs(container_path=m.target, volume_name=volumes[m.volume].name)
            if m.volume else
            docker.ContainerVolumeArgs(container_path=m.target, host_path=m.host_path,
                                       read_only=m.read_only or None)
            for m in c.mounts
        ]
        health = c.health and docker.ContainerHealthcheckArgs(
            tests=list(c.health.test), interval="10s", timeout="5s", retries=6,
            start_period=f"{c.health.start_period_s}s")
        ctr = docker.Container(
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
            healthcheck=health or None,
            wait=bool(c.health and c.health.wait) or None,
            wait_timeout=300 if c.health and c.health.wait else None,
            restart="no" if c.one_shot else "unless-stopped",
            must_run=not c.one_shot,
            attach=c.one_shot or None,
            logs=c.one_shot or None,
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.provider, depends_on=depends_on,
                # Fixed names and host ports cannot exist twice: remove the old container first.
                delete_before_replace=True,
                # The provider stores a new healthcheck without applying it to a running container.
                replace_on_changes=["healthcheck"] if health else None,
                custom_timeouts=pulumi.CustomTimeouts(create=ONE_SHOT_TIMEOUT) if c.one_shot else None,
            ),
        )
        if c.one_shot:
            pulumi.Output.all(ctr.exit_code, ctr.container_logs).apply(
                lambda res, key=c.key: _check_exit(key, *res))
        return ctr


def _check_exit(key: str, code: int | None, logs: str | None) -> None:
    """Fail the update when a one-shot container exits non-zero (the provider only records it)."""
    if code is not None and int(code) != 0:
        tail = "\n".join((logs or "").strip().splitlines()[-20:])
        raise RuntimeError(f"{key} exited with code {int(code)}; its last output:\n{tail}")
