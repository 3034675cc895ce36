"""HostPrep: runs a host's planned preparation steps before anything else lands on it.

Creates a pulumi-command provider and one command per step, in plan order, each waiting for the
previous one: a `remote.Command` over ssh (user, port and the secret private key of the plan's
ssh target) for ssh hosts, a `local.Command` for hosts whose Docker socket is local. The script
is both `create` and `update`, so a changed script runs again as an update and nothing is ever
replaced; a step's `delete` script, if any, runs when the step leaves the plan, and before its
replacement when the ssh connection changes. A secret a step
needs reaches it on stdin, never on the command line. DockerHost and DockerService take the
component itself as `ready`: depending on a component waits for all of its commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components._commands import host_command
from components._values import resolve
from planner.model import HostPlan, PrepStep


@dataclass(frozen=True, kw_only=True)
class HostPrepArgs:
    host: HostPlan
    """The host; its steps run in order, over ssh when `ssh` is set."""
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret name -> secret Output, for the ssh key and any step's stdin."""
    steps: tuple[PrepStep, ...] | None = None
    """The steps to run; default the host's `prep` (its `login` steps run in a second HostPrep)."""
    after: Sequence[pulumi.Resource] = ()
    """What the first step waits for (the registry container, for login steps)."""


class HostPrep(pulumi.ComponentResource):
    steps: dict[str, pulumi.CustomResource]
    """Step name -> its command resource."""

    def __init__(self, name: str, args: HostPrepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:HostPrep", name, None, opts)
        host = args.host
        provider = command.Provider(f"{name}-command", opts=pulumi.ResourceOptions(parent=self))
        self.steps = {}
        previous: list[pulumi.Resource] = list(args.after)
        for step in host.prep if args.steps is None else args.steps:
            stdin = resolve(step.stdin, args.secrets) if step.stdin is not None else None
            cmd = host_command(
                f"{name}-{step.name}", host, args.secrets, script=step.script, update=True,
                stdin=stdin, delete=step.delete,
                # A step that removes what it made must remove it before its replacement makes it
                # again (a new host key replaces every step): the default order would install
                # first and then run the old step's delete, undoing the install.
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=previous,
                                            delete_before_replace=step.delete is not None or None))
            self.steps[step.name] = cmd
            previous = [cmd]
        self.register_outputs({"steps": list(self.steps)})
