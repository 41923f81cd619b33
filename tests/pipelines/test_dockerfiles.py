"""The service Dockerfiles: hermetic (no index, hashed wheels), unprivileged, health-checked, no secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.images import SERVICES, TOOLKIT_IMAGES

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "services-stub" / "docker"


@pytest.mark.parametrize("service", [s for s in SERVICES if s not in TOOLKIT_IMAGES])
def test_image_builds_hermetically_on_the_debian_base_and_runs_unprivileged(service: str) -> None:
    text = (DOCKER / f"{service}.Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert re.search(r"^ARG BASE_IMAGE$", text, flags=re.MULTILINE)
    install = re.search(r"pip install (.*?)-r /tmp/requirements.txt", text, flags=re.S)
    assert install is not None
    for flag in ("--no-index", "--find-links /tmp/wheels", "--require-hashes", "--no-deps"):
        assert flag in install.group(1), flag
    final = text.split("\nFROM ${BASE_IMAGE}\n", 1)[1]
    assert re.findall(r"^USER (\S+)", final, flags=re.MULTILINE) == ["10001:10001"]
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert not re.search(
        r"^(ARG|ENV)\b.*(SECRET|PASSWORD|TOKEN|API_KEY)", text, flags=re.MULTILINE | re.IGNORECASE
    )
    assert f'CMD ["python", "-m", "walletstubs.{service}"]' in text
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert source == "wheels/" or (ROOT / source).exists(), source


def test_the_loadtest_image_is_the_toolkit_on_the_same_hermetic_base() -> None:
    text = (DOCKER / "loadtest.Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    install = re.search(r"pip install (.*?)-r /tmp/requirements.txt", text, flags=re.S)
    assert install is not None
    for flag in ("--no-index", "--find-links /tmp/wheels", "--require-hashes", "--no-deps"):
        assert flag in install.group(1), flag
    final = text.split("\nFROM ${BASE_IMAGE}\n", 1)[1]
    assert re.findall(r"^USER (\S+)", final, flags=re.MULTILINE) == ["10001:10001"]
    assert "HEALTHCHECK" in final
    assert "COPY services-stub/docker/loadtest-requirements.txt /tmp/requirements.txt" in text
    copied = re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE)
    assert set(copied) - {"wheels/"} == {
        "services-stub/docker/loadtest-requirements.txt",
        "contracts",
        "loadtests",
    }
    pins = dict(
        re.findall(r"^([a-z0-9_.-]+)==(\S+)", (DOCKER / "loadtest-requirements.txt").read_text(), flags=re.M)
    )
    lock = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), flags=re.M))
    assert {"locust", "gevent", "pydantic", "pyyaml", "httpx", "rich", "psutil"} <= pins.keys()
    assert all(pins[name] == lock[name] for name in pins)
    requirements = (DOCKER / "loadtest-requirements.txt").read_text()
    assert requirements.count("==") <= requirements.count("--hash=sha256:")


def test_image_dependencies_are_hashed_and_match_the_project_lock() -> None:
    pins = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (DOCKER / "requirements.txt").read_text(), flags=re.M))
    lock = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), flags=re.M))
    assert {"fastapi", "sqlalchemy", "asyncpg", "uvicorn", "pydantic"} <= pins.keys()
    for name in ("fastapi", "sqlalchemy", "asyncpg", "alembic", "redis", "httpx", "pydantic"):
        assert pins[name] == lock[name], name
    requirements = (DOCKER / "requirements.txt").read_text()
    assert requirements.count("==") <= requirements.count("--hash=sha256:")
