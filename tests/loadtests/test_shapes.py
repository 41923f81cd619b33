"""Load shapes: stage profiles scale with the run, and the stress shape stops at the first breached step."""

from __future__ import annotations

from collections import Counter

import pytest

from loadtests.settings import RunSettings
from loadtests.shapes import SHAPES, ArrivalShape, LoadShape, SmokeShape, SpikeShape, StressShape
from loadtests.slo import EndpointWindow, SloSpec, StatsWindow


def _settings(scenario: str, users: int = 50, duration_s: float = 100.0) -> RunSettings:
    return RunSettings(scenario=scenario, users=users, spawn_rate=5.0, duration_s=duration_s)


class _Clock:
    """Stands in for the shape's run time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _ticks(shape: SmokeShape | LoadShape | SpikeShape, times: list[float]) -> list[tuple[int, float] | None]:
    clock = _Clock()
    shape.get_run_time = clock  # type: ignore[method-assign]
    answers = []
    for moment in times:
        clock.now = moment
        answers.append(shape.tick())
    return answers


def test_every_scenario_has_a_shape() -> None:
    from loadtests.settings import SCENARIOS

    assert set(SHAPES) == set(SCENARIOS) == {"smoke", "load", "stress", "spike", "soak", "arrival"}


def test_load_ramps_over_a_quarter_then_holds_until_the_end() -> None:
    shape = LoadShape(_settings("load", users=50, duration_s=100))
    answers = _ticks(shape, [0, 24, 26, 99.9, 100.1])
    assert answers[0] == (50, pytest.approx(2.0))
    assert [a[0] if a else None for a in answers] == [50, 50, 50, 50, None]


def test_spike_jumps_from_a_fifth_to_all_users_and_back() -> None:
    shape = SpikeShape(_settings("spike", users=50, duration_s=100))
    users = [a[0] if a else None for a in _ticks(shape, [10, 35, 45, 60, 101])]
    assert users == [10, 50, 50, 10, None]


def test_durations_scale_the_same_profile() -> None:
    short = SpikeShape(_settings("spike", duration_s=20)).stages
    long = SpikeShape(_settings("spike", duration_s=2000)).stages
    assert [s.users for s in short] == [s.users for s in long]
    assert [s.until_s * 100 for s in short] == pytest.approx([s.until_s for s in long])


def _cumulative(latency_ms: int, requests: int, now: float) -> StatsWindow:
    endpoint = EndpointWindow(
        method="GET",
        name="/v1/accounts/{id}",
        requests=requests,
        total_ms=float(latency_ms * requests),
        max_ms=float(latency_ms),
        response_times=Counter({latency_ms: requests}),
    )
    return StatsWindow(started=0.0, ended=now, endpoints={endpoint.endpoint: endpoint})


class _ScriptedStress(StressShape):
    """A stress shape whose statistics get slower at every step (latency = 40 ms x step)."""

    def __init__(self) -> None:
        slo = SloSpec.model_validate(
            {
                "error_rate_max": 0.01,
                "min_requests": {"p95_ms": 100},
                "endpoints": {"GET /v1/accounts/{id}": {"p95_ms": 100}},
            }
        )
        super().__init__(RunSettings(scenario="stress", users=50, duration_s=50.0), slo=slo)
        self.clock = _Clock()
        self.total = StatsWindow(started=0.0, ended=0.0, endpoints={})
        self.get_run_time = self.clock  # type: ignore[method-assign]

    def cumulative(self) -> StatsWindow:
        return self.total

    def advance(self, seconds: float) -> None:
        step = int(self.clock.now // 10) + 1
        self.clock.now += seconds
        previous = self.total.endpoints.get("GET /v1/accounts/{id}")
        base = previous.requests if previous else 0
        window = _cumulative(40 * step, 100, self.clock.now)
        merged = window.endpoints["GET /v1/accounts/{id}"]
        if previous:
            merged.response_times.update(previous.response_times)
            merged.requests += base
        self.total = StatsWindow(0.0, self.clock.now, {merged.endpoint: merged})


def test_stress_stops_at_the_first_step_that_breaches_and_keeps_the_last_held() -> None:
    shape = _ScriptedStress()
    users = []
    answer = shape.tick()
    while answer is not None and shape.clock.now < 60:
        users.append(answer[0])
        shape.advance(10)
        answer = shape.tick()
    # Steps of 10 s with 10, 20, 30 ... users; latency 40, 80, 120 ms: the third step breaches p95 <= 100.
    assert users == [10, 20, 30]
    assert shape.held_users == 20
    assert shape.broken_at == {"users": 30, "gates": ["p95 GET /v1/accounts/{id}"]}
    assert shape.verdict_window() is shape.held
    report = shape.report()
    assert [step["breaches"] for step in report["steps"]] == [[], [], ["p95 GET /v1/accounts/{id}"]]


def test_the_open_model_starts_every_generator_at_once_and_reports_its_rate() -> None:
    shape = ArrivalShape(RunSettings(scenario="arrival", users=6, duration_s=30.0, arrival_rate=50.0))
    assert [(s.until_s, s.users, s.spawn_rate) for s in shape.stages] == [(30.0, 6, 6.0)]
    report = shape.report()
    assert (report["model"], report["arrival_rate_rps"]) == ("open", 50.0)
