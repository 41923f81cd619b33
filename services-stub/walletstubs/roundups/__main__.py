"""Run the roundups service from ``WALLETSTUB_*`` settings."""

from walletstubs.common.service import serve
from walletstubs.common.settings import ServiceSettings
from walletstubs.roundups.app import build_app

if __name__ == "__main__":
    settings = ServiceSettings.from_env("roundups")
    serve(build_app(settings), settings)
