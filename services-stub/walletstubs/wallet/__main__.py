"""Run the wallet service from ``WALLETSTUB_*`` settings (see :mod:`walletstubs.localstack.topology`)."""

from walletstubs.common.service import serve

if __name__ == "__main__":
    serve("walletstubs.wallet.app:build_app", "wallet")
