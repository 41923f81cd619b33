"""The API gateway in AWS, rendered from the one gateway spec (``gateway.yaml``).

API Gateway (REST) is the public edge: per-consumer API keys on usage plans (rate, burst, daily
quota), stage throttling, JSON access logs to a KMS-encrypted log group, and a WAFv2 web ACL with a
rate-based rule, AWS managed rule groups, the spec's body-size limit and blocked patterns. Behind it
a VPC link reaches an internal NLB in the private subnets with one listener per service. Operator
routes also require SigV4 (IAM) so an API key alone never reaches them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import ComputeEngine, EnvironmentConfig
from contracts.gateway_spec import GatewaySpec, Route
from infra.common import WalletComponent
from infra.iam import service_trust
from infra.services import CONTAINER_PORT, Workload

STAGE = "v1"
MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "apiKeyId": "$context.identity.apiKeyId",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "wafStatus": "$context.waf.status",
        "time": "$context.requestTimeEpoch",
    },
    sort_keys=True,
)


@dataclass
class GatewayArgs:
    """The spec, the services behind it, and where they run."""

    spec: GatewaySpec
    workloads: list[Workload]
    app_subnet_ids: list[pulumi.Output[str]]
    lb_security_group_id: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    permissions_boundary_arn: pulumi.Input[str]


class Gateway(WalletComponent):
    """Internal NLB + target groups, the REST API with usage plans and keys, and the WAF."""

    component = "gateway"

    def __init__(
        self, name: str, args: GatewayArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("gateway:Gateway", name, env, opts)
        self.args = args
        self.routes = args.spec.expanded_routes([exchange.name for exchange in env.exchanges])
        self._load_balancer()
        self._rest_api()
        self._waf()
        self.register_outputs(
            {"invoke_url": self.stage.invoke_url, "nlb_dns": self.nlb.dns_name, "rest_api_id": self.api.id}
        )

    def _load_balancer(self) -> None:
        args = self.args
        eks = self.env.compute_engine is ComputeEngine.eks
        self.nlb = aws.lb.LoadBalancer(
            self.name("nlb"),
            name=self.name("nlb"),
            internal=True,
            load_balancer_type="network",
            subnets=args.app_subnet_ids,
            security_groups=[args.lb_security_group_id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=self.env.is_production,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        self.target_groups: dict[str, aws.lb.TargetGroup] = {}
        for workload in args.workloads:
            group = aws.lb.TargetGroup(
                self.name("tg", workload.name),
                name=f"{self.prefix}-{workload.port}",
                port=workload.port if eks else CONTAINER_PORT,
                protocol="TCP",
                target_type="instance" if eks else "ip",
                vpc_id=self.nlb.vpc_id,
                deregistration_delay=30,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    protocol="HTTP",
                    port="traffic-port",
                    path="/healthz",
                    matcher="200",
                    healthy_threshold=2,
                    unhealthy_threshold=2,
                    interval=10,
                ),
                tags=self.tags(service=workload.name),
                opts=self.child_opts(),
            )
            aws.lb.Listener(
                self.name("listener", workload.name),
                load_balancer_arn=self.nlb.arn,
                port=workload.port,
                protocol="TCP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)
                ],
                tags=self.tags(service=workload.name),
                opts=self.child_opts(),
            )
            self.target_groups[workload.name] = group

    def attach_node_groups(self, node_groups: list[aws.eks.NodeGroup]) -> None:
        """EKS: register every node group's instances in every target group (NodePort services)."""
        for group in node_groups:
            asg = group.resources.apply(_autoscaling_group_name)
            for workload_name, target in self.target_groups.items():
                aws.autoscaling.Attachment(
                    f"{group._name}-{workload_name}",
                    autoscaling_group_name=asg,
                    lb_target_group_arn=target.arn,
                    opts=self.child_opts(),
                )

    def _rest_api(self) -> None:
        env = self.env
        ports = {workload.name: workload.port for workload in self.args.workloads}
        self.api = aws.apigateway.RestApi(
            self.name("api"),
            name=self.name("api"),
            description=f"Wallet public API ({env.name})",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            minimum_compression_size="1024",
            disable_execute_api_endpoint=False,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        link = aws.apigateway.VpcLink(
            self.name("vpc-link"),
            name=self.name("vpc-link"),
            target_arn=self.nlb.arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        resources: dict[str, aws.apigateway.Resource] = {}
        methods: list[pulumi.Resource] = []
        for route in self.routes:
            prefix_resource = self._resource_path(route.path_prefix, resources)
            proxy = aws.apigateway.Resource(
                self.name("res", route.name, "proxy"),
                rest_api=self.api.id,
                parent_id=prefix_resource.id,
                path_part="{proxy+}",
                opts=self.child_opts(),
            )
            for resource, suffix in ((prefix_resource, ""), (proxy, "/{proxy}")):
                for verb in route.methods:
                    methods.extend(
                        self._method(
                            route=route,
                            resource=resource,
                            verb=verb,
                            suffix=suffix,
                            port=ports[route.service],
                            link=link,
                        )
                    )

        digest = hashlib.sha256(
            json.dumps([r.model_dump() for r in self.routes], sort_keys=True).encode()
        ).hexdigest()
        deployment = aws.apigateway.Deployment(
            self.name("deployment"),
            rest_api=self.api.id,
            triggers={"routes": digest},
            opts=self.child_opts(depends_on=methods),
        )
        access_logs = aws.cloudwatch.LogGroup(
            self.name("api-access-logs"),
            name=f"/walletops/{env.name}/api-gateway/access",
            retention_in_days=env.logging.access_retention_days,
            kms_key_id=self.args.logs_key_arn,
            tags={**self.tags(), "log-class": "access"},
            opts=self.child_opts(stateful=True),
        )
        push_role = aws.iam.Role(
            self.name("api-logs-role"),
            assume_role_policy=service_trust("apigateway.amazonaws.com"),
            permissions_boundary=self.args.permissions_boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicyAttachment(
            self.name("api-logs-policy"),
            role=push_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=self.child_opts(),
        )
        account = aws.apigateway.Account(
            self.name("api-account"), cloudwatch_role_arn=push_role.arn, opts=self.child_opts()
        )
        self.stage = aws.apigateway.Stage(
            self.name("stage"),
            rest_api=self.api.id,
            deployment=deployment.id,
            stage_name=STAGE,
            xray_tracing_enabled=True,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            tags=self.tags(),
            opts=self.child_opts(depends_on=[account]),
        )
        aws.apigateway.MethodSettings(
            self.name("stage-settings"),
            rest_api=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                throttling_rate_limit=env.gateway.stage_throttle_rps,
                throttling_burst_limit=env.gateway.stage_throttle_burst,
                metrics_enabled=True,
                logging_level="ERROR",
                data_trace_enabled=False,
            ),
            opts=self.child_opts(),
        )
        self.api_keys: dict[str, aws.apigateway.ApiKey] = {}
        for consumer in self.args.spec.consumers:
            plan = aws.apigateway.UsagePlan(
                self.name("plan", consumer.name),
                name=self.name("plan", consumer.name),
                description=f"{consumer.name}: {consumer.rate_per_second} rps, burst {consumer.burst}",
                api_stages=[
                    aws.apigateway.UsagePlanApiStageArgs(api_id=self.api.id, stage=self.stage.stage_name)
                ],
                throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                    rate_limit=consumer.rate_per_second, burst_limit=consumer.burst
                ),
                quota_settings=aws.apigateway.UsagePlanQuotaSettingsArgs(
                    limit=consumer.quota_per_day, period="DAY"
                ),
                tags=self.tags(service=consumer.name),
                opts=self.child_opts(),
            )
            key = aws.apigateway.ApiKey(
                self.name("key", consumer.name),
                name=self.name("key", consumer.name),
                description=f"API key of consumer {consumer.name} (value generated by AWS)",
                enabled=True,
                tags=self.tags(service=consumer.name),
                opts=self.child_opts(),
            )
            aws.apigateway.UsagePlanKey(
                self.name("plan-key", consumer.name),
                key_id=key.id,
                key_type="API_KEY",
                usage_plan_id=plan.id,
                opts=self.child_opts(),
            )
            self.api_keys[consumer.name] = key

    def _resource_path(
        self, path: str, resources: dict[str, aws.apigateway.Resource]
    ) -> aws.apigateway.Resource:
        """Create (once) each segment of ``path`` as a nested API resource; return the last."""
        parent: pulumi.Input[str] = self.api.root_resource_id
        current = ""
        resource: aws.apigateway.Resource | None = None
        for segment in path.strip("/").split("/"):
            current = f"{current}/{segment}"
            if current not in resources:
                resources[current] = aws.apigateway.Resource(
                    self.name("res", *current.strip("/").split("/")),
                    rest_api=self.api.id,
                    parent_id=parent,
                    path_part=segment,
                    opts=self.child_opts(),
                )
            resource = resources[current]
            parent = resource.id
        assert resource is not None
        return resource

    def _method(
        self,
        *,
        route: Route,
        resource: aws.apigateway.Resource,
        verb: str,
        suffix: str,
        port: int,
        link: aws.apigateway.VpcLink,
    ) -> list[pulumi.Resource]:
        label = self.name("m", route.name, verb.lower(), "proxy" if suffix else "root")
        proxied = bool(suffix)
        method = aws.apigateway.Method(
            label,
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=verb,
            authorization="AWS_IAM" if route.scope == "operator" else "NONE",
            api_key_required=True,
            request_parameters={"method.request.path.proxy": True} if proxied else None,
            opts=self.child_opts(),
        )
        integration = aws.apigateway.Integration(
            f"{label}-integration",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="HTTP_PROXY",
            integration_http_method=verb,
            connection_type="VPC_LINK",
            connection_id=link.id,
            uri=pulumi.Output.concat("http://", self.nlb.dns_name, f":{port}{route.path_prefix}{suffix}"),
            request_parameters={"integration.request.path.proxy": "method.request.path.proxy"}
            if proxied
            else None,
            timeout_milliseconds=29000,
            opts=self.child_opts(),
        )
        return [method, integration]

    def _waf(self) -> None:
        spec = self.args.spec
        patterns = aws.wafv2.RegexPatternSet(
            self.name("blocked-patterns"),
            name=self.name("blocked-patterns"),
            scope="REGIONAL",
            description="Blocked request patterns of the gateway spec",
            regular_expressions=[
                aws.wafv2.RegexPatternSetRegularExpressionArgs(regex_string=p.removeprefix("(?i)"))
                for p in spec.blocked_patterns
            ],
            tags=self.tags(),
            opts=self.child_opts(),
        )
        rules: list[aws.wafv2.WebAclRuleArgsDict] = [
            {
                "name": "rate-limit-per-ip",
                "priority": 0,
                "action": {"block": {}},
                "statement": {
                    "rate_based_statement": {
                        "limit": self.env.gateway.waf_rate_limit_per_5min,
                        "aggregate_key_type": "IP",
                    }
                },
                "visibility_config": _visibility("rate-limit"),
            },
            {
                "name": "body-size-limit",
                "priority": 1,
                "action": {"block": {}},
                "statement": {
                    "size_constraint_statement": {
                        "comparison_operator": "GT",
                        "size": spec.max_body_bytes,
                        "field_to_match": {"body": {"oversize_handling": "MATCH"}},
                        "text_transformations": [{"priority": 0, "type": "NONE"}],
                    }
                },
                "visibility_config": _visibility("body-size"),
            },
            {
                "name": "blocked-patterns",
                "priority": 2,
                "action": {"block": {}},
                "statement": {
                    "regex_pattern_set_reference_statement": {
                        "arn": patterns.arn,
                        "field_to_match": {"uri_path": {}},
                        "text_transformations": [
                            {"priority": 0, "type": "URL_DECODE"},
                            {"priority": 1, "type": "LOWERCASE"},
                        ],
                    }
                },
                "visibility_config": _visibility("blocked-patterns"),
            },
        ]
        for index, group in enumerate(MANAGED_RULE_GROUPS, start=10):
            rules.append(
                {
                    "name": group,
                    "priority": index,
                    "override_action": {"none": {}},
                    "statement": {"managed_rule_group_statement": {"vendor_name": "AWS", "name": group}},
                    "visibility_config": _visibility(group),
                }
            )
        acl = aws.wafv2.WebAcl(
            self.name("waf"),
            name=self.name("waf"),
            scope="REGIONAL",
            description="Wallet API edge protection",
            default_action={"allow": {}},
            rules=rules,
            visibility_config=_visibility(self.name("waf")),
            tags=self.tags(),
            opts=self.child_opts(),
        )
        aws.wafv2.WebAclAssociation(
            self.name("waf-association"),
            resource_arn=self.stage.arn,
            web_acl_arn=acl.arn,
            opts=self.child_opts(),
        )
        waf_logs = aws.cloudwatch.LogGroup(
            self.name("waf-logs"),
            name=f"aws-waf-logs-{self.prefix}",
            retention_in_days=self.env.logging.access_retention_days,
            kms_key_id=self.args.logs_key_arn,
            tags={**self.tags(), "log-class": "access"},
            opts=self.child_opts(stateful=True),
        )
        aws.wafv2.WebAclLoggingConfiguration(
            self.name("waf-logging"),
            resource_arn=acl.arn,
            log_destination_configs=[waf_logs.arn],
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                        name="x-api-key"
                    )
                )
            ],
            opts=self.child_opts(),
        )


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """The Auto Scaling group EKS created for a managed node group."""
    groups = resources[0].autoscaling_groups or []
    if not groups or groups[0].name is None:
        raise ValueError("the node group reports no Auto Scaling group")
    return groups[0].name


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}
