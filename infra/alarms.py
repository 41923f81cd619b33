"""CloudWatch alarms on what ECK and APM cannot see: the managed AWS services under the wallet.

RDS (CPU, free storage, replica lag), ElastiCache (engine CPU and evictions per node), the internal
NLB (unhealthy targets per target group), API Gateway (5XX and p99 latency of the stage) and WAF
(a spike of blocked requests). Thresholds come from ``walletops:alarms`` in config; every alarm
(and its recovery) notifies the environment's budget/alert SNS topic. Missing data is not
breaching: a metric that is not published (no replica, no traffic) does not page anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent

PERIOD_SECONDS = 300
ABOVE = "GreaterThanThreshold"
BELOW = "LessThanThreshold"
AT_LEAST = "GreaterThanOrEqualToThreshold"
GB = 1024**3


@dataclass
class AlarmsArgs:
    """The resources watched and the topic alarms notify."""

    topic_arn: pulumi.Input[str]
    db_identifier: pulumi.Input[str]
    cache_group_id: pulumi.Input[str]
    nlb_arn: pulumi.Input[str]
    target_group_arns: dict[str, pulumi.Output[str]]
    api_name: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    web_acl_name: str


def arn_suffix(arn: str) -> str:
    """The CloudWatch dimension of an ELB ARN: ``net/<name>/<id>`` or ``targetgroup/<name>/<id>``."""
    resource = arn.split(":", 5)[-1]
    return resource.removeprefix("loadbalancer/")


class Alarms(WalletComponent):
    """One ``MetricAlarm`` per watched metric and resource (``alarms[label]``)."""

    component = "alarms"

    def __init__(
        self, name: str, args: AlarmsArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("observability:Alarms", name, env, opts)
        self.args = args
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        cfg = env.alarms
        db = {"DBInstanceIdentifier": args.db_identifier}
        self._alarm("rds-cpu", "AWS/RDS", "CPUUtilization", db, (ABOVE, cfg.rds_cpu_percent))
        self._alarm(
            "rds-free-storage",
            "AWS/RDS",
            "FreeStorageSpace",
            db,
            (BELOW, cfg.rds_free_storage_gb * GB),
            statistic="Minimum",
        )
        self._alarm(
            "rds-replica-lag",
            "AWS/RDS",
            "ReplicaLag",
            db,
            (ABOVE, cfg.rds_replica_lag_seconds),
        )
        for index in range(1, env.cache.num_nodes + 1):
            node = pulumi.Output.concat(args.cache_group_id, f"-{index:03d}")
            dims = {"CacheClusterId": node}
            self._alarm(
                f"cache-cpu-{index:03d}",
                "AWS/ElastiCache",
                "EngineCPUUtilization",
                dims,
                (ABOVE, cfg.cache_cpu_percent),
            )
            self._alarm(
                f"cache-evictions-{index:03d}",
                "AWS/ElastiCache",
                "Evictions",
                dims,
                (ABOVE, cfg.cache_evictions),
                statistic="Sum",
            )
        for service, group_arn in sorted(args.target_group_arns.items()):
            self._alarm(
                f"nlb-unhealthy-{service}",
                "AWS/NetworkELB",
                "UnHealthyHostCount",
                {
                    "LoadBalancer": pulumi.Output.from_input(args.nlb_arn).apply(arn_suffix),
                    "TargetGroup": group_arn.apply(arn_suffix),
                },
                (AT_LEAST, cfg.nlb_unhealthy_hosts),
                statistic="Maximum",
            )
        api = {"ApiName": args.api_name, "Stage": args.stage_name}
        self._alarm(
            "api-5xx",
            "AWS/ApiGateway",
            "5XXError",
            api,
            (ABOVE, cfg.api_5xx_errors),
            statistic="Sum",
        )
        self._alarm(
            "api-latency-p99",
            "AWS/ApiGateway",
            "Latency",
            api,
            (ABOVE, cfg.api_latency_p99_ms),
            extended_statistic="p99",
        )
        self._alarm(
            "waf-blocked",
            "AWS/WAFV2",
            "BlockedRequests",
            {"WebACL": args.web_acl_name, "Region": env.region, "Rule": "ALL"},
            (ABOVE, cfg.waf_blocked_requests),
            statistic="Sum",
            periods=1,
        )
        self.register_outputs({"alarms": sorted(self.alarms)})

    def _alarm(
        self,
        label: str,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        rule: tuple[str, float],
        *,
        statistic: str = "Average",
        extended_statistic: str | None = None,
        periods: int | None = None,
    ) -> None:
        comparison, threshold = rule
        evaluation = periods or self.env.alarms.evaluation_periods
        self.alarms[label] = aws.cloudwatch.MetricAlarm(
            self.name("alarm", label),
            name=self.name(label),
            alarm_description=f"{self.env.name}: {namespace} {metric} {comparison} {threshold:g}",
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=None if extended_statistic else statistic,
            extended_statistic=extended_statistic,
            period=PERIOD_SECONDS,
            evaluation_periods=evaluation,
            datapoints_to_alarm=evaluation,
            comparison_operator=comparison,
            threshold=threshold,
            treat_missing_data="notBreaching",
            alarm_actions=[self.args.topic_arn],
            ok_actions=[self.args.topic_arn],
            tags=self.tags(),
            opts=self.child_opts(),
        )
