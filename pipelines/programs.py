"""Run any Pulumi Python program under mocks and record its resources with the line that declared each.

The review plans the project's own program through the planner (``walletops`` hands the graph
in). A directory that is some other Pulumi project — the seeded-defect fixtures are one — is
planned here: its ``Pulumi.yaml`` ``main`` (default ``__main__.py``) runs in a forked child under
``pulumi.runtime.set_mocks``, and the mock monitor keeps the *source position* the SDK sends with
every resource registration, so a policy finding on a resource can name ``file:line``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import runpy
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from contracts.errors import UsageProblem
from contracts.plan_graph import EnvironmentPlan, PlanResource

Source = tuple[str, int]


class _Mocks(pulumi_mocks.Mocks):
    """Ids from the logical name, outputs echo the inputs: enough for resource-level rules."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


class _Monitor(pulumi_mocks.MockMonitor):
    def __init__(self, root: Path) -> None:
        super().__init__(_Mocks())
        self.root = root.resolve()
        self.records: list[PlanResource] = []
        self.sources: dict[str, Source] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        self.records.append(
            PlanResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                dependencies=sorted(set(request.dependencies)),
                provider=None,
                protect=bool(request.protect),
                inputs=rpc.deserialize_properties(request.object),
            )
        )
        position = request.sourcePosition
        if position.uri:
            path = Path(unquote(urlparse(position.uri).path))
            if path.is_relative_to(self.root):
                self.sources[response.urn] = (path.relative_to(self.root).as_posix(), position.line)
        return response


def program_file(root: Path) -> Path:
    """The program a ``Pulumi.yaml`` names (``main``: a file or a folder with ``__main__.py``)."""
    manifest = root / "Pulumi.yaml"
    if not manifest.is_file():
        raise UsageProblem(f"{root}: no Pulumi.yaml, so no program to plan")
    document = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    runtime = document.get("runtime")
    if (runtime.get("name") if isinstance(runtime, dict) else runtime) != "python":
        raise UsageProblem(f"{manifest}: runtime is not python; only Python programs are planned")
    main = root / str(document.get("main", "."))
    return main / "__main__.py" if main.is_dir() else main


def _child(root: Path, stack: str, conn: Connection) -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        monitor = _Monitor(root)
        pulumi.runtime.set_mocks(monitor.mocks, project="review", stack=stack, preview=False, monitor=monitor)
        main = program_file(root)

        def program() -> None:
            runpy.run_path(str(main), run_name="__main__")

        _sync_await(run_pulumi_func(program))
        records = sorted(monitor.records, key=lambda record: record["urn"])
        conn.send(("ok", json.dumps({"resources": records, "sources": monitor.sources}, default=str)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def plan_program(root: Path, stack: str = "review") -> tuple[EnvironmentPlan, dict[str, Source]]:
    """Plan the Pulumi program in ``root`` under mocks (in a forked child); resources and their sources."""
    root = root.resolve()  # the SDK can only turn absolute file names into source positions
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(root, stack, child_end), name=f"plan-{stack}")
    process.start()
    child_end.close()
    try:
        status, payload = parent_end.recv()
    except EOFError:
        status, payload = "error", f"planning process exited with code {process.exitcode}"
    process.join()
    if status != "ok":
        raise UsageProblem(f"{program_file(root)}: the program failed under mocks: {payload}")
    document = json.loads(payload)
    plan = EnvironmentPlan(name=stack, region="eu-west-1", resources=document["resources"], outputs={})
    sources = {urn: (file, int(line)) for urn, (file, line) in document["sources"].items()}
    return plan, sources
