"""The CI workflow, checked offline: it parses, pins its actions, runs the tests, and previews
every stack with the policy pack and a PR comment."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
EXCLUDED_STACKS: dict[str, str] = {}
"""Stacks with a Pulumi.<stack>.yaml that CI deliberately does not preview, with the reason."""


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def action(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    [step] = [s for s in steps(workflow, job) if s.get("uses", "").split("@")[0] == name]
    return step


def test_runs_on_pull_requests_and_pushes_to_main(workflow):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert set(on) == {"pull_request", "push"}
    assert on["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_every_action_is_pinned_to_a_version(workflow):
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses
    assert [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", u)] == []


def test_test_job_runs_the_ci_script_on_python_311(workflow):
    assert action(workflow, "test", "actions/setup-python")["with"]["python-version"] == "3.11"
    assert action(workflow, "test", "actions/checkout")
    assert [s["run"] for s in steps(workflow, "test") if "run" in s] == ["bash .ci/run"]


def test_preview_covers_every_stack_file(workflow):
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    assert stacks, "no stack files found"
    matrix = workflow["jobs"]["preview"]["strategy"]["matrix"]["stack"]
    assert sorted(matrix) == sorted(s for s in stacks if s not in EXCLUDED_STACKS)


def test_preview_runs_after_the_tests_with_the_policy_pack(workflow):
    job = workflow["jobs"]["preview"]
    assert job["needs"] == "test"
    pulumi = action(workflow, "preview", "pulumi/actions")
    assert pulumi["uses"] == "pulumi/actions@v7"
    w = pulumi["with"]
    assert w["command"] == "preview"
    assert w["stack-name"] == "${{ matrix.stack }}"
    assert w["policyPacks"] == "policy"
    assert w["policyPackConfigs"] == "policy-config.json"
    assert w["comment-on-pr"] is True
    assert w["diff"] is True
    assert w["refresh"] is False
    assert w["pulumi-version-file"] == ".pulumi-version"
    assert "${{ secrets.PULUMI_ACCESS_TOKEN }}" in job["env"].values()


def test_preview_installs_both_virtualenvs_before_running(workflow):
    run = "\n".join(s.get("run", "") for s in steps(workflow, "preview"))
    assert "python -m venv venv\n" in run and "venv/bin/pip install" in run and "-r requirements.txt" in run
    assert "python -m venv policy/venv" in run and "-r policy/requirements.txt" in run
    names = [s.get("uses", s.get("name")) for s in steps(workflow, "preview")]
    installs = [i for i, s in enumerate(steps(workflow, "preview")) if "python -m venv" in s.get("run", "")]
    assert max(installs) < names.index("pulumi/actions@v7")
    # The stateful policies' config comes from the deployed state, before the preview reads it.
    [cli] = [i for i, s in enumerate(steps(workflow, "preview")) if "get.pulumi.com" in s.get("run", "")]
    assert '--version "$(cat .pulumi-version)"' in steps(workflow, "preview")[cli]["run"]
    [export] = [i for i, s in enumerate(steps(workflow, "preview")) if "stack export" in s.get("run", "")]
    assert steps(workflow, "preview")[export]["run"] == (
        "set -o pipefail\n"
        "pulumi stack export --stack ${{ matrix.stack }} --show-secrets \\\n"
        "  | policy/venv/bin/python policy/baseline.py > policy-config.json\n")
    assert max(installs) < cli < export < names.index("pulumi/actions@v7")
    assert names[-1] == "pulumi/actions@v7"
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "venv"
    pack = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}


def test_cli_is_pinned_to_the_sdk_version():
    cli = (ROOT / ".pulumi-version").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", cli)
    assert f"pulumi=={cli}" in (ROOT / "requirements.txt").read_text().split()
    assert f"pulumi=={cli}" in (ROOT / "policy" / "requirements.txt").read_text().split()


def test_k8s_preview_gets_the_kubeconfig_of_its_context(workflow):
    [kube] = [s for s in steps(workflow, "preview") if "KUBECONFIG" in str(s.get("env"))]
    assert kube["if"] == "matrix.stack == 'k8s'"
    assert kube["env"]["KUBECONFIG_CONTENT"] == "${{ secrets.KUBECONFIG }}"
    assert "~/.kube/config" in kube["run"]
    k8s = yaml.safe_load((ROOT / "Pulumi.k8s.yaml").read_text())["config"]
    assert k8s["openwhisk:kubernetes"]["context"]
    assert "kubernetes" in k8s["pulumi:disable-default-providers"]


def test_prod_preview_loads_the_deploy_key(workflow):
    [ssh] = [s for s in steps(workflow, "preview") if "ssh-add" in s.get("run", "")]
    assert ssh["if"] == "matrix.stack == 'prod'"
    assert ssh["env"]["DEPLOY_SSH_KEY"] == "${{ secrets.DEPLOY_SSH_KEY }}"
    assert "SSH_AUTH_SOCK" in ssh["run"] and "known_hosts" in ssh["run"]
    prod = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    assert prod["openwhisk:ssh"]["user"]  # every host without an explicit endpoint uses ssh://
    assert all(h.get("docker", "ssh://").startswith("ssh://") for h in prod["openwhisk:hosts"])
