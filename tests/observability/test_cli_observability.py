"""The command line: render offline, and the exit codes of bad input (2) and an unreachable cluster (1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from walletops.cli_observability import app

ROOT = Path(__file__).resolve().parents[2]
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("ELASTICSEARCH_", "KIBANA_", "AWS_ACCOUNT"))
}


def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from walletops.cli import main; main()", "observability", *args],
        cwd=ROOT,
        env={**CLEAN_ENV, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_render_writes_one_request_per_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["render", "--env", "prod", "--account-id", "123456789012", "--output", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "prod").iterdir())
    assert len(files) == 43
    first = json.loads(files[0].read_text())
    assert first == {
        "target": "elasticsearch",
        "method": "PUT",
        "path": "/_ilm/policy/walletops-service-prod",
        "body": first["body"],
    }
    repo = json.loads((tmp_path / "prod" / "13-snapshot_repository-walletops-snapshots.json").read_text())
    assert repo["body"]["settings"]["bucket"] == "wallet-prod-es-snapshots-123456789012-eu-west-1"


def test_render_json_for_all_environments_without_account_leaves_out_snapshots() -> None:
    result = CliRunner().invoke(
        app, ["render", "--env", "all", "--format", "json"], env={"AWS_ACCOUNT_ID": ""}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"dev", "qa", "stage", "prod"}
    assert all(len(requests) == 41 for requests in data.values())
    assert not any("/_snapshot/" in r["path"] for r in data["prod"])


def test_bad_url_and_half_credentials_exit_2() -> None:
    bad = run("apply", "--env", "prod", "--url", "es.internal:9200")
    assert bad.returncode == 2 and "expected http(s)://host[:port]" in bad.stderr
    missing = run("diff", "--env", "prod")
    assert missing.returncode == 2 and "ELASTICSEARCH_URL" in missing.stderr
    half = run("status", "--url", "http://127.0.0.1:9", ELASTICSEARCH_USERNAME="ops")
    assert half.returncode == 2 and "ELASTICSEARCH_PASSWORD" in half.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_cluster_exits_1_naming_what_was_not_applied() -> None:
    result = run("apply", "--env", "dev", "--url", f"http://127.0.0.1:{_free_port()}")
    assert result.returncode == 1, result.stderr
    assert "Elasticsearch unreachable" in result.stderr
    assert "applied (0): nothing" in result.stderr
    assert "not applied (" in result.stderr and "ilm_policy/walletops-service-dev" in result.stderr


class _Refuses(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"error":{"type":"security_exception","reason":"unable to authenticate"},"status":401}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("x-elastic-product", "Elasticsearch")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rejected_credentials_exit_2(refusing_server: str) -> None:
    key = "bm90LWEta2V5"  # pragma: allowlist secret
    result = run("diff", "--env", "dev", "--url", refusing_server, ELASTICSEARCH_API_KEY=key)
    assert result.returncode == 2, result.stderr
    assert "refused the credentials (401)" in result.stderr
