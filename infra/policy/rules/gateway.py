"""API gateway: access logs, a WAF in front of every stage, throttling on the stage and per consumer,
request validation on every method, access logs of the load balancer behind it."""

from __future__ import annotations

from infra.policy.model import Context, Resource, Severity, prop, resource_rule

STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
METHOD = "aws:apigateway/method:Method"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"


@resource_rule(
    "WO-API-001",
    "API stages write access logs",
    severity=Severity.mandatory,
    controls=("PCI 10.2.1", "PCI 10.2.2"),
    remediation="Set access_log_settings: destination_arn (a KMS-encrypted audit log group), JSON format.",
    types=(STAGE,),
)
def stage_access_logs(resource: Resource, ctx: Context) -> str | None:
    if not prop(resource, "accessLogSettings.destinationArn") or not prop(
        resource, "accessLogSettings.format"
    ):
        return "no accessLogSettings (destinationArn and format)"
    return None


@resource_rule(
    "WO-API-002",
    "Every API stage has a WAF web ACL attached",
    severity=Severity.mandatory,
    controls=("FSBP APIGateway.4", "PCI 6.4.2"),
    remediation="Add aws.wafv2.WebAclAssociation(resource_arn=stage.arn, web_acl_arn=acl.arn).",
    types=(STAGE,),
    graph=True,
)
def stage_waf(resource: Resource, ctx: Context) -> str | None:
    associations = ctx.referencing(resource, WEB_ACL_ASSOCIATION)
    if not any(ctx.referenced_by(association, WEB_ACL) for association in associations):
        return "no WAF web ACL association for this stage"
    return None


@resource_rule(
    "WO-API-003",
    "Every API stage is throttled",
    severity=Severity.mandatory,
    controls=("PCI 6.4.2", "PCI 12.10.1"),
    remediation="Add aws.apigateway.MethodSettings(method_path='*/*') with throttling_rate_limit and "
    "throttling_burst_limit > 0 (gateway.stage_throttle_rps / _burst).",
    types=(STAGE,),
    graph=True,
)
def stage_throttling(resource: Resource, ctx: Context) -> str | None:
    for settings in ctx.referencing(resource, METHOD_SETTINGS):
        rate = float(prop(settings, "settings.throttlingRateLimit", -1))
        burst = int(prop(settings, "settings.throttlingBurstLimit", -1))
        if prop(settings, "methodPath") == "*/*" and rate > 0 and burst > 0:
            return None
    return "no '*/*' method settings with a positive throttling rate and burst"


@resource_rule(
    "WO-API-004",
    "API stages trace with X-Ray and log execution errors",
    severity=Severity.advisory,
    controls=("FSBP APIGateway.3", "FSBP APIGateway.1"),
    remediation="Set xray_tracing_enabled=True and method settings logging_level 'ERROR' or 'INFO'.",
    types=(STAGE,),
    graph=True,
)
def stage_tracing(resource: Resource, ctx: Context) -> str | None:
    problems = []
    if prop(resource, "xrayTracingEnabled") is not True:
        problems.append("xrayTracingEnabled is not true")
    levels = {prop(s, "settings.loggingLevel", "OFF") for s in ctx.referencing(resource, METHOD_SETTINGS)}
    if not levels & {"ERROR", "INFO"}:
        problems.append("execution logging is off")
    return "; ".join(problems) or None


@resource_rule(
    "WO-API-005",
    "Usage plans limit every consumer's rate, burst and quota",
    severity=Severity.mandatory,
    controls=("PCI 6.4.2",),
    remediation="Give each aws.apigateway.UsagePlan throttle_settings (rate, burst) and quota_settings.",
    types=(USAGE_PLAN,),
)
def usage_plan_limits(resource: Resource, ctx: Context) -> str | None:
    problems = []
    if not prop(resource, "throttleSettings.rateLimit") or not prop(resource, "throttleSettings.burstLimit"):
        problems.append("no rate/burst throttle")
    if not prop(resource, "quotaSettings.limit"):
        problems.append("no quota")
    return "; ".join(problems) or None


@resource_rule(
    "WO-API-006",
    "WAF web ACLs have a rate-based rule and send logs",
    severity=Severity.mandatory,
    controls=("FSBP WAF.10", "FSBP WAF.11", "PCI 6.4.2", "PCI 10.2.1"),
    remediation="Add a rateBasedStatement rule (gateway.waf_rate_limit_per_5min) and an "
    "aws.wafv2.WebAclLoggingConfiguration to an aws-waf-logs-* group.",
    types=(WEB_ACL,),
    graph=True,
)
def waf_rules_and_logs(resource: Resource, ctx: Context) -> str | None:
    problems = []
    rules = prop(resource, "rules", []) or []
    if not any((rule.get("statement") or {}).get("rateBasedStatement") for rule in rules):
        problems.append("no rate-based rule")
    if not ctx.referencing(resource, WEB_ACL_LOGGING):
        problems.append("no logging configuration")
    return "; ".join(problems) or None


@resource_rule(
    "WO-API-007",
    "Every API method is checked by a request validator",
    severity=Severity.mandatory,
    controls=("PCI 6.2.4",),
    remediation="Create an aws.apigateway.RequestValidator (validate_request_parameters=True) and set "
    "request_validator_id on every aws.apigateway.Method.",
    types=(METHOD,),
)
def method_request_validator(resource: Resource, ctx: Context) -> str | None:
    return None if prop(resource, "requestValidatorId") else "no requestValidatorId"


@resource_rule(
    "WO-API-008",
    "Load balancers write access logs",
    severity=Severity.mandatory,
    controls=("FSBP ELB.5", "PCI 10.2.1"),
    remediation="Set access_logs (bucket: the access-log bucket, enabled: True) on aws.lb.LoadBalancer.",
    types=(LOAD_BALANCER,),
)
def load_balancer_access_logs(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "accessLogs.enabled") is not True or not prop(resource, "accessLogs.bucket"):
        return "no accessLogs (bucket, enabled: true)"
    return None
