"""The workloads of an environment: wallet, roundups and one adapter per configured exchange.

Pure data derived from the environment model, shared by the workloads, the gateway and the tools:
adding an exchange to config adds exactly one entry here, and through it exactly its resources.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from contracts.config import ConfigError, EnvironmentConfig, ServiceConfig

CONTAINER_PORT = 8080
CORE_PORTS: dict[str, int] = {"wallet": 30080, "roundups": 30081}
EXCHANGE_PORT_BASE = 30100
EXCHANGE_PORT_SPAN = 800


@dataclass(frozen=True)
class Workload:
    """One deployable service and what it may reach."""

    name: str
    config: ServiceConfig
    port: int
    """Node port on EKS and NLB listener port: stable per service name, so other services never move."""
    secret_keys: tuple[str, ...] = ()
    egress_hosts: tuple[str, ...] = ()
    uses_database: bool = False
    uses_cache: bool = False
    calls: tuple[str, ...] = ()

    @property
    def is_exchange(self) -> bool:
        return self.name.startswith("exchange-")


def exchange_port(name: str) -> int:
    """A port derived from the exchange name alone (adding one exchange never renumbers another)."""
    return EXCHANGE_PORT_BASE + zlib.crc32(name.encode()) % EXCHANGE_PORT_SPAN


def workloads_of(env: EnvironmentConfig) -> list[Workload]:
    """The services of ``env`` in a stable order; a config error if two exchanges hash to one port."""
    exchanges = [f"exchange-{exchange.name}" for exchange in env.exchanges]
    items = [
        Workload("wallet", env.services.wallet, CORE_PORTS["wallet"], uses_database=True, uses_cache=True),
        Workload(
            "roundups",
            env.services.roundups,
            CORE_PORTS["roundups"],
            uses_database=True,
            calls=("wallet", *exchanges),
        ),
    ]
    for exchange in env.exchanges:
        items.append(
            Workload(
                f"exchange-{exchange.name}",
                exchange,
                exchange_port(exchange.name),
                secret_keys=tuple(exchange.secrets),
                egress_hosts=tuple(exchange.egress_hosts),
                uses_database=True,
                uses_cache=True,
                calls=("wallet",),
            )
        )
    ports = [item.port for item in items]
    if len(set(ports)) != len(ports):
        raise ConfigError(
            f"Pulumi.{env.name}.yaml: walletops:exchanges: two services share a port ({ports}); rename one"
        )
    return items
