"""A small, hand-built, fully compliant prod environment in plan-graph form, and one breakage per rule.

``compliant_world()`` must pass every rule; ``BREAKAGES[rule_id]`` turns it into a failing fixture
for exactly that guardrail. A rule registered without a breakage makes the rule tests fail.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any

TODAY = date(2026, 11, 25)
ENV = "prod"
REPO = "walletco/walletops"
ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1"
PCA_ARN = f"arn:aws:acm-pca:eu-west-1:{ACCOUNT}:certificate-authority/ca1"
OIDC_EKS = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
OIDC_GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/wallet-prod-deploy-boundary"

World = list[dict[str, Any]]


def urn(typ: str, name: str, env: str = ENV) -> str:
    return f"urn:pulumi:{env}::walletops::{typ}::{name}"


def tags(**extra: str) -> dict[str, str]:
    return {
        "environment": ENV,
        "service": "platform",
        "component": "test",
        "owner": "platform-team",
        "cost-center": "CC-4100",
        "data-classification": "confidential",
        **extra,
    }


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def res(
    typ: str, name: str, inputs: dict[str, Any], deps: tuple[str, ...] = (), parent: str | None = None
) -> dict[str, Any]:
    return {
        "urn": urn(typ, name),
        "type": typ,
        "name": name,
        "custom": not typ.startswith("walletops:"),
        "parent": parent,
        "dependencies": [urn(*d.split("|", 1)) if "|" in d else d for d in deps],
        "provider": None,
        "protect": False,
        "inputs": inputs,
    }


VPC = "aws:ec2/vpc:Vpc"
SG = "aws:ec2/securityGroup:SecurityGroup"
KEY = "aws:kms/key:Key"
SUBNET = "aws:ec2/subnet:Subnet"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
STAGE = "aws:apigateway/stage:Stage"
ACL = "aws:wafv2/webAcl:WebAcl"
BUCKET = "aws:s3/bucket:Bucket"
PG = "aws:rds/parameterGroup:ParameterGroup"
NETWORK = "walletops:network:Network"

POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER = {
    "name": "wallet",
    "image": "ghcr.io/walletco/wallet:1.4.0",
    "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    },
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    },
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}},
}


def compliant_world() -> World:
    """Every resource type the rules look at, configured the way the guardrails want."""
    net = urn(NETWORK, "wallet-prod-network")
    vpc_dep = f"{VPC}|wallet-prod-vpc"
    endpoints = [
        res(
            "aws:ec2/vpcEndpoint:VpcEndpoint",
            f"vpce-{svc}",
            {"serviceName": f"com.amazonaws.eu-west-1.{svc}", "tags": tags()},
            (vpc_dep,),
            net,
        )
        for svc in ("s3", "ecr.api", "ecr.dkr", "sts", "kms", "logs", "secretsmanager")
    ]
    github_trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": OIDC_GITHUB},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": f"repo:{REPO}:environment:prod",
                }
            },
        }
    )
    irsa_trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": OIDC_EKS},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:wallet:wallet",
                    "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
                }
            },
        }
    )
    return [
        res(NETWORK, "wallet-prod-network", {}),
        res(VPC, "wallet-prod-vpc", {"cidrBlock": "10.40.0.0/16", "tags": tags()}, parent=net),
        res(
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "default-deny",
            {"tags": tags()},
            (vpc_dep,),
            net,
        ),
        res(
            SUBNET,
            "wallet-prod-public-a",
            {"mapPublicIpOnLaunch": False, "tags": tags(tier="public")},
            (vpc_dep,),
            net,
        ),
        res(
            SUBNET,
            "wallet-prod-app-a",
            {"mapPublicIpOnLaunch": False, "tags": tags(tier="app")},
            (vpc_dep,),
            net,
        ),
        res("aws:ec2/flowLog:FlowLog", "flow-log", {"trafficType": "ALL", "tags": tags()}, (vpc_dep,), net),
        *endpoints,
        res(SG, "wallet-prod-sg-lb", {"description": "load balancer", "tags": tags()}, (vpc_dep,), net),
        res(SG, "wallet-prod-sg-app", {"description": "workloads", "tags": tags()}, (vpc_dep,), net),
        res(
            "aws:lb/loadBalancer:LoadBalancer",
            "wallet-prod-nlb",
            {
                "loadBalancerType": "network",
                "internal": False,
                "accessLogs": {"bucket": "wallet-prod-s3-access-logs", "enabled": True},
                "tags": tags(),
            },
            (f"{SG}|wallet-prod-sg-lb", f"{SUBNET}|wallet-prod-public-a"),
            net,
        ),
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "in-lb-https",
            {"cidrIpv4": "0.0.0.0/0", "fromPort": 443, "toPort": 443, "ipProtocol": "tcp", "tags": tags()},
            (f"{SG}|wallet-prod-sg-lb",),
            net,
        ),
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "in-app-from-vpc",
            {
                "cidrIpv4": "10.40.0.0/16",
                "fromPort": 8080,
                "toPort": 8080,
                "ipProtocol": "tcp",
                "tags": tags(),
            },
            (f"{SG}|wallet-prod-sg-app",),
            net,
        ),
        res(
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "out-app-https",
            {"cidrIpv4": "0.0.0.0/0", "fromPort": 443, "toPort": 443, "ipProtocol": "tcp", "tags": tags()},
            (f"{SG}|wallet-prod-sg-app",),
            net,
        ),
        res(
            KEY,
            "key-ebs",
            {
                "enableKeyRotation": True,
                "deletionWindowInDays": 30,
                "policy": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*",
                    },
                    {
                        "Sid": "Logs",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "kms:Decrypt",
                        "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
                    },
                ),
                "tags": tags(),
            },
        ),
        res("aws:ebs/encryptionByDefault:EncryptionByDefault", "ebs-default", {"enabled": True}),
        res(
            "aws:ebs/defaultKmsKey:DefaultKmsKey", "ebs-default-key", {"keyArn": KEY_ARN}, (f"{KEY}|key-ebs",)
        ),
        res(
            LT,
            "lt-general",
            {
                "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
                "blockDeviceMappings": [
                    {
                        "deviceName": "/dev/xvda",
                        "ebs": {"encrypted": "true", "volumeType": "gp3", "kmsKeyId": KEY_ARN},
                    }
                ],
                "tags": tags(),
            },
        ),
        res(
            "aws:eks/cluster:Cluster",
            "eks",
            {
                "version": "1.34",
                "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
                "encryptionConfig": {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]},
                "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
                "upgradePolicy": {"supportType": "STANDARD"},
                "tags": tags(),
            },
        ),
        res(
            "aws:eks/nodeGroup:NodeGroup",
            "ng-general",
            {"launchTemplate": {"id": "lt-1", "version": "1"}, "capacityType": "ON_DEMAND", "tags": tags()},
            (f"{SUBNET}|wallet-prod-app-a", f"{LT}|lt-general"),
        ),
        res(
            "aws:eks/nodeGroup:NodeGroup",
            "ng-burst",
            {
                "launchTemplate": {"id": "lt-1", "version": "1"},
                "capacityType": "SPOT",
                "taints": [{"key": "walletops.io/capacity", "value": "spot", "effect": "NO_SCHEDULE"}],
                "tags": tags(),
            },
            (f"{SUBNET}|wallet-prod-app-a", f"{LT}|lt-general"),
        ),
        res(
            "aws:eks/addon:Addon",
            "addon-vpc-cni",
            {
                "addonName": "vpc-cni",
                "configurationValues": '{"enableNetworkPolicy": "true"}',
                "tags": tags(),
            },
        ),
        res("aws:eks/addon:Addon", "addon-metrics-server", {"addonName": "metrics-server", "tags": tags()}),
        res(
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
            "access-admin",
            {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"},
        ),
        res(
            "pulumi:providers:kubernetes",
            "k8s",
            {},
            ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation|access-admin",),
        ),
        res(
            "aws:lb/targetGroup:TargetGroup",
            "tg-wallet",
            {"port": 30080, "protocol": "TLS", "healthCheck": {"protocol": "HTTPS"}, "tags": tags()},
        ),
        res(
            "aws:lb/listener:Listener",
            "listener-wallet",
            {
                "port": 30080,
                "protocol": "TLS",
                "certificateArn": f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/c1",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "tags": tags(),
            },
            ("aws:lb/targetGroup:TargetGroup|tg-wallet",),
        ),
        res(
            "aws:apigateway/integration:Integration",
            "int-wallet",
            {
                "type": "HTTP_PROXY",
                "uri": "https://nlb.prod.internal.walletco.example:30080/v1/accounts",
                "tlsConfig": {"insecureSkipVerification": False},
            },
        ),
        *_egress_world(net),
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "in-app-from-lb",
            {
                "referencedSecurityGroupId": "sg-lb",
                "fromPort": 30080,
                "toPort": 30900,
                "ipProtocol": "tcp",
                "tags": tags(),
            },
            (f"{SG}|wallet-prod-sg-app", f"{SG}|wallet-prod-sg-lb"),
            net,
        ),
        res(PG, "pg", {"name": "wallet-prod-pg16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}),
        res(
            "aws:rds/instance:Instance",
            "ledger",
            {
                "storageEncrypted": True,
                "kmsKeyId": KEY_ARN,
                "publiclyAccessible": False,
                "backupRetentionPeriod": 35,
                "multiAz": True,
                "deletionProtection": True,
                "iamDatabaseAuthenticationEnabled": True,
                "engineVersion": "16",
                "autoMinorVersionUpgrade": True,
                "parameterGroupName": "wallet-prod-pg16",
                "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
                "copyTagsToSnapshot": True,
                "monitoringInterval": 60,
                "monitoringRoleArn": "arn:aws:iam::123456789012:role/wallet-prod-db-monitoring",
                "tags": tags(),
            },
            (f"{PG}|pg",),
        ),
        res(
            "aws:elasticache/replicationGroup:ReplicationGroup",
            "cache",
            {
                "atRestEncryptionEnabled": True,
                "kmsKeyId": KEY_ARN,
                "transitEncryptionEnabled": True,
                "userGroupIds": ["wallet-prod-cache-users"],
                "snapshotRetentionLimit": 7,
                "automaticFailoverEnabled": True,
                "tags": tags(),
            },
        ),
        res(BUCKET, "archive", {"bucket": "wallet-prod-archive-123456789012-eu-west-1", "tags": tags()}),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "archive-pab",
            {
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            (f"{BUCKET}|archive",),
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "archive-sse",
            {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        }
                    }
                ]
            },
            (f"{BUCKET}|archive",),
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "archive-versioning",
            {"versioningConfiguration": {"status": "Enabled"}},
            (f"{BUCKET}|archive",),
        ),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            "archive-policy",
            {
                "policy": doc(
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [
                            "arn:aws:s3:::wallet-prod-archive-123456789012-eu-west-1",
                            "arn:aws:s3:::wallet-prod-archive-123456789012-eu-west-1/*",
                        ],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                )
            },
            (f"{BUCKET}|archive",),
        ),
        res(
            "aws:secretsmanager/secret:Secret",
            "cache-auth",
            {"kmsKeyId": KEY_ARN, "recoveryWindowInDays": 30, "tags": tags()},
        ),
        res(
            "aws:iam/policy:Policy",
            "deploy-boundary",
            {
                "name": "wallet-prod-deploy-boundary",
                "policy": doc(
                    {"Effect": "Allow", "Action": ["ec2:*", "eks:*", "iam:PassRole"], "Resource": "*"}
                ),
                "tags": tags(),
            },
        ),
        res(
            "aws:iam/role:Role",
            "deploy",
            {"assumeRolePolicy": github_trust, "permissionsBoundary": BOUNDARY_ARN, "tags": tags()},
            ("aws:iam/policy:Policy|deploy-boundary",),
        ),
        res(
            "aws:iam/role:Role",
            "irsa-wallet",
            {"assumeRolePolicy": irsa_trust, "permissionsBoundary": BOUNDARY_ARN, "tags": tags()},
            ("aws:iam/policy:Policy|deploy-boundary",),
        ),
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "deploy-policy",
            {
                "policy": doc(
                    {"Effect": "Allow", "Action": ["ec2:Describe*", "eks:Describe*"], "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": "iam:PassRole",
                        "Resource": f"arn:aws:iam::{ACCOUNT}:role/wallet-prod-*",
                    },
                )
            },
        ),
        res(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "cluster-policy",
            {"policyArn": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"},
        ),
        res(
            "aws:cloudwatch/logGroup:LogGroup",
            "audit-logs",
            {"retentionInDays": 2557, "kmsKeyId": KEY_ARN, "tags": tags(**{"log-class": "audit"})},
        ),
        res(
            "aws:cloudwatch/logGroup:LogGroup",
            "app-logs",
            {"retentionInDays": 30, "tags": tags(**{"log-class": "app"})},
        ),
        res(
            STAGE,
            "stage",
            {
                "stageName": "v1",
                "xrayTracingEnabled": True,
                "accessLogSettings": {"destinationArn": "arn:aws:logs:::log-group:api", "format": "{}"},
                "tags": tags(),
            },
        ),
        res(
            "aws:apigateway/method:Method",
            "method",
            {"httpMethod": "GET", "authorization": "AWS_IAM", "requestValidatorId": "v1"},
        ),
        res(
            "aws:apigateway/methodSettings:MethodSettings",
            "stage-settings",
            {
                "methodPath": "*/*",
                "settings": {
                    "throttlingRateLimit": 100,
                    "throttlingBurstLimit": 200,
                    "loggingLevel": "ERROR",
                },
            },
            (f"{STAGE}|stage",),
        ),
        res(
            "aws:apigateway/usagePlan:UsagePlan",
            "plan-partner",
            {
                "throttleSettings": {"rateLimit": 10, "burstLimit": 20},
                "quotaSettings": {"limit": 10000, "period": "DAY"},
            },
        ),
        res(
            ACL,
            "waf",
            {
                "rules": [{"name": "rate", "statement": {"rateBasedStatement": {"limit": 2000}}}],
                "tags": tags(),
            },
        ),
        res(
            "aws:wafv2/webAclAssociation:WebAclAssociation", "waf-assoc", {}, (f"{STAGE}|stage", f"{ACL}|waf")
        ),
        res(
            "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
            "waf-logging",
            {},
            (f"{ACL}|waf",),
        ),
        res("aws:sns/topic:Topic", "budget-alerts", {"kmsMasterKeyId": KEY_ARN, "tags": tags()}),
        res(
            "aws:budgets/budget:Budget",
            "wallet-prod-monthly",
            {
                "budgetType": "COST",
                "timeUnit": "MONTHLY",
                "limitAmount": "9749",
                "notifications": [
                    {"notificationType": "ACTUAL", "threshold": 80, "thresholdType": "PERCENTAGE"}
                ],
            },
            ("aws:sns/topic:Topic|budget-alerts",),
        ),
        res(
            "aws:cloudtrail/trail:Trail",
            "trail",
            {
                "isMultiRegionTrail": True,
                "includeGlobalServiceEvents": True,
                "enableLogFileValidation": True,
                "kmsKeyId": KEY_ARN,
                "cloudWatchLogsGroupArn": f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:trail:*",
                "tags": tags(),
            },
        ),
        *[
            res(
                "aws:guardduty/detectorFeature:DetectorFeature",
                f"gd-{feature.lower()}",
                {"name": feature, "status": "ENABLED"},
            )
            for feature in ("EKS_AUDIT_LOGS", "RDS_LOGIN_EVENTS", "RUNTIME_MONITORING")
        ],
        res(
            "aws:cfg/recorder:Recorder",
            "recorder",
            {"recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}},
        ),
        res("aws:cfg/recorderStatus:RecorderStatus", "recorder-status", {"isEnabled": True}),
        res(
            "aws:cfg/rule:Rule",
            "rule-trail",
            {"source": {"owner": "AWS", "sourceIdentifier": "CLOUD_TRAIL_ENABLED"}, "tags": tags()},
        ),
        *[
            res(
                "aws:securityhub/standardsSubscription:StandardsSubscription",
                f"standard-{index}",
                {"standardsArn": f"arn:aws:securityhub:eu-west-1::standards/{standard}"},
            )
            for index, standard in enumerate(
                (
                    "aws-foundational-security-best-practices/v/1.0.0",
                    "cis-aws-foundations-benchmark/v/3.0.0",
                    "pci-dss/v/4.0.1",
                )
            )
        ],
        res("aws:accessanalyzer/analyzer:Analyzer", "analyzer", {"type": "ACCOUNT", "tags": tags()}),
        res(
            "aws:codebuild/project:Project",
            "ci-runner",
            {"vpcConfig": {"subnets": ["subnet-app-a"], "securityGroupIds": ["sg-ci"]}, "tags": tags()},
        ),
        res(
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "archive-lock",
            {"rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 2557}}},
            (f"{BUCKET}|archive",),
        ),
        res(
            "aws:s3/bucketLogging:BucketLogging",
            "archive-logging",
            {"targetPrefix": "archive/"},
            (f"{BUCKET}|archive",),
        ),
        res("kubernetes:core/v1:Namespace", "ns-wallet", {"metadata": {"name": "wallet"}}),
        res(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "wallet-default-deny",
            {
                "metadata": {"namespace": "wallet"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
        ),
        res(
            "kubernetes:apps/v1:Deployment",
            "wallet",
            {
                "metadata": {"namespace": "wallet", "name": "wallet"},
                "spec": {
                    "selector": {"matchLabels": {"app": "wallet"}},
                    "template": {
                        "spec": {"securityContext": POD_SECURITY, "containers": [copy.deepcopy(CONTAINER)]},
                    },
                },
            },
        ),
        res(
            "kubernetes:apps/v1:Deployment",
            "cluster-autoscaler",
            {
                "metadata": {"namespace": "kube-system", "name": "cluster-autoscaler"},
                "spec": {
                    "selector": {"matchLabels": {"app": "cluster-autoscaler"}},
                    "template": {
                        "spec": {
                            "securityContext": POD_SECURITY,
                            "containers": [
                                {
                                    **copy.deepcopy(CONTAINER),
                                    "name": "cluster-autoscaler",
                                    "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.0",
                                    "command": [
                                        "./cluster-autoscaler",
                                        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled",
                                    ],
                                }
                            ],
                        },
                    },
                },
            },
        ),
        res(
            "kubernetes:policy/v1:PodDisruptionBudget",
            "cluster-autoscaler-pdb",
            {
                "metadata": {"namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": {"app": "cluster-autoscaler"}}},
            },
        ),
        res(
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
            "wallet-hpa",
            {
                "metadata": {"namespace": "wallet", "name": "wallet"},
                "spec": {
                    "minReplicas": 3,
                    "maxReplicas": 40,
                    "scaleTargetRef": {"kind": "Deployment", "name": "wallet"},
                },
            },
        ),
        res(
            "kubernetes:policy/v1:PodDisruptionBudget",
            "wallet-pdb",
            {"metadata": {"namespace": "wallet"}, "spec": {"selector": {"matchLabels": {"app": "wallet"}}}},
        ),
        *observability_world(),
    ]


def observability_world() -> World:
    """ECK's resources, its encrypted StorageClass and the log retention contract, as planned."""
    tls = {"tls": {"selfSignedCertificate": {"disabled": False}}}
    eck = "elasticsearch.k8s.elastic.co/v1"
    claim = {"metadata": {"name": "elasticsearch-data"}, "spec": {"storageClassName": "gp3-encrypted"}}
    return [
        res(
            "kubernetes:storage.k8s.io/v1:StorageClass",
            "storage-class",
            {
                "metadata": {"name": "gp3-encrypted"},
                "provisioner": "ebs.csi.aws.com",
                "parameters": {"type": "gp3", "encrypted": "true", "kmsKeyId": KEY_ARN},
            },
        ),
        res(
            f"kubernetes:{eck}:Elasticsearch",
            "elasticsearch",
            {
                "metadata": {"name": "walletops", "namespace": "observability"},
                "spec": {
                    "http": tls,
                    "nodeSets": [{"name": "default", "count": 3, "volumeClaimTemplates": [claim]}],
                },
            },
        ),
        res(
            "kubernetes:kibana.k8s.elastic.co/v1:Kibana",
            "kibana",
            {
                "metadata": {"name": "walletops", "namespace": "observability"},
                "spec": {
                    "http": {
                        **tls,
                        "service": {
                            "metadata": {
                                "annotations": {
                                    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                                    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                                }
                            },
                            "spec": {"type": "LoadBalancer"},
                        },
                    }
                },
            },
        ),
        res(
            "kubernetes:awspca.cert-manager.io/v1beta1:AWSPCAClusterIssuer",
            "pca-cluster-issuer",
            {"metadata": {"name": "wallet-prod-private-ca"}, "spec": {"arn": PCA_ARN, "region": "eu-west-1"}},
        ),
        res(
            "kubernetes:cert-manager.io/v1:Certificate",
            "apm-http-certificate",
            {
                "metadata": {"name": "walletops-apm-http-pca", "namespace": "observability"},
                "spec": {
                    "secretName": "walletops-apm-http-pca",
                    "dnsNames": ["walletops-apm-http.observability.svc"],
                    "issuerRef": {
                        "group": "awspca.cert-manager.io",
                        "kind": "AWSPCAClusterIssuer",
                        "name": "wallet-prod-private-ca",
                    },
                },
            },
            deps=("kubernetes:awspca.cert-manager.io/v1beta1:AWSPCAClusterIssuer|pca-cluster-issuer",),
        ),
        res(
            "kubernetes:apm.k8s.elastic.co/v1:ApmServer",
            "apm-server",
            {
                "metadata": {"name": "walletops", "namespace": "observability"},
                "spec": {"http": {"tls": {"certificate": {"secretName": "walletops-apm-http-pca"}}}},
            },
            deps=("kubernetes:cert-manager.io/v1:Certificate|apm-http-certificate",),
        ),
        res(
            "kubernetes:core/v1:ConfigMap",
            "log-retention",
            {
                "metadata": {"name": "log-retention", "namespace": "observability"},
                "data": {
                    "logs-walletops.service-prod": "90",
                    "logs-walletops.audit-prod": "2557",
                    "logs-walletops.access-prod": "400",
                },
            },
        ),
    ]


FIREWALL = "aws:networkfirewall/firewall:Firewall"
RULE_GROUP = "aws:networkfirewall/ruleGroup:RuleGroup"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
IGW = "aws:ec2/internetGateway:InternetGateway"


def _allowlist(name: str, kind: str, hosts: list[str]) -> dict[str, Any]:
    source = {"generatedRulesType": "ALLOWLIST", "targetTypes": ["TLS_SNI", "HTTP_HOST"], "targets": hosts}
    return res(
        RULE_GROUP,
        name,
        {
            "type": "STATEFUL",
            "ruleGroup": {"rulesSource": {"rulesSourceList": source}},
            "tags": tags(**{"egress-allowlist": kind}),
        },
    )


def _egress_world(net: str) -> World:
    """NAT → firewall → internet gateway with the exchanges' allowlist, as the network component builds it."""
    return [
        res(IGW, "igw", {"tags": tags()}, (f"{VPC}|wallet-prod-vpc",), net),
        res(
            SUBNET,
            "wallet-prod-firewall-a",
            {"mapPublicIpOnLaunch": False, "tags": tags(tier="firewall")},
            (f"{VPC}|wallet-prod-vpc",),
            net,
        ),
        res(
            "aws:ec2/natGateway:NatGateway",
            "nat-a",
            {"tags": tags()},
            (f"{SUBNET}|wallet-prod-public-a",),
            net,
        ),
        _allowlist("egress-exchanges", "exchanges", ["api.exchange.coinbase.com"]),
        _allowlist("egress-platform", "platform", ["ghcr.io"]),
        res(
            "aws:networkfirewall/firewallPolicy:FirewallPolicy",
            "egress-policy",
            {
                "firewallPolicy": {
                    "statelessDefaultActions": ["aws:forward_to_sfe"],
                    "statefulDefaultActions": ["aws:drop_established", "aws:alert_established"],
                },
                "tags": tags(),
            },
            (f"{RULE_GROUP}|egress-exchanges", f"{RULE_GROUP}|egress-platform"),
        ),
        res(
            FIREWALL,
            "egress-firewall",
            {"tags": tags()},
            (
                "aws:networkfirewall/firewallPolicy:FirewallPolicy|egress-policy",
                f"{SUBNET}|wallet-prod-firewall-a",
            ),
        ),
        res(
            "aws:networkfirewall/loggingConfiguration:LoggingConfiguration",
            "firewall-logging",
            {"loggingConfiguration": {"logDestinationConfigs": [{"logType": "ALERT"}, {"logType": "FLOW"}]}},
            (f"{FIREWALL}|egress-firewall",),
        ),
        res(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "exchange-coinbase-allow",
            {
                "metadata": {
                    "namespace": "wallet",
                    "annotations": {"walletops.io/egress-hosts": "api.exchange.coinbase.com"},
                },
                "spec": {"podSelector": {"matchLabels": {"app": "exchange-coinbase"}}},
            },
        ),
        res(ROUTE_TABLE, "rt-firewall", {"tags": tags()}, (f"{VPC}|wallet-prod-vpc",), net),
        res(
            "aws:ec2/route:Route",
            "rt-firewall-default",
            {"destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"},
            (f"{ROUTE_TABLE}|rt-firewall", f"{IGW}|igw"),
            net,
        ),
        res(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "rta-firewall-a",
            {},
            (f"{ROUTE_TABLE}|rt-firewall", f"{SUBNET}|wallet-prod-firewall-a"),
            net,
        ),
        res(ROUTE_TABLE, "rt-igw-edge", {"tags": tags()}, (f"{VPC}|wallet-prod-vpc",), net),
        res(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "rta-igw-edge",
            {},
            (f"{ROUTE_TABLE}|rt-igw-edge", f"{IGW}|igw"),
            net,
        ),
        res(
            "aws:ec2/route:Route",
            "rt-igw-edge-return-a",
            {"destinationCidrBlock": "10.40.132.0/24", "vpcEndpointId": "vpce-fw-a"},
            (f"{ROUTE_TABLE}|rt-igw-edge", f"{FIREWALL}|egress-firewall"),
            net,
        ),
    ]


def find(world: World, name: str) -> dict[str, Any]:
    return next(r for r in world if r["name"] == name)


def setp(world: World, name: str, path: str, value: Any) -> None:
    """Set the input at a dotted path of the resource called ``name``."""
    node = find(world, name)["inputs"]
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def drop(world: World, name: str) -> None:
    world.remove(find(world, name))


def _container(world: World) -> dict[str, Any]:
    container: dict[str, Any] = find(world, "wallet")["inputs"]["spec"]["template"]["spec"]["containers"][0]
    return container


def _open_ingress(world: World, port: int) -> None:
    setp(world, "in-app-from-vpc", "cidrIpv4", "0.0.0.0/0")
    setp(world, "in-app-from-vpc", "fromPort", port)
    setp(world, "in-app-from-vpc", "toPort", port)


def _wildcard_kms(world: World) -> None:
    setp(world, "key-ebs", "policy", doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*"}))


def _wildcard_bucket(world: World) -> None:
    setp(
        world,
        "archive-policy",
        "policy",
        json.loads(find(world, "archive-policy")["inputs"]["policy"])
        | {
            "Statement": [
                *json.loads(find(world, "archive-policy")["inputs"]["policy"])["Statement"],
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
            ]
        },
    )


def _github_wildcard(world: World) -> None:
    trust = json.loads(find(world, "deploy")["inputs"]["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]
    sub = condition["StringEquals"].pop("token.actions.githubusercontent.com:sub")
    condition["StringLike"] = {
        "token.actions.githubusercontent.com:sub": sub.replace("environment:prod", "*")
    }
    setp(world, "deploy", "assumeRolePolicy", json.dumps(trust))


def _irsa_wildcard(world: World) -> None:
    trust = json.loads(find(world, "irsa-wallet")["inputs"]["assumeRolePolicy"])
    trust["Statement"][0]["Condition"]["StringEquals"]["oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub"] = (
        "system:serviceaccount:wallet:*"
    )
    setp(world, "irsa-wallet", "assumeRolePolicy", json.dumps(trust))


def _public_eks(world: World) -> None:
    setp(world, "eks", "vpcConfig.endpointPublicAccess", True)


def _admin_policy(world: World) -> None:
    setp(
        world,
        "deploy-policy",
        "policy",
        doc({"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}),
    )


BREAKAGES: dict[str, Callable[[World], None]] = {
    "WO-KMS-001": lambda w: setp(w, "key-ebs", "enableKeyRotation", False),
    "WO-KMS-002": _wildcard_kms,
    "WO-KMS-003": lambda w: setp(w, "key-ebs", "deletionWindowInDays", 7),
    "WO-EBS-001": lambda w: setp(w, "ebs-default", "enabled", False),
    "WO-EBS-002": lambda w: drop(w, "ebs-default-key"),
    "WO-EC2-001": lambda w: setp(w, "lt-general", "metadataOptions.httpTokens", "optional"),
    "WO-EC2-002": lambda w: setp(w, "wallet-prod-app-a", "mapPublicIpOnLaunch", True),
    "WO-EC2-003": lambda w: setp(w, "wallet-prod-public-a", "mapPublicIpOnLaunch", True),
    "WO-EC2-004": lambda w: setp(w, "lt-general", "blockDeviceMappings.0.ebs.encrypted", "false"),
    "WO-EC2-005": lambda w: setp(w, "default-deny", "ingress", [{"protocol": "-1", "self": True}]),
    "WO-VPC-001": lambda w: drop(w, "default-deny"),
    "WO-VPC-002": lambda w: drop(w, "flow-log"),
    "WO-VPC-003": lambda w: _open_ingress(w, 8080),
    "WO-VPC-004": lambda w: _open_ingress(w, 22),
    "WO-VPC-005": lambda w: setp(w, "out-app-https", "ipProtocol", "-1"),
    "WO-VPC-006": lambda w: drop(w, "vpce-kms"),
    "WO-EKS-001": _public_eks,
    "WO-EKS-002": lambda w: (_public_eks(w), setp(w, "eks", "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"])),
    "WO-EKS-003": lambda w: setp(w, "eks", "encryptionConfig", None),
    "WO-EKS-004": lambda w: setp(w, "eks", "enabledClusterLogTypes", ["api"]),
    "WO-EKS-005": lambda w: setp(w, "eks", "enabledClusterLogTypes", ["api", "audit", "authenticator"]),
    "WO-EKS-006": lambda w: setp(w, "eks", "upgradePolicy.supportType", "EXTENDED"),
    "WO-EKS-007": lambda w: setp(w, "eks", "version", "1.33"),
    "WO-EKS-008": lambda w: find(w, "ng-general")["dependencies"].__setitem__(
        0, urn(SUBNET, "wallet-prod-public-a")
    ),
    "WO-RDS-001": lambda w: setp(w, "ledger", "kmsKeyId", None),
    "WO-RDS-002": lambda w: setp(w, "ledger", "publiclyAccessible", True),
    "WO-RDS-003": lambda w: setp(w, "ledger", "backupRetentionPeriod", 1),
    "WO-RDS-004": lambda w: setp(w, "ledger", "multiAz", False),
    "WO-RDS-005": lambda w: setp(w, "ledger", "deletionProtection", False),
    "WO-RDS-006": lambda w: setp(w, "ledger", "iamDatabaseAuthenticationEnabled", False),
    "WO-RDS-007": lambda w: setp(w, "pg", "parameters.0.value", "0"),
    "WO-RDS-008": lambda w: setp(w, "ledger", "autoMinorVersionUpgrade", False),
    "WO-RDS-009": lambda w: setp(w, "ledger", "enabledCloudwatchLogsExports", []),
    "WO-ECC-001": lambda w: setp(w, "cache", "atRestEncryptionEnabled", False),
    "WO-ECC-002": lambda w: setp(w, "cache", "transitEncryptionEnabled", False),
    "WO-ECC-003": lambda w: setp(w, "cache", "userGroupIds", None),
    "WO-ECC-005": lambda w: setp(w, "cache", "authToken", {"value": "one-token-shared-by-every-service"}),
    "WO-RDS-010": lambda w: setp(w, "ledger", "engineVersion", "16.4"),
    "WO-RDS-011": lambda w: setp(w, "ledger", "monitoringInterval", 0),
    "WO-S3-006": lambda w: setp(w, "archive", "bucket", "wallet-prod-archive"),
    "WO-EKS-009": lambda w: find(w, "k8s").__setitem__("dependencies", []),
    "WO-EKS-010": lambda w: setp(w, "addon-vpc-cni", "configurationValues", None),
    "WO-EKS-011": lambda w: drop(w, "addon-metrics-server"),
    "WO-EKS-012": lambda w: setp(w, "ng-burst", "taints", []),
    "WO-EKS-013": lambda w: drop(w, "cluster-autoscaler"),
    "WO-EKS-014": lambda w: drop(w, "ci-runner"),
    "WO-BASE-001": lambda w: setp(w, "trail", "enableLogFileValidation", False),
    "WO-BASE-002": lambda w: drop(w, "gd-rds_login_events"),
    "WO-BASE-003": lambda w: setp(w, "recorder-status", "isEnabled", False),
    "WO-BASE-004": lambda w: drop(w, "standard-2"),
    "WO-BASE-005": lambda w: drop(w, "archive-lock"),
    "WO-IAM-007": lambda w: setp(w, "irsa-wallet", "permissionsBoundary", None),
    "WO-IAM-008": lambda w: setp(
        w, "deploy-policy", "policy", doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::x"})
    ),
    "WO-VPC-007": lambda w: setp(w, "tg-wallet", "port", 8080),
    "WO-VPC-008": lambda w: setp(
        w,
        "egress-exchanges",
        "ruleGroup.rulesSource.rulesSourceList.targets",
        ["api.exchange.coinbase.com", "paste.example.net"],
    ),
    "WO-VPC-009": lambda w: find(w, "rta-firewall-a")["dependencies"].__setitem__(
        1, urn(SUBNET, "wallet-prod-public-a")
    ),
    "WO-TLS-001": lambda w: setp(w, "listener-wallet", "protocol", "TCP"),
    "WO-TLS-002": lambda w: setp(
        w, "int-wallet", "uri", "http://nlb.prod.internal.walletco.example:30080/v1"
    ),
    "WO-TLS-003": lambda w: setp(w, "tg-wallet", "healthCheck.protocol", "HTTP"),
    "WO-ECC-004": lambda w: setp(w, "cache", "automaticFailoverEnabled", False),
    "WO-S3-001": lambda w: setp(w, "archive-pab", "restrictPublicBuckets", False),
    "WO-S3-002": lambda w: setp(
        w, "archive-sse", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"
    ),
    "WO-S3-003": lambda w: setp(w, "archive-versioning", "versioningConfiguration.status", "Suspended"),
    "WO-S3-004": lambda w: drop(w, "archive-policy"),
    "WO-S3-005": _wildcard_bucket,
    "WO-SM-001": lambda w: setp(w, "cache-auth", "kmsKeyId", None),
    "WO-SM-002": lambda w: setp(w, "cache-auth", "recoveryWindowInDays", 0),
    "WO-IAM-001": _admin_policy,
    "WO-IAM-002": lambda w: setp(
        w, "cluster-policy", "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"
    ),
    "WO-IAM-003": lambda w: setp(
        w,
        "deploy",
        "assumeRolePolicy",
        doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
    ),
    "WO-IAM-004": _github_wildcard,
    "WO-IAM-005": _irsa_wildcard,
    "WO-IAM-006": lambda w: setp(
        w, "deploy-policy", "policy", doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    ),
    "WO-LOG-001": lambda w: setp(w, "audit-logs", "retentionInDays", 90),
    "WO-LOG-002": lambda w: setp(w, "audit-logs", "kmsKeyId", None),
    "WO-LOG-003": lambda w: setp(w, "app-logs", "retentionInDays", None),
    "WO-API-001": lambda w: setp(w, "stage", "accessLogSettings", None),
    "WO-API-002": lambda w: drop(w, "waf-assoc"),
    "WO-API-003": lambda w: setp(w, "stage-settings", "settings.throttlingRateLimit", 0),
    "WO-API-004": lambda w: setp(w, "stage", "xrayTracingEnabled", False),
    "WO-API-005": lambda w: setp(w, "plan-partner", "quotaSettings", None),
    "WO-API-006": lambda w: drop(w, "waf-logging"),
    "WO-API-007": lambda w: setp(w, "method", "requestValidatorId", None),
    "WO-API-008": lambda w: setp(w, "wallet-prod-nlb", "accessLogs", None),
    "WO-K8S-001": lambda w: (
        _container(w)["securityContext"].pop("runAsNonRoot"),
        setp(w, "wallet", "spec.template.spec.securityContext", {}),
    ),
    "WO-K8S-002": lambda w: _container(w)["securityContext"].__setitem__("readOnlyRootFilesystem", False),
    "WO-K8S-003": lambda w: _container(w)["resources"].pop("limits"),
    "WO-K8S-004": lambda w: _container(w)["securityContext"].__setitem__("privileged", True),
    "WO-K8S-005": lambda w: setp(w, "wallet", "spec.template.spec.hostNetwork", True),
    "WO-K8S-006": lambda w: _container(w).pop("readinessProbe"),
    "WO-K8S-007": lambda w: drop(w, "wallet-default-deny"),
    "WO-K8S-008": lambda w: _container(w)["securityContext"].pop("capabilities"),
    "WO-K8S-009": lambda w: _container(w).__setitem__("image", "ghcr.io/walletco/wallet:latest"),
    "WO-K8S-010": lambda w: drop(w, "wallet-pdb"),
    "WO-BUD-001": lambda w: setp(w, "wallet-prod-monthly", "notifications", []),
    "WO-SNS-001": lambda w: setp(w, "budget-alerts", "kmsMasterKeyId", "alias/aws/sns"),
    "WO-OBS-001": lambda w: setp(w, "storage-class", "parameters.encrypted", "false"),
    "WO-OBS-002": lambda w: setp(
        w, "elasticsearch", "spec.nodeSets.0.volumeClaimTemplates.0.spec.storageClassName", "gp2"
    ),
    "WO-OBS-003": lambda w: setp(w, "kibana", "spec.http.tls.selfSignedCertificate.disabled", True),
    "WO-OBS-004": lambda w: setp(w, "kibana", "spec.http.service.metadata.annotations", {}),
    "WO-OBS-006": lambda w: setp(
        w, "apm-server", "spec.http.tls", {"selfSignedCertificate": {"disabled": False}}
    ),
    "WO-OBS-005": lambda w: find(w, "log-retention")["inputs"]["data"].__setitem__(
        "logs-walletops.audit-prod", "90"
    ),
    "WO-TAG-001": lambda w: find(w, "ledger")["inputs"]["tags"].pop("cost-center"),
    "WO-TAG-002": lambda w: find(w, "ledger")["inputs"]["tags"].__setitem__("environment", "dev"),
}
