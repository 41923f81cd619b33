"""Pulumi entry point: ``pulumi up --stack <env>`` builds the environment named by the stack."""

from pathlib import Path

import pulumi

from contracts.config import load_environment
from infra.program import build_environment

build_environment(load_environment(pulumi.get_stack(), Path(__file__).resolve().parent))
