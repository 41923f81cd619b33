"""Run an exchange adapter from ``WALLETSTUB_*`` settings (see :mod:`walletstubs.localstack.topology`)."""

from walletstubs.common.service import serve

if __name__ == "__main__":
    serve("walletstubs.exchange.app:build_app", "exchange")
