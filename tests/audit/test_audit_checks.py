"""The posture audit (infra/audit/checks.py) against moto in server mode on loopback.

One ``ThreadedMotoServer`` on 127.0.0.1 (OS-chosen port) holds two accounts, each reached through
credentials of an STS AssumeRole into it (moto keys its state by account) and set up with boto3:
one insecure, one compliant. Every check must flag the insecure account — naming the planted
resource — and pass the compliant one.

Where moto cannot play the part, botocore's Stubber (recorded API answers, no network) does, and the
check is listed in ``STUBBED`` with the reason: moto does not implement ``GetEbsDefaultKmsKeyId``
(AUD-EBS-002; against moto it must report ``error``, never ``pass``), Security Hub's
``GetEnabledStandards`` (AUD-SH-001) or IAM Access Analyzer at all (AUD-AA-001); it cannot turn
rotation on without running a Lambda function (AUD-SM-001); and its root user never has MFA
(AUD-IAM-001). Access-key age (AUD-IAM-002) runs on moto with the clock moved forward, since a key
cannot be back-dated there.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from infra.audit.baseline import access_key_age
from infra.audit.checks import CHECKS, Account, run_audit

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("audit-moto")]

REGION = "eu-west-1"
INSECURE_ACCOUNT = "111111111111"
COMPLIANT_ACCOUNT = "222222222222"
BOOTSTRAP = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
STUBBED = "AUD-EBS-002"
STUBBED_BASELINE = ("AUD-SH-001", "AUD-AA-001", "AUD-SM-001", "AUD-IAM-001")
CLOCK_CHECK = "AUD-IAM-002"
MOTO_CHECKS = [c.id for c in CHECKS if c.id not in (STUBBED, *STUBBED_BASELINE, CLOCK_CHECK)]
PLANTED: dict[str, set[str]] = {}
"""Check id → the resource ids the insecure account's setup planted for it (filled by the fixture)."""


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto in server mode on loopback, on a port the OS picks; stopped after the module."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _credentials(url: str, account_id: str) -> dict[str, str]:
    """Credentials of a role in ``account_id``: what an auditor gets by assuming the audit role there."""
    sts = boto3.session.Session(region_name=REGION, **BOOTSTRAP).client("sts", endpoint_url=url)
    role = f"arn:aws:iam::{account_id}:role/walletops-audit"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="walletops-audit")["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def _clients(session: boto3.session.Session, url: str) -> Any:
    return lambda service, region=REGION: session.client(service, region_name=region, endpoint_url=url)


def _network(c: Any, tag_env: str = "prod") -> tuple[str, list[str]]:
    ec2 = c("ec2")
    vpc = ec2.create_vpc(
        CidrBlock="10.40.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "environment", "Value": tag_env}]}],
    )["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    return vpc, subnets


def _security_group(c: Any, vpc: str, name: str, port: int) -> str:
    ec2 = c("ec2")
    group = ec2.create_security_group(
        GroupName=name,
        Description=name,
        VpcId=vpc,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "environment", "Value": "prod"}]}
        ],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    return group


def _common(c: Any, account_id: str, *, secure: bool) -> None:
    """Resources both accounts have, configured securely or not."""
    tags = [{"Key": "environment", "Value": "prod"}]
    kms = c("kms")
    key = kms.create_key(Description="ledger", Tags=[{"TagKey": "environment", "TagValue": "prod"}])[
        "KeyMetadata"
    ]
    if secure:
        kms.enable_key_rotation(KeyId=key["KeyId"])
    c("rds").create_db_instance(
        DBInstanceIdentifier="ledger",
        Engine="postgres",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="ledger",
        MasterUserPassword="not-a-real-password-1",
        StorageEncrypted=secure,
        **({"KmsKeyId": key["Arn"]} if secure else {}),
        PubliclyAccessible=not secure,
        BackupRetentionPeriod=7 if secure else 1,
        DeletionProtection=secure,
        Tags=tags,
    )
    c("elasticache").create_replication_group(
        ReplicationGroupId="cache",
        ReplicationGroupDescription="api cache",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        NumCacheClusters=1,
        AtRestEncryptionEnabled=secure,
        **({"KmsKeyId": key["Arn"]} if secure else {}),
        TransitEncryptionEnabled=secure,
        **({"AuthToken": "a-long-enough-auth-token-0123456789"} if secure else {}),
        Tags=tags,
    )
    if not secure:  # encrypted, but with the AWS-owned key
        c("elasticache").create_replication_group(
            ReplicationGroupId="cache-default-key",
            ReplicationGroupDescription="session cache",
            Engine="redis",
            CacheNodeType="cache.t4g.small",
            NumCacheClusters=1,
            AtRestEncryptionEnabled=True,
            Tags=tags,
        )
    vpc_config: dict[str, Any] = {"subnetIds": ["subnet-1"], "endpointPrivateAccess": True}
    vpc_config |= {"endpointPublicAccess": False} if secure else {"endpointPublicAccess": True}
    c("eks").create_cluster(
        name="wallet-prod",
        roleArn=f"arn:aws:iam::{account_id}:role/eks",
        resourcesVpcConfig=vpc_config,
        logging={"clusterLogging": [{"types": ["api", "audit", "authenticator"], "enabled": secure}]},
        tags={"environment": "prod"},
    )
    logs = c("logs")
    logs.create_log_group(
        logGroupName="/walletops/prod/audit", tags={"log-class": "audit", "environment": "prod"}
    )
    logs.put_retention_policy(logGroupName="/walletops/prod/audit", retentionInDays=400 if secure else 90)
    logs.create_log_group(logGroupName="/walletops/prod/app", tags={"environment": "prod"})
    if secure:
        logs.put_retention_policy(logGroupName="/walletops/prod/app", retentionInDays=90)
    ec2 = c("ec2")
    ec2_tags = [{"Key": "environment", "Value": "prod"}]
    volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=8,
        Encrypted=secure,
        **({"KmsKeyId": key["Arn"]} if secure else {}),
        TagSpecifications=[{"ResourceType": "volume", "Tags": ec2_tags}],
    )["VolumeId"]
    snapshot = ec2.create_snapshot(
        VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": ec2_tags}]
    )["SnapshotId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "required" if secure else "optional"},
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True, "KmsKeyId": key["Arn"]}}
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": ec2_tags}],
    )["Instances"][0]["InstanceId"]
    if not secure:
        PLANTED.update(
            {
                "AUD-EBS-003": {volume},
                "AUD-EBS-004": {snapshot},
                "AUD-EC2-001": {instance},
                "AUD-LOG-002": {"/walletops/prod/app"},
                "AUD-RDS-004": {"ledger"},
                "AUD-RDS-005": {"ledger"},
                "AUD-ECC-003": {"cache", "cache-default-key"},
            }
        )
    c("s3").create_bucket(
        Bucket=f"wallet-prod-archive-{account_id}", CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def _baseline(c: Any, account_id: str, *, secure: bool) -> None:
    """The account baseline: CloudTrail, GuardDuty, Config, password policy, an IAM user's key."""
    bucket = f"wallet-trail-{account_id}"
    c("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    trail = c("cloudtrail")
    key = c("kms").create_key(Description="trail")["KeyMetadata"]["Arn"]
    c("kms").enable_key_rotation(KeyId=key)
    trail.create_trail(
        Name="org-trail",
        S3BucketName=bucket,
        IsMultiRegionTrail=secure,
        EnableLogFileValidation=secure,
        **({"KmsKeyId": key} if secure else {}),
    )
    if secure:
        trail.start_logging(Name="org-trail")
        c("guardduty").create_detector(Enable=True)
        config = c("config")
        config.put_configuration_recorder(
            ConfigurationRecorder={
                "name": "default",
                "roleARN": f"arn:aws:iam::{account_id}:role/config",
                "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
            }
        )
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket})
        config.start_configuration_recorder(ConfigurationRecorderName="default")
    iam = c("iam")
    iam.update_account_password_policy(
        MinimumPasswordLength=14 if secure else 8, PasswordReusePrevention=24 if secure else 1
    )
    iam.create_user(UserName="deployer")
    access_key = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    if not secure:
        PLANTED.update(
            {
                "AUD-CT-001": {f"account/{REGION}"},
                "AUD-GD-001": {f"account/{REGION}"},
                "AUD-CFG-001": {f"account/{REGION}"},
                "AUD-IAM-003": {"account/password-policy"},
                CLOCK_CHECK: {f"deployer/{access_key}"},
            }
        )


def _insecure(session: boto3.session.Session, url: str) -> None:
    c = _clients(session, url)
    _common(c, INSECURE_ACCOUNT, secure=False)
    _baseline(c, INSECURE_ACCOUNT, secure=False)
    vpc, _ = _network(c)
    _security_group(c, vpc, "ssh-anywhere", 22)
    _security_group(c, vpc, "https-not-lb", 443)
    ec2 = c("ec2")
    for group in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"
    ]:
        ec2.authorize_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
        )


def _compliant(session: boto3.session.Session, url: str) -> None:
    c = _clients(session, url)
    _common(c, COMPLIANT_ACCOUNT, secure=True)
    _baseline(c, COMPLIANT_ACCOUNT, secure=True)
    vpc, subnets = _network(c)
    lb_group = _security_group(c, vpc, "alb", 443)
    c("elbv2").create_load_balancer(Name="wallet-prod-alb", Subnets=subnets, SecurityGroups=[lb_group])
    ec2 = c("ec2")
    ec2.enable_ebs_encryption_by_default()
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    ec2.create_flow_logs(
        ResourceIds=vpcs,
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="/walletops/prod/vpc-flow-logs",
        DeliverLogsPermissionArn=f"arn:aws:iam::{COMPLIANT_ACCOUNT}:role/flow-logs",
    )
    for group in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"
    ]:
        if group["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
        if group["IpPermissionsEgress"]:
            ec2.revoke_security_group_egress(
                GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
            )
    Account(REGION, url, session=session).client("s3control").put_public_access_block(
        AccountId=COMPLIANT_ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    c("budgets", "us-east-1").create_budget(
        AccountId=COMPLIANT_ACCOUNT,
        Budget={
            "BudgetName": "wallet-prod-monthly",
            "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )


@pytest.fixture(scope="module")
def insecure(moto_url: str) -> dict[str, str]:
    """Credentials of the insecure account, after setting it up."""
    creds = _credentials(moto_url, INSECURE_ACCOUNT)
    _insecure(boto3.session.Session(region_name=REGION, **creds), moto_url)
    return creds


@pytest.fixture(scope="module")
def compliant(moto_url: str) -> dict[str, str]:
    """Credentials of the compliant account, after setting it up."""
    creds = _credentials(moto_url, COMPLIANT_ACCOUNT)
    _compliant(boto3.session.Session(region_name=REGION, **creds), moto_url)
    return creds


def _account(url: str, creds: dict[str, str], env: str | None = None) -> Account:
    return Account(REGION, url, env=env, session=boto3.session.Session(region_name=REGION, **creds))


@pytest.fixture(scope="module")
def insecure_report(moto_url: str, insecure: dict[str, str]) -> Any:
    return run_audit(_account(moto_url, insecure), MOTO_CHECKS)


@pytest.fixture(scope="module")
def compliant_report(moto_url: str, compliant: dict[str, str]) -> Any:
    return run_audit(_account(moto_url, compliant), MOTO_CHECKS)


def test_every_check_is_covered_by_moto_or_the_stubbed_test() -> None:
    assert {*MOTO_CHECKS, STUBBED, *STUBBED_BASELINE, CLOCK_CHECK} == {c.id for c in CHECKS}
    assert len(CHECKS) >= 32


@pytest.mark.parametrize(
    "check_id",
    sorted(
        set(MOTO_CHECKS)
        & {
            "AUD-EBS-003",
            "AUD-EBS-004",
            "AUD-EC2-001",
            "AUD-LOG-002",
            "AUD-RDS-004",
            "AUD-RDS-005",
            "AUD-ECC-003",
            "AUD-CT-001",
            "AUD-GD-001",
            "AUD-CFG-001",
            "AUD-IAM-003",
        }
    ),
)
def test_the_audit_names_each_planted_flaw(insecure_report: Any, check_id: str) -> None:
    failing = {r.resource for r in insecure_report.results if r.check == check_id and r.status == "fail"}
    assert PLANTED[check_id] <= failing, (PLANTED[check_id], failing)


def test_old_access_keys_fail_once_the_clock_moves_past_90_days(
    moto_url: str, insecure: dict[str, str], compliant: dict[str, str]
) -> None:
    """moto cannot back-date a key, so the check runs with ``now`` 91 days ahead for the flaw."""
    [check] = [c for c in CHECKS if c.id == CLOCK_CHECK]
    today = list(check.run(_account(moto_url, compliant)))
    assert today and all(status == "pass" for _resource, status, _detail in today)
    later = datetime.now(UTC) + timedelta(days=91)
    aged = {
        resource
        for resource, status, _ in access_key_age(_account(moto_url, insecure), now=later)
        if status == "fail"
    }
    assert PLANTED[CLOCK_CHECK] <= aged


@pytest.mark.parametrize("check_id", MOTO_CHECKS)
def test_check_flags_the_insecure_account(insecure_report: Any, check_id: str) -> None:
    results = [r for r in insecure_report.results if r.check == check_id]
    assert any(r.status == "fail" for r in results), results
    assert not any(r.status == "error" for r in results), results


@pytest.mark.parametrize("check_id", MOTO_CHECKS)
def test_check_passes_the_compliant_account(compliant_report: Any, check_id: str) -> None:
    results = [r for r in compliant_report.results if r.check == check_id]
    assert results, f"{check_id} looked at nothing"
    assert all(r.status == "pass" for r in results), results


def test_open_ingress_names_the_offending_groups(insecure_report: Any, compliant_report: Any) -> None:
    failing = {
        r.resource.split(" ")[1]
        for r in insecure_report.results
        if r.check == "AUD-VPC-003" and r.status == "fail"
    }
    assert failing == {"(ssh-anywhere)", "(https-not-lb)"}
    lb = [r for r in compliant_report.results if r.check == "AUD-VPC-003" and "(alb)" in r.resource]
    assert lb and lb[0].status == "pass" and "load balancer" in lb[0].detail


def test_env_filter_skips_resources_of_other_environments(moto_url: str, insecure: dict[str, str]) -> None:
    report = run_audit(_account(moto_url, insecure, env="dev"), ["AUD-RDS-002", "AUD-BUD-001"])
    assert [r.check for r in report.results if r.check == "AUD-RDS-002"] == []
    [budget] = [r for r in report.results if r.check == "AUD-BUD-001"]
    assert budget.status == "fail" and "wallet-dev" in budget.resource


def _stubbed_account(key_id: str, manager: str | None) -> Account:
    # a closed loopback port: if a call were not stubbed it would fail here, never reach AWS
    account = Account(
        REGION, "http://127.0.0.1:9", session=boto3.session.Session(region_name=REGION, **BOOTSTRAP)
    )
    ec2, kms = account.client("ec2"), account.client("kms")
    ec2_stub, kms_stub = Stubber(ec2), Stubber(kms)
    ec2_stub.add_response("get_ebs_default_kms_key_id", {"KmsKeyId": key_id})
    if manager is not None:
        kms_stub.add_response(
            "describe_key",
            {"KeyMetadata": {"KeyId": "k1", "KeyManager": manager, "Arn": key_id}},
            {"KeyId": key_id},
        )
    ec2_stub.activate()
    kms_stub.activate()
    return account


@pytest.mark.parametrize(
    ("key_id", "manager", "status"),
    [
        (f"arn:aws:kms:{REGION}:{COMPLIANT_ACCOUNT}:alias/aws/ebs", None, "fail"),
        (f"arn:aws:kms:{REGION}:{COMPLIANT_ACCOUNT}:key/aws-owned", "AWS", "fail"),
        (f"arn:aws:kms:{REGION}:{COMPLIANT_ACCOUNT}:key/ebs-cmk", "CUSTOMER", "pass"),
    ],
)
def test_ebs_default_key_must_be_a_customer_key(key_id: str, manager: str | None, status: str) -> None:
    [result] = run_audit(_stubbed_account(key_id, manager), [STUBBED]).results
    assert result.status == status


def test_unreadable_api_is_an_error_not_a_pass(moto_url: str, compliant: dict[str, str]) -> None:
    report = run_audit(_account(moto_url, compliant), [STUBBED])
    assert [r.status for r in report.results] == ["error"]
    assert not report.ok


def _walletops(*args: str, creds: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console script, as CI would, with only the given credentials in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {k.upper(): v for k, v in (creds or BOOTSTRAP).items()}
    env |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "COLUMNS": "200"}
    env |= {"AWS_EC2_METADATA_DISABLED": "true"}  # never look for instance credentials off loopback
    command = [str(Path(sys.executable).with_name("walletops")), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_cli_audit_exit_codes_and_json(
    moto_url: str, insecure: dict[str, str], compliant: dict[str, str]
) -> None:
    only = [arg for check in MOTO_CHECKS for arg in ("--check", check)]
    bad = _walletops(
        "audit", "--region", REGION, "--endpoint-url", moto_url, "--format", "json", *only, creds=insecure
    )
    assert bad.returncode == 1, bad.stderr
    document = json.loads(bad.stdout)
    assert document["ok"] is False
    assert {r["check"] for r in document["results"] if r["status"] == "fail"} == set(MOTO_CHECKS)
    good = _walletops("audit", "--region", REGION, "--endpoint-url", moto_url, *only, creds=compliant)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASS" in good.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "mars"], "--region"),
        (["--region", REGION, "--check", "AUD-NOPE-001"], "unknown"),
        (["--region", REGION, "--env", "staging"], "unknown environment"),
        (["--region", REGION, "--endpoint-url", "ftp://x"], "--endpoint-url"),
        (["--region", REGION, "--format", "terraform-plan"], "allowed: table, json, sarif"),
        (["--region", "all,eu-west-1"], "--region"),
    ],
)
def test_cli_audit_rejects_bad_input_with_exit_2(args: list[str], message: str) -> None:
    result = _walletops("audit", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_audit_without_credentials_is_a_usage_problem() -> None:
    result = _walletops("audit", "--region", REGION, creds={"aws_no_credentials": "1"})
    assert result.returncode == 2
    assert "no AWS credentials" in result.stderr


def _stubbed(service: str, answers: list[tuple[str, dict[str, Any]]]) -> Account:
    """An account whose ``service`` client answers from ``answers`` (operation, response) in order;
    a closed loopback port behind it, so an unstubbed call fails here and never reaches AWS."""
    account = Account(
        REGION, "http://127.0.0.1:9", session=boto3.session.Session(region_name=REGION, **BOOTSTRAP)
    )
    stub = Stubber(account.client(service))
    for operation, response in answers:
        if operation.startswith("!"):
            stub.add_client_error(operation[1:], service_error_code=response["code"], http_status_code=400)
        else:
            stub.add_response(operation, response)
    stub.activate()
    return account


FSBP_ARN = f"arn:aws:securityhub:{REGION}::standards/aws-foundational-security-best-practices/v/1.0.0"
CIS_ARN = "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0"
HUB = {"HubArn": f"arn:aws:securityhub:{REGION}:{COMPLIANT_ACCOUNT}:hub/default"}


def _subscription(arn: str) -> dict[str, Any]:
    return {
        "StandardsSubscriptionArn": f"{arn}/sub",
        "StandardsArn": arn,
        "StandardsInput": {},
        "StandardsStatus": "READY",
    }


def _secret(name: str, rotation: bool) -> dict[str, Any]:
    return {"Name": name, "RotationEnabled": rotation, "Tags": [{"Key": "environment", "Value": "prod"}]}


def _analyzer(status: str) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:access-analyzer:{REGION}:{COMPLIANT_ACCOUNT}:analyzer/account",
        "name": "account",
        "type": "ACCOUNT",
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC),
        "status": status,
    }


STUB_CASES: dict[str, tuple[str, list[Any], list[Any], set[str]]] = {
    # check: (service, flawed answers, compliant answers, resources the flaw must name)
    "AUD-SH-001": (
        "securityhub",
        [
            ("describe_hub", HUB),
            ("get_enabled_standards", {"StandardsSubscriptions": [_subscription(CIS_ARN)]}),
        ],
        [
            ("describe_hub", HUB),
            (
                "get_enabled_standards",
                {"StandardsSubscriptions": [_subscription(FSBP_ARN), _subscription(CIS_ARN)]},
            ),
        ],
        {f"account/{REGION}"},
    ),
    "AUD-AA-001": (
        "accessanalyzer",
        [("list_analyzers", {"analyzers": [_analyzer("DISABLED")]})],
        [("list_analyzers", {"analyzers": [_analyzer("ACTIVE")]})],
        {f"account/{REGION}"},
    ),
    "AUD-SM-001": (
        "secretsmanager",
        [("list_secrets", {"SecretList": [_secret("wallet-prod-exchange-key", False), _secret("ok", True)]})],
        [("list_secrets", {"SecretList": [_secret("wallet-prod-exchange-key", True)]})],
        {"wallet-prod-exchange-key"},
    ),
    "AUD-IAM-001": (
        "iam",
        [("get_account_summary", {"SummaryMap": {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 1}})],
        [("get_account_summary", {"SummaryMap": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}})],
        {"account/root"},
    ),
}


def test_every_stubbed_baseline_check_has_a_case() -> None:
    assert set(STUB_CASES) == set(STUBBED_BASELINE)


@pytest.mark.parametrize("check_id", STUBBED_BASELINE)
def test_stubbed_check_names_the_flaw_and_passes_the_compliant_answer(check_id: str) -> None:
    service, flawed, good, planted = STUB_CASES[check_id]
    bad = run_audit(_stubbed(service, flawed), [check_id])
    assert planted == {r.resource for r in bad.results if r.status == "fail"}, bad.results
    fine = run_audit(_stubbed(service, good), [check_id])
    assert fine.results and all(r.status == "pass" for r in fine.results), fine.results


def test_security_hub_off_is_a_failure_not_an_error() -> None:
    account = _stubbed("securityhub", [("!describe_hub", {"code": "InvalidAccessException"})])
    [result] = run_audit(account, ["AUD-SH-001"]).results
    assert (result.status, result.detail) == ("fail", "Security Hub is not enabled")


def test_cli_audits_several_regions_with_account_wide_checks_once(
    moto_url: str, insecure: dict[str, str]
) -> None:
    only = [arg for check in ("AUD-RDS-005", "AUD-IAM-003", "AUD-GD-001") for arg in ("--check", check)]
    result = _walletops(
        "audit",
        "--region",
        f"{REGION},us-east-1",
        "--endpoint-url",
        moto_url,
        "--format",
        "json",
        *only,
        creds=insecure,
    )
    document = json.loads(result.stdout)
    assert document["regions"] == [REGION, "us-east-1"]
    where = {(r["check"], r["region"]) for r in document["results"]}
    assert ("AUD-GD-001", REGION) in where and ("AUD-GD-001", "us-east-1") in where
    assert [r["region"] for r in document["results"] if r["check"] == "AUD-IAM-003"] == ["global"]
    assert ("AUD-RDS-005", REGION) in where  # the planted instance lives in eu-west-1 only


def test_cli_audit_sarif_points_at_the_check_and_names_the_resource(
    moto_url: str, insecure: dict[str, str]
) -> None:
    result = _walletops(
        "audit",
        "--region",
        REGION,
        "--endpoint-url",
        moto_url,
        "--format",
        "sarif",
        "--check",
        "AUD-RDS-005",
        creds=insecure,
    )
    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)["runs"][0]
    [finding] = run["results"]
    location = finding["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "infra/audit/baseline.py"
    assert location["physicalLocation"]["region"]["startLine"] > 1
    assert location["logicalLocations"][0]["name"] == "ledger"
    rule = run["tool"]["driver"]["rules"][finding["ruleIndex"]]
    assert (
        rule["id"] == "AUD-RDS-005"
        and "AWS Foundational Security Best Practices" in (rule["fullDescription"]["text"])
    )


def test_api_errors_are_short_in_the_table_and_whole_in_json(
    moto_url: str, compliant: dict[str, str]
) -> None:
    args = ["audit", "--region", REGION, "--endpoint-url", moto_url, "--check", "AUD-AA-001"]
    table = _walletops(*args, creds=compliant)
    document = json.loads(_walletops(*args, "--format", "json", creds=compliant).stdout)
    [error] = document["results"]
    assert error["status"] == "error" and len(error["detail"]) > 200
    assert "API errors are shortened" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 200
    assert error["detail"][:200] not in table.stdout.replace("\n", "")
