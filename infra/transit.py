"""TLS on every hop inside AWS: API Gateway → internal NLB → pods.

Hop 1, API Gateway → NLB: the NLB's listeners are TLS (``ELBSecurityPolicy-TLS13-1-2-2021-06``)
with a certificate for ``nlb.<transit.internal_domain>``, the host every integration URI names
(``https://``, certificate verification on). API Gateway trusts public CAs only, so that certificate
is a public ACM certificate validated in the public zone ``transit.public_zone_id`` (or an existing
one, ``transit.certificate_arn``); the name resolves inside the VPC through a private hosted zone
(an alias of the NLB), and API Gateway itself reaches the NLB through the VPC link.

Hop 2, NLB → pods: the target groups are TLS and the pods serve TLS on their container port
(``WALLETSTUB_TLS_CERT_FILE``/``_KEY_FILE``) with a certificate cert-manager keeps renewed, issued
by AWS Private CA through the aws-privateca-issuer (its IRSA role may only issue from that CA).
The same certificate names the service's cluster DNS names, so in-cluster callers verify it
against the CA (``WALLETSTUB_TLS_CA_FILE``). The CA is ``transit.private_ca_arn`` or a root CA the
program creates (general-purpose mode: the certificates live for ``pod_certificate_hours``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json
from infra.iam import irsa_trust

SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
CERT_MANAGER_NAMESPACE = "cert-manager"
ISSUER_SERVICE_ACCOUNT = "aws-privateca-issuer"
ISSUER_GROUP = "awspca.cert-manager.io"
ISSUER_KIND = "AWSPCAClusterIssuer"
CERT_MANAGER_REPO = "https://charts.jetstack.io"
ISSUER_REPO = "https://cert-manager.github.io/aws-privateca-issuer"
WEBHOOK_PORT = 10250
"""cert-manager's webhook port (the chart's default ``webhook.securePort``), called by the API server."""
PRIVATE_RANGES: list[str] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
ROOT_CA_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"


@dataclass
class TransitTlsArgs:
    """The VPC the private zone serves, and the boundary of the issuer's role."""

    vpc_id: pulumi.Input[str]
    permissions_boundary_arn: pulumi.Input[str]


class TransitTls(WalletComponent):
    """The private zone, the NLB's certificate, the private CA and (EKS) the certificate issuer."""

    component = "transit"

    def __init__(
        self,
        name: str,
        args: TransitTlsArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("transit:TransitTls", name, env, opts)
        self.args = args
        transit = env.transit
        self.nlb_host = transit.nlb_host
        self.zone = aws.route53.Zone(
            self.name("internal-zone"),
            name=transit.internal_domain,
            comment=f"Private names of the {env.name} VPC (the internal NLB)",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=args.vpc_id, vpc_region=env.region)],
            tags=self.tags(),
            opts=self.child_opts(),
        )
        self.nlb_certificate_arn = self._nlb_certificate()
        self.ca_arn, self.ca_ready = self._private_ca()
        self.issuer: pulumi.Resource | None = None
        self.register_outputs({"nlb_host": self.nlb_host, "ca_arn": self.ca_arn})

    def _nlb_certificate(self) -> pulumi.Output[str]:
        transit = self.env.transit
        if transit.certificate_arn is not None:
            return pulumi.Output.from_input(transit.certificate_arn)
        assert transit.public_zone_id is not None
        certificate = aws.acm.Certificate(
            self.name("nlb-certificate"),
            domain_name=self.nlb_host,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            options=aws.acm.CertificateOptionsArgs(certificate_transparency_logging_preference="ENABLED"),
            tags=self.tags(),
            opts=self.child_opts(),
        )
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            self.name("nlb-certificate-validation"),
            zone_id=transit.public_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=self.child_opts(),
        )
        validation = aws.acm.CertificateValidation(
            self.name("nlb-certificate-issued"),
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=self.child_opts(),
        )
        return validation.certificate_arn

    def _private_ca(self) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        """The CA issuing the pods' certificates: configured, or a root CA created and activated here."""
        transit = self.env.transit
        if transit.private_ca_arn is not None:
            return pulumi.Output.from_input(transit.private_ca_arn), []
        ca = aws.acmpca.CertificateAuthority(
            self.name("private-ca"),
            type="ROOT",
            usage_mode="GENERAL_PURPOSE",
            certificate_authority_configuration=aws.acmpca.CertificateAuthorityCertificateAuthorityConfigurationArgs(
                key_algorithm="RSA_2048",
                signing_algorithm="SHA256WITHRSA",
                subject=aws.acmpca.CertificateAuthorityCertificateAuthorityConfigurationSubjectArgs(
                    common_name=f"{self.prefix} internal CA",
                    organization=self.env.tags.owner,
                ),
            ),
            key_storage_security_standard="FIPS_140_2_LEVEL_3_OR_HIGHER",
            permanent_deletion_time_in_days=30,
            enabled=True,
            tags=self.tags(),
            opts=self.child_opts(stateful=True),
        )
        own = aws.acmpca.Certificate(
            self.name("private-ca-certificate"),
            certificate_authority_arn=ca.arn,
            certificate_signing_request=ca.certificate_signing_request,
            signing_algorithm="SHA256WITHRSA",
            template_arn=ROOT_CA_TEMPLATE,
            validity=aws.acmpca.CertificateValidityArgs(type="YEARS", value="10"),
            opts=self.child_opts(stateful=True),
        )
        activation = aws.acmpca.CertificateAuthorityCertificate(
            self.name("private-ca-activation"),
            certificate_authority_arn=ca.arn,
            certificate=own.certificate,
            certificate_chain=own.certificate_chain,
            opts=self.child_opts(stateful=True),
        )
        return ca.arn, [activation]

    def point_at(self, nlb: aws.lb.LoadBalancer) -> aws.route53.Record:
        """``nlb.<internal_domain>`` in the private zone: an alias of the internal NLB."""
        return aws.route53.Record(
            self.name("nlb-record"),
            zone_id=self.zone.zone_id,
            name=self.nlb_host,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=nlb.dns_name,
                    zone_id=nlb.zone_id,
                    evaluate_target_health=True,
                )
            ],
            opts=self.child_opts(),
        )

    def install_issuer(
        self, k8s_provider: pulumi.ProviderResource, oidc_provider: aws.iam.OpenIdConnectProvider
    ) -> None:
        """cert-manager and the aws-privateca-issuer (pinned charts), and the cluster issuer of the CA."""
        transit = self.env.transit
        k8s_opts = self.child_opts(provider=k8s_provider)
        namespace = k8s.core.v1.Namespace(
            self.name("cert-manager-namespace"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CERT_MANAGER_NAMESPACE,
                labels={"pod-security.kubernetes.io/enforce": "restricted"},
            ),
            opts=k8s_opts,
        )
        self._namespace_policies(namespace, k8s_provider)
        role = self._issuer_role(oidc_provider)
        cert_manager = k8s.helm.v3.Release(
            self.name("cert-manager"),
            name="cert-manager",
            chart="cert-manager",
            version=transit.cert_manager_chart,
            namespace=CERT_MANAGER_NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CERT_MANAGER_REPO),
            values={
                "crds": {"enabled": True, "keep": True},
                "global": {"leaderElection": {"namespace": CERT_MANAGER_NAMESPACE}},
            },
            atomic=True,
            opts=self.child_opts(provider=k8s_provider, depends_on=[namespace]),
        )
        issuer_release = k8s.helm.v3.Release(
            self.name("aws-privateca-issuer"),
            name="aws-privateca-issuer",
            chart="aws-privateca-issuer",
            version=transit.privateca_issuer_chart,
            namespace=CERT_MANAGER_NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=ISSUER_REPO),
            values={
                "serviceAccount": {
                    "create": True,
                    "name": ISSUER_SERVICE_ACCOUNT,
                    "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                },
                "env": {"AWS_REGION": self.env.region},
                # The namespace enforces the "restricted" pod security profile; the chart's defaults
                # set only the user and no privilege escalation.
                "podSecurityContext": {
                    "runAsUser": 65532,
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            },
            atomic=True,
            opts=self.child_opts(provider=k8s_provider, depends_on=[cert_manager, role]),
        )
        self.issuer = k8s.apiextensions.CustomResource(
            self.name("pca-cluster-issuer"),
            api_version=f"{ISSUER_GROUP}/v1beta1",
            kind=ISSUER_KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.issuer_name),
            spec={"arn": self.ca_arn, "region": self.env.region},
            opts=self.child_opts(provider=k8s_provider, depends_on=[issuer_release, *self.ca_ready]),
        )

    def _namespace_policies(
        self, namespace: k8s.core.v1.Namespace, provider: pulumi.ProviderResource
    ) -> None:
        """Default deny in cert-manager's namespace, then only what it needs: the API server calling
        its webhook, DNS, the API server and STS inside the VPC, AWS Private CA on 443 outside it."""
        np = k8s.networking.v1
        vpc = self.env.network.cidr
        opts = self.child_opts(provider=provider, depends_on=[namespace])
        np.NetworkPolicy(
            self.name("cert-manager-default-deny"),
            metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=CERT_MANAGER_NAMESPACE),
            spec=np.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=opts,
        )
        inside = [np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=vpc))]
        np.NetworkPolicy(
            self.name("cert-manager-allow"),
            metadata=k8s.meta.v1.ObjectMetaArgs(name="cert-manager-allow", namespace=CERT_MANAGER_NAMESPACE),
            spec=np.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    np.NetworkPolicyIngressRuleArgs(
                        from_=inside, ports=[np.NetworkPolicyPortArgs(port=WEBHOOK_PORT, protocol="TCP")]
                    )
                ],
                egress=[
                    np.NetworkPolicyEgressRuleArgs(
                        to=inside,
                        ports=[
                            np.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                            np.NetworkPolicyPortArgs(port=53, protocol="TCP"),
                            np.NetworkPolicyPortArgs(port=443, protocol="TCP"),
                        ],
                    ),
                    np.NetworkPolicyEgressRuleArgs(
                        to=[
                            np.NetworkPolicyPeerArgs(
                                ip_block=np.IPBlockArgs(cidr="0.0.0.0/0", except_=PRIVATE_RANGES)
                            )
                        ],
                        ports=[np.NetworkPolicyPortArgs(port=443, protocol="TCP")],
                    ),
                ],
            ),
            opts=opts,
        )

    @property
    def issuer_name(self) -> str:
        return self.name("private-ca")

    def issuer_ref(self) -> dict[str, Any]:
        """How a cert-manager ``Certificate`` names the cluster issuer of the private CA."""
        return {"group": ISSUER_GROUP, "kind": ISSUER_KIND, "name": self.issuer_name}

    def _issuer_role(self, oidc_provider: aws.iam.OpenIdConnectProvider) -> aws.iam.Role:
        trust = irsa_trust(oidc_provider, CERT_MANAGER_NAMESPACE, ISSUER_SERVICE_ACCOUNT)
        role = aws.iam.Role(
            self.name("pca-issuer-irsa"),
            name=self.name("pca-issuer-irsa"),
            assume_role_policy=trust,
            permissions_boundary=self.args.permissions_boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.name("pca-issuer-issue"),
            role=role.id,
            policy=self.ca_arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Sid": "IssueFromThisCaOnly",
                            "Effect": "Allow",
                            "Action": [
                                "acm-pca:DescribeCertificateAuthority",
                                "acm-pca:GetCertificate",
                                "acm-pca:IssueCertificate",
                            ],
                            "Resource": arn,
                        }
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        return role
