"""Crash points for the crash-safety tests: ``kill -9`` of this very process at a named step boundary.

``WALLETSTUB_CRASH_AT`` lists points (comma-separated, e.g. ``after-debit,before-refund``); when the
code reaches one of them the process sends itself SIGKILL -- no cleanup, no flushed buffers, exactly
what an OOM kill or a node loss does. Unset (always, outside the tests), every point is a no-op.
"""

from __future__ import annotations

import os
import signal

CRASH_POINTS = frozenset(filter(None, os.environ.get("WALLETSTUB_CRASH_AT", "").split(",")))


def crash_point(name: str) -> None:
    """SIGKILL this process when ``name`` is one of the configured crash points."""
    if name in CRASH_POINTS:
        os.kill(os.getpid(), signal.SIGKILL)
