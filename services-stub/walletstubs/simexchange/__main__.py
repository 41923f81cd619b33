"""Run a simulated exchange from ``WALLETSTUB_*`` settings (see :mod:`walletstubs.localstack.topology`)."""

from walletstubs.common.service import serve

if __name__ == "__main__":
    serve("walletstubs.simexchange.app:build_app", "simexchange")
