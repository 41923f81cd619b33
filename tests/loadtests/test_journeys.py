"""Journeys: weights, and one generated exchange task set per exchange in the environment config."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from locust import TaskSet

from loadtests.journeys import build_arrival_class, build_user_class, configured_exchanges
from loadtests.mix import BASE_WEIGHTS, EXCHANGE_WEIGHT_TOTAL
from loadtests.settings import RunSettings

PROJECT = Path(__file__).resolve().parents[2]


def _task_sets(user: type) -> dict[str, tuple[str, int]]:
    counts: dict[str, int] = {}
    for task in user.tasks:
        if isinstance(task, type) and issubclass(task, TaskSet):
            counts[task.exchange] = counts.get(task.exchange, 0) + 1  # type: ignore[attr-defined]
    return {name: (name, count) for name, count in counts.items()}


def test_dev_config_gives_one_task_set_per_exchange() -> None:
    settings = RunSettings(env="dev", project_dir=PROJECT)
    user = build_user_class(configured_exchanges(settings), settings)
    assert set(_task_sets(user)) == {"coinbase", "alpaca"}
    picks = [getattr(task, "__name__", "") for task in user.tasks]
    # Weights become repeated entries in Locust's task list.
    assert picks.count("check_balance") == BASE_WEIGHTS["check_balance"]
    assert picks.count("sign_up") == BASE_WEIGHTS["sign_up"]


def test_adding_an_exchange_to_config_adds_its_task_set(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "gateway.yaml"):
        shutil.copy(PROJECT / name, tmp_path / name)
    stack_file = tmp_path / "Pulumi.dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    bitstamp = dict(document["config"]["walletops:exchanges"][0])
    bitstamp.update(
        name="bitstamp", base_url="https://www.bitstamp.net/api", egress_hosts=["www.bitstamp.net"]
    )
    document["config"]["walletops:exchanges"].append(bitstamp)
    stack_file.write_text(yaml.safe_dump(document))

    settings = RunSettings(env="dev", project_dir=tmp_path)
    exchanges = configured_exchanges(settings)
    assert ("bitstamp", "crypto") in exchanges
    user = build_user_class(exchanges, settings)
    task_sets = {task.__name__: task for task in user.tasks if isinstance(task, type)}
    assert "BitstampOrders" in task_sets
    assert task_sets["BitstampOrders"].exchange == "bitstamp"  # type: ignore[attr-defined]
    assert set(_task_sets(user)) == {"coinbase", "alpaca", "bitstamp"}


def test_exchanges_from_the_environment_variable_need_no_config() -> None:
    settings = RunSettings(exchanges=("kraken:crypto", "alpaca:stock"), project_dir=Path("/nonexistent"))
    assert configured_exchanges(settings) == [("kraken", "crypto"), ("alpaca", "stock")]


def test_the_open_model_generator_paces_arrivals_not_answers() -> None:
    settings = RunSettings(scenario="arrival", users=4, arrival_rate=20.0, exchanges=("coinbase:crypto",))
    generator = build_arrival_class(configured_exchanges(settings), settings)
    # 4 generators x one arrival every 0.2 s = 20 arrivals per second, however slow the answers.
    assert generator.wait_time(None) == 0.2  # type: ignore[arg-type]
    names = {journey.__name__: weight for journey, weight in generator.journeys}
    assert names == {**BASE_WEIGHTS, "order_coinbase": EXCHANGE_WEIGHT_TOTAL}
