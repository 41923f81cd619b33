"""``walletops pipeline STEP``: the CI/CD steps, the same on a laptop and in the GitHub workflows.

Each command is thin: it gathers inputs (and, where a step needs another area, computes that here
through :mod:`walletops.pipeline_wiring`), calls the step's function in :mod:`pipelines`, prints a
summary table (or ``--format json``) and exits 1 when the step failed, 2 on bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.project import ENVIRONMENTS, resolve_project_dir
from pipelines.results import CheckResult, Status, StepResult
from walletops.options import Output, ProjectDir

if TYPE_CHECKING:
    from pipelines.manifest import BuildManifest
    from pipelines.registry import Registry
    from pipelines.workspace import Workspace

app = typer.Typer(
    help="CI/CD steps: review, build, deploy, smoke, gate, promote, rollback, drift, run.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="The pipeline's state folder (default: <project>/.state/pipeline).",
        file_okay=False,
    ),
]
STYLE = {Status.passed: "green", Status.failed: "bold red", Status.not_run: "yellow"}


def _formats(fmt: Format, allowed: tuple[Format, ...]) -> None:
    if fmt not in allowed:
        raise UsageProblem(f"--format {fmt.value}: allowed: {', '.join(f.value for f in allowed)}")


def _env(value: str, option: str = "--env") -> str:
    if value not in ENVIRONMENTS:
        raise UsageProblem(f"{option} {value!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)}")
    return value


def _progress(message: str) -> None:
    err_console.print(f"[dim]… {escape(message)}[/dim]")


def render(result: StepResult, fmt: Format, output: Path | None, findings: int = 40) -> None:
    """The step's summary table (checks, then findings, then artefacts) or its JSON document."""
    if fmt is Format.json:
        write_text(to_json(result.to_document()), output)
    else:
        table = Table(title=f"pipeline {result.step}: {result.status.value} in {result.seconds:.1f} s")
        for column in ("check", "status", "seconds", "summary"):
            table.add_column(column, overflow="fold")
        for check in result.checks:
            table.add_row(
                check.name,
                f"[{STYLE[check.status]}]{check.status.value}[/]",
                f"{check.seconds:.1f}",
                escape(check.summary),
            )
        target = console if output is None else None
        shown = [f for f in result.findings if f.severity != "note"]
        details = Table(title=f"findings ({len(shown)})") if shown else None
        if details is not None:
            for column in ("tool", "rule", "where", "message"):
                details.add_column(column, overflow="fold")
            for finding in shown[:findings]:
                details.add_row(finding.tool, finding.rule, escape(finding.location), escape(finding.message))
            if len(shown) > findings:
                details.add_row("…", "", "", f"{len(shown) - findings} more (--format json)")
        artefacts = Table(title="artefacts") if result.artefacts else None
        if artefacts is not None:
            artefacts.add_column("artefact")
            artefacts.add_column("where", overflow="fold")
            for name, where in sorted(result.artefacts.items()):
                artefacts.add_row(name, escape(where))
        if target is not None:
            for part in (table, details, artefacts):
                if part is not None:
                    target.print(part)
        else:
            from rich.console import Console

            assert output is not None
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w", encoding="utf-8") as handle:
                file_console = Console(file=handle, width=160)
                for part in (table, details, artefacts):
                    if part is not None:
                        file_console.print(part)
            err_console.print(f"wrote {output}")
    if result.status is Status.failed:
        raise typer.Exit(1)


@app.command("review")
def review(
    *,
    fmt: FormatOption = Format.table,
    output: Output = None,
    sarif: Annotated[
        Path | None, typer.Option("--sarif", help="Also write every finding as SARIF 2.1.0.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the pull-request comment (Markdown).")
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Review this saved plan instead of planning now.")
    ] = None,
    base_plan: Annotated[
        Path | None, typer.Option("--base-plan", help="The base branch's plan for the cost diff.")
    ] = None,
    base_ref: Annotated[
        str | None, typer.Option("--base-ref", help="Plan this git ref for the cost diff (e.g. origin/main).")
    ] = None,
    audit: Annotated[bool, typer.Option("--audit/--no-audit", help="Run pip-audit on the locks.")] = True,
    project_dir: ProjectDir = None,
) -> None:
    """Every automated check before a build: linters, scanners, workflow checks, policy, cost diff."""
    from pipelines.review import markdown as to_markdown
    from pipelines.review import review as run_review
    from pipelines.sarif import to_sarif
    from walletops import pipeline_wiring as wiring

    _formats(fmt, (Format.table, Format.json, Format.md, Format.sarif))
    if base_plan is not None and base_ref is not None:
        raise UsageProblem("--base-plan and --base-ref: give one of them")
    root = resolve_project_dir(project_dir)
    _progress("planning for policy and manifests")
    graph, sources = wiring.plan_for_review(root, plan_file)
    base = None
    if base_plan is not None:
        from contracts.plan_graph import read_plan

        base = read_plan(base_plan, "--base-plan")
    elif base_ref is not None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="walletops-base-plan-") as tmp:
            _progress(f"planning {base_ref} for the cost diff")
            from contracts.plan_graph import read_plan

            base = read_plan(wiring.base_plan(root, base_ref, Path(tmp) / "base.json"), "--base-ref")
    cost_markdown: list[str] = []

    def extra() -> list[CheckResult]:
        return wiring.review_extra(root, graph, sources, base, cost_markdown)

    result = run_review(
        root,
        tools=wiring.tools_dir(),
        manifests=wiring.manifests_of(graph, root),
        extra=extra,
        audit=audit,
        progress=_progress,
    )
    comment = to_markdown(result, cost_markdown[0] if cost_markdown else None)
    if sarif is not None:
        write_text(json.dumps(to_sarif(result), indent=2) + "\n", sarif)
    if markdown is not None:
        write_text(comment, markdown)
    if fmt is Format.sarif:
        write_text(json.dumps(to_sarif(result), indent=2) + "\n", output)
    elif fmt is Format.md:
        write_text(comment, output)
    if fmt in (Format.sarif, Format.md):
        if result.status is Status.failed:
            raise typer.Exit(1)
        return
    render(result, fmt, output)


ManifestOption = Annotated[
    Path | None,
    typer.Option(
        "--manifest", help="Build manifest (default: the latest build of this commit).", dir_okay=False
    ),
]
ReleasesOption = Annotated[
    Path | None,
    typer.Option(
        "--releases", help="Release history file (default: <state-dir>/releases.json).", dir_okay=False
    ),
]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry", help="Registry address (default: the loopback registry, started when needed)."
    ),
]


def _workspace(project_dir: Path | None, state_dir: Path | None) -> Workspace:
    from pipelines.workspace import Workspace

    return Workspace.for_project(resolve_project_dir(project_dir), state_dir.resolve() if state_dir else None)


def _registry(workspace: Workspace, address: str | None) -> Registry:
    from pipelines.images import ImageError, missing_tools
    from pipelines.registry import Registry

    if address is not None:
        if not address or "/" in address.strip("/") or " " in address:
            raise UsageProblem(
                f"--registry {address!r}: give host[:port] only, "
                "e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com"
            )
        return Registry(address.strip("/"))
    missing = missing_tools(("docker-registry",))
    if missing:
        raise UsageProblem(
            f"the loopback registry needs the Debian package {', '.join(missing)} (scripts/system-packages)"
        )
    try:
        return workspace.registry.start()
    except ImageError as exc:
        raise UsageProblem(str(exc)) from None


def _manifest(workspace: Workspace, path: Path | None) -> BuildManifest:
    from pipelines.manifest import BuildManifest
    from pipelines.workspace import commit_id

    return BuildManifest.read(path or workspace.manifest_file(commit_id(workspace.project_dir)))


def _releases_path(workspace: Workspace, path: Path | None) -> Path:
    return path or workspace.releases_file


@app.command("registry")
def registry(
    action: Annotated[str, typer.Argument(help="start, stop or status")] = "status",
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """The loopback image registry (Debian's docker-registry) the local pipeline pushes to."""
    workspace = _workspace(project_dir, state_dir)
    if action == "start":
        console.print(f"registry: {_registry(workspace, None).address}", markup=False)
    elif action == "stop":
        stopped = workspace.registry.stop()
        console.print("registry stopped" if stopped else "no registry was running", markup=False)
    elif action == "status":
        running = workspace.registry.running()
        console.print(f"registry: {running.address}" if running else "registry: not running", markup=False)
        if running is None:
            raise typer.Exit(1)
    else:
        raise UsageProblem(f"registry {action!r}: allowed: start, stop, status")


@app.command("build")
def build(
    *,
    env: Annotated[
        str, typer.Option("--env", "-e", help="Environment whose repository receives the images.")
    ] = "dev",
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Build only these services (repeatable).")
    ] = None,
    registry: RegistryOption = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """One OCI image per service, hermetic and daemonless, with an SBOM; pushed; digests to a manifest."""
    from pipelines.build import build_images
    from pipelines.images import SERVICES, missing_tools

    _formats(fmt, (Format.table, Format.json))
    _env(env)
    missing = missing_tools(("mmdebstrap", "buildah", "skopeo", "runc"))
    if missing:
        raise UsageProblem(
            f"image builds need the Debian packages {', '.join(missing)} (scripts/system-packages)"
        )
    workspace = _workspace(project_dir, state_dir)
    result, _ = build_images(
        workspace,
        _registry(workspace, registry),
        services=service or SERVICES,
        environment=env,
        progress=_progress,
    )
    render(result, fmt, output)


@app.command("deploy")
def deploy(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    target: Annotated[
        str, typer.Option("--target", help="aws (pulumi up) or local (the local stack).")
    ] = "aws",
    manifest: ManifestOption = None,
    releases: ReleasesOption = None,
    registry: RegistryOption = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """Deploy the build manifest's digests: `pulumi up` (Automation API), then the rollout wait."""

    _formats(fmt, (Format.table, Format.json))
    _env(env)
    if target not in ("aws", "local"):
        raise UsageProblem(f"--target {target!r}: allowed: aws, local")
    workspace = _workspace(project_dir, state_dir)
    built = _manifest(workspace, manifest)
    address = registry or built.registry
    if target == "local":
        from walletops.pipeline_wiring import deploy_local

        result = deploy_local(workspace.project_dir, env, _progress)
    else:
        result = _deploy_aws(workspace, env, address, built.digests(), "deploy")
    if result.status is Status.passed:
        _record(
            workspace,
            path=releases,
            env=env,
            commit=built.commit,
            registry=address,
            digests=built.digests(),
            source=f"build {built.commit}",
        )
    render(result, fmt, output)


def _deploy_aws(
    workspace: Workspace, env: str, registry: str, digests: dict[str, str], step: str
) -> StepResult:
    import tempfile

    from pipelines.deploy import deploy as run_deploy
    from pipelines.deploy import engine_available, prepare
    from walletops.pipeline_wiring import rollouts_for

    cluster, rollouts = rollouts_for(workspace.project_dir, env) if engine_available() else (None, [])
    with tempfile.TemporaryDirectory(prefix=f"walletops-{step}-{env}-") as tmp:
        inputs = prepare(
            workspace.project_dir,
            env,
            registry=registry,
            digests=digests,
            work_dir=Path(tmp),
            rollouts=rollouts,
            cluster=cluster,
        )
        return run_deploy(inputs, step=step, progress=_progress)


def _record(
    workspace: Workspace,
    *,
    path: Path | None,
    env: str,
    commit: str,
    registry: str,
    digests: dict[str, str],
    source: str,
) -> None:
    from datetime import UTC, datetime

    from pipelines.manifest import Release, Releases

    file = _releases_path(workspace, path)
    history = Releases.load(file)
    history.record(
        env,
        Release(
            commit=commit,
            registry=registry,
            digests=digests,
            deployed=datetime.now(UTC).replace(microsecond=0),
            source=source,
        ),
    )
    history.save(file)


def _mark(workspace: Workspace, path: Path | None, env: str, gate: str) -> None:
    from pipelines.manifest import Releases

    file = _releases_path(workspace, path)
    history = Releases.load(file)
    history.mark_passed(env, gate)  # type: ignore[arg-type]
    history.save(file)


@app.command("smoke")
def smoke(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Gateway URL (keys from WALLETOPS_API_KEY / _OPERATOR_API_KEY); "
            "default: the running local stack.",
        ),
    ] = None,
    images: Annotated[
        bool,
        typer.Option("--images/--no-images", help="Also run the pushed images with podman and smoke them."),
    ] = False,
    manifest: ManifestOption = None,
    releases: ReleasesOption = None,
    registry: RegistryOption = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """Health, one transfer and the ledger check against the deployed gateway (and the images themselves)."""
    import os

    from pipelines.smoke import SmokeTarget
    from pipelines.smoke import smoke as run_smoke
    from walletops.pipeline_wiring import image_smoke, local_smoke_target

    _formats(fmt, (Format.table, Format.json))
    _env(env)
    workspace = _workspace(project_dir, state_dir)
    if url is not None:
        key = os.environ.get("WALLETOPS_API_KEY", "")
        if not key:
            raise UsageProblem(
                f"--url {url}: set WALLETOPS_API_KEY to the gateway consumer key for smoke tests"
            )
        target = SmokeTarget(url, key, os.environ.get("WALLETOPS_OPERATOR_API_KEY", "") or key)
    else:
        target = local_smoke_target(workspace.project_dir, env)
    result = run_smoke(target)
    if images:
        built = _manifest(workspace, manifest)
        from pipelines.images import missing_tools

        missing = missing_tools(("podman", "runc"))
        if missing:
            raise UsageProblem(f"--images needs the Debian packages {', '.join(missing)}")
        extra = image_smoke(
            workspace.project_dir,
            workspace=workspace,
            registry=_registry(workspace, registry),
            manifest=built,
            env=env,
            progress=_progress,
        )
        result.checks += extra.checks
        result.seconds += extra.seconds
    if result.status is Status.passed:
        _mark(workspace, releases, env, "smoke")
    render(result, fmt, output)


@app.command("gate")
def gate(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    url: Annotated[
        str | None, typer.Option("--url", help="Gateway URL (default: the running local stack).")
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            help="Load-test length, e.g. 10m (default: the shortest giving every p95/p99 gate its sample).",
        ),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=1, max=10_000, help="Requests per second offered (open model).")
    ] = 60.0,
    releases: ReleasesOption = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """The environment's SLO gate (loadtests/slo/<env>.yaml): a constant-rate load test long enough
    for every percentile gate to be judged; fails on any breached SLO or missing sample."""
    from walletops.pipeline_wiring import gate_run

    _formats(fmt, (Format.table, Format.json))
    _env(env)
    workspace = _workspace(project_dir, state_dir)
    result = StepResult("gate")
    check = gate_run(
        workspace.project_dir, env, url, workspace.state / "gate" / f"{env}.json", duration, rate_rps=rate
    )
    result.checks.append(check)
    result.seconds = check.seconds
    result.artefacts["load-test summary"] = str(workspace.state / "gate" / f"{env}.json")
    if result.status is Status.passed:
        _mark(workspace, releases, env, "gate")
    render(result, fmt, output)


@app.command("promote")
def promote(
    *,
    source: Annotated[str, typer.Option("--from", help="The environment whose tested digests move on.")],
    target: Annotated[str, typer.Option("--to", help="The next environment.")],
    manifest: ManifestOption = None,
    releases: ReleasesOption = None,
    registry: RegistryOption = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """Copy the same digests to the next environment; refuse unless the source passed its gates."""
    from pipelines.manifest import Releases
    from pipelines.promote import promote as run_promote

    _formats(fmt, (Format.table, Format.json))
    _env(source, "--from")
    _env(target, "--to")
    workspace = _workspace(project_dir, state_dir)
    built = _manifest(workspace, manifest)
    history = Releases.load(_releases_path(workspace, releases))
    from pipelines.promote import check_promotion

    check_promotion(built, history, source, target)
    address = registry if registry is not None else None
    reg = _registry(workspace, address) if address is not None or built.registry.startswith("127.") else None
    from pipelines.registry import Registry

    result = run_promote(built, history, source, target, reg or Registry(built.registry))
    render(result, fmt, output)


@app.command("rollback")
def rollback(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    releases: ReleasesOption = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """Redeploy the previous release's digests to ENV (`pulumi up` through the Automation API)."""
    from pipelines.manifest import Releases

    _formats(fmt, (Format.table, Format.json))
    _env(env)
    workspace = _workspace(project_dir, state_dir)
    history = Releases.load(_releases_path(workspace, releases))
    previous = history.previous(env)
    if previous is None:
        raise UsageProblem(f"--env {env}: no earlier release with other digests to roll back to")
    result = _deploy_aws(workspace, env, previous.registry, dict(previous.digests), "rollback")
    result.artefacts["rolled back to"] = f"build {previous.commit} ({previous.deployed:%Y-%m-%d %H:%M} UTC)"
    if result.status is Status.passed:
        _record(
            workspace,
            path=releases,
            env=env,
            commit=previous.commit,
            registry=previous.registry,
            digests=dict(previous.digests),
            source=f"rollback to {previous.commit}",
        )
    render(result, fmt, output)


@app.command("drift")
def drift(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    preview: Annotated[
        bool, typer.Option("--preview", help="Only `pulumi preview` (what a PR would change).")
    ] = False,
    fmt: FormatOption = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """`pulumi refresh --preview-only` and `preview --expect-no-changes`: fails when the cloud drifted."""
    from pipelines.deploy import drift as run_drift

    _formats(fmt, (Format.table, Format.json))
    _env(env)
    render(run_drift(resolve_project_dir(project_dir), env, preview=preview, progress=_progress), fmt, output)


@app.command("run")
def run(
    *,
    to: Annotated[
        str, typer.Option("--to", help="Where the pipeline deploys: local (the local stack).")
    ] = "local",
    tests: Annotated[
        bool, typer.Option("--tests/--skip-tests", help="Run the test suite as the test step.")
    ] = True,
    review_step: Annotated[bool, typer.Option("--review/--skip-review", help="Run the review step.")] = True,
    duration: Annotated[
        str | None,
        typer.Option(
            "--gate-duration",
            help="Length of the SLO load test (default: long enough for every percentile gate).",
        ),
    ] = None,
    fmt: FormatOption = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """review → test → build → deploy to the local stack → smoke (stack and images) → gate → promote dev → qa.

    Stops at the first failed step; prints each step's time and where every artefact is.
    """
    import subprocess
    import sys
    import time

    from pipelines.build import build_images
    from pipelines.manifest import Releases
    from pipelines.promote import promote as run_promote
    from pipelines.review import review as run_review
    from pipelines.smoke import smoke as run_smoke
    from walletops import pipeline_wiring as wiring

    _formats(fmt, (Format.table, Format.json))
    if to != "local":
        raise UsageProblem(
            f"--to {to!r}: allowed: local (the cloud environments deploy from the deploy workflow)"
        )
    workspace = _workspace(project_dir, state_dir)
    root = workspace.project_dir
    env = "dev"
    steps: list[StepResult] = []

    def finish() -> None:
        overall = StepResult("run", seconds=sum(step.seconds for step in steps))
        from pipelines.results import CheckResult

        for step in steps:
            overall.checks.append(
                CheckResult(
                    step.step,
                    step.status,
                    "; ".join(c.summary for c in step.checks if c.status is not Status.passed)
                    or f"{len(step.checks)} checks passed",
                    step.findings,
                    step.seconds,
                )
            )
            overall.artefacts.update({f"{step.step}: {k}": v for k, v in step.artefacts.items()})
        render(overall, fmt, output)

    def done(step: StepResult) -> bool:
        steps.append(step)
        err_console.print(f"[bold]{step.step}[/]: {step.status.value} in {step.seconds:.1f} s")
        return step.status is not Status.failed

    if review_step:
        _progress("review")
        graph, sources = wiring.plan_for_review(root, None)
        if not done(
            run_review(
                root,
                tools=wiring.tools_dir(),
                manifests=wiring.manifests_of(graph, root),
                extra=lambda: wiring.review_extra(root, graph, sources, None, []),
                audit=True,
                progress=_progress,
            )
        ):
            return finish()
    if tests:
        _progress("test (pytest)")
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-n",
                "2",
                "--dist",
                "loadgroup",
                "-p",
                "no:cacheprovider",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        last = (lines or ["no output"])[-1]
        from pipelines.results import CheckResult, Finding

        failures = [
            Finding(
                "pytest",
                "failed",
                line.removeprefix("FAILED ").removeprefix("ERROR "),
                line.split()[1].split("::")[0],
            )
            for line in lines
            if line.startswith(("FAILED ", "ERROR "))
        ]

        test = StepResult(
            "test",
            checks=[
                CheckResult(
                    "pytest",
                    Status.passed if proc.returncode == 0 else Status.failed,
                    last,
                    failures,
                    time.monotonic() - started,
                )
            ],
            seconds=time.monotonic() - started,
        )
        if not done(test):
            return finish()
    registry = _registry(workspace, None)
    built_step, built = build_images(workspace, registry, environment=env, progress=_progress)
    if not done(built_step) or built is None:
        return finish()
    deployed = wiring.deploy_local(root, env, _progress)
    if not done(deployed):
        return finish()
    _record(
        workspace,
        path=None,
        env=env,
        commit=built.commit,
        registry=registry.address,
        digests=built.digests(),
        source=f"build {built.commit}",
    )
    smoked = run_smoke(wiring.local_smoke_target(root, env))
    images = wiring.image_smoke(
        root, workspace=workspace, registry=registry, manifest=built, env=env, progress=_progress
    )
    smoked.checks += images.checks
    smoked.seconds += images.seconds
    if not done(smoked):
        return finish()
    _mark(workspace, None, env, "smoke")
    gate_file = workspace.state / "gate" / f"{env}.json"
    gate_check = wiring.gate_run(root, env, None, gate_file, duration)
    gated = StepResult(
        "gate",
        checks=[gate_check],
        seconds=gate_check.seconds,
        artefacts={"load-test summary": str(gate_file)},
    )
    if not done(gated):
        return finish()
    _mark(workspace, None, env, "gate")
    done(run_promote(built, Releases.load(workspace.releases_file), env, "qa", registry))
    steps[-1].artefacts["releases"] = str(workspace.releases_file)
    steps[-1].artefacts["stop the stack"] = "walletops stack down; walletops pipeline registry stop"
    return finish()
