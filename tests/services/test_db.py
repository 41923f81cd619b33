"""Database engines: on RDS, services log in with IAM tokens made per connection, never a password."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.engine import make_url
from walletstubs.common.db import iam_token_provider, make_engine
from walletstubs.common.settings import SettingsError

URL = "postgresql+asyncpg://wallet@ledger.abc123.eu-west-1.rds.amazonaws.com:5432/ledger?ssl=require"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Static test credentials: presigning is local, no request leaves the machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("WALLETSTUB_DATABASE_IAM_AUTH", "1")


def _connect_params(url: str) -> dict[str, object]:
    engine = make_engine(url)
    params: dict[str, object] = {"host": "ignored"}
    for listener in engine.sync_engine.dialect.dispatch.do_connect:
        listener(engine.sync_engine.dialect, None, [], params)
    return params


def test_each_connection_gets_a_presigned_iam_token_as_password(aws_credentials: None) -> None:
    first = str(_connect_params(URL)["password"])
    host, _, query = first.partition("/?")
    assert host == "ledger.abc123.eu-west-1.rds.amazonaws.com:5432"
    fields = parse_qs(query)
    assert fields["Action"] == ["connect"] and fields["DBUser"] == ["wallet"]
    assert fields["X-Amz-Signature"] and fields["X-Amz-Expires"] == ["900"]
    assert urlsplit(f"https://{first}").hostname == "ledger.abc123.eu-west-1.rds.amazonaws.com"


def test_without_the_flag_the_url_password_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WALLETSTUB_DATABASE_IAM_AUTH", raising=False)
    assert "password" not in _connect_params(URL)


def test_iam_auth_needs_a_region_and_a_user(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="needs AWS_REGION"):
        monkeypatch.delenv("AWS_REGION")
        make_engine(URL)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(SettingsError, match="must name the user and host"):
        make_engine("postgresql+asyncpg://ledger.example:5432/ledger")


def test_the_raw_posting_pool_signs_in_with_the_same_tokens(aws_credentials: None) -> None:
    token = iam_token_provider(make_url(URL))
    assert token is not None
    first, second = token(), token()
    assert first.startswith("ledger.abc123.eu-west-1.rds.amazonaws.com:5432/?Action=connect")
    assert "DBUser=wallet" in second
