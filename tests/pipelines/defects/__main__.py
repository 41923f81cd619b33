"""Seeded defects in infrastructure code: an open ingress rule and an unencrypted database."""

import pulumi_aws as aws

web = aws.ec2.SecurityGroup(
    "web",
    description="web tier",
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"])
    ],
)

ledger = aws.rds.Instance(
    "ledger",
    engine="postgres",
    instance_class="db.t4g.micro",
    allocated_storage=20,
    storage_encrypted=False,
    skip_final_snapshot=True,
)
