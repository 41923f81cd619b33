"""The GitHub workflows, read as YAML: promotion order, approvals, OIDC only where AWS is used, pins.

actionlint, zizmor and the workflow schema run on the same files in test_scanners.py.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SHA = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    raw: dict[Any, Any] = document
    document["on"] = raw.pop(True, document.get("on"))  # YAML 1.1 reads `on:` as true
    return document


def _all() -> dict[str, dict[str, Any]]:
    return {path.name: _load(path.name) for path in sorted(WORKFLOWS.glob("*.yml"))}


def _env_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def test_deploy_builds_once_then_promotes_dev_qa_stage_prod_in_order() -> None:
    jobs = _load("deploy.yml")["jobs"]
    chain = ["review", "build", "dev", "qa", "stage", "prod"]
    assert list(jobs) == chain
    for before, after in pairwise(chain):
        assert jobs[after]["needs"] == before
    builds = [
        name for name, job in jobs.items() if any("pipeline build" in s.get("run", "") for s in job["steps"])
    ]
    assert builds == ["build"]
    for env, source in (("qa", "dev"), ("stage", "qa"), ("prod", "stage")):
        runs = "\n".join(step.get("run", "") for step in jobs[env]["steps"])
        assert f"pipeline promote --from {source} --to {env}" in runs
        assert runs.index("pipeline promote") < runs.index("pipeline deploy") < runs.index("pipeline smoke")
    assert "pipeline gate --env stage" in "\n".join(s.get("run", "") for s in jobs["stage"]["steps"])


def test_stage_and_prod_wait_for_reviewers_and_prod_never_for_the_author_alone() -> None:
    environments = yaml.safe_load((ROOT / ".github" / "environments.yml").read_text())["environments"]
    jobs = _load("deploy.yml")["jobs"]
    assert {name: _env_name(jobs[name]) for name in ("dev", "qa", "stage", "prod")} == {
        "dev": "dev",
        "qa": "qa",
        "stage": "stage",
        "prod": "prod",
    }
    assert environments["dev"]["required_reviewers"] == [] and environments["qa"]["required_reviewers"] == []
    for env in ("stage", "prod"):
        assert environments[env]["required_reviewers"]
        assert environments[env]["prevent_self_review"] is True
    assert all(environments[env]["deployment_branches"] == ["main"] for env in ("dev", "qa", "stage", "prod"))


def test_top_level_permissions_are_read_only_and_oidc_only_in_jobs_that_assume_an_aws_role() -> None:
    for name, workflow in _all().items():
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_name, job in workflow["jobs"].items():
            uses_aws = any("configure-aws-credentials" in s.get("uses", "") for s in job["steps"])
            token = job.get("permissions", {}).get("id-token")
            assert (token == "write") == uses_aws, (name, job_name)
            if uses_aws:
                role = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
                assert re.fullmatch(
                    r"\$\{\{ vars\.AWS_(DEPLOY|PREVIEW)_ROLE_ARN \}\}", role["with"]["role-to-assume"]
                )
                assert _env_name(job), (name, job_name)  # the role comes from that environment's variables
                assert "aws-access-key-id" not in role["with"] and "aws-secret-access-key" not in role["with"]


def test_each_environment_deploys_one_at_a_time() -> None:
    jobs = _load("deploy.yml")["jobs"]
    for env in ("dev", "qa", "stage", "prod"):
        assert jobs[env]["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}


def test_every_action_is_pinned_to_a_full_commit_with_its_release_named() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.search(r"uses:\s*(\S+)(.*)$", line)
            if match:
                assert SHA.match(match.group(1)), f"{path.name}:{number}: {match.group(1)}"
                assert re.search(r"#\s*v\d+\.\d+\.\d+$", match.group(2)), (
                    f"{path.name}:{number}: no release comment"
                )


def test_no_workflow_runs_untrusted_pull_request_code_with_secrets() -> None:
    for name, workflow in _all().items():
        assert "pull_request_target" not in (workflow["on"] or {}), name
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "actions/checkout" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize(
    ("name", "trigger"),
    [
        ("review.yml", "pull_request"),
        ("deploy.yml", "push"),
        ("drift.yml", "schedule"),
        ("loadtest.yml", "workflow_dispatch"),
    ],
)
def test_each_workflow_runs_on_its_event(name: str, trigger: str) -> None:
    assert trigger in _load(name)["on"]


def test_private_cluster_environments_deploy_from_their_in_vpc_runner() -> None:
    """stage and prod keep the cluster API private: their jobs run on the label infra/ci_runner.py exports."""
    from contracts.config import load_environment
    from infra.ci_runner import runner_label

    jobs = _load("deploy.yml")["jobs"]
    for env in ("dev", "qa", "stage", "prod"):
        model = load_environment(env, ROOT)
        if model.kubernetes.endpoint_public_access:
            assert jobs[env]["runs-on"].startswith("ubuntu-"), env
        else:
            assert model.ci.runner, env
            assert jobs[env]["runs-on"] == runner_label(f"wallet-{env}-deploy-runner"), env
