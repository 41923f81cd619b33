"""Deploy inputs: the stack file gets every image by digest, validated; without the CLI it stops clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from contracts.config import load_environment
from contracts.errors import UsageProblem
from pipelines import deploy as deploy_module
from pipelines.deploy import Rollout, deploy, drift, image_config, prepare
from pipelines.results import Status

ROOT = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
DIGESTS = {
    name: "sha256:" + str(i) * 64
    for i, name in enumerate(("wallet", "roundups", "exchange", "loadtest"), start=1)
}


def test_every_deployed_image_is_the_environments_repository_by_digest(tmp_path: Path) -> None:
    inputs = prepare(
        ROOT, "stage", registry=ECR, digests=DIGESTS, work_dir=tmp_path, rollouts=[Rollout("w", "a")]
    )
    model = load_environment("stage", tmp_path)
    assert model.services.wallet.image == f"{ECR}/stage/wallet@{DIGESTS['wallet']}"
    assert model.services.roundups.image == f"{ECR}/stage/roundups@{DIGESTS['roundups']}"
    assert model.exchanges and all(
        e.image == f"{ECR}/stage/exchange@{DIGESTS['exchange']}" for e in model.exchanges
    )
    assert model.loadtest.image == f"{ECR}/stage/loadtest@{DIGESTS['loadtest']}"
    assert inputs.stack == "stage" and inputs.digests == DIGESTS
    assert set(inputs.images) == {"services.wallet.image", "services.roundups.image", "loadtest.image"} | {
        f"exchanges[{i}].image" for i in range(len(model.exchanges))
    }
    original = yaml.safe_load((ROOT / "Pulumi.stage.yaml").read_text())
    services = original["config"]["walletops:services"]
    assert "@sha256:" not in services["wallet"]["image"] + services["roundups"]["image"]  # checkout untouched
    assert (
        yaml.safe_load((tmp_path / "Pulumi.stage.yaml").read_text())["config"]["walletops:network"]
        == original["config"]["walletops:network"]
    )


def test_an_image_reference_the_config_model_refuses_stops_before_any_engine(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=r"Pulumi\.dev\.yaml"):
        prepare(ROOT, "dev", registry="127.0.0.1:5000", digests=DIGESTS, work_dir=tmp_path)


def test_a_build_without_every_deployed_service_is_refused() -> None:
    with pytest.raises(UsageProblem, match="no digest for exchange, loadtest"):
        image_config("dev", ECR, {"wallet": DIGESTS["wallet"], "roundups": DIGESTS["roundups"]}, ["coinbase"])


def test_without_the_pulumi_cli_deploy_stops_before_the_engine_with_its_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "pulumi" else "/usr/bin/" + name)
    inputs = prepare(ROOT, "dev", registry=ECR, digests=DIGESTS, work_dir=tmp_path)
    result = deploy(inputs)
    assert result.status is Status.failed
    assert [c.name for c in result.checks] == ["inputs", "pulumi up"]
    assert (
        "Pulumi CLI is not installed" in result.checks[1].summary and "stack dev" in result.checks[1].summary
    )
    assert result.artefacts["services.wallet.image"] == f"{ECR}/dev/wallet@{DIGESTS['wallet']}"
    assert not deploy_module.engine_available()


def test_without_the_pulumi_cli_drift_is_a_failure_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for preview in (False, True):
        result = drift(ROOT, "prod", preview=preview)
        assert result.status is Status.failed
        assert "cannot run here" in result.checks[0].summary
