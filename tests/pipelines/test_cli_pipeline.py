"""``walletops pipeline``: thin commands — exit 2 on bad input, 1 when the step fails, JSON on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.manifest import BuildManifest, ImageRecord

ROOT = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def _invoke(*args: str) -> tuple[int, str]:
    """The console entry point in a process of its own, as a user runs it (usage problems exit 2)."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "pulumi").exists()
        ),
    }
    env.pop("WALLETOPS_API_KEY", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from walletops.cli import main; main()",
            "pipeline",
            *args,
            "--project-dir",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _manifest(path: Path) -> Path:
    images = {
        name: ImageRecord(
            repository=f"{ECR}/dev/{name}",
            tag="c1",
            digest="sha256:" + str(i) * 64,
            sbom="s",
            sbom_sha256="x",
            image_id="i",
        )
        for i, name in enumerate(("wallet", "roundups", "exchange", "simexchange", "loadtest"), start=1)
    }
    BuildManifest(
        commit="c1",
        created=datetime.now(UTC),
        registry=ECR,
        environment="dev",
        base_image="b",
        base_key="k",
        images=images,
    ).write(path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deploy", "--env", "test"), "unknown environment"),
        (("deploy", "--env", "dev", "--target", "moon"), "--target 'moon'"),
        (("deploy", "--env", "dev", "--manifest", "/nonexistent/m.json"), "no such file"),
        (("promote", "--from", "dev", "--to", "prod", "--manifest", "/nonexistent/m.json"), "no such file"),
        (("registry", "restart"), "allowed: start, stop, status"),
        (("review", "--base-plan", "a.json", "--base-ref", "main"), "give one of them"),
        (("run", "--to", "prod"), "allowed: local"),
        (("smoke", "--env", "dev", "--url", "http://127.0.0.1:9"), "WALLETOPS_API_KEY"),
    ],
)
def test_bad_input_exits_2_with_what_is_allowed(args: tuple[str, ...], message: str) -> None:
    code, output = _invoke(*args)
    assert code == 2, output
    assert message in output


def test_promotion_out_of_order_exits_2(tmp_path: Path) -> None:
    code, output = _invoke(
        "promote",
        "--from",
        "dev",
        "--to",
        "stage",
        "--manifest",
        str(_manifest(tmp_path / "m.json")),
        "--releases",
        str(tmp_path / "r.json"),
    )
    assert code == 2 and "one step at a time" in output


def test_deploy_without_the_engine_exits_1_and_reports_its_inputs_as_json(tmp_path: Path) -> None:
    out = tmp_path / "deploy.json"
    code, output = _invoke(
        "deploy",
        "--env",
        "qa",
        "--manifest",
        str(_manifest(tmp_path / "m.json")),
        "--releases",
        str(tmp_path / "r.json"),
        "--format",
        "json",
        "--output",
        str(out),
    )
    assert code == 1, output
    document = json.loads(out.read_text())
    assert document["status"] == "failed"
    assert document["artefacts"]["services.wallet.image"] == f"{ECR}/qa/wallet@sha256:" + "1" * 64
    assert "Pulumi CLI is not installed" in document["checks"][-1]["summary"]
    assert not (tmp_path / "r.json").exists()  # nothing was deployed, so nothing is recorded


def test_rollback_without_an_earlier_release_exits_2(tmp_path: Path) -> None:
    code, output = _invoke("rollback", "--env", "prod", "--releases", str(tmp_path / "none.json"))
    assert code == 2 and "no earlier release" in output
