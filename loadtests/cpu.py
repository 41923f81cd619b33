"""CPU seconds and worker counts of the services under test, read from their processes.

The local stack knows each service's process (``walletops stack status``: name and pid; a
service with several uvicorn workers is a supervisor and its children). A sample sums user and
system CPU time over the whole process tree, so the difference of two samples is the CPU the
service spent between them; the capacity model divides requests by it (rps per core) instead of
assuming one replica per service. A service whose process is gone reads as absent, never zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by one service's process tree, and how many workers serve it."""

    cpu_s: float
    workers: int


def tree_sample(pid: int) -> CpuSample | None:
    """The sample of the tree rooted at ``pid``; None when the process is gone."""
    try:
        root = psutil.Process(pid)
        children = root.children(recursive=True)
        total = 0.0
        for process in (root, *children):
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            total += times.user + times.system
        direct = root.children(recursive=False)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None
    return CpuSample(cpu_s=total, workers=max(len(direct), 1))


def sample_services(pids: Mapping[str, int]) -> dict[str, CpuSample]:
    """A sample of every service still running."""
    samples: dict[str, CpuSample] = {}
    for service, pid in pids.items():
        sample = tree_sample(pid)
        if sample is not None:
            samples[service] = sample
    return samples


def parse_pids(text: str) -> dict[str, int]:
    """``name=pid,name=pid`` (how the settings carry them into Locust) as a mapping."""
    pids: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, pid = part.partition("=")
        if not name or not pid.isdigit():
            raise ValueError(f"service pid {part!r}: expected name=pid")
        pids[name] = int(pid)
    return pids


def format_pids(pids: Mapping[str, int]) -> str:
    return ",".join(f"{name}={pid}" for name, pid in sorted(pids.items()))
