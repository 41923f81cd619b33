"""What one load-test run needs to know, passed to Locust processes through environment variables.

The walletops CLI, a local master/worker set and an in-cluster Deployment all start the same
locustfile; environment variables are the one channel all three share (and they keep API keys off
command lines). :class:`RunSettings` is that contract: the CLI builds it and calls
:meth:`RunSettings.to_environ`, the locustfile calls :meth:`RunSettings.from_environ`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts.errors import UsageProblem
from contracts.project import find_project_dir
from loadtests.cpu import format_pids, parse_pids

SCENARIOS: tuple[str, ...] = ("smoke", "load", "stress", "spike", "soak", "arrival")
"""``arrival`` is the open model: requests arrive at a constant rate whatever the latency."""

DEFAULT_DURATION_S: dict[str, float] = {
    "smoke": 30.0,
    "load": 300.0,
    "stress": 600.0,
    "spike": 180.0,
    "soak": 3600.0,
    "arrival": 300.0,
}
DEFAULT_USERS: dict[str, int] = {
    "smoke": 5,
    "load": 50,
    "stress": 200,
    "spike": 100,
    "soak": 30,
    "arrival": 5,
}
DEFAULT_ARRIVAL_RATE = 10.0
"""Requests per second an ``arrival`` run offers unless ``--rate`` says otherwise."""

PREFIX = "WALLETOPS_LT_"
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m``, ``1m30s`` → seconds; anything else is a usage problem."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not value or match is None:
            raise UsageProblem(
                f"--duration {text!r}: not a duration; allowed: e.g. 20s, 5m, 1h30m, or seconds"
            )
        hours, minutes, secs = (int(part) if part else 0 for part in match.groups())
        seconds = float(hours * 3600 + minutes * 60 + secs)
    if not 1 <= seconds <= 86_400:
        raise UsageProblem(f"--duration {text!r}: allowed: from 1s to 24h")
    return seconds


def check_scenario(name: str) -> str:
    """Return ``name`` if it is a known scenario, else a usage problem listing the allowed ones."""
    if name not in SCENARIOS:
        raise UsageProblem(f"--scenario {name!r}: unknown scenario; allowed: {', '.join(SCENARIOS)}")
    return name


@dataclass(frozen=True)
class RunSettings:
    """Parameters of one run; every field maps to one ``WALLETOPS_LT_*`` environment variable."""

    scenario: str = "smoke"
    users: int = DEFAULT_USERS["smoke"]
    spawn_rate: float = 5.0
    duration_s: float = DEFAULT_DURATION_S["smoke"]
    env: str = "dev"
    project_dir: Path | None = None
    slo_file: Path | None = None
    summary_file: Path | None = None
    api_key: str = ""
    operator_key: str = ""
    token: str = ""
    retry_fraction: float = 0.05
    exchanges: tuple[str, ...] = field(default_factory=tuple)
    target: str = ""
    workers: int = 0
    arrival_rate: float = DEFAULT_ARRIVAL_RATE
    """Requests per second the ``arrival`` scenario offers in total (split over its generators)."""
    service_pids: dict[str, int] = field(default_factory=dict)
    """The services' processes (local stack) whose CPU the run measures; empty for a URL target."""

    def resolved_project_dir(self) -> Path:
        """The project folder: as given, else the one holding this package (where Pulumi.yaml is)."""
        return self.project_dir or find_project_dir(Path(__file__).resolve().parent)

    def resolved_slo_file(self) -> Path:
        """The SLO file: as given, else ``loadtests/slo/<env>.yaml`` in the project."""
        return self.slo_file or self.resolved_project_dir() / "loadtests" / "slo" / f"{self.env}.yaml"

    def to_environ(self) -> dict[str, str]:
        """The variables that carry these settings into Locust processes."""
        values = {
            "SCENARIO": self.scenario,
            "USERS": str(self.users),
            "SPAWN_RATE": str(self.spawn_rate),
            "DURATION_S": str(self.duration_s),
            "ENV": self.env,
            "PROJECT_DIR": str(self.project_dir) if self.project_dir else "",
            "SLO_FILE": str(self.slo_file) if self.slo_file else "",
            "SUMMARY_FILE": str(self.summary_file) if self.summary_file else "",
            "API_KEY": self.api_key,
            "OPERATOR_KEY": self.operator_key,
            "TOKEN": self.token,
            "RETRY_FRACTION": str(self.retry_fraction),
            "EXCHANGES": ",".join(self.exchanges),
            "TARGET": self.target,
            "WORKERS": str(self.workers),
            "ARRIVAL_RATE": str(self.arrival_rate),
            "SERVICE_PIDS": format_pids(self.service_pids),
        }
        return {PREFIX + key: value for key, value in values.items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RunSettings:
        """Read the settings back; unset variables take the defaults above."""
        source = os.environ if environ is None else environ

        def get(key: str) -> str:
            return source.get(PREFIX + key, "").strip()

        def secret(key: str) -> str:
            """``<key>_FILE`` (a mounted Kubernetes Secret, off the environment) wins over ``<key>``."""
            path = get(f"{key}_FILE")
            if not path:
                return get(key)
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UsageProblem(f"{PREFIX}{key}_FILE={path!r}: cannot read it ({exc.strerror})") from exc

        scenario = check_scenario(get("SCENARIO") or "smoke")
        return cls(
            scenario=scenario,
            users=int(get("USERS") or DEFAULT_USERS[scenario]),
            spawn_rate=float(get("SPAWN_RATE") or 5.0),
            duration_s=float(get("DURATION_S") or DEFAULT_DURATION_S[scenario]),
            env=get("ENV") or "dev",
            project_dir=Path(get("PROJECT_DIR")) if get("PROJECT_DIR") else None,
            slo_file=Path(get("SLO_FILE")) if get("SLO_FILE") else None,
            summary_file=Path(get("SUMMARY_FILE")) if get("SUMMARY_FILE") else None,
            api_key=secret("API_KEY"),
            operator_key=secret("OPERATOR_KEY"),
            token=get("TOKEN"),
            retry_fraction=float(get("RETRY_FRACTION") or 0.05),
            exchanges=tuple(name for name in get("EXCHANGES").split(",") if name),
            target=get("TARGET"),
            workers=int(get("WORKERS") or 0),
            arrival_rate=float(get("ARRIVAL_RATE") or DEFAULT_ARRIVAL_RATE),
            service_pids=parse_pids(get("SERVICE_PIDS")),
        )
