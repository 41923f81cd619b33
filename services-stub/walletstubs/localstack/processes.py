"""Process helpers for the local stack: liveness that ignores zombies, and reliable group stops.

Every process of the stack is started in its own session (``start_new_session=True``), so its pid is
also its process-group id and a stop can reach every child (uvicorn workers, nginx workers) at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil


def alive(pid: int) -> bool:
    """True when ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as stopped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return


def stop_group(pid: int, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 10) -> bool:
    """Send ``sig`` to the process group ``pid`` leads, then SIGKILL it after ``timeout`` seconds.

    Returns True when something was running. Safe to call for a pid that is gone.
    """
    if not alive(pid):
        _reap(pid)
        return False
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True
