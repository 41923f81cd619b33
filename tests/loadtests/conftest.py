"""Importing Locust monkey-patches the whole process with gevent; the shapes and journeys under
test here only need its classes, so the patch is skipped in the test process (Locust runs the
tests start get a clean environment from ``loadtests.runner``)."""

from __future__ import annotations

import os

os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
