"""The nginx rendering enforces the effective rules: parsed back, validated by nginx, and exercised live."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from walletstubs.gateway import problems
from walletstubs.gateway.nginx import (
    NginxJwt,
    NginxPaths,
    limits_from_config,
    render_jwt_script,
    render_nginx,
)
from walletstubs.localstack.nginx import NginxServer
from walletstubs.localstack.servers import free_port

from contracts.gateway_rules import EffectiveRules


def _render(
    rules: EffectiveRules, keys: dict[str, str], port: int, root: Path, upstream_port: int = 9
) -> str:
    upstreams = {service: upstream_port for service in rules.routed_services()}
    return render_nginx(rules, keys=keys, upstreams=upstreams, listen_port=port, paths=NginxPaths(root))


def test_rendered_config_reads_back_as_the_effective_rules(rules, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    parsed = limits_from_config(_render(rules, keys, 8080, tmp_path))
    assert parsed.consumers == {
        c.name: {"rate_per_second": c.rate_per_second, "burst": c.burst, "quota_per_day": None}
        for c in rules.consumers
    }
    assert parsed.routes == {r.path_prefix: r.service for r in rules.routes}
    assert parsed.route_methods == {r.path_prefix: r.methods for r in rules.routes}
    assert parsed.route_scopes == {r.path_prefix: r.scope for r in rules.routes}
    assert {scope: set(names) for scope, names in parsed.scope_members.items()} == {
        scope: {c.name for c in rules.consumers if scope in c.scopes}
        for scope in {r.scope for r in rules.routes}
    }
    assert parsed.max_body_bytes == rules.max_body_bytes
    assert parsed.blocked_patterns == rules.blocked_patterns
    assert parsed.listen == ("127.0.0.1:8080",)


def test_rendering_refuses_missing_keys_unsafe_keys_and_missing_upstreams(rules, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = NginxPaths(tmp_path)
    upstreams = {service: 9 for service in rules.routed_services()}
    without = {name: key for name, key in keys.items() if name != "operator"}
    with pytest.raises(ValueError, match="consumer 'operator' has no API key"):
        render_nginx(rules, keys=without, upstreams=upstreams, listen_port=1, paths=paths)
    with pytest.raises(ValueError, match="must be 16-128 characters"):
        render_nginx(
            rules, keys={**keys, "operator": 'x" ; evil'}, upstreams=upstreams, listen_port=1, paths=paths
        )
    with pytest.raises(ValueError, match="routed service 'roundups' has no upstream port"):
        upstreams.pop("roundups")
        render_nginx(rules, keys=keys, upstreams=upstreams, listen_port=1, paths=paths)


def test_api_keys_never_reach_the_access_log_format(rules, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = _render(rules, keys, 8080, tmp_path)
    log_format = text[text.index("log_format") : text.index("access_log")]
    assert "$consumer" in log_format
    assert "http_x_api_key" not in log_format
    assert "$request_uri" not in log_format and "$args" not in log_format


@pytest.fixture(scope="module")
def nginx_server(rules, keys, upstream, tokens) -> Iterator[NginxServer]:  # type: ignore[no-untyped-def]
    """Real nginx from Debian on a free loopback port, in front of the echo upstream."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="walletops-nginx-", dir="/tmp"))
    root.chmod(0o711)
    port = free_port()
    conf = _render(rules, keys, port, root / "nginx", upstream.port)
    script = render_jwt_script(rules, NginxJwt(issuer=tokens.issuer, keys=tokens.spki))
    server = NginxServer(root / "nginx", conf, port, script_text=script)
    server.start()
    yield server
    server.stop()
    assert server.pid() is None
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nginx(nginx_server: NginxServer) -> str:
    return f"http://127.0.0.1:{nginx_server.port}"


@pytest.mark.service
def test_nginx_accepts_the_rendered_config(rules, keys, service_dir) -> None:  # type: ignore[no-untyped-def]
    conf = _render(rules, keys, free_port(), service_dir / "nginx")
    script = render_jwt_script(rules, NginxJwt(issuer="https://issuer.example", keys={"k": "AAAA"}))
    server = NginxServer(service_dir / "nginx", conf, 1, script_text=script)
    server.write()
    assert "test is successful" in server.test()
    assert oct(server.paths.conf.stat().st_mode & 0o777) == "0o600"


@pytest.mark.service
def test_nginx_contract(nginx_server, case, ask, verdict) -> None:  # type: ignore[no-untyped-def]
    verdict(case, ask(nginx_server.port, case))


@pytest.mark.service
def test_nginx_rate_limit_is_the_leaky_bucket_of_the_spec(nginx, rules, keys, tokens) -> None:  # type: ignore[no-untyped-def]
    consumer = rules.consumer("partner-api")
    statuses = []
    refused: httpx.Response | None = None
    with httpx.Client(base_url=nginx, timeout=10) as client:
        started = time.monotonic()
        for _ in range(consumer.burst * 2):
            headers = {"X-Api-Key": keys[consumer.name], "Authorization": f"Bearer {tokens.by_kind['valid']}"}
            response = client.get("/v1/roundups/x", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 429:
                refused = response
        elapsed = time.monotonic() - started
    admitted = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert (
        consumer.burst + 1 <= admitted <= consumer.burst + 1 + math.ceil(consumer.rate_per_second * elapsed)
    )
    assert refused is not None
    assert refused.headers["retry-after"] == str(problems.RATE_LIMIT_RETRY_AFTER_SECONDS)
    assert refused.content == problems.RATE_LIMITED.body()


@pytest.mark.service
def test_nginx_access_log_is_ecs_json_without_api_keys(nginx_server, nginx, keys, tokens) -> None:  # type: ignore[no-untyped-def]
    token = f"Bearer {tokens.by_kind['valid']}"
    httpx.get(
        f"{nginx}/v1/accounts/log-probe", headers={"X-Api-Key": keys["mobile-app"], "Authorization": token}
    )
    log = nginx_server.paths.access_log
    deadline = time.monotonic() + 5  # nginx writes the line when it finalises the request, after the answer
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        probe = [line for line in lines if line["url"]["path"] == "/v1/accounts/log-probe"]
        if probe or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert probe and probe[-1]["labels"]["consumer"] == "mobile-app"
    assert probe[-1]["ecs"]["version"] and probe[-1]["@timestamp"]
    assert not any(key in log.read_text() for key in keys.values())
    assert tokens.by_kind["valid"] not in log.read_text()
