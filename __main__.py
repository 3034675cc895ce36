"""Entry point: read the stack config, plan the deployment, declare it, export what `wsk` needs."""

from pathlib import Path

import pulumi

import config
import planner
from components import OpenWhisk, OpenWhiskArgs
from planner import kubernetes as kube
from planner.diagram import mermaid

PROJECT_DIR = Path(__file__).resolve().parent


def main() -> None:
    try:
        stack = config.read_stack_config(PROJECT_DIR)
    except config.ConfigError as err:
        lines = "\n".join(f"  - {p}" for p in err.problems)
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack config of "
                              f"'{pulumi.get_stack()}'; nothing was created:\n{lines}") from None
    plan = planner.plan(stack)
    for warning in plan.warnings:
        pulumi.log.warn(warning)
    if plan.kubernetes is not None:
        claims = kube.claim_settings(plan)
        warn_of_claim_changes(claims)
        pulumi.export(kube.CLAIMS_OUTPUT, claims)
    cfg = pulumi.Config(config.NAMESPACE)
    supplied = {key: cfg.require_secret(key) for key in sorted(stack.supplied_secrets)}
    ow = OpenWhisk("openwhisk", OpenWhiskArgs(plan=plan, supplied_secrets=supplied,
                                              stack=pulumi.get_stack()))

    pulumi.export("apiHost", ow.api_host)
    pulumi.export("wskprops", ow.wskprops)
    pulumi.export("wskInsecure", plan.insecure_tls)
    pulumi.export("guestAuth", ow.guest_auth)
    pulumi.export("systemAuth", ow.system_auth)
    pulumi.export("edgeCertificate", ow.edge_certificate)
    pulumi.export("endpoints", ow.endpoints)
    pulumi.export("images", ow.images)
    pulumi.export("topology", mermaid(plan))


def warn_of_claim_changes(claims: dict) -> None:
    """Warn when kubernetes.storage_class or volume_size differs from the last deployment's: the
    StatefulSets keep their claim templates, so the change reaches only new claims. The last
    deployment's settings are this stack's own output, read back through a StackReference to the
    stack itself: a program has no other read of its previous state, this one needs nothing from
    the cluster and works under `pulumi preview` and under mocks alike, and a new stack has no
    outputs yet, so nothing to warn about."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    deployed = pulumi.StackReference("last-deployment", name).get_output(kube.CLAIMS_OUTPUT)
    deployed.apply(lambda before: [pulumi.log.warn(w) for w in kube.claim_warnings(before, claims)])


if __name__ == "__main__":
    main()
