"""Targets: loopback only unless --allow-remote; URL targets take their keys from the environment."""

from __future__ import annotations

import pytest

from contracts.errors import UsageProblem
from loadtests.target import check_url, is_loopback, url_target


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8080", "https://api.walletco.example", "http://[2001:db8::1]/"]
)
def test_remote_targets_need_allow_remote(url: str) -> None:
    with pytest.raises(UsageProblem, match="--allow-remote"):
        check_url(url, allow_remote=False)
    assert check_url(url, allow_remote=True) == url.rstrip("/")


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1", "http://"])
def test_malformed_targets_are_usage_problems(url: str) -> None:
    with pytest.raises(UsageProblem, match="allowed: local, or an http"):
        check_url(url, allow_remote=True)


def test_url_targets_need_the_api_key_variable() -> None:
    with pytest.raises(UsageProblem, match="WALLETOPS_API_KEY"):
        url_target("http://127.0.0.1:9", allow_remote=False, environ={})
    target = url_target("http://127.0.0.1:9/", allow_remote=False, environ={"WALLETOPS_API_KEY": "k"})
    assert (target.url, target.api_key, target.operator_key) == ("http://127.0.0.1:9", "k", "k")
