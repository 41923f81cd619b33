"""CPU seconds and worker counts read from real process trees."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadtests.cpu import format_pids, parse_pids, sample_services, tree_sample

BURN = (
    "import time\n"
    "end = time.process_time() + 0.5\n"
    "while time.process_time() < end:\n    pass\n"
    "time.sleep(30)\n"
)
SUPERVISOR = (
    "import subprocess, sys, time\n"
    f"children = [subprocess.Popen([sys.executable, '-c', {BURN!r}]) for _ in range(2)]\n"
    "time.sleep(30)\n"
)


def test_a_tree_sample_sums_every_workers_cpu_and_counts_the_workers() -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR])
    try:
        deadline = time.monotonic() + 10
        sample = tree_sample(supervisor.pid)
        while (sample is None or sample.cpu_s < 0.9 or sample.workers < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
            sample = tree_sample(supervisor.pid)
        assert sample is not None
        assert sample.workers == 2
        # two workers burnt 0.5 s each (the kernel counts in 10 ms ticks, so a little less may show)
        assert 0.9 <= sample.cpu_s < 5.0
    finally:
        import psutil

        for child in psutil.Process(supervisor.pid).children(recursive=True):
            child.kill()
        supervisor.kill()
        supervisor.wait()


def test_a_process_that_is_gone_is_absent_not_zero() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert tree_sample(gone.pid) is None
    assert sample_services({"wallet": gone.pid}) == {}


def test_pids_travel_as_text_and_back() -> None:
    pids = {"wallet": 12, "exchange-coinbase": 34}
    assert parse_pids(format_pids(pids)) == pids
    assert parse_pids("") == {}
    with pytest.raises(ValueError, match="expected name=pid"):
        parse_pids("wallet=abc")
