"""Load shapes: how many users run when, one ``LoadTestShape`` per scenario, scaled by the run's settings.

Every shape is a list of stages (until second, users, spawn rate) computed from the run's peak
users and total duration, so ``--duration 20s`` and ``--duration 1h`` keep the same profile.
The stress shape also watches the SLO: at the end of each step it judges that step's window of
statistics and stops the run at the first step that breaches, recording the last load it held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import LoadTestShape

from loadtests.cpu import sample_services
from loadtests.settings import RunSettings
from loadtests.slo import SloSpec, StatsWindow, breached, evaluate, load_slo, snapshot


@dataclass(frozen=True)
class Stage:
    """Run ``users`` (spawning at ``spawn_rate``/s) until ``until_s`` seconds into the test."""

    until_s: float
    users: int
    spawn_rate: float


class ScenarioShape(LoadTestShape):
    """A shape made of stages; subclasses say which stages their scenario has."""

    abstract: ClassVar[bool] = True
    scenario: ClassVar[str] = ""

    def __init__(self, settings: RunSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or RunSettings.from_environ()
        self.stages = self.build_stages(
            self.settings.users, self.settings.duration_s, self.settings.spawn_rate
        )

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        for stage in self.stages:
            if elapsed < stage.until_s:
                return stage.users, stage.spawn_rate
        return None

    def peak_users(self) -> int:
        return max(stage.users for stage in self.stages)

    def report(self) -> dict[str, Any]:
        """What the shape ran, for the JSON summary."""
        return {
            "scenario": self.scenario,
            "stages": [
                {"until_s": round(s.until_s, 1), "users": s.users, "spawn_rate": round(s.spawn_rate, 2)}
                for s in self.stages
            ],
        }


class SmokeShape(ScenarioShape):
    """A few users for a short time: does every journey work end to end?"""

    abstract = False
    scenario = "smoke"

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        return [Stage(duration_s, users, max(spawn_rate, float(users)))]


class LoadShape(ScenarioShape):
    """Ramp to the expected peak over a quarter of the run, then hold it."""

    abstract = False
    scenario = "load"

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        ramp = duration_s * 0.25
        return [Stage(ramp, users, max(users / ramp, 0.1)), Stage(duration_s, users, spawn_rate)]


class SpikeShape(ScenarioShape):
    """A baseline of a fifth of the users, a sudden spike to all of them, then back to baseline."""

    abstract = False
    scenario = "spike"

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        baseline = max(1, users // 5)
        return [
            Stage(duration_s * 0.3, baseline, max(spawn_rate, float(baseline))),
            Stage(duration_s * 0.5, users, float(users)),
            Stage(duration_s, baseline, float(users)),
        ]


class SoakShape(ScenarioShape):
    """A steady, moderate load for a long time (leaks, pool exhaustion, log growth)."""

    abstract = False
    scenario = "soak"

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        ramp = max(duration_s * 0.05, 1.0)
        return [Stage(ramp, users, max(users / ramp, spawn_rate)), Stage(duration_s, users, spawn_rate)]


class StressShape(ScenarioShape):
    """Steps of growing load until a step breaches the SLO; the run then stops.

    The result is the last step that met every latency and error gate (``held``), i.e. the load
    this deployment sustains; the final verdict of the run is judged over that step's window.
    """

    abstract = False
    scenario = "stress"
    steps: ClassVar[int] = 5

    def __init__(self, settings: RunSettings | None = None, slo: SloSpec | None = None) -> None:
        super().__init__(settings)
        self.slo = slo or load_slo(self.settings.resolved_slo_file())
        self.step_index = -1
        self.step_start: StatsWindow | None = None
        self.held: StatsWindow | None = None
        self.held_users = 0
        self.first: StatsWindow | None = None
        self.broken_at: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []

    def reset_time(self) -> None:
        """A new run (Locust calls this on start): forget the previous run's steps."""
        super().reset_time()
        self.step_index = -1
        self.step_start = None
        self.held = None
        self.held_users = 0
        self.first = None
        self.broken_at = None
        self.history = []

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        step = duration_s / self.steps
        return [
            Stage(
                step * (k + 1), max(1, math.ceil(users * (k + 1) / self.steps)), max(spawn_rate, users / step)
            )
            for k in range(self.steps)
        ]

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        index = next((i for i, stage in enumerate(self.stages) if elapsed < stage.until_s), len(self.stages))
        if index != self.step_index:
            if self.step_index >= 0 and not self.judge_step(self.stages[self.step_index]):
                return None
            self.step_index = index
            self.step_start = self.cumulative()
        if index >= len(self.stages):
            return None
        stage = self.stages[index]
        return stage.users, stage.spawn_rate

    def cumulative(self) -> StatsWindow:
        assert self.runner is not None
        return snapshot(self.runner.stats, cpu_end=sample_services(self.settings.service_pids))

    def judge_step(self, stage: Stage) -> bool:
        """Judge the step that just ended; False (and the breaking point recorded) on a breach."""
        assert self.step_start is not None
        window = self.cumulative().since(self.step_start)
        gates = evaluate(self.slo, window, self.scenario, throughput=False, small_samples_fail=False)
        failed = breached(gates)
        self.history.append(
            {
                "users": stage.users,
                "rps": round(window.rps, 1),
                "error_rate": round(window.error_rate, 4),
                "cpu_seconds": {name: used.cpu_s for name, used in window.cpu_used().items()},
                "breaches": [result.gate for result in failed],
            }
        )
        if self.first is None:
            self.first = window
        if failed:
            self.broken_at = {"users": stage.users, "gates": [result.gate for result in failed]}
            return False
        self.held = window
        self.held_users = stage.users
        return True

    def verdict_window(self) -> StatsWindow | None:
        """The window the final gates are judged on: the last step held, else the first step."""
        return self.held or self.first

    def report(self) -> dict[str, Any]:
        return {
            **super().report(),
            "steps": self.history,
            "held_users": self.held_users,
            "held_rps": round(self.held.rps, 1) if self.held else 0.0,
            "broken_at": self.broken_at,
        }


class ArrivalShape(ScenarioShape):
    """The open model: every request generator runs from the start for the whole run.

    The generators (users) send requests at a fixed total rate without waiting for answers
    (:class:`loadtests.journeys.ArrivalUser`), so when the system saturates the offered load stays
    the same and the saturation shows as latency, and as dropped arrivals once too many are in
    flight, never as a quieter test.
    """

    abstract = False
    scenario = "arrival"

    def build_stages(self, users: int, duration_s: float, spawn_rate: float) -> list[Stage]:
        return [Stage(duration_s, users, float(users))]

    def report(self) -> dict[str, Any]:
        return {**super().report(), "model": "open", "arrival_rate_rps": self.settings.arrival_rate}


SHAPES: dict[str, type[ScenarioShape]] = {
    shape.scenario: shape
    for shape in (SmokeShape, LoadShape, StressShape, SpikeShape, SoakShape, ArrivalShape)
}
