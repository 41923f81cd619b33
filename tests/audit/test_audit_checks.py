"""The posture audit (infra/audit/checks.py) against moto in server mode on loopback.

One ``ThreadedMotoServer`` on 127.0.0.1 (OS-chosen port) holds two accounts, each reached through
credentials of an STS AssumeRole into it (moto keys its state by account) and set up with boto3:
one insecure, one compliant. Every check must flag the insecure account and pass the compliant one.
moto does not implement ``GetEbsDefaultKmsKeyId``, so AUD-EBS-002 is exercised with botocore's
Stubber (recorded API answers) instead, and against moto it must report ``error``, never ``pass``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from infra.audit.checks import CHECKS, Account, run_audit

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("audit-moto")]

REGION = "eu-west-1"
INSECURE_ACCOUNT = "111111111111"
COMPLIANT_ACCOUNT = "222222222222"
BOOTSTRAP = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
STUBBED = "AUD-EBS-002"
MOTO_CHECKS = [c.id for c in CHECKS if c.id != STUBBED]


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
        Tags=tags,
    )
    c("elasticache").create_replication_group(
        ReplicationGroupId="cache",
        ReplicationGroupDescription="api cache",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        NumCacheClusters=1,
        AtRestEncryptionEnabled=secure,
        TransitEncryptionEnabled=secure,
        **({"AuthToken": "a-long-enough-auth-token-0123456789"} if secure else {}),
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
    c("s3").create_bucket(
        Bucket=f"wallet-prod-archive-{account_id}", CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def _insecure(session: boto3.session.Session, url: str) -> None:
    c = _clients(session, url)
    _common(c, INSECURE_ACCOUNT, secure=False)
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
    assert {*MOTO_CHECKS, STUBBED} == {c.id for c in CHECKS}
    assert len(CHECKS) >= 14


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
        (["--region", REGION, "--format", "sarif"], "allowed: table, json"),
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
