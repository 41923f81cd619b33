"""Run the locustfile headless as subprocesses: one local process, or a master and N workers.

Locust runs out of process so its gevent monkey-patching never touches the caller, its exit code
(set by the SLO verdict in the locustfile) is the run's exit code, and ``--workers N`` is the same
code path as one process. Every process binds and connects on loopback only; every wait is
bounded by the run's duration plus a margin.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from loadtests.reports import REPORT_FILES
from loadtests.settings import RunSettings
from loadtests.target import free_port

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SHUTDOWN_GRACE_S = 60.0


@dataclass(frozen=True)
class ReportPaths:
    """Where one run's reports go inside the report folder."""

    folder: Path

    @property
    def html(self) -> Path:
        return self.folder / REPORT_FILES["html"]

    @property
    def csv_prefix(self) -> Path:
        return self.folder / REPORT_FILES["csv_prefix"]

    @property
    def stats_csv(self) -> Path:
        return self.folder / f"{REPORT_FILES['csv_prefix']}_stats.csv"

    @property
    def history_csv(self) -> Path:
        return self.folder / f"{REPORT_FILES['csv_prefix']}_stats_history.csv"

    @property
    def summary(self) -> Path:
        return self.folder / REPORT_FILES["summary"]

    @property
    def chart(self) -> Path:
        return self.folder / REPORT_FILES["chart"]

    @property
    def log(self) -> Path:
        return self.folder / "locust.log"

    def all(self) -> dict[str, Path]:
        return {
            "html report": self.html,
            "csv stats": self.stats_csv,
            "csv history": self.history_csv,
            "json summary": self.summary,
            "chart": self.chart,
            "locust log": self.log,
        }


def locust_command(
    host: str, reports: ReportPaths, *, role: str = "local", master_port: int = 0, workers: int = 0
) -> list[str]:
    """The ``locust`` command line of one process; ``role`` is ``local``, ``master`` or ``worker``."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host]
    command += ["--loglevel", "WARNING", "--stop-timeout", "5"]
    if role == "worker":
        return [*command, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    command += [
        "--only-summary",
        "--csv",
        str(reports.csv_prefix),
        "--csv-full-history",
        "--html",
        str(reports.html),
    ]
    if role == "master":
        command += [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            "60",
        ]
    return command


def run_locust(settings: RunSettings, host: str, reports: ReportPaths) -> int:
    """Run the test to completion and return Locust's exit code (0 pass, 1 gates breached).

    With ``settings.workers`` > 0 a master and that many worker processes run; otherwise one
    process does everything. Output goes to the report folder's ``locust.log``.
    """
    reports.folder.mkdir(parents=True, exist_ok=True)
    reports.summary.unlink(missing_ok=True)
    environ = {**os.environ, **settings.to_environ(), "PYTHONUNBUFFERED": "1"}
    environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    deadline = time.monotonic() + settings.duration_s * 1.5 + SHUTDOWN_GRACE_S + 15 * settings.workers
    processes: list[subprocess.Popen[bytes]] = []
    with reports.log.open("wb") as log:
        try:
            if settings.workers > 0:
                port = free_port()
                main = subprocess.Popen(
                    locust_command(host, reports, role="master", master_port=port, workers=settings.workers),
                    env=environ,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                processes.append(main)
                for _ in range(settings.workers):
                    processes.append(
                        subprocess.Popen(
                            locust_command(host, reports, role="worker", master_port=port),
                            env=environ,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            else:
                main = subprocess.Popen(
                    locust_command(host, reports), env=environ, stdout=log, stderr=subprocess.STDOUT
                )
                processes.append(main)
            try:
                code = main.wait(timeout=max(deadline - time.monotonic(), 1.0))
            except subprocess.TimeoutExpired:
                log.write(b"\nwalletops: the run exceeded its time budget and was stopped\n")
                code = 1
            for worker in processes[1:]:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=15)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
    return code
