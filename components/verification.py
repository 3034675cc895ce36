"""Verification: checks a fresh deployment end to end once every container exists.

Creates a pulumi-command provider and one `local.Command` that runs the planned check
(components/assets/verify.py) from the project directory, with its inputs in the environment
(the guest key as a secret). It depends on every container, and the containers' IDs are its
triggers: replacing any container replaces the command, which runs the check again. The command
has no `delete`, so a replacement only runs the new check, and a failed check fails `pulumi up`
and is retried by the next one. Nothing runs during preview.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_command as command
from pulumi_command import local

from components._values import resolve
from planner.model import VerifyPlan


@dataclass(frozen=True, kw_only=True)
class VerificationArgs:
    plan: VerifyPlan
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret name -> secret Output (the environment needs guest_auth)."""
    containers: Mapping[str, pulumi.CustomResource]
    """Container key -> container; the check waits for all and re-runs when any is replaced."""


class Verification(pulumi.ComponentResource):
    check: local.Command

    def __init__(self, name: str, args: VerificationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:Verification", name, None, opts)
        provider = command.Provider(f"{name}-command", opts=pulumi.ResourceOptions(parent=self))
        containers = [args.containers[k] for k in sorted(args.containers)]
        self.check = local.Command(
            f"{name}-check",
            create=args.plan.command,
            update=args.plan.command,
            environment={k: resolve(v, args.secrets) for k, v in args.plan.env},
            triggers=[c.id for c in containers],
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=containers))
        self.register_outputs({"command": args.plan.command})
