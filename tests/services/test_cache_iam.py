"""Cache settings: IAM authentication to ElastiCache signs a token per connection; no password."""

from __future__ import annotations

import pytest
from walletstubs.common.cache import RedisCache, iam_credentials, make_cache
from walletstubs.common.settings import SettingsError


def test_cache_iam_authentication_presigns_a_connect_request_for_the_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WALLETSTUB_CACHE_IAM_AUTH", "1")
    monkeypatch.setenv("WALLETSTUB_CACHE_NAME", "wallet-prod-cache")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY000000")  # pragma: allowlist secret
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-key")  # pragma: allowlist secret
    bare, provider = iam_credentials("rediss://wallet-prod-cache-wallet@master.cache.example:6379/0")
    assert bare == "rediss://master.cache.example:6379/0", "redis-py takes a URL user or a provider"
    assert provider is not None
    user, token = provider.get_credentials()
    assert user == "wallet-prod-cache-wallet"
    assert token.startswith("wallet-prod-cache/?Action=connect&User=wallet-prod-cache-wallet&")
    assert "X-Amz-Expires=900" in token and "%2Feu-west-1%2Felasticache%2Faws4_request" in token
    assert "X-Amz-Signature=" in token
    cache = make_cache("rediss://wallet-prod-cache-wallet@master.cache.example:6379/0", "wallet")
    assert isinstance(cache, RedisCache)


def test_cache_iam_authentication_refuses_a_url_with_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLETSTUB_CACHE_IAM_AUTH", "1")
    with pytest.raises(SettingsError, match="must name the user and no password"):
        iam_credentials("rediss://wallet:pw@cache:6379/0")  # pragma: allowlist secret
    monkeypatch.delenv("WALLETSTUB_CACHE_IAM_AUTH")
    assert iam_credentials("redis://127.0.0.1:6379/0") == ("redis://127.0.0.1:6379/0", None)


def test_cache_iam_authentication_needs_the_cache_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLETSTUB_CACHE_IAM_AUTH", "1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("WALLETSTUB_CACHE_NAME", raising=False)
    with pytest.raises(SettingsError, match="WALLETSTUB_CACHE_NAME is required"):
        iam_credentials("rediss://wallet-prod-cache-wallet@cache:6379/0")
