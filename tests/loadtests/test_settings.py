"""Run settings: duration and scenario parsing, and the environment-variable round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.errors import UsageProblem
from loadtests.settings import DEFAULT_DURATION_S, RunSettings, check_scenario, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20s", 20), ("20", 20), ("5m", 300), ("1h30m", 5400), ("1m30s", 90), ("2h", 7200)],
)
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "1.5m", "-3s", "s", "0s", "25h"])
def test_bad_durations_are_usage_problems(text: str) -> None:
    with pytest.raises(UsageProblem, match="--duration"):
        parse_duration(text)


def test_unknown_scenario_lists_the_allowed_ones() -> None:
    with pytest.raises(UsageProblem, match="allowed: smoke, load, stress, spike, soak, arrival"):
        check_scenario("soakk")


def test_settings_survive_the_environment_round_trip() -> None:
    settings = RunSettings(
        scenario="stress",
        users=40,
        spawn_rate=8.0,
        duration_s=90.0,
        env="stage",
        project_dir=Path("/srv/project"),
        slo_file=Path("/srv/slo.yaml"),
        summary_file=Path("/srv/out/summary.json"),
        api_key="k1",
        operator_key="k2",
        retry_fraction=0.25,
        exchanges=("coinbase:crypto", "alpaca:stock"),
        target="http://127.0.0.1:1",
        workers=2,
        arrival_rate=37.5,
        service_pids={"wallet": 4242, "gateway": 4243},
    )
    assert RunSettings.from_environ(settings.to_environ()) == settings


def test_unset_variables_take_the_scenario_defaults() -> None:
    settings = RunSettings.from_environ({"WALLETOPS_LT_SCENARIO": "soak"})
    assert settings.duration_s == DEFAULT_DURATION_S["soak"]
    assert settings.users == 30
    assert settings.exchanges == ()


def test_api_keys_may_come_from_mounted_files(tmp_path: Path) -> None:
    (tmp_path / "api-key").write_text("file-key\n", encoding="utf-8")  # pragma: allowlist secret
    environ = {"WALLETOPS_LT_API_KEY": "env-key", "WALLETOPS_LT_API_KEY_FILE": str(tmp_path / "api-key")}
    assert RunSettings.from_environ(environ).api_key == "file-key"  # pragma: allowlist secret
    with pytest.raises(UsageProblem, match=r"WALLETOPS_LT_OPERATOR_KEY_FILE=.*cannot read it"):
        RunSettings.from_environ({"WALLETOPS_LT_OPERATOR_KEY_FILE": str(tmp_path / "absent")})
