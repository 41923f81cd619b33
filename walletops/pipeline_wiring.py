"""Where the pipeline steps meet the other areas: plans, policy verdicts, cost diff, local stack, load gate.

``pipelines`` is an area like ``cost`` or ``loadtests``: it does not plan and does not import
another area. The command line does, here, and hands the steps what they need as plain values
and ready :class:`~pipelines.results.CheckResult` objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from contracts.config import load_all, load_environment
from contracts.errors import UsageProblem
from contracts.plan_graph import PlanGraph, read_plan
from contracts.project import ENVIRONMENTS
from loadtests.mix import GateRun, gate_run_length
from loadtests.settings import parse_duration
from loadtests.slo import load_slo
from pipelines.deploy import Rollout
from pipelines.images import ImageError
from pipelines.manifest import BuildManifest
from pipelines.registry import Registry
from pipelines.results import CheckResult, Finding, Status, StepResult
from pipelines.smoke import SmokeTarget, smoke
from pipelines.workspace import Workspace

Sources = dict[str, tuple[str, int]]


def is_walletops_project(root: Path) -> bool:
    """A folder with the four stack files is this project; any other Pulumi folder is planned generically."""
    return all((root / f"Pulumi.{env}.yaml").is_file() for env in ENVIRONMENTS)


def plan_for_review(root: Path, plan_file: Path | None) -> tuple[PlanGraph, Sources]:
    """The plan to review: the project's four environments (planner), or any other Pulumi program."""
    if plan_file is not None:
        return read_plan(plan_file), {}
    if is_walletops_project(root):
        from walletops.orchestration import build_plan

        return build_plan("all", root), {}
    from pipelines.programs import plan_program

    plan, sources = plan_program(root)
    return PlanGraph({plan.name: plan}), sources


def policy_check(
    graph: PlanGraph,
    root: Path,
    sources: Sources,
    today: date | None = None,
    *,
    checkov: Path | None = None,
) -> CheckResult:
    """The guardrails over every planned environment; mandatory failures fail the review.

    For this project the third-party scanners run too (checkov once over every environment's
    Terraform-plan export and manifests, parliament, the Kubernetes schemas), with the same waivers
    as ``walletops policy --scanners``: an unwaived scanner finding fails the review like a rule.
    """
    from infra.policy.engine import evaluate_plan
    from infra.policy.model import Severity, rules_by_id
    from infra.policy.sarif import module_of
    from infra.policy.waivers import NO_WAIVERS, WAIVERS_FILE, load_waivers

    started = time.monotonic()
    day = today or date.today()
    project = is_walletops_project(root)
    waivers = load_waivers(root / WAIVERS_FILE, set(rules_by_id()), day) if project else NO_WAIVERS
    configs = load_all(root, graph.names) if project else {}
    report = evaluate_plan(graph, waivers=waivers, today=day, configs=configs)
    if project:
        from infra.policy.engine import scanner_results
        from infra.policy.scanners import SCANNERS, run_scanners

        versions = {name: c.kubernetes.version for name, c in configs.items() if c.kubernetes is not None}
        checks = run_scanners(graph, SCANNERS, kubernetes_versions=versions, checkov=checkov)
        report.results.extend(scanner_results(checks, graph, waivers=waivers, today=day))
        report.scanners = SCANNERS
    findings = []
    for result in report.results:
        for finding in result.findings:
            if finding.status != "failed":
                continue
            file, line = sources.get(finding.urn or "", (None, None))
            if file is None and finding.urn:
                file = module_of(finding.urn, graph[finding.env].by_urn, root if project else None)
            where = f"{finding.env}: {finding.name}: " if finding.name else f"{finding.env}: "
            findings.append(
                Finding(
                    "policy",
                    finding.rule_id,
                    where + finding.message,
                    file or ("Pulumi.yaml" if not project else f"Pulumi.{finding.env}.yaml"),
                    line,
                    "error" if finding.severity is Severity.mandatory else "warning",
                )
            )
    failed = [f for f in findings if f.severity == "error"]
    status = Status.failed if failed else Status.passed
    envs = ", ".join(graph.names)
    scanned = f" and {', '.join(report.scanners)}" if report.scanners else ""
    summary = (
        f"{len(failed)} mandatory finding(s), {len(findings) - len(failed)} advisory in {envs}"
        if findings
        else f"every rule{scanned} passes in {envs}"
    )
    return CheckResult("policy", status, summary, findings, time.monotonic() - started)


def base_plan(root: Path, ref: str, out: Path) -> Path:
    """Plan ``ref`` (the base branch) from a temporary worktree, with that tree's code, into ``out``."""
    with tempfile.TemporaryDirectory(prefix="walletops-base-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(tree), ref],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        try:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "services-stub")])}
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "walletops",
                    "plan",
                    "--env",
                    "all",
                    "--format",
                    "json",
                    "--output",
                    str(out),
                    "--project-dir",
                    str(tree),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=1800,
                env=env,
                cwd=tree,
            )
        finally:
            subprocess.run(
                ["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
                check=False,
                timeout=120,
            )
    return out


def cost_diff_check(graph: PlanGraph, root: Path, base: PlanGraph) -> tuple[CheckResult, str]:
    """Monthly cost change of this plan against the base branch's (information, never a failure)."""
    from cost.diff import diff_costs, render_markdown
    from cost.estimator import estimate
    from walletops.cli_cost import usage_for

    started = time.monotonic()
    models = load_all(root, graph.names)
    base_models = load_all(root, [env for env in base.names if env in models]) if base.names else {}
    head_report = estimate(graph, usage_for(models, {}, ""))
    base_report = estimate(base.select(list(base_models)), usage_for(base_models, {}, ""))
    diff = diff_costs(base_report, head_report)
    summary = f"{diff.delta_usd:+,.2f} USD/month against the base branch"
    return CheckResult("cost diff", Status.passed, summary, [], time.monotonic() - started), render_markdown(
        diff
    )


def review_extra(
    root: Path, graph: PlanGraph, sources: Sources, base: PlanGraph | None, cost_markdown: list[str]
) -> list[CheckResult]:
    """Policy over the plan and, for this project with a base plan, the cost diff (its Markdown appended)."""
    checks = [policy_check(graph, root, sources)]
    if base is not None and is_walletops_project(root):
        check, text = cost_diff_check(graph, root, base)
        checks.append(check)
        cost_markdown.append(text)
    return checks


def tools_dir() -> Path:
    """The ``.tools`` folder of this installation (checkov, actionlint), made by scripts/bootstrap."""
    return Path(__file__).resolve().parents[1] / ".tools"


def manifests_of(graph: PlanGraph, root: Path) -> dict[str, list[dict[str, Any]]]:
    """The rendered manifests for the review's own checkov, or none for this project: its policy
    check scans them already (checkov's Kubernetes checks with the project's waivers)."""
    if is_walletops_project(root):
        return {}
    return {env.name: env.kubernetes_manifests() for env in graph}


def deploy_local(root: Path, env: str, progress: Callable[[str], None]) -> StepResult:
    """Deploy to the local stack: start it (embedded backend) unless it is already up."""
    from walletstubs.localstack.servers import free_port
    from walletstubs.localstack.stack import LocalStack, StackError

    started = time.monotonic()
    result = StepResult("deploy")
    stack = LocalStack(root, None, env)
    check_started = time.monotonic()
    try:
        if stack.running():
            summary = f"local stack already up in {stack.state_dir}"
        else:
            record = stack.up("embedded", free_port(), progress=progress)
            summary = f"local stack ({env}) up: gateway {record.gateway_url}"
    except StackError as exc:
        result.checks.append(
            CheckResult("stack up", Status.failed, str(exc), [], time.monotonic() - check_started)
        )
        result.seconds = time.monotonic() - started
        return result
    result.checks.append(
        CheckResult("stack up", Status.passed, summary, [], time.monotonic() - check_started)
    )
    status = stack.status()
    result.artefacts["gateway"] = str(status.get("gateway_url"))
    result.artefacts["stack state"] = str(stack.state_dir)
    result.seconds = time.monotonic() - started
    return result


def local_smoke_target(root: Path, env: str) -> SmokeTarget:
    """The running local stack's gateway and keys (a usage problem when no stack is up)."""
    from walletstubs.localstack.stack import LocalStack

    stack = LocalStack(root, None, env)
    if not stack.running():
        raise UsageProblem(
            "no local stack is running; `walletops pipeline deploy --env dev --local` starts it"
        )
    status = stack.status()
    return SmokeTarget(
        url=str(status["gateway_url"]),
        api_key=str(status["api_key"]),
        operator_key=str(status.get("operator_api_key") or status["api_key"]),
        token=str(status.get("token") or ""),
        label="local gateway",
    )


def image_smoke(
    root: Path,
    *,
    workspace: Workspace,
    registry: Registry,
    manifest: BuildManifest,
    env: str,
    progress: Callable[[str], None],
) -> StepResult:
    """Run the pushed images as the local topology wires them (one exchange), then smoke the wallet.

    Each image is pulled from the registry by digest and started with podman (runc, read-only root,
    no capabilities) on a free loopback port; every one must answer /healthz, and the wallet
    container takes one transfer and balances its ledger.
    """
    from walletstubs.localstack.servers import free_port
    from walletstubs.localstack.topology import service_names, service_processes

    from pipelines.containers import pull, running

    started = time.monotonic()
    result = StepResult("smoke images")
    exchanges = load_environment(env, root).exchanges[:1]
    images = {
        "wallet": "wallet",
        "roundups": "roundups",
        "exchange": "exchange",
        "simexchange": "simexchange",
    }
    with tempfile.TemporaryDirectory(prefix="walletops-image-smoke-") as tmp:
        state = Path(tmp)
        ports = {name: free_port() for name in service_names(exchanges)}
        processes = service_processes(exchanges, ports=ports, state_dir=state / "services")
        for path in [state, *state.rglob("*")]:
            os.chown(path, 10001, 10001)
        with contextlib.ExitStack() as stack:
            for process in processes:
                service = images[process.name.split("-")[0]]
                record = manifest.images.get(service)
                check_started = time.monotonic()
                if record is None:
                    result.checks.append(
                        CheckResult(process.name, Status.failed, f"no {service} image in the build")
                    )
                    break
                reference = f"{registry.repository(env, service)}@{record.digest}"
                try:
                    progress(f"{process.name} from {reference}")
                    pull(workspace.storage, registry, reference)
                    container = stack.enter_context(
                        running(
                            workspace.storage,
                            reference,
                            name=f"walletops-{process.name}-{os.getpid()}",
                            port=process.port,
                            env=process.env,
                            mounts=[state],
                            logs=workspace.state / "logs",
                        )
                    )
                except ImageError as exc:
                    result.checks.append(
                        CheckResult(
                            process.name, Status.failed, str(exc), [], time.monotonic() - check_started
                        )
                    )
                    break
                result.checks.append(
                    CheckResult(
                        process.name,
                        Status.passed,
                        f"{reference} answers /healthz on {container.url}",
                        [],
                        time.monotonic() - check_started,
                    )
                )
            else:
                wallet = next(p for p in processes if p.name == "wallet")
                smoked = smoke(SmokeTarget(wallet.url, label="wallet container"), step="smoke images")
                result.checks += [
                    CheckResult(f"wallet container: {c.name}", c.status, c.summary, c.findings, c.seconds)
                    for c in smoked.checks
                ]
    result.seconds = time.monotonic() - started
    return result


GATE_RATE_RPS = 60.0
"""Requests per second the SLO gate offers (open model): a steady rate the local stack can serve."""


def gate_length(root: Path, env: str, rate_rps: float, duration: str | None) -> GateRun:
    """The gate's run: ``duration`` if given and long enough, else the shortest run in which every
    percentile gate of ``loadtests/slo/<env>.yaml`` gets its minimum sample at ``rate_rps``.

    A shorter ``duration`` is refused (the gate would only report "not enough data").
    """
    spec = load_slo(root / "loadtests" / "slo" / f"{env}.yaml")
    exchanges = [exchange.name for exchange in load_environment(env, root).exchanges]
    needed = gate_run_length(spec, exchanges, rate_rps)
    if duration is None:
        return needed
    seconds = int(parse_duration(duration))
    if seconds < needed.duration_s:
        raise UsageProblem(
            f"--duration {duration}: too short for the {env} SLO gates; at {rate_rps:g} rps "
            f"{needed.scarcest} ({needed.needed:,} requests needed for its percentile gates) needs "
            f"at least {needed.duration_s} s; allowed: {needed.duration_s}s or more, or no --duration"
        )
    return replace(needed, duration_s=seconds)


def gate_run(
    root: Path,
    env: str,
    url: str | None,
    out: Path,
    duration: str | None = None,
    *,
    rate_rps: float = GATE_RATE_RPS,
) -> CheckResult:
    """The environment's SLO gate: an open-model load test (``walletops loadtest --scenario arrival``)
    at a constant ``rate_rps``, long enough for every p95/p99 gate to be judged; its verdict.

    The open model keeps offering the same load when the system slows down, so a saturated
    environment fails on latency instead of passing a quieter test; the SLO thresholds and minimum
    samples are the environment's own (:func:`gate_length`). Run as its own process: Locust patches
    the whole process with gevent. Locally it uses the running stack on loopback; with ``url`` it
    targets that gateway (keys from the environment).
    """
    length = gate_length(root, env, rate_rps, duration)
    started = time.monotonic()
    argv = [
        sys.executable,
        "-m",
        "walletops",
        "loadtest",
        "--scenario",
        "arrival",
        "--rate",
        f"{length.rate_rps:g}",
        "--duration",
        f"{length.duration_s}s",
        "--env",
        env,
        "--target",
        url or "local",
        "--format",
        "json",
        "--output",
        str(out),
        "--report-dir",
        str(out.parent / "loadtest"),
        "--project-dir",
        str(root),
    ]
    if url is not None and not url.startswith(("http://127.", "http://localhost")):
        argv.append("--allow-remote")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False, cwd=root)
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1) or not out.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        return CheckResult(
            "slo load test", Status.failed, f"load test did not run ({proc.returncode}): {tail}", [], seconds
        )
    summary = json.loads(out.read_text())
    gates = [gate for gate in summary.get("gates", []) if isinstance(gate, dict)]
    breached = [gate for gate in gates if gate.get("passed") is False]
    total = summary.get("total", {})
    requests = total.get("requests", "?") if isinstance(total, dict) else "?"
    verdict = "held" if proc.returncode == 0 else f"breached ({len(breached)} of {len(gates)} gates)"
    text = (
        f"{env} SLO {verdict}; {requests} requests at {length.rate_rps:g} rps for {length.duration_s} s "
        f"(open model); report {out}"
    )
    findings = [
        Finding(
            "loadtest",
            str(gate.get("gate")),
            f"measured {gate.get('measured')}, allowed {gate.get('threshold')}",
            str(out),
        )
        for gate in breached
    ]
    return CheckResult(
        "slo load test", Status.passed if proc.returncode == 0 else Status.failed, text, findings, seconds
    )


def rollouts_for(root: Path, env: str) -> tuple[str | None, list[Rollout]]:
    """The EKS cluster and the Deployments the plan of ``env`` creates, for the rollout wait."""
    from pipelines.deploy import Rollout
    from walletops.orchestration import build_plan

    graph = build_plan(env, root)
    clusters = [
        r["inputs"].get("name") for r in graph[env].resources if r["type"] == "aws:eks/cluster:Cluster"
    ]
    return clusters[0] if clusters else None, [
        Rollout(m.get("metadata", {}).get("namespace", "default"), m["metadata"]["name"])
        for m in graph[env].kubernetes_manifests()
        if m.get("kind") == "Deployment" and m.get("metadata", {}).get("name")
    ]
