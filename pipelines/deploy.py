"""``deploy``, ``rollback`` and ``drift``: the Pulumi engine through the Automation API, digests as config.

A deployment never edits the checkout. It copies the project's tracked files to a work folder,
sets every image of the stack file to ``<registry>/<env>/<service>@sha256:…`` (the build manifest's
digests, or a previous release's for a rollback), validates that stack file with the project's own
config model, then runs ``pulumi up`` for that stack through :mod:`pulumi.automation` and waits for
the rollout. Without the Pulumi CLI (as on this machine) the step stops before the engine with a
clear message; everything up to that point — stack, config, digests — has run and is returned.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts.config import ConfigError, load_environment
from contracts.errors import UsageProblem
from pipelines.results import CheckResult, Status, StepResult

IMAGE_KEYS: Mapping[str, str] = {
    "wallet": "wallet",
    "roundups": "roundups",
    "exchange": "exchange",
    "loadtest": "loadtest",
}
"""Built image → what it configures: ``services.<name>.image``, every exchange's ``image``, or the
in-cluster load test's ``loadtest.image``."""

NO_ENGINE = (
    "the Pulumi CLI is not installed, so the engine cannot run here: stopped before `pulumi {verb}` of "
    "stack {stack}; the stack, its config and the digests above are ready (install the CLI, e.g. "
    "with the pulumi/actions step in CI, and run again)"
)


@dataclass(frozen=True)
class Rollout:
    """A workload to wait for after ``pulumi up``: ``kubectl rollout status`` of namespace/name."""

    namespace: str
    name: str


@dataclass
class DeployInputs:
    """Everything ``pulumi up`` of one stack is given: the work folder, the stack and its image config."""

    env: str
    work_dir: Path
    images: dict[str, str]
    """Config path → image reference by digest, e.g. ``services.wallet.image`` → ``…/dev/wallet@sha256:…``."""
    digests: dict[str, str]
    rollouts: list[Rollout] = field(default_factory=list)
    cluster: str | None = None
    """The EKS cluster whose Deployments the rollout wait watches (None: no Kubernetes workloads)."""

    @property
    def stack(self) -> str:
        return self.env


def image_config(
    env: str, registry: str, digests: Mapping[str, str], exchanges: Sequence[str]
) -> dict[str, str]:
    """The stack-file image settings for ``env``: each service's repository in that environment, by digest."""
    missing = sorted(set(IMAGE_KEYS) - set(digests))
    if missing:
        raise UsageProblem(
            f"the build manifest has no digest for {', '.join(missing)}; rebuild with every service"
        )
    config = {
        f"services.{IMAGE_KEYS[service]}.image": f"{registry}/{env}/{service}@{digests[service]}"
        for service in ("wallet", "roundups")
    }
    for index, _name in enumerate(exchanges):
        config[f"exchanges[{index}].image"] = f"{registry}/{env}/exchange@{digests['exchange']}"
    config["loadtest.image"] = f"{registry}/{env}/loadtest@{digests['loadtest']}"
    return config


def _set_path(document: dict[str, Any], path: str, value: str) -> None:
    node: Any = document["config"]
    parts = path.replace("]", "").replace("[", ".").split(".")
    key = f"walletops:{parts[0]}"
    node = node[key]
    for part in parts[1:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    node[int(last) if isinstance(node, list) else last] = value


def prepare(
    project_dir: Path,
    env: str,
    *,
    registry: str,
    digests: Mapping[str, str],
    work_dir: Path,
    rollouts: Sequence[Rollout] = (),
    cluster: str | None = None,
) -> DeployInputs:
    """Copy the project to ``work_dir`` with the stack file's images set to ``digests``; validate it.

    A digest that the config model refuses (or a registry address it cannot hold) is a usage problem
    naming the file, key and value — found here, before any engine runs.
    """
    files = (
        subprocess.run(
            ["git", "-C", str(project_dir), "ls-files", "-z"], capture_output=True, check=True, timeout=60
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = project_dir / name
        if source.is_file():
            target = work_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    stack_file = work_dir / f"Pulumi.{env}.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    exchanges = [entry["name"] for entry in document["config"].get("walletops:exchanges", [])]
    images = image_config(env, registry, digests, exchanges)
    for path, value in images.items():
        _set_path(document, path, value)
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    try:
        load_environment(env, work_dir)
    except ConfigError as exc:
        raise UsageProblem(str(exc).replace(str(work_dir) + "/", "")) from None
    return DeployInputs(env, work_dir, images, dict(digests), list(rollouts), cluster)


def engine_available() -> bool:
    return shutil.which("pulumi") is not None


def _stack(inputs: DeployInputs) -> Any:
    from pulumi import automation

    return automation.select_stack(stack_name=inputs.stack, work_dir=str(inputs.work_dir))


def _wait_rollouts(
    rollouts: Sequence[Rollout], cluster: str | None, work_dir: Path, timeout_s: int = 600
) -> CheckResult:
    """``kubectl rollout status`` of every Deployment, with a kubeconfig for ``cluster`` from the AWS CLI."""
    started = time.monotonic()
    if not rollouts or cluster is None:
        return CheckResult("rollout", Status.passed, "no Kubernetes workloads to wait for", [], 0.0)
    kubeconfig = work_dir / ".kubeconfig"
    proc = subprocess.run(
        ["aws", "eks", "update-kubeconfig", "--name", cluster, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        return CheckResult(
            "rollout",
            Status.failed,
            f"kubeconfig for {cluster}: {proc.stderr.strip()[-500:]}",
            [],
            time.monotonic() - started,
        )
    for rollout in rollouts:
        proc = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "rollout",
                "status",
                f"deployment/{rollout.name}",
                "-n",
                rollout.namespace,
                f"--timeout={timeout_s}s",
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s + 30,
            check=False,
        )
        if proc.returncode != 0:
            return CheckResult(
                "rollout",
                Status.failed,
                f"{rollout.namespace}/{rollout.name}: {(proc.stdout + proc.stderr).strip()[-500:]}",
                [],
                time.monotonic() - started,
            )
    return CheckResult(
        "rollout", Status.passed, f"{len(rollouts)} deployments rolled out", [], time.monotonic() - started
    )


def deploy(
    inputs: DeployInputs, step: str = "deploy", progress: Callable[[str], None] = lambda _m: None
) -> StepResult:
    """``pulumi up`` of the prepared stack, then the rollout wait (or a clear stop without the engine)."""
    started = time.monotonic()
    result = StepResult(step)
    result.checks.append(
        CheckResult(
            "inputs", Status.passed, f"stack {inputs.stack}: {len(inputs.images)} images by digest", [], 0.0
        )
    )
    result.artefacts["work dir"] = str(inputs.work_dir)
    for path, reference in sorted(inputs.images.items()):
        result.artefacts[path] = reference
    if not engine_available():
        result.checks.append(
            CheckResult("pulumi up", Status.failed, NO_ENGINE.format(verb="up", stack=inputs.stack))
        )
        result.seconds = time.monotonic() - started
        return result
    progress(f"pulumi up --stack {inputs.stack}")
    up_started = time.monotonic()
    outcome = _stack(inputs).up(on_output=progress, message=f"{step}: {len(inputs.digests)} images by digest")
    summary = outcome.summary
    status = Status.passed if summary.result == "succeeded" else Status.failed
    changes = ", ".join(f"{k} {v}" for k, v in sorted((summary.resource_changes or {}).items()))
    result.checks.append(
        CheckResult(
            "pulumi up",
            status,
            f"{summary.result}: {changes or 'no changes'}",
            [],
            time.monotonic() - up_started,
        )
    )
    if status is Status.passed:
        result.checks.append(_wait_rollouts(inputs.rollouts, inputs.cluster, inputs.work_dir))
    result.seconds = time.monotonic() - started
    return result


def drift(
    project_dir: Path, env: str, *, preview: bool = False, progress: Callable[[str], None] = lambda _m: None
) -> StepResult:
    """Refresh in preview mode, then ``preview --expect-no-changes``: any difference fails the step.

    With ``preview`` only the preview runs (the pull-request view of what would change).
    """
    started = time.monotonic()
    result = StepResult("preview" if preview else "drift")
    if not engine_available():
        verb = "preview" if preview else "refresh --preview-only"
        result.checks.append(CheckResult("engine", Status.failed, NO_ENGINE.format(verb=verb, stack=env)))
        result.seconds = time.monotonic() - started
        return result
    with tempfile.TemporaryDirectory(prefix=f"walletops-drift-{env}-") as tmp:
        inputs = DeployInputs(env, Path(tmp), {}, {})
        shutil.copytree(
            project_dir,
            inputs.work_dir,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".venv", ".tools", ".state", ".git", "reports"),
        )
        stack = _stack(inputs)
        if not preview:
            check_started = time.monotonic()
            refresh = stack.refresh(preview_only=True, expect_no_changes=True, on_output=progress)
            changed = {k: v for k, v in (refresh.summary.resource_changes or {}).items() if k != "same"}
            result.checks.append(
                CheckResult(
                    "refresh (preview only)",
                    Status.failed if changed else Status.passed,
                    f"cloud differs from state: {changed}" if changed else "state matches",
                    [],
                    time.monotonic() - check_started,
                )
            )
        check_started = time.monotonic()
        outcome = stack.preview(expect_no_changes=not preview, diff=True, on_output=progress)
        changed = {k: v for k, v in outcome.change_summary.items() if k != "same"}
        status = Status.failed if changed and not preview else Status.passed
        result.checks.append(
            CheckResult(
                "preview",
                status,
                f"changes: {changed}" if changed else "no changes",
                [],
                time.monotonic() - check_started,
            )
        )
    result.seconds = time.monotonic() - started
    return result
