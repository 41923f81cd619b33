"""The API gateway in AWS, rendered from the one gateway spec (``gateway.yaml``).

API Gateway (REST) is the public edge: per-consumer API keys on usage plans (rate, burst, daily
quota), stage throttling, JSON access logs to a KMS-encrypted log group, and a WAFv2 web ACL with a
rate-based rule, AWS managed rule groups, the spec's body-size limit and blocked patterns. Behind it
a VPC link reaches an internal NLB in the private subnets with one TLS listener per service (hop by hop
TLS: :mod:`infra.transit`). Operator
routes also require SigV4 (IAM) so an API key alone never reaches them; end-user routes require a
Cognito user pool access token carrying the spec's OAuth scope (``COGNITO_USER_POOLS`` authorizer).

Parity with the local gateways (the same verdict for the same request, tested on the plan): every
integration sets ``X-Consumer`` from the API key (``context.identity.apiKeyId``, the usage plan's key)
and ``X-User-Sub`` from the token's ``sub``, overwriting what a client sent, and never forwards the
client's API key; the WAF refuses ambiguous raw paths (400), blocked patterns in the decoded path and
query (403) and bodies over the spec's limit (413, inspected up to that size; the common rule set's
8 KB body rule only counts); unknown paths answer 404 and unknown methods 405; gateway responses
carry the local gateways' problem documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import ComputeEngine, EnvironmentConfig
from contracts.gateway_rules import API_KEY_HEADER, CONSUMER_HEADER, NO_USER, NON_CANONICAL_PATH, USER_HEADER
from contracts.gateway_spec import GatewaySpec, Route
from infra.common import WalletComponent
from infra.iam import service_trust
from infra.logging import LOAD_BALANCER_LOG_PREFIX
from infra.services import CONTAINER_PORT, Workload
from infra.transit import SSL_POLICY

STAGE = "v1"
PROBLEM_JSON = "application/problem+json"
# The local gateways' refusals (walletstubs.gateway.problems holds the same texts for nginx and the
# in-process gateway): slug -> (title, detail).
PROBLEMS: dict[str, tuple[str, str]] = {
    "unauthorized": ("Missing or invalid API key", "Send a valid API key in the X-Api-Key header."),
    "end-user-unauthenticated": (
        "Missing or invalid end-user token",
        "Send the end user access token as Authorization: Bearer; it must be valid and carry the API scope.",
    ),
    "forbidden-scope": ("Route not allowed", "This API key may not call this route."),
    "body-too-large": ("Request body too large", "The request body exceeds the size limit of the gateway."),
    "rate-limited": ("Rate limit exceeded", "Too many requests for this API key; retry after a pause."),
    "quota-exceeded": ("Daily quota exceeded", "This API key used its daily quota; it resets at 00:00 UTC."),
    "blocked-request": ("Request blocked", "The request matches a blocked pattern."),
    "no-route": ("No such route", "No gateway route serves this path."),
    "method-not-allowed": ("Method not allowed", "This route does not accept this method."),
    "non-canonical-path": (
        "Ambiguous path",
        "The path contains encoded dots, slashes or backslashes, or empty or dot segments.",
    ),
}
GATEWAY_RESPONSES: tuple[tuple[str, int, str], ...] = (
    ("INVALID_API_KEY", 401, "unauthorized"),
    ("UNAUTHORIZED", 401, "end-user-unauthenticated"),
    ("ACCESS_DENIED", 403, "forbidden-scope"),
    ("MISSING_AUTHENTICATION_TOKEN", 403, "forbidden-scope"),
    ("REQUEST_TOO_LARGE", 413, "body-too-large"),
    ("THROTTLED", 429, "rate-limited"),
    ("QUOTA_EXCEEDED", 429, "quota-exceeded"),
    ("WAF_FILTERED", 403, "blocked-request"),
)
"""API Gateway's own refusals: (response type, status, problem slug)."""
MOCK_ANSWERS = {404: "no-route", 405: "method-not-allowed"}
WAF_ANSWERS = {400: "non-canonical-path", 413: "body-too-large"}


def problem_body(status: int, slug: str) -> str:
    """The compact problem document the local gateways send for the same refusal."""
    title, detail = PROBLEMS[slug]
    document = {
        "type": f"https://walletops.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return json.dumps(document, separators=(",", ":"))


MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
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
    nlb_host: str
    """The name integrations call the NLB by (``nlb.<transit.internal_domain>``), its certificate's name."""
    nlb_certificate_arn: pulumi.Input[str]
    access_logs_bucket: pulumi.Input[str]
    """The access-log bucket (``infra.logging``): the load balancer writes its access logs there."""
    access_logs_policy: pulumi.Resource
    """That bucket's policy, which lets the log delivery write: the load balancer waits for it."""


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
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.access_logs_bucket, prefix=LOAD_BALANCER_LOG_PREFIX, enabled=True
            ),
            tags=self.tags(),
            opts=self.child_opts(depends_on=[args.access_logs_policy]),
        )
        self.target_groups: dict[str, aws.lb.TargetGroup] = {}
        # TLS again from the NLB to the pods (cert-manager certificates); ECS tasks have no issuer yet,
        # so on ECS the NLB terminates TLS (docs/architecture.md, "In transit").
        target_protocol = "TLS" if eks else "TCP"
        for workload in args.workloads:
            group = aws.lb.TargetGroup(
                self.name("tg", workload.name),
                name=f"{self.prefix}-{workload.port}",
                port=workload.port if eks else CONTAINER_PORT,
                protocol=target_protocol,
                target_type="instance" if eks else "ip",
                vpc_id=self.nlb.vpc_id,
                deregistration_delay=30,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    protocol="HTTPS" if target_protocol == "TLS" else "HTTP",
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
                protocol="TLS",
                certificate_arn=args.nlb_certificate_arn,
                ssl_policy=SSL_POLICY,
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
        # Every method names it: API Gateway refuses a request missing a required parameter
        # (the proxied path) before it reaches a service.
        self.validator = aws.apigateway.RequestValidator(
            self.name("validator"),
            rest_api=self.api.id,
            name=self.name("validator"),
            validate_request_parameters=True,
            validate_request_body=False,
            opts=self.child_opts(),
        )
        methods: list[pulumi.Resource] = [self.validator]
        authorizer = self._end_users()
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
                            authorizer=authorizer if self._needs_end_user(route) else None,
                        )
                    )
                label = self.name("m", route.name, "any", "proxy" if suffix else "root")
                methods.extend(self._mock(label, resource, 405, api_key_required=True))
        catch_all = aws.apigateway.Resource(
            self.name("res", "unrouted"),
            rest_api=self.api.id,
            parent_id=self.api.root_resource_id,
            path_part="{proxy+}",
            opts=self.child_opts(),
        )
        methods.extend(self._mock(self.name("m", "unrouted"), catch_all, 404, api_key_required=False))
        methods.extend(self._gateway_responses())

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

    def _needs_end_user(self, route: Route) -> bool:
        return route.scope in self.args.spec.end_user_auth.route_scopes

    def _end_users(self) -> aws.apigateway.Authorizer | None:
        """The Cognito user pool of the end users (a resource server with the spec's OAuth scope, one app
        client per consumer) and the API's authorizer on it; None when no route needs end users."""
        auth = self.args.spec.end_user_auth
        if not any(self._needs_end_user(route) for route in self.routes):
            return None
        server_id, scope_name = auth.oauth_scope.split("/")
        self.user_pool = aws.cognito.UserPool(
            self.name("users"),
            name=self.name("users"),
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(
                enabled=True
            ),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_numbers=True,
                require_symbols=True,
                temporary_password_validity_days=3,
            ),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                        name="verified_email", priority=1
                    )
                ]
            ),
            auto_verified_attributes=["email"],
            deletion_protection="ACTIVE" if self.env.is_production else "INACTIVE",
            tags=self.tags(data_classification="confidential"),
            opts=self.child_opts(stateful=True),
        )
        aws.cognito.UserPoolDomain(
            self.name("users-domain"),
            domain=self.name("auth"),
            user_pool_id=self.user_pool.id,
            opts=self.child_opts(),
        )
        server = aws.cognito.ResourceServer(
            self.name("users-api"),
            identifier=server_id,
            name=self.name("api"),
            user_pool_id=self.user_pool.id,
            scopes=[
                aws.cognito.ResourceServerScopeArgs(
                    scope_name=scope_name, scope_description="Call the wallet's public API for the end user"
                )
            ],
            opts=self.child_opts(),
        )
        for consumer in self.args.spec.consumers:
            machine = consumer.name != "mobile-app"
            aws.cognito.UserPoolClient(
                self.name("client", consumer.name),
                name=self.name("client", consumer.name),
                user_pool_id=self.user_pool.id,
                generate_secret=machine,
                allowed_oauth_flows_user_pool_client=True,
                allowed_oauth_flows=["client_credentials"] if machine else ["code"],
                allowed_oauth_scopes=[auth.oauth_scope] if machine else ["openid", auth.oauth_scope],
                callback_urls=None if machine else ["walletco://auth/callback"],
                supported_identity_providers=["COGNITO"],
                prevent_user_existence_errors="ENABLED",
                enable_token_revocation=True,
                access_token_validity=60,
                id_token_validity=60,
                refresh_token_validity=30,
                token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                    access_token="minutes",  # noqa: S106 -- a unit, not a secret
                    id_token="minutes",  # noqa: S106
                    refresh_token="days",  # noqa: S106
                ),
                opts=self.child_opts(depends_on=[server]),
            )
        return aws.apigateway.Authorizer(
            self.name("end-users"),
            name=self.name("end-users"),
            rest_api=self.api.id,
            type="COGNITO_USER_POOLS",
            identity_source="method.request.header.Authorization",
            provider_arns=[self.user_pool.arn],
            authorizer_result_ttl_in_seconds=300,
            opts=self.child_opts(),
        )

    def _method(
        self,
        *,
        route: Route,
        resource: aws.apigateway.Resource,
        verb: str,
        suffix: str,
        port: int,
        link: aws.apigateway.VpcLink,
        authorizer: aws.apigateway.Authorizer | None,
    ) -> list[pulumi.Resource]:
        label = self.name("m", route.name, verb.lower(), "proxy" if suffix else "root")
        proxied = bool(suffix)
        if authorizer is not None:
            authorization = "COGNITO_USER_POOLS"
        else:
            authorization = "AWS_IAM" if route.scope == "operator" else "NONE"
        method = aws.apigateway.Method(
            label,
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=verb,
            authorization=authorization,
            authorizer_id=authorizer.id if authorizer is not None else None,
            authorization_scopes=[self.args.spec.end_user_auth.oauth_scope]
            if authorizer is not None
            else None,
            api_key_required=True,
            request_parameters={"method.request.path.proxy": True} if proxied else None,
            request_validator_id=self.validator.id,
            opts=self.child_opts(),
        )
        # The service learns who calls from the gateway only: whatever a client sent in these headers is
        # overwritten, and its API key is not passed on.
        forwarded = {
            f"integration.request.header.{CONSUMER_HEADER}": "context.identity.apiKeyId",
            f"integration.request.header.{API_KEY_HEADER}": "'redacted'",
            f"integration.request.header.{USER_HEADER}": "context.authorizer.claims.sub"
            if authorizer is not None
            else f"'{NO_USER}'",
        }
        if proxied:
            forwarded["integration.request.path.proxy"] = "method.request.path.proxy"
        integration = aws.apigateway.Integration(
            f"{label}-integration",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="HTTP_PROXY",
            integration_http_method=verb,
            connection_type="VPC_LINK",
            connection_id=link.id,
            uri=f"https://{self.args.nlb_host}:{port}{route.path_prefix}{suffix}",
            tls_config=aws.apigateway.IntegrationTlsConfigArgs(insecure_skip_verification=False),
            request_parameters=forwarded,
            timeout_milliseconds=29000,
            opts=self.child_opts(),
        )
        return [method, integration]

    def _mock(
        self, label: str, resource: aws.apigateway.Resource, status: int, *, api_key_required: bool
    ) -> list[pulumi.Resource]:
        """``ANY`` on ``resource`` answered by API Gateway itself with ``status`` and the local gateways'
        problem document: 404 for a path no route serves, 405 for a method a route does not accept
        (the routes' own methods take precedence over ``ANY``)."""
        slug = MOCK_ANSWERS[status]
        method = aws.apigateway.Method(
            label,
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method="ANY",
            authorization="NONE",
            api_key_required=api_key_required,
            request_validator_id=self.validator.id,
            opts=self.child_opts(),
        )
        integration = aws.apigateway.Integration(
            f"{label}-integration",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="MOCK",
            request_templates={"application/json": json.dumps({"statusCode": status})},
            passthrough_behavior="WHEN_NO_TEMPLATES",
            opts=self.child_opts(),
        )
        answer = aws.apigateway.MethodResponse(
            f"{label}-response",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            status_code=str(status),
            response_models={PROBLEM_JSON: "Empty"},
            opts=self.child_opts(),
        )
        reply = aws.apigateway.IntegrationResponse(
            f"{label}-integration-response",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            status_code=answer.status_code,
            response_templates={PROBLEM_JSON: problem_body(status, slug)},
            opts=self.child_opts(depends_on=[integration]),
        )
        return [method, integration, answer, reply]

    def _gateway_responses(self) -> list[pulumi.Resource]:
        """API Gateway's own refusals with the local gateways' statuses and problem documents."""
        return [
            aws.apigateway.Response(
                self.name("response", kind.lower().replace("_", "-")),
                rest_api_id=self.api.id,
                response_type=kind,
                status_code=str(status),
                response_templates={PROBLEM_JSON: problem_body(status, slug)},
                response_parameters={"gatewayresponse.header.Content-Type": f"'{PROBLEM_JSON}'"},
                opts=self.child_opts(),
            )
            for kind, status, slug in GATEWAY_RESPONSES
        ]

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
        ambiguous = aws.wafv2.RegexPatternSet(
            self.name("non-canonical-path"),
            name=self.name("non-canonical-path"),
            scope="REGIONAL",
            description="Raw paths a proxy and a service could read differently",
            regular_expressions=[
                aws.wafv2.RegexPatternSetRegularExpressionArgs(
                    regex_string=NON_CANONICAL_PATH.removeprefix("(?i)")
                )
            ],
            tags=self.tags(),
            opts=self.child_opts(),
        )
        decoded = [{"priority": 0, "type": "URL_DECODE"}, {"priority": 1, "type": "LOWERCASE"}]
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
                "name": "non-canonical-path",
                "priority": 1,
                "action": _custom_block(400),
                "statement": {
                    "regex_pattern_set_reference_statement": {
                        "arn": ambiguous.arn,
                        "field_to_match": {"uri_path": {}},
                        "text_transformations": [{"priority": 0, "type": "LOWERCASE"}],
                    }
                },
                "visibility_config": _visibility("non-canonical-path"),
            },
            {
                "name": "body-size-limit",
                "priority": 2,
                "action": _custom_block(413),
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
                "priority": 3,
                "action": {"block": {}},
                "statement": {  # type: ignore[typeddict-item]
                    "or_statement": {
                        "statements": [
                            {
                                "regex_pattern_set_reference_statement": {
                                    "arn": patterns.arn,
                                    "field_to_match": {field: {}},
                                    "text_transformations": decoded,
                                }
                            }
                            for field in ("uri_path", "query_string")
                        ]
                    }
                },
                "visibility_config": _visibility("blocked-patterns"),
            },
        ]
        for index, group in enumerate(MANAGED_RULE_GROUPS, start=10):
            statement: dict[str, object] = {"vendor_name": "AWS", "name": group}
            if group == "AWSManagedRulesCommonRuleSet":
                # Its 8 KB body rule would refuse bodies the spec allows; the spec's own rule sets the limit.
                statement["rule_action_overrides"] = [
                    {"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}
                ]
            elif group == "AWSManagedRulesAnonymousIpList":
                # Partners and operators call from cloud hosts; VPNs, proxies and Tor stay blocked.
                statement["rule_action_overrides"] = [
                    {"name": "HostingProviderIPList", "action_to_use": {"count": {}}}
                ]
            rules.append(
                {
                    "name": group,
                    "priority": index,
                    "override_action": {"none": {}},
                    "statement": {"managed_rule_group_statement": statement},  # type: ignore[typeddict-item]
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
            custom_response_bodies=[
                {
                    "key": f"problem-{status}",
                    "content_type": "APPLICATION_JSON",
                    "content": problem_body(status, slug),
                }
                for status, slug in WAF_ANSWERS.items()
            ],
            association_config={
                "request_bodies": [
                    {"api_gateway": {"default_size_inspection_limit": _inspection_limit(spec.max_body_bytes)}}
                ]
            },
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


def _custom_block(status: int) -> aws.wafv2.WebAclRuleActionArgsDict:
    """Block with ``status`` and the local gateways' problem document for it."""
    return {
        "block": {
            "custom_response": {"response_code": status, "custom_response_body_key": f"problem-{status}"}
        }
    }


def _inspection_limit(max_body_bytes: int) -> str:
    """The smallest WAF body inspection size for API Gateway that covers the spec's body limit."""
    for kilobytes in (16, 32, 48, 64):
        if max_body_bytes <= kilobytes * 1024:
            return f"KB_{kilobytes}"
    raise ValueError(f"max_body_bytes {max_body_bytes} exceeds what WAF can inspect for API Gateway (64 KB)")


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}
