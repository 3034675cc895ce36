"""Entry point: read the stack config, plan the deployment, declare it, export what `wsk` needs."""

from pathlib import Path

import pulumi

import config
import planner
from components import OpenWhisk, OpenWhiskArgs
from components import sdk_tuning
from planner import kubernetes as kube
from planner.diagram import mermaid
from planner.ports import port_problems

PROJECT_DIR = Path(__file__).resolve().parent

def main() -> None:
    sdk_tuning.apply()
    try:
        stack = config.read_stack_config(PROJECT_DIR)
        plan = planner.plan(stack)
        # What only shows once planned: host ports published twice.
        if problems := port_problems(plan):
            raise config.ConfigError(problems)
    except config.ConfigError as err:
        lines = "\n".join(f"  - {p}" for p in err.problems)
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack config of "
                              f"'{pulumi.get_stack()}'; nothing was created:\n{lines}") from None
    for warning in plan.warnings:
        pulumi.log.warn(warning)
    # The last deployment's outputs, read back through a StackReference to this stack itself: a
    # program has no other read of its previous state. This needs nothing from the hosts or the
    # cluster, works under `pulumi preview`, and a new stack has no outputs yet.
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    last = pulumi.StackReference("last-deployment", name)
    if plan.kubernetes is not None:
        # The StatefulSets keep their claim templates, so a changed class or size reaches only
        # new claims: say so.
        claims = kube.claim_settings(plan)
        last.get_output(kube.CLAIMS_OUTPUT).apply(
            lambda before: [pulumi.log.warn(w) for w in kube.claim_warnings(before, claims)])
        pulumi.export(kube.CLAIMS_OUTPUT, claims)
    cfg = pulumi.Config(config.NAMESPACE)
    supplied = {key: cfg.require_secret(key) for key in sorted(stack.supplied_secrets)}
    ow = OpenWhisk("openwhisk", OpenWhiskArgs(
        plan=plan, supplied_secrets=supplied, stack=pulumi.get_stack(),
        deployed=last.get_output(planner.MEMBERS_OUTPUT)))

    pulumi.export("apiHost", ow.api_host)
    pulumi.export("wskprops", ow.wskprops)
    pulumi.export("wskInsecure", plan.insecure_tls)
    pulumi.export("guestAuth", ow.guest_auth)
    pulumi.export("systemAuth", ow.system_auth)
    pulumi.export("couchdbAdmin", ow.couchdb_admin)
    pulumi.export("namespaces", ow.namespaces)
    if ow.grafana is not None:
        pulumi.export("grafana", ow.grafana)
    pulumi.export("edgeCertificate", ow.edge_certificate)
    pulumi.export("endpoints", ow.endpoints)
    pulumi.export("images", ow.images)
    pulumi.export("topology", mermaid(plan))
    pulumi.export(planner.MEMBERS_OUTPUT, planner.quorum_members(plan))


if __name__ == "__main__":
    main()
