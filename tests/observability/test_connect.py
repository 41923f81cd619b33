"""Credentials come from the environment or a secret file, never from a flag; URLs are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from contracts.errors import UsageProblem
from observability.connect import Credentials, check_url, credentials
from walletops.cli_observability import app


def test_environment_and_secret_file() -> None:
    assert credentials({"ELASTICSEARCH_API_KEY": "k"}) == Credentials(api_key="k")  # pragma: allowlist secret
    password = "pw"  # pragma: allowlist secret
    both = credentials({"ELASTICSEARCH_USERNAME": "ops", "ELASTICSEARCH_PASSWORD": password})
    assert both.basic() == ("ops", "pw")
    with pytest.raises(UsageProblem, match="ELASTICSEARCH_PASSWORD"):
        credentials({"ELASTICSEARCH_USERNAME": "ops"})
    assert credentials({}) == Credentials()


def test_secret_file_wins_and_must_hold_credentials(tmp_path: Path) -> None:
    secret = tmp_path / "es.yaml"
    secret.write_text("api_key: from-file\n")  # pragma: allowlist secret
    assert (
        credentials({"ELASTICSEARCH_API_KEY": "env", "ELASTICSEARCH_SECRET_FILE": str(secret)}).api_key
        == "from-file"
    )
    secret.write_text("user: nobody\n")
    with pytest.raises(UsageProblem, match="expected a mapping with api_key"):
        credentials({}, secret)


def test_no_command_takes_a_credential_as_a_flag() -> None:
    group = typer.main.get_group(app)
    flags = {
        flag
        for command in group.commands.values()
        for param in command.params
        for flag in param.opts
        if flag.startswith("--")
    }
    assert "--secret-file" in flags and "--url" in flags
    assert not {
        flag
        for flag in flags
        if any(word in flag for word in ("password", "api-key", "apikey", "token", "user"))
    }


@pytest.mark.parametrize("url", ["es.internal:9200", "ftp://es", "https://", "http://es:99999"])
def test_bad_urls_are_usage_problems(url: str) -> None:
    with pytest.raises(UsageProblem):
        check_url(url, "--url")
    assert check_url("https://es.internal:9200/", "--url") == "https://es.internal:9200"
