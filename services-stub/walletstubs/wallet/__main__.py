"""Run the wallet service from ``WALLETSTUB_*`` settings (see :mod:`walletstubs.localstack.topology`)."""

from walletstubs.common.service import serve
from walletstubs.common.settings import ServiceSettings
from walletstubs.wallet.app import build_app

if __name__ == "__main__":
    settings = ServiceSettings.from_env("wallet")
    serve(build_app(settings), settings)
