"""The egress allowlist: AWS Network Firewall between the NAT gateways and the internet.

The exchange adapters call their exchanges on 443; nothing else in the VPC should reach the
internet except what the platform needs (image registries, AWS APIs without a VPC endpoint, the
in-VPC CI runner's GitHub/Pulumi/PyPI). A security group cannot name hosts, so the firewall does:
two stateful domain-list rule groups (ALLOWLIST on TLS SNI and HTTP Host), one generated from the
exchanges' ``egress_hosts`` in config (an exchange removed from config leaves the list with it),
one from ``transit.platform_egress_hosts``; strict rule order with ``drop_established`` and
``alert_established`` as default actions, so a TCP handshake passes, the SNI/Host is inspected,
and anything not allowed is dropped and logged. Alert and flow logs go to KMS-encrypted log groups.

Routing (in :mod:`infra.network`): app subnets → NAT (public subnet) → firewall endpoint in the
same AZ → internet gateway, and back through the IGW edge route table (public subnet CIDR →
firewall endpoint), so both directions cross the same endpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent

TARGET_TYPES: tuple[str, ...] = ("TLS_SNI", "HTTP_HOST")
RULE_ORDER = "STRICT_ORDER"
DEFAULT_ACTIONS: tuple[str, ...] = ("aws:drop_established", "aws:alert_established")
ALLOWLIST_TAG = "egress-allowlist"
"""Tag naming what a rule group allows (``exchanges``: from config; ``platform``), for the guardrail."""


def exchange_hosts(env: EnvironmentConfig) -> list[str]:
    """Every host the configured exchanges' adapters call, sorted and unique."""
    return sorted({host for exchange in env.exchanges for host in exchange.egress_hosts})


def rule_capacity(domains: int) -> int:
    """Capacity of a domain-list rule group (one unit per domain and target type), in steps of 100:
    capacity is fixed at creation, so the steps leave room for hosts added to config later."""
    return max(100, 100 * math.ceil(domains * len(TARGET_TYPES) / 100))


@dataclass
class EgressFirewallArgs:
    """The VPC, one firewall subnet per AZ that has a NAT gateway, and the log key."""

    vpc_id: pulumi.Input[str]
    subnets: Sequence[aws.ec2.Subnet]
    logs_key_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    """Encrypts the firewall, its policy and rule groups (customer-managed, rotating)."""


class EgressFirewall(WalletComponent):
    """Firewall, policy, the two allowlist rule groups and their logging."""

    component = "network"

    def __init__(
        self,
        name: str,
        args: EgressFirewallArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("network:EgressFirewall", name, env, opts)
        self.key_arn = args.key_arn
        groups = [
            self._allowlist("exchanges", exchange_hosts(env), "Hosts of the configured exchanges"),
            self._allowlist(
                "platform",
                sorted(set(env.transit.platform_egress_hosts)),
                "Registries, AWS APIs and CI hosts the platform reaches through NAT",
            ),
        ]
        policy = aws.networkfirewall.FirewallPolicy(
            self.name("egress-policy"),
            name=self.name("egress-policy"),
            description="Egress allowlist: configured hosts only, everything else dropped and logged",
            encryption_configuration=aws.networkfirewall.FirewallPolicyEncryptionConfigurationArgs(
                type="CUSTOMER_KMS", key_id=args.key_arn
            ),
            firewall_policy=aws.networkfirewall.FirewallPolicyFirewallPolicyArgs(
                stateless_default_actions=["aws:forward_to_sfe"],
                stateless_fragment_default_actions=["aws:forward_to_sfe"],
                stateful_engine_options=aws.networkfirewall.FirewallPolicyFirewallPolicyStatefulEngineOptionsArgs(
                    rule_order=RULE_ORDER
                ),
                stateful_default_actions=list(DEFAULT_ACTIONS),
                stateful_rule_group_references=[
                    aws.networkfirewall.FirewallPolicyFirewallPolicyStatefulRuleGroupReferenceArgs(
                        resource_arn=group.arn, priority=(index + 1) * 10
                    )
                    for index, group in enumerate(groups)
                ],
            ),
            tags=self.tags(),
            opts=self.child_opts(),
        )
        self.firewall = aws.networkfirewall.Firewall(
            self.name("egress-firewall"),
            name=self.name("egress-firewall"),
            description="Egress allowlist between the NAT gateways and the internet",
            vpc_id=args.vpc_id,
            firewall_policy_arn=policy.arn,
            subnet_mappings=[
                aws.networkfirewall.FirewallSubnetMappingArgs(subnet_id=subnet.id) for subnet in args.subnets
            ],
            delete_protection=env.transit.firewall_delete_protection,
            subnet_change_protection=env.is_production,
            firewall_policy_change_protection=False,
            encryption_configuration=aws.networkfirewall.FirewallEncryptionConfigurationArgs(
                type="CUSTOMER_KMS", key_id=args.key_arn
            ),
            tags=self.tags(),
            opts=self.child_opts(),
        )
        self._logging(args.logs_key_arn)
        self.register_outputs({"firewall_arn": self.firewall.arn})

    def _allowlist(self, label: str, hosts: list[str], description: str) -> aws.networkfirewall.RuleGroup:
        return aws.networkfirewall.RuleGroup(
            self.name("egress", label),
            name=self.name("egress", label),
            description=description,
            type="STATEFUL",
            capacity=rule_capacity(len(hosts)),
            encryption_configuration=aws.networkfirewall.RuleGroupEncryptionConfigurationArgs(
                type="CUSTOMER_KMS", key_id=self.key_arn
            ),
            rule_group=aws.networkfirewall.RuleGroupRuleGroupArgs(
                rules_source=aws.networkfirewall.RuleGroupRuleGroupRulesSourceArgs(
                    rules_source_list=aws.networkfirewall.RuleGroupRuleGroupRulesSourceRulesSourceListArgs(
                        generated_rules_type="ALLOWLIST",
                        target_types=list(TARGET_TYPES),
                        targets=hosts,
                    )
                ),
                stateful_rule_options=aws.networkfirewall.RuleGroupRuleGroupStatefulRuleOptionsArgs(
                    rule_order=RULE_ORDER
                ),
            ),
            tags={**self.tags(), ALLOWLIST_TAG: label},
            opts=self.child_opts(),
        )

    def endpoint_of(self, subnet: aws.ec2.Subnet) -> pulumi.Output[str]:
        """The firewall's endpoint in ``subnet`` (one per AZ), where routes send traffic."""
        return pulumi.Output.all(self.firewall.firewall_statuses, subnet.id).apply(
            lambda values: _endpoint_in(values[0], values[1])
        )

    def _logging(self, logs_key_arn: pulumi.Input[str]) -> None:
        groups = {
            kind: aws.cloudwatch.LogGroup(
                self.name("firewall-logs", kind.lower()),
                name=f"/walletops/{self.env.name}/network-firewall/{kind.lower()}",
                retention_in_days=self.env.transit.firewall_log_retention_days,
                kms_key_id=logs_key_arn,
                tags={**self.tags(), "log-class": "access"},
                opts=self.child_opts(stateful=True),
            )
            for kind in ("ALERT", "FLOW")
        }
        aws.networkfirewall.LoggingConfiguration(
            self.name("firewall-logging"),
            firewall_arn=self.firewall.arn,
            logging_configuration=aws.networkfirewall.LoggingConfigurationLoggingConfigurationArgs(
                log_destination_configs=[
                    aws.networkfirewall.LoggingConfigurationLoggingConfigurationLogDestinationConfigArgs(
                        log_destination={"logGroup": group.name},
                        log_destination_type="CloudWatchLogs",
                        log_type=kind,
                    )
                    for kind, group in groups.items()
                ]
            ),
            opts=self.child_opts(),
        )


def _endpoint_in(statuses: Sequence[Any], subnet_id: str) -> str:
    """The endpoint id in ``subnet_id`` from the firewall's reported status."""
    for status in statuses or []:
        for state in _field(status, "sync_states", "syncStates") or []:
            for attachment in _field(state, "attachments", "attachments") or []:
                if _field(attachment, "subnet_id", "subnetId") == subnet_id:
                    endpoint = _field(attachment, "endpoint_id", "endpointId")
                    if endpoint:
                        return str(endpoint)
    raise ValueError(f"the firewall reports no endpoint in subnet {subnet_id}")


def _field(value: Any, snake: str, camel: str) -> Any:
    """A field of a provider output, whether it arrives as its output type or as a plain mapping."""
    if isinstance(value, dict):
        return value.get(snake, value.get(camel))
    return getattr(value, snake, None)
