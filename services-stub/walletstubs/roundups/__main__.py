"""Run the roundups service from ``WALLETSTUB_*`` settings (see :mod:`walletstubs.localstack.topology`)."""

from walletstubs.common.service import serve

if __name__ == "__main__":
    serve("walletstubs.roundups.app:build_app", "roundups")
