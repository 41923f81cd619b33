"""The service images: pinned base, hashed dependencies, non-root user, health check, no build secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "services-stub" / "docker"
SERVICES = ["wallet", "roundups", "exchange", "simexchange"]


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_pinned_unprivileged_and_health_checked(service: str) -> None:
    text = (DOCKER / f"{service}.Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert bases and all(
        re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", b) for b in bases
    )
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "--require-hashes" in text
    assert not re.search(
        r"^(ARG|ENV)\b.*(SECRET|PASSWORD|TOKEN|API_KEY)", text, flags=re.MULTILINE | re.IGNORECASE
    )
    assert f'CMD ["python", "-m", "walletstubs.{service}"]' in text
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (ROOT / source).exists(), source


def test_image_dependencies_are_hashed_and_match_the_project_lock() -> None:
    pins = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (DOCKER / "requirements.txt").read_text(), flags=re.M))
    lock = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), flags=re.M))
    assert {"fastapi", "sqlalchemy", "asyncpg", "uvicorn", "pydantic"} <= pins.keys()
    for name in ("fastapi", "sqlalchemy", "asyncpg", "alembic", "redis", "httpx", "pydantic"):
        assert pins[name] == lock[name], name
    requirements = (DOCKER / "requirements.txt").read_text()
    assert requirements.count("==") <= requirements.count("--hash=sha256:")
