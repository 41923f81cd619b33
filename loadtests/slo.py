"""SLO gates: a declarative file per environment, evaluated over a window of Locust statistics.

``loadtests/slo/<env>.yaml`` holds the objectives::

    error_rate_max: 0.01                 # failed / all requests over the window
    min_throughput_rps: {smoke: 2, load: 20}   # or one number for every scenario
    endpoints:                           # "<METHOD> <request name>"; * matches any exchange
      "GET /v1/accounts/{id}": {p95_ms: 300, p99_ms: 800}
      "POST /v1/exchanges/*/orders": {p95_ms: 800, p99_ms: 2000}
    min_requests: {p95_ms: 200, p99_ms: 1000}   # the default: fewer requests cannot judge it

A percentile gate over fewer requests than its minimum reports "not enough data" and fails: six
requests say nothing about a p99. A smoke run checks errors and the ledger, so there it is
reported as not judged instead; a stress step with too few requests is not a breach (the step's
other gates decide) and the final verdict still needs the data.

This module does not import Locust (whose import monkey-patches the process with gevent), so the
CLI and the capacity model can use it; only :func:`snapshot` reads a live ``RequestStats``.
Statistics are reduced to :class:`StatsWindow` (per-endpoint latency histograms and counts)
so a gate can be judged over the whole run or over one step of a stress run (the difference of
two cumulative snapshots), and so the rules are testable without running Locust.
"""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.documents import load_yaml_model
from loadtests.cpu import CpuSample

if TYPE_CHECKING:
    from locust.stats import RequestStats


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointObjective(_Strict):
    """Latency objectives of one endpoint (or glob of endpoints); at least one is required."""

    p95_ms: Annotated[float, Field(gt=0)] | None = None
    p99_ms: Annotated[float, Field(gt=0)] | None = None


PercentileKey = Literal["p95_ms", "p99_ms"]
MIN_REQUESTS: dict[PercentileKey, int] = {"p95_ms": 200, "p99_ms": 1000}
"""Requests a percentile needs before it is judged: ten beyond the quantile (10 / (1 - q))."""


class SloSpec(_Strict):
    """The objectives of one environment's load tests."""

    description: str = ""
    min_requests: dict[PercentileKey, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: dict(MIN_REQUESTS)
    )
    error_rate_max: Annotated[float, Field(ge=0, le=1)]
    min_throughput_rps: Annotated[float, Field(ge=0)] | dict[str, Annotated[float, Field(ge=0)]] = 0.0
    endpoints: dict[str, EndpointObjective] = Field(default_factory=dict)

    def throughput_floor(self, scenario: str) -> float:
        """The minimum aggregate rps for ``scenario`` (0 when the file sets none for it)."""
        if isinstance(self.min_throughput_rps, dict):
            return self.min_throughput_rps.get(scenario, 0.0)
        return self.min_throughput_rps


def load_slo(path: Path) -> SloSpec:
    """Read and validate an SLO file; every problem is reported as a usage problem naming the file."""
    return load_yaml_model(SloSpec, path, f"--slo {path}")


def percentile(response_times: Counter[int], requests: int, fraction: float) -> float:
    """The latency bucket holding the ``fraction`` quantile: Locust's own rule, so the gates agree
    with the percentiles in its HTML and CSV reports."""
    below = int(requests * fraction)
    seen = 0
    for bucket in sorted(response_times, reverse=True):
        seen += response_times[bucket]
        if requests - seen <= below:
            return float(bucket)
    return 0.0


@dataclass
class EndpointWindow:
    """Counts and the latency histogram (ms bucket → count) of one endpoint over a window."""

    method: str
    name: str
    requests: int = 0
    failures: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    response_times: Counter[int] = field(default_factory=Counter)

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.name}"

    def percentile(self, fraction: float) -> float:
        """Latency at ``fraction`` (0.95 → p95) in ms, from Locust's rounded histogram."""
        return percentile(self.response_times, self.requests, fraction)

    @property
    def avg_ms(self) -> float:
        return self.total_ms / self.requests if self.requests else 0.0


@dataclass
class StatsWindow:
    """Per-endpoint statistics between two instants, and the services' CPU samples at both ends."""

    started: float
    ended: float
    endpoints: dict[str, EndpointWindow]
    cpu_start: dict[str, CpuSample] = field(default_factory=dict)
    cpu_end: dict[str, CpuSample] = field(default_factory=dict)

    def cpu_used(self) -> dict[str, CpuSample]:
        """CPU seconds each service spent in the window (and its workers), where both ends were read."""
        return {
            name: CpuSample(round(end.cpu_s - self.cpu_start[name].cpu_s, 3), end.workers)
            for name, end in sorted(self.cpu_end.items())
            if name in self.cpu_start
        }

    @property
    def duration_s(self) -> float:
        return max(self.ended - self.started, 1e-9)

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints.values())

    @property
    def failures(self) -> int:
        return sum(e.failures for e in self.endpoints.values())

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def since(self, earlier: StatsWindow) -> StatsWindow:
        """The window from ``earlier``'s end to this one's end (both cumulative snapshots)."""
        endpoints: dict[str, EndpointWindow] = {}
        for key, now in self.endpoints.items():
            before = earlier.endpoints.get(key)
            if before is None:
                endpoints[key] = now
                continue
            times = Counter(now.response_times)
            times.subtract(before.response_times)
            endpoints[key] = EndpointWindow(
                method=now.method,
                name=now.name,
                requests=now.requests - before.requests,
                failures=now.failures - before.failures,
                total_ms=now.total_ms - before.total_ms,
                max_ms=now.max_ms,
                response_times=+times,
            )
        return StatsWindow(
            started=earlier.ended,
            ended=self.ended,
            endpoints=endpoints,
            cpu_start=earlier.cpu_end,
            cpu_end=self.cpu_end,
        )


def snapshot(
    stats: RequestStats,
    now: float | None = None,
    *,
    cpu_start: dict[str, CpuSample] | None = None,
    cpu_end: dict[str, CpuSample] | None = None,
) -> StatsWindow:
    """Cumulative statistics of a Locust run from its start until ``now`` (with CPU samples)."""
    endpoints: dict[str, EndpointWindow] = {}
    for entry in stats.entries.values():
        window = EndpointWindow(
            method=str(entry.method),
            name=entry.name,
            requests=entry.num_requests,
            failures=entry.num_failures,
            total_ms=float(entry.total_response_time),
            max_ms=float(entry.max_response_time or 0.0),
            response_times=Counter(entry.response_times),
        )
        endpoints[window.endpoint] = window
    return StatsWindow(
        started=stats.total.start_time,
        ended=now or time.time(),
        endpoints=endpoints,
        cpu_start=cpu_start or {},
        cpu_end=cpu_end or {},
    )


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict; ``passed`` is None when there was nothing to measure."""

    gate: str
    threshold: str
    measured: str
    passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "threshold": self.threshold,
            "measured": self.measured,
            "passed": self.passed,
        }


def evaluate(
    spec: SloSpec,
    window: StatsWindow,
    scenario: str,
    *,
    throughput: bool = True,
    small_samples_fail: bool | None = None,
) -> list[GateResult]:
    """Judge every objective of ``spec`` over ``window``.

    Endpoint patterns are matched with shell globs, so one objective covers every exchange; a
    pattern no request matched is reported with ``passed=None`` (visible, but not a breach).
    A percentile over fewer requests than ``spec.min_requests`` is "not enough data": a failure,
    unless ``small_samples_fail`` is False (default: False for smoke, True otherwise).
    """
    if small_samples_fail is None:
        small_samples_fail = scenario != "smoke"
    results = [
        GateResult(
            "error rate",
            f"<= {spec.error_rate_max:.2%}",
            f"{window.error_rate:.2%} ({window.failures}/{window.requests})",
            window.error_rate <= spec.error_rate_max,
        )
    ]
    floor = spec.throughput_floor(scenario)
    if throughput and floor > 0:
        results.append(
            GateResult("throughput", f">= {floor:g} rps", f"{window.rps:.1f} rps", window.rps >= floor)
        )
    for pattern, objective in spec.endpoints.items():
        matched = [w for key, w in sorted(window.endpoints.items()) if fnmatch.fnmatchcase(key, pattern)]
        checks: tuple[tuple[str, PercentileKey, float, float | None], ...] = (
            ("p95", "p95_ms", 0.95, objective.p95_ms),
            ("p99", "p99_ms", 0.99, objective.p99_ms),
        )
        for label, key, fraction, limit in checks:
            if limit is None:
                continue
            needed = spec.min_requests.get(key, MIN_REQUESTS[key])
            if not any(w.requests for w in matched):
                results.append(GateResult(f"{label} {pattern}", f"<= {limit:g} ms", "no requests", None))
                continue
            for endpoint in matched:
                if endpoint.requests == 0:
                    continue
                if endpoint.requests < needed:
                    results.append(
                        GateResult(
                            f"{label} {endpoint.endpoint}",
                            f"<= {limit:g} ms",
                            f"not enough data ({endpoint.requests:,} < {needed:,} requests)",
                            False if small_samples_fail else None,
                        )
                    )
                    continue
                value = endpoint.percentile(fraction)
                results.append(
                    GateResult(
                        f"{label} {endpoint.endpoint}", f"<= {limit:g} ms", f"{value:g} ms", value <= limit
                    )
                )
    return results


def breached(results: list[GateResult]) -> list[GateResult]:
    """The gates that failed (a gate without data is not a breach)."""
    return [result for result in results if result.passed is False]
