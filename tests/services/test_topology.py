"""How the local stack launches the services: names match gateway routes, loopback only, SQLite or given URLs,
each adapter wired to its own simulated exchange with private credentials."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from walletstubs.localstack.topology import ServiceProcess, database_names, service_names, service_processes

from contracts.config import load_environment
from contracts.gateway_spec import load_gateway_spec

PROJECT = Path(__file__).resolve().parents[2]


def _processes(
    tmp_path: Path, database_urls: dict[str, str] | None = None, cache_url: str | None = None
) -> dict[str, ServiceProcess]:
    exchanges = load_environment("dev", PROJECT).exchanges
    ports = {name: 20000 + index for index, name in enumerate(service_names(exchanges))}
    processes = service_processes(
        exchanges, ports=ports, state_dir=tmp_path, database_urls=database_urls, cache_url=cache_url
    )
    return {process.name: process for process in processes}


def test_routed_services_are_the_gateway_route_services(tmp_path: Path) -> None:
    exchanges = load_environment("dev", PROJECT).exchanges
    processes = _processes(tmp_path)
    routed = {name for name, p in processes.items() if p.routed}
    spec = load_gateway_spec(PROJECT)
    expected = {route.service for route in spec.expanded_routes([e.name for e in exchanges])}
    assert routed == expected
    assert {name for name, p in processes.items() if not p.routed} == {
        f"simexchange-{e.name}" for e in exchanges
    }


def test_every_process_listens_on_loopback_with_its_own_port(tmp_path: Path) -> None:
    processes = _processes(tmp_path)
    ports = [p.env["WALLETSTUB_PORT"] for p in processes.values()]
    assert len(set(ports)) == len(ports)
    assert {p.env["WALLETSTUB_HOST"] for p in processes.values()} == {"127.0.0.1"}


def test_adapters_talk_to_their_simulated_exchange_not_the_real_one(tmp_path: Path) -> None:
    processes = _processes(tmp_path)
    adapter, sim = processes["exchange-coinbase"], processes["simexchange-coinbase"]
    assert adapter.env["WALLETSTUB_EXCHANGE_BASE_URL"] == f"http://127.0.0.1:{sim.port}"
    assert adapter.env["WALLETSTUB_EXCHANGE_FEE_BPS"] == "50"
    credentials = Path(adapter.env["WALLETSTUB_EXCHANGE_CREDENTIALS_FILE"])
    assert credentials == Path(sim.env["WALLETSTUB_EXCHANGE_CREDENTIALS_FILE"])
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert set(json.loads(credentials.read_text())) == {"api_key", "api_secret", "passphrase"}
    assert json.loads(processes["roundups"].env["WALLETSTUB_EXCHANGE_URLS"]) == {
        "coinbase": processes["exchange-coinbase"].url,
        "alpaca": processes["exchange-alpaca"].url,
    }


def test_credentials_are_generated_once(tmp_path: Path) -> None:
    _processes(tmp_path)
    first = (tmp_path / "credentials" / "alpaca.json").read_text()
    _processes(tmp_path)
    assert (tmp_path / "credentials" / "alpaca.json").read_text() == first


def test_backends(tmp_path: Path) -> None:
    embedded = _processes(tmp_path)
    assert embedded["wallet"].env["WALLETSTUB_DATABASE_URL"].startswith("sqlite+aiosqlite:///")
    assert embedded["wallet"].env["WALLETSTUB_CACHE_URL"] == "memory://"
    exchanges = load_environment("dev", PROJECT).exchanges
    urls = {
        name: f"postgresql+asyncpg://u:p@127.0.0.1:5432/{db}"
        for name, db in database_names(exchanges).items()
    }
    real = _processes(tmp_path, database_urls=urls, cache_url="redis://:pw@127.0.0.1:6379/0")
    assert real["exchange-alpaca"].env["WALLETSTUB_DATABASE_URL"].endswith("/exchange_alpaca")
    assert real["roundups"].env["WALLETSTUB_CACHE_URL"].startswith("redis://")
    assert real["simexchange-alpaca"].env["WALLETSTUB_DATABASE_URL"].startswith("sqlite")


def test_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    exchanges = load_environment("dev", PROJECT).exchanges
    with pytest.raises(ValueError, match="no port given for roundups"):
        service_processes(
            exchanges, ports={n: 1 for n in service_names(exchanges) if n != "roundups"}, state_dir=tmp_path
        )
