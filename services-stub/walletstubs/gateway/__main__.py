"""Run the in-process gateway: ``python -m walletstubs.gateway SETTINGS.json`` (written by the stack).

Listens on 127.0.0.1 only; access logs are ECS JSON (``walletops.access``, masked) on stderr, which the
stack sends to the log file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from walletstubs.common.telemetry import EcsFormatter, Identity
from walletstubs.gateway.app import Gateway, GatewaySettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m walletstubs.gateway", description=__doc__)
    parser.add_argument("settings", type=Path, help="gateway settings JSON written by `walletops stack up`")
    parser.add_argument("--environment", default="local", help="service.environment of the access log lines")
    args = parser.parse_args(argv)
    settings = GatewaySettings.from_json(args.settings.read_text(encoding="utf-8"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EcsFormatter(Identity("gateway", "1.0.0", args.environment)))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    app = Gateway(
        settings.rules, keys=settings.keys, upstreams=settings.upstreams, verifier=settings.verifier()
    )
    uvicorn.run(app, host="127.0.0.1", port=settings.port, log_config=None, access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
