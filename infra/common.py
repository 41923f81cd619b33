"""Conventions shared by every walletops component: name prefix, standard tags, protect in prod.

Each component is a ``pulumi.ComponentResource`` of type ``walletops:<area>:<Name>`` taking a
``<Name>Args`` dataclass, creating its children with :meth:`WalletComponent.child_opts` and ending
with ``register_outputs`` (the pattern of Pulumi's own examples and Thunderbird's ``tb_pulumi``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

from contracts.config import EnvironmentConfig, standard_tags


def policy_json(statements: list[dict[str, Any]]) -> str:
    """An IAM/KMS policy document as the compact JSON string AWS stores."""
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"), sort_keys=True
    )


class WalletComponent(pulumi.ComponentResource):
    """Base of the walletops components: knows its environment, tags and child options."""

    component: str = "platform"

    def __init__(
        self, type_name: str, name: str, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"walletops:{type_name}", name, None, opts)
        self.env = env
        self.prefix = env.prefix

    def tags(self, service: str = "platform", data_classification: str | None = None) -> dict[str, str]:
        return standard_tags(self.env, self.component, service, data_classification)

    def name(self, *parts: str) -> str:
        """``wallet-<env>-<parts>``: the physical and logical name of a child."""
        return "-".join((self.prefix, *parts))

    def child_opts(
        self,
        *,
        stateful: bool = False,
        depends_on: Sequence[pulumi.Resource] | None = None,
        provider: pulumi.ProviderResource | None = None,
        ignore_changes: list[str] | None = None,
        retain: bool = False,
        delete_before_replace: bool = False,
    ) -> pulumi.ResourceOptions:
        """Options for a child: parented here, and protected when it holds state in prod.

        ``retain``: state whose owner may be removed from config (an exchange): not protected (the
        removal must succeed) but left in AWS when it leaves the stack.
        """
        return pulumi.ResourceOptions(
            parent=self,
            protect=stateful and self.env.is_production and not retain,
            retain_on_delete=retain or None,
            depends_on=list(depends_on) if depends_on else None,
            provider=provider,
            ignore_changes=ignore_changes,
            delete_before_replace=delete_before_replace or None,
        )
