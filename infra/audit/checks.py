"""Posture audit of a live AWS account with boto3: is what is deployed still configured as the guardrails say?

The plan-graph policy stops an insecure change before deployment; this audit answers the auditor's
second question — is the running account still secure — by reading the real APIs (or moto's, in
tests, through ``endpoint_url``). Each check yields one :class:`Result` per resource it looked at:
``pass``, ``fail`` or ``error`` (the API could not be read, which is never treated as compliant).

``env`` narrows the audit to resources tagged ``environment=<env>`` (and the ``wallet-<env>`` budget);
account-wide settings (EBS defaults, the account's S3 public access block) are always checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from contracts.frameworks import spelled

Status = Literal["pass", "fail", "error"]
ANYWHERE = ("0.0.0.0/0", "::/0")
AUDIT_LOG_CLASSES = ("audit", "financial")
MIN_AUDIT_RETENTION = 365
MIN_BACKUP_DAYS = 7
REQUIRED_EKS_LOGS = ("api", "audit", "authenticator")
PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True)
class Result:
    """The verdict of one check on one resource."""

    check: str
    resource: str
    status: Status
    detail: str
    region: str = ""


@dataclass(frozen=True)
class Check:
    """An audit check: id, what it verifies, the controls it evidences, and the function doing it."""

    id: str
    title: str
    controls: tuple[str, ...]
    run: Callable[[Account], Iterator[tuple[str, Status, str]]] = field(repr=False)
    regional: bool = True
    """False for account-wide settings that are the same in every region (IAM, budgets, S3 account
    block): a multi-region audit runs those once."""


class Account:
    """boto3 clients for one account/region (optionally a test endpoint), with the environment filter."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        env: str | None = None,
        session: boto3.session.Session | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.env = env
        self.session = session or boto3.session.Session(region_name=region)
        self._config = Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
        )
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """One boto3 client per service, created on first use."""
        if service not in self._clients:
            session: Any = self.session
            client = session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
            )
            if service == "s3control" and self.endpoint_url is not None:
                client.meta.events.register("before-sign.s3-control", _strip_account_host_prefix)
            self._clients[service] = client
        return self._clients[service]

    @property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    def in_scope(self, tags: dict[str, str]) -> bool:
        """Whether a resource with ``tags`` belongs to the audited environment."""
        return self.env is None or tags.get("environment") == self.env


def _strip_account_host_prefix(request: Any, **_: Any) -> None:
    """S3 Control puts ``<account-id>.`` in front of the host; a custom endpoint (moto) has no such names."""
    parts = urlsplit(request.url)
    host, _, rest = parts.netloc.partition(".")
    if host.isdigit() and len(host) == 12 and rest:
        request.url = urlunsplit(parts._replace(netloc=rest))


def tag_dict(items: list[dict[str, str]] | None) -> dict[str, str]:
    """AWS ``[{"Key": k, "Value": v}]`` (any casing) as a dict."""
    return {str(t.get("Key", t.get("key"))): str(t.get("Value", t.get("value"))) for t in items or []}


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated list operation."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


CHECKS: list[Check] = []


def check(
    check_id: str, title: str, *controls: str, regional: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[[Account], Iterator[tuple[str, Status, str]]]) -> Callable[..., Any]:
        CHECKS.append(Check(check_id, title, controls, fn, regional))
        return fn

    return register


@check("AUD-EBS-001", "EBS encryption by default is on", "FSBP EC2.7", "CIS 2.2.1")
def ebs_default_encryption(account: Account) -> Iterator[tuple[str, Status, str]]:
    enabled = account.client("ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"]
    yield f"account/{account.region}", "pass" if enabled else "fail", f"EbsEncryptionByDefault={enabled}"


@check("AUD-EBS-002", "EBS default encryption uses a customer-managed KMS key", "FSBP EC2.7", "PCI 3.6.1")
def ebs_default_key(account: Account) -> Iterator[tuple[str, Status, str]]:
    key_id = account.client("ec2").get_ebs_default_kms_key_id()["KmsKeyId"]
    if "alias/aws/ebs" in key_id:
        yield f"account/{account.region}", "fail", f"default key is the AWS-managed {key_id}"
        return
    manager = account.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyManager"]
    status: Status = "pass" if manager == "CUSTOMER" else "fail"
    yield f"account/{account.region}", status, f"default key {key_id} is {manager}-managed"


@check("AUD-KMS-001", "Customer-managed KMS keys rotate", "FSBP KMS.4", "CIS 3.6", "PCI 3.7.4")
def kms_rotation(account: Account) -> Iterator[tuple[str, Status, str]]:
    kms = account.client("kms")
    for key in pages(kms, "list_keys", "Keys"):
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if meta["KeyManager"] != "CUSTOMER" or meta.get("KeyState") != "Enabled":
            continue
        if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            continue
        if account.env is not None:
            tags = {
                t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            }
            if not account.in_scope(tags):
                continue
        enabled = kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
        yield meta["Arn"], "pass" if enabled else "fail", f"KeyRotationEnabled={enabled}"


def _db_instances(account: Account) -> Iterator[dict[str, Any]]:
    for db in pages(account.client("rds"), "describe_db_instances", "DBInstances"):
        if account.in_scope(tag_dict(db.get("TagList"))):
            yield db


@check("AUD-RDS-001", "RDS storage is encrypted", "FSBP RDS.3", "CIS 2.3.1", "PCI 3.5.1")
def rds_encrypted(account: Account) -> Iterator[tuple[str, Status, str]]:
    for db in _db_instances(account):
        encrypted = bool(db.get("StorageEncrypted"))
        yield db["DBInstanceIdentifier"], "pass" if encrypted else "fail", f"StorageEncrypted={encrypted}"


@check("AUD-RDS-002", "RDS instances are not publicly accessible", "FSBP RDS.2", "CIS 2.3.3", "PCI 1.4.4")
def rds_public(account: Account) -> Iterator[tuple[str, Status, str]]:
    for db in _db_instances(account):
        public = bool(db.get("PubliclyAccessible"))
        yield db["DBInstanceIdentifier"], "fail" if public else "pass", f"PubliclyAccessible={public}"


@check("AUD-RDS-003", "RDS keeps backups at least 7 days", "FSBP RDS.11")
def rds_backups(account: Account) -> Iterator[tuple[str, Status, str]]:
    for db in _db_instances(account):
        days = int(db.get("BackupRetentionPeriod", 0))
        status: Status = "pass" if days >= MIN_BACKUP_DAYS else "fail"
        yield db["DBInstanceIdentifier"], status, f"BackupRetentionPeriod={days}"


def _replication_groups(account: Account) -> Iterator[dict[str, Any]]:
    cache_client = account.client("elasticache")
    for group in pages(cache_client, "describe_replication_groups", "ReplicationGroups"):
        if account.env is not None:
            tags = cache_client.list_tags_for_resource(ResourceName=group["ARN"]).get("TagList", [])
            if not account.in_scope(tag_dict(tags)):
                continue
        yield group


@check("AUD-ECC-001", "ElastiCache encrypts at rest", "FSBP ElastiCache.4", "PCI 3.5.1")
def cache_at_rest(account: Account) -> Iterator[tuple[str, Status, str]]:
    for group in _replication_groups(account):
        enabled = bool(group.get("AtRestEncryptionEnabled"))
        yield group["ReplicationGroupId"], "pass" if enabled else "fail", f"AtRestEncryptionEnabled={enabled}"


@check(
    "AUD-ECC-002",
    "ElastiCache encrypts in transit and requires auth",
    "FSBP ElastiCache.5",
    "FSBP ElastiCache.6",
)
def cache_in_transit(account: Account) -> Iterator[tuple[str, Status, str]]:
    for group in _replication_groups(account):
        transit = bool(group.get("TransitEncryptionEnabled"))
        auth = bool(group.get("AuthTokenEnabled")) or bool(group.get("UserGroupIds"))
        status: Status = "pass" if transit and auth else "fail"
        yield group["ReplicationGroupId"], status, f"TransitEncryptionEnabled={transit}, auth={auth}"


def _clusters(account: Account) -> Iterator[dict[str, Any]]:
    eks = account.client("eks")
    for name in pages(eks, "list_clusters", "clusters"):
        cluster = eks.describe_cluster(name=name)["cluster"]
        if account.in_scope(cluster.get("tags") or {}):
            yield cluster


@check("AUD-EKS-001", "EKS API endpoint is not open to the internet", "FSBP EKS.1", "PCI 1.3.1")
def eks_endpoint(account: Account) -> Iterator[tuple[str, Status, str]]:
    for cluster in _clusters(account):
        vpc = cluster.get("resourcesVpcConfig", {})
        public = bool(vpc.get("endpointPublicAccess"))
        cidrs = vpc.get("publicAccessCidrs") or (["0.0.0.0/0"] if public else [])
        open_to_all = public and "0.0.0.0/0" in cidrs
        strict = account.env in ("stage", "prod")
        status: Status = "fail" if open_to_all or (strict and public) else "pass"
        yield cluster["name"], status, f"endpointPublicAccess={public}, publicAccessCidrs={cidrs}"


@check(
    "AUD-EKS-002", "EKS control-plane api, audit and authenticator logs are on", "FSBP EKS.8", "PCI 10.2.1"
)
def eks_logging(account: Account) -> Iterator[tuple[str, Status, str]]:
    for cluster in _clusters(account):
        enabled = {
            kind
            for entry in cluster.get("logging", {}).get("clusterLogging", [])
            if entry.get("enabled")
            for kind in entry.get("types", [])
        }
        missing = [kind for kind in REQUIRED_EKS_LOGS if kind not in enabled]
        status: Status = "fail" if missing else "pass"
        yield (
            cluster["name"],
            status,
            f"missing {', '.join(missing)}" if missing else "api, audit, authenticator",
        )


def _vpcs(account: Account) -> Iterator[dict[str, Any]]:
    for vpc in pages(account.client("ec2"), "describe_vpcs", "Vpcs"):
        if account.in_scope(tag_dict(vpc.get("Tags"))):
            yield vpc


@check("AUD-VPC-001", "Every VPC has flow logs", "FSBP EC2.6", "CIS 3.7", "PCI 10.2.1")
def vpc_flow_logs(account: Account) -> Iterator[tuple[str, Status, str]]:
    ec2 = account.client("ec2")
    for vpc in _vpcs(account):
        logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])["FlowLogs"]
        active = [log for log in logs if log.get("FlowLogStatus", "ACTIVE") == "ACTIVE"]
        yield vpc["VpcId"], "pass" if active else "fail", f"{len(active)} active flow log(s)"


@check("AUD-VPC-002", "Default security groups allow no traffic", "FSBP EC2.2", "CIS 5.4", "PCI 1.2.1")
def default_security_groups(account: Account) -> Iterator[tuple[str, Status, str]]:
    ec2 = account.client("ec2")
    vpc_ids = [vpc["VpcId"] for vpc in _vpcs(account)]
    if not vpc_ids:
        return
    groups = pages(
        ec2,
        "describe_security_groups",
        "SecurityGroups",
        Filters=[{"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": vpc_ids}],
    )
    for group in groups:
        rules = len(group.get("IpPermissions", [])) + len(group.get("IpPermissionsEgress", []))
        status: Status = "fail" if rules else "pass"
        yield f"{group['GroupId']} ({group['VpcId']})", status, f"{rules} rule(s)"


def _load_balancer_groups(account: Account) -> set[str]:
    groups: set[str] = set()
    for balancer in pages(account.client("elbv2"), "describe_load_balancers", "LoadBalancers"):
        groups.update(balancer.get("SecurityGroups", []))
    return groups


def _open_ports(permission: dict[str, Any]) -> tuple[int, int] | None:
    """The port range opened to anywhere by one permission; ``None`` when it is not open to anywhere."""
    cidrs = [r.get("CidrIp") for r in permission.get("IpRanges", [])]
    cidrs += [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", [])]
    if not any(cidr in ANYWHERE for cidr in cidrs):
        return None
    if permission.get("IpProtocol") == "-1":
        return (0, 65535)
    return int(permission.get("FromPort", 0)), int(permission.get("ToPort", 65535))


@check(
    "AUD-VPC-003",
    "No ingress from anywhere except HTTPS on load balancers",
    "FSBP EC2.18",
    "FSBP EC2.19",
    "CIS 5.2",
)
def open_ingress(account: Account) -> Iterator[tuple[str, Status, str]]:
    lb_groups = _load_balancer_groups(account)
    for group in pages(account.client("ec2"), "describe_security_groups", "SecurityGroups"):
        if not account.in_scope(tag_dict(group.get("Tags"))):
            continue
        opened = [ports for p in group.get("IpPermissions", []) if (ports := _open_ports(p)) is not None]
        bad = [p for p in opened if not (p == (443, 443) and group["GroupId"] in lb_groups)]
        label = f"{group['GroupId']} ({group.get('GroupName', '')})"
        if bad:
            shown = ", ".join(f"{low}-{high}" for low, high in bad)
            yield label, "fail", f"open to the internet on ports {shown}"
        elif opened:
            yield label, "pass", "only 443 open, on a load balancer's group"
        else:
            yield label, "pass", "no ingress from anywhere"


def _is_audit_group(name: str, tags: dict[str, str]) -> bool:
    lowered = name.lower()
    return (
        tags.get("log-class") in AUDIT_LOG_CLASSES
        or tags.get("data-classification") == "financial"
        or any(word in lowered for word in ("audit", "financial", "flow-logs", "cloudtrail"))
    )


@check(
    "AUD-LOG-001",
    "Financial and audit log groups are kept at least 365 days",
    "PCI 10.5.1",
)
def log_retention(account: Account) -> Iterator[tuple[str, Status, str]]:
    logs = account.client("logs")
    for group in pages(logs, "describe_log_groups", "logGroups"):
        name = group["logGroupName"]
        tags = logs.list_tags_log_group(logGroupName=name).get("tags", {})
        if not account.in_scope(tags) or not _is_audit_group(name, tags):
            continue
        days = group.get("retentionInDays")
        status: Status = "pass" if days is None or days >= MIN_AUDIT_RETENTION else "fail"
        yield name, status, f"retentionInDays={days if days is not None else 'never expire'}"


@check(
    "AUD-S3-001",
    "S3 public access is blocked (account-wide or per bucket)",
    "FSBP S3.1",
    "FSBP S3.8",
    "CIS 2.1.4",
    regional=False,
)
def s3_public_access(account: Account) -> Iterator[tuple[str, Status, str]]:
    account_flags = _account_public_access(account)
    account_blocks = all(account_flags.get(flag) for flag in PAB_FLAGS)
    yield "account", "pass" if account_blocks else "fail", _flags_text(account_flags)
    if account_blocks:
        return
    s3 = account.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if account.env is not None and not account.in_scope(_bucket_tags(s3, name)):
            continue
        try:
            flags = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchPublicAccessBlockConfiguration":
                raise
            flags = {}
        status: Status = "pass" if all(flags.get(flag) for flag in PAB_FLAGS) else "fail"
        yield f"s3://{name}", status, _flags_text(flags)


def _account_public_access(account: Account) -> dict[str, bool]:
    try:
        response = account.client("s3control").get_public_access_block(AccountId=account.account_id)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in (
            "NoSuchPublicAccessBlockConfiguration",
            "NoSuchPublicAccessBlock",
        ):
            return {}
        raise
    return dict(response["PublicAccessBlockConfiguration"])


def _bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        return tag_dict(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
    except ClientError:
        return {}


def _flags_text(flags: dict[str, bool]) -> str:
    off = [flag for flag in PAB_FLAGS if not flags.get(flag)]
    return f"off: {', '.join(off)}" if off else "all four flags on"


@check("AUD-BUD-001", "A cost budget exists for the environment", "PCI 12.5.2", regional=False)
def budgets_present(account: Account) -> Iterator[tuple[str, Status, str]]:
    budgets = list(
        pages(account.client("budgets"), "describe_budgets", "Budgets", AccountId=account.account_id)
    )
    names = [b["BudgetName"] for b in budgets if b.get("BudgetType") == "COST"]
    wanted = f"wallet-{account.env}" if account.env else None
    matching = [n for n in names if wanted is None or n.startswith(wanted)]
    subject = f"budget {wanted}-*" if wanted else "cost budgets"
    yield subject, "pass" if matching else "fail", f"found: {', '.join(matching) or 'none'}"


@dataclass
class AuditReport:
    """All results of one audit run (one or several regions)."""

    region: str
    env: str | None
    only: list[str] | None = None
    results: list[Result] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status != "pass"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "regions": self.regions or [self.region],
            "env": self.env,
            "ok": self.ok,
            "checks": [
                {
                    "id": c.id,
                    "title": c.title,
                    "controls": list(c.controls),
                    "frameworks": spelled(c.controls),
                    "regional": c.regional,
                }
                for c in CHECKS
            ],
            "results": [asdict(r) for r in self.results],
        }


def run_audit(account: Account, only: list[str] | None = None, *, global_checks: bool = True) -> AuditReport:
    """Run the checks (all, or the ids in ``only``); an API error becomes an ``error`` result, not a crash.
    ``global_checks=False`` skips the account-wide ones (already run in another region)."""
    report = AuditReport(account.region, account.env, only, regions=[account.region])
    for item in CHECKS:
        if only is not None and item.id not in only:
            continue
        if not item.regional and not global_checks:
            continue
        region = account.region if item.regional else "global"
        try:
            report.results.extend(
                Result(item.id, resource, status, detail, region)
                for resource, status, detail in item.run(account)
            )
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            report.results.append(Result(item.id, "(api)", "error", f"{type(exc).__name__}: {exc}", region))
    return report


def enabled_regions(account: Account) -> list[str]:
    """The regions enabled for the account (``--region all``)."""
    regions = account.client("ec2").describe_regions(AllRegions=False)["Regions"]
    return sorted(r["RegionName"] for r in regions)


def run_audit_regions(
    regions: list[str],
    only: list[str] | None = None,
    *,
    endpoint_url: str | None = None,
    env: str | None = None,
    session: boto3.session.Session | None = None,
) -> AuditReport:
    """The audit of every region in ``regions``; account-wide checks run once (in the first)."""
    report = AuditReport(",".join(regions), env, only, regions=list(regions))
    for index, region in enumerate(regions):
        regional_session = session or boto3.session.Session(region_name=region)
        account = Account(region, endpoint_url, env, regional_session)
        report.results.extend(run_audit(account, only, global_checks=index == 0).results)
    return report


def short_error(detail: str, limit: int = 90) -> str:
    """An API error for an 80-column table: the error code and the first words of the message."""
    first = detail.splitlines()[0] if detail else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


from infra.audit import baseline as _baseline  # noqa: E402,F401 - registers the baseline checks
