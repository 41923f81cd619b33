"""The environment model: the four real files validate; every kind of bad config exits 2, naming it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from contracts.config import ConfigError, load_all, load_environment
from contracts.errors import UsageProblem
from contracts.project import find_project_dir

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "walletops", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def edit(project: Path, env: str, section: str, change: Callable[[dict], None]) -> None:
    path = project / f"Pulumi.{env}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"][section] if section else document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_four_environments_validate_with_their_differences() -> None:
    models = load_all(ROOT)
    assert list(models) == ["dev", "qa", "stage", "prod"]
    assert models["dev"].network.nat.value == "single" and models["prod"].network.nat.value == "per-az"
    assert models["dev"].network.az_count == 2 and models["prod"].network.az_count == 3
    assert models["prod"].database.multi_az and not models["dev"].database.multi_az
    assert all(len(model.exchanges) >= 2 for model in models.values())
    assert all({e.kind for e in model.exchanges} == {"crypto", "stock"} for model in models.values())
    assert all(model.logging.audit_retention_days >= 365 for model in models.values())


def test_project_dir_is_found_upwards_like_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = ROOT / "infra"
    monkeypatch.chdir(nested)
    assert find_project_dir() == ROOT
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageProblem, match=r"no Pulumi\.yaml"):
        find_project_dir()


def test_config_show_json_is_the_resolved_model() -> None:
    result = run_cli("config", "show", "--env", "prod", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert '"multi_az": true' in result.stdout and '"region": "eu-west-1"' in result.stdout


@pytest.mark.parametrize(
    ("section", "change", "expected"),
    [
        (
            "walletops:database",
            lambda d: d.update(backup_retention_days=40),
            "Pulumi.dev.yaml: walletops:database.backup_retention_days = 40: "
            "Input should be less than or equal to 35",
        ),
        (
            "walletops:database",
            lambda d: d.update(monitoring_interval_seconds=7),
            "Pulumi.dev.yaml: walletops:database.monitoring_interval_seconds = 7: "
            "Input should be 1, 5, 10, 15, 30 or 60",
        ),
        (
            "walletops:network",
            lambda d: d.update(nat="two"),
            "Pulumi.dev.yaml: walletops:network.nat = 'two': Input should be 'single' or 'per-az'",
        ),
        (
            "walletops:cache",
            lambda d: d.update(num_nodes="many"),
            "Pulumi.dev.yaml: walletops:cache.num_nodes = 'many': Input should be a valid integer",
        ),
        (
            "walletops:database",
            lambda d: d.update(encrypted=False),
            "Pulumi.dev.yaml: walletops:database.encrypted = False: unknown key; allowed: instance_class,",
        ),
        (
            "",
            lambda d: d.update({"walletops:extras": 1}),
            "Pulumi.dev.yaml: walletops:extras = 1: unknown key; allowed: walletops:data_classification,",
        ),
        (
            "walletops:kubernetes",
            lambda d: d["node_groups"][0].update(min_size=5, desired_size=2),
            "walletops:kubernetes.node_groups[0] = ",
        ),
        (
            "walletops:exchanges",
            lambda d: d.pop(),
            "walletops:exchanges = ",
        ),
    ],
)
def test_bad_values_exit_2_naming_file_key_value_and_allowed(
    project_copy: Callable[[], Path], section: str, change: Callable[[dict], None], expected: str
) -> None:
    project = project_copy()
    edit(project, "dev", section, change)
    result = run_cli("config", "show", "--env", "dev", "--project-dir", str(project))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_yaml_names_line_and_column(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    path = project / "Pulumi.qa.yaml"
    path.write_text(path.read_text().replace("  walletops:network:\n", "  walletops:network: [\n", 1))
    result = run_cli("config", "show", "--env", "qa", "--project-dir", str(project))
    assert result.returncode == 2
    assert "Pulumi.qa.yaml:" in result.stderr and "malformed YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_environment_lists_the_allowed_ones() -> None:
    result = run_cli("config", "show", "--env", "staging")
    assert result.returncode == 2
    assert "unknown environment; allowed: dev, qa, stage, prod" in result.stderr


def test_every_problem_is_reported_at_once(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    edit(
        project, "stage", "walletops:database", lambda d: d.update(backup_retention_days=0, multi_az="maybe")
    )
    with pytest.raises(ConfigError) as caught:
        load_environment("stage", project)
    assert len(caught.value.problems) == 2


def test_cross_field_rules(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    edit(project, "dev", "", lambda d: d.update({"walletops:compute_engine": "ecs"}))
    with pytest.raises(ConfigError, match="takes no 'kubernetes' section"):
        load_environment("dev", project)


@pytest.mark.parametrize(
    ("env", "section", "change", "expected"),
    [
        (
            "prod",
            "walletops:kubernetes",
            lambda d: d["node_groups"][1].pop("taints"),
            "a SPOT group needs the taint",
        ),
        (
            "dev",
            "walletops:kubernetes",
            lambda d: d["node_groups"][0].update(instance_types=["m6i.large", "m7g.large"]),
            "instance_types mix architectures (arm64, x86_64)",
        ),
        ("dev", "walletops:database", lambda d: d.update(engine_version="16.4"), "pins a minor"),
        (
            "prod",
            "walletops:logging",
            lambda d: d.pop("replica_region"),
            "replica_region is required in prod",
        ),
        (
            "dev",
            "walletops:logging",
            lambda d: d.update(replica_region="eu-west-1"),
            "must be another region than the stack's (eu-west-1)",
        ),
        ("dev", "walletops:network", lambda d: d.pop("availability_zones"), "required key is missing"),
        (
            "dev",
            "walletops:network",
            lambda d: d.update(availability_zones=["eu-west-1a", "eu-west-1a"]),
            "distinct",
        ),
        (
            "dev",
            "walletops:kubernetes",
            lambda d: d.update(access=[{"role": "platform-readonly", "access": "view"}]),
            "at least one cluster-admin",
        ),
        ("dev", "walletops:kubernetes", lambda d: d["addons"].pop("metrics-server"), "metrics-server"),
        (
            "dev",
            "walletops:kubernetes",
            lambda d: d["cluster_autoscaler"].update(
                image="registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.0"
            ),
            "must be v1.35.x",
        ),
        ("dev", "walletops:services", lambda d: d["wallet"].update(tolerate_spot=True), "never runs on SPOT"),
        ("dev", "walletops:database", lambda d: d.update(master_username="admin"), "reserved by RDS"),
    ],
)
def test_deployability_rules_of_the_model(
    project_copy: Callable[[], Path], env: str, section: str, change: Callable[[dict], None], expected: str
) -> None:
    project = project_copy()
    edit(project, env, section, change)
    with pytest.raises(ConfigError) as caught:
        load_environment(env, project)
    assert expected in "\n".join(caught.value.problems)


def test_database_minor_may_be_pinned_only_without_automatic_upgrades(
    project_copy: Callable[[], Path],
) -> None:
    project = project_copy()
    edit(
        project,
        "dev",
        "walletops:database",
        lambda d: d.update(engine_version="16.4", auto_minor_version_upgrade=False),
    )
    assert load_environment("dev", project).database.engine_version == "16.4"
