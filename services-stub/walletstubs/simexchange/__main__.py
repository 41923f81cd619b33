"""Run a simulated exchange from ``WALLETSTUB_*`` settings."""

from walletstubs.common.service import serve
from walletstubs.common.settings import ServiceSettings
from walletstubs.simexchange.app import build_app

if __name__ == "__main__":
    settings = ServiceSettings.from_env("simexchange")
    serve(build_app(settings), settings)
