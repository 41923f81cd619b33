"""Service settings: a secret may come from a mounted file instead of the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from walletstubs.common.settings import ServiceSettings, SettingsError, env_or_file


def test_the_file_wins_over_the_variable_and_is_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "url"
    secret.write_text("rediss://wallet:pw@cache:6379/0\n", encoding="utf-8")  # pragma: allowlist secret
    monkeypatch.setenv("WALLETSTUB_CACHE_URL", "memory://")
    monkeypatch.setenv("WALLETSTUB_CACHE_URL_FILE", str(secret))
    assert env_or_file("CACHE_URL") == "rediss://wallet:pw@cache:6379/0"  # pragma: allowlist secret
    monkeypatch.setenv("WALLETSTUB_PORT", "8080")
    monkeypatch.setenv("WALLETSTUB_DATABASE_URL", "sqlite:///x.db")
    assert ServiceSettings.from_env("wallet").cache_url.startswith("rediss://wallet:")


def test_without_a_file_the_variable_or_the_default_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WALLETSTUB_CACHE_URL_FILE", raising=False)
    monkeypatch.delenv("WALLETSTUB_CACHE_URL", raising=False)
    assert env_or_file("CACHE_URL", "memory://") == "memory://"
    monkeypatch.setenv("WALLETSTUB_CACHE_URL", "redis://localhost:6379/0")
    assert env_or_file("CACHE_URL", "memory://") == "redis://localhost:6379/0"


def test_a_missing_or_empty_file_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLETSTUB_CACHE_URL_FILE", str(tmp_path / "absent"))
    with pytest.raises(SettingsError, match=r"WALLETSTUB_CACHE_URL_FILE=.*cannot read it"):
        env_or_file("CACHE_URL")
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    monkeypatch.setenv("WALLETSTUB_CACHE_URL_FILE", str(tmp_path / "empty"))
    with pytest.raises(SettingsError, match="the file is empty"):
        env_or_file("CACHE_URL")
