"""Connections to Elasticsearch and Kibana: URLs checked, credentials from the environment or a
secret file — never from the command line, where they would land in shell history and ``ps``.

Environment: ``ELASTICSEARCH_API_KEY``, or ``ELASTICSEARCH_USERNAME`` + ``ELASTICSEARCH_PASSWORD``;
``ELASTICSEARCH_CA_CERTS`` (CA bundle of a private TLS chain). A secret file (``--secret-file`` or
``ELASTICSEARCH_SECRET_FILE``, e.g. a mounted Kubernetes secret) is JSON or YAML with ``api_key`` or
``username`` and ``password``. Kibana takes the same credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from elasticsearch import Elasticsearch

from contracts.documents import read_yaml
from contracts.errors import UsageProblem


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = None
    username: str | None = None
    password: str | None = None

    def headers(self) -> dict[str, str]:
        """HTTP authorization for Kibana (Elasticsearch's client builds its own)."""
        if self.api_key:
            return {"Authorization": f"ApiKey {self.api_key}"}
        return {}

    def basic(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username and self.password else None


def check_url(url: str, option: str) -> str:
    """``url`` if it is an http(s) URL with a host; otherwise a usage problem naming ``option``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageProblem(f"{option} {url!r}: expected http(s)://host[:port], e.g. https://es.internal:9200")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise UsageProblem(f"{option} {url!r}: the port is not a number in 1-65535") from None
    return url.rstrip("/")


def credentials(environ: Mapping[str, str] | None = None, secret_file: Path | None = None) -> Credentials:
    """Credentials from a secret file if one is named, else from the environment (may be none)."""
    env = os.environ if environ is None else environ
    named = secret_file or (
        Path(env["ELASTICSEARCH_SECRET_FILE"]) if env.get("ELASTICSEARCH_SECRET_FILE") else None
    )
    if named is not None:
        return _from_file(named)
    api_key = env.get("ELASTICSEARCH_API_KEY") or None
    username, password = env.get("ELASTICSEARCH_USERNAME") or None, env.get("ELASTICSEARCH_PASSWORD") or None
    if (username is None) != (password is None):
        raise UsageProblem(
            "set both ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, or ELASTICSEARCH_API_KEY"
        )
    return Credentials(api_key, username, password)


def _from_file(path: Path) -> Credentials:
    if not path.is_file():
        raise UsageProblem(f"secret file {path}: not found")
    data: Any = read_yaml(path, str(path))
    if not isinstance(data, dict) or not (
        data.get("api_key") or (data.get("username") and data.get("password"))
    ):
        raise UsageProblem(f"secret file {path}: expected a mapping with api_key, or username and password")
    return Credentials(data.get("api_key"), data.get("username"), data.get("password"))


def elasticsearch(url: str, creds: Credentials, **options: Any) -> Elasticsearch:
    """The official client: no retries (an unreachable cluster is reported at once), 10 s timeout."""
    ca_certs = os.environ.get("ELASTICSEARCH_CA_CERTS")
    if ca_certs:
        options["ca_certs"] = ca_certs
    return Elasticsearch(
        check_url(url, "--url"),
        api_key=creds.api_key,
        basic_auth=creds.basic(),
        request_timeout=10,
        max_retries=0,
        retry_on_timeout=False,
        **options,
    )


def kibana(url: str, creds: Credentials, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client for Kibana's HTTP APIs (``kbn-xsrf`` set, as every write requires)."""
    return httpx.Client(
        base_url=check_url(url, "--kibana-url"),
        headers={"kbn-xsrf": "walletops", **creds.headers()},
        auth=httpx.BasicAuth(*basic) if (basic := creds.basic()) else None,
        verify=os.environ.get("ELASTICSEARCH_CA_CERTS") or True,
        timeout=10,
        transport=transport,
    )
