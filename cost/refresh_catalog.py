"""Rebuild the price snapshot from AWS's public price list bulk files (no credentials needed).

    python -m cost.refresh_catalog --region eu-west-1 [--offers-dir DIR] [--output FILE]

For each AWS service the plans use, the region's offer file
``https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<service>/current/<region>/index.json``
is read (from ``--offers-dir/<service>.json`` when given, else downloaded), filtered to the
products of :func:`wanted` (matched on ``usagetype`` plus attributes such as the database engine
or the load balancer family), and reduced to their on-demand rates. Every price records the
offer URL and its ``publicationDate``; a wanted price with no matching product is written under
``unavailable`` with the reason. The instance types, database classes and cache node types are
read from the ``Pulumi.<env>.yaml`` files, so the snapshot stays small.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.config import load_all
from contracts.project import find_project_dir
from cost.catalog import catalog_path

OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{service}/current/{region}/index.json"
USAGE_PREFIX = {"eu-west-1": "EU", "eu-central-1": "EUC1", "eu-west-2": "EUW2", "us-east-1": "USE1"}
LOCATION = {
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-west-2": "EU (London)",
    "us-east-1": "US East (N. Virginia)",
}


@dataclass(frozen=True)
class Wanted:
    """A catalog key and how to recognise its product in the service's offer file."""

    key: str
    service: str
    usage_type: str
    attributes: dict[str, str] = field(default_factory=dict)
    unit: str = ""
    """The unit the estimator charges in, when AWS publishes another (then ``per_aws_unit`` converts)."""
    per_aws_unit: float = 1.0
    """How many of ``unit`` one AWS unit holds: the AWS rate is divided by it."""


def wanted(
    region: str, instance_types: set[str], db_classes: set[str], cache_nodes: set[str]
) -> list[Wanted]:
    """Every price the estimator may ask for in ``region``, given the sizes the configs use."""
    p = USAGE_PREFIX[region]
    linux = {
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    postgres = {"databaseEngine": "PostgreSQL"}
    items = [
        Wanted(f"ec2.BoxUsage:{t}", "AmazonEC2", f"{p}-BoxUsage:{t}", linux) for t in sorted(instance_types)
    ]
    for cls in sorted(db_classes):
        items.append(
            Wanted(f"rds.postgres.{cls}.single-az", "AmazonRDS", f"{p}-InstanceUsage:{cls}", postgres)
        )
        items.append(
            Wanted(f"rds.postgres.{cls}.multi-az", "AmazonRDS", f"{p}-Multi-AZUsage:{cls}", postgres)
        )
    for node in sorted(cache_nodes):
        items.append(
            Wanted(
                f"elasticache.redis.{node}",
                "AmazonElastiCache",
                f"{p}-NodeUsage:{node}",
                {"cacheEngine": "Redis"},
            )
        )
    nlb = {"productFamily": "Load Balancer-Network"}
    alb = {"productFamily": "Load Balancer-Application"}
    items += [
        Wanted("ebs.gp3.storage", "AmazonEC2", f"{p}-EBS:VolumeUsage.gp3"),
        Wanted("ebs.gp3.iops", "AmazonEC2", f"{p}-EBS:VolumeP-IOPS.gp3"),
        Wanted(
            "ebs.gp3.throughput",
            "AmazonEC2",
            f"{p}-EBS:VolumeP-Throughput.gp3",
            unit="MiBps-Mo",
            per_aws_unit=1024,
        ),
        Wanted("nat.hours", "AmazonEC2", f"{p}-NatGateway-Hours"),
        Wanted("nat.bytes", "AmazonEC2", f"{p}-NatGateway-Bytes"),
        Wanted("vpc.public_ipv4", "AmazonVPC", f"{p}-PublicIPv4:InUseAddress"),
        Wanted("vpce.interface.hours", "AmazonVPC", f"{p}-VpcEndpoint-Hours"),
        Wanted("vpce.interface.bytes", "AmazonVPC", f"{p}-VpcEndpoint-Bytes"),
        Wanted("eks.cluster.standard", "AmazonEKS", f"{p}-AmazonEKS-Hours:perCluster"),
        Wanted("eks.cluster.extended", "AmazonEKS", f"{p}-AmazonEKS-Hours:extendedSupport"),
        Wanted("fargate.vcpu", "AmazonECS", f"{p}-Fargate-vCPU-Hours:perCPU"),
        Wanted("fargate.memory", "AmazonECS", f"{p}-Fargate-GB-Hours"),
        Wanted("rds.gp3.single-az", "AmazonRDS", f"{p}-RDS:GP3-Storage"),
        Wanted("rds.gp3.multi-az", "AmazonRDS", f"{p}-RDS:Multi-AZ-GP3-Storage"),
        Wanted("rds.backup", "AmazonRDS", f"{p}-RDS:ChargedBackupUsage"),
        Wanted("elb.nlb.hours", "AWSELB", f"{p}-LoadBalancerUsage", nlb),
        Wanted("elb.nlb.nlcu", "AWSELB", f"{p}-LCUUsage", nlb),
        Wanted("elb.alb.hours", "AWSELB", f"{p}-LoadBalancerUsage", alb),
        Wanted("elb.alb.lcu", "AWSELB", f"{p}-LCUUsage", alb),
        Wanted("apigw.rest.requests", "AmazonApiGateway", f"{p}-ApiGatewayRequest"),
        Wanted("waf.web_acl", "awswaf", f"{p}-WebACLV2"),
        Wanted("waf.rule", "awswaf", f"{p}-RuleV2"),
        Wanted("waf.requests", "awswaf", f"{p}-RequestV2-Tier1"),
        Wanted("kms.key", "awskms", f"{region}-KMS-Keys"),
        Wanted("kms.requests", "awskms", f"{region}-KMS-Requests"),
        Wanted("logs.ingest", "AmazonCloudWatch", f"{p}-DataProcessing-Bytes"),
        Wanted("logs.storage", "AmazonCloudWatch", f"{p}-TimedStorage-ByteHrs"),
        Wanted("s3.standard.storage", "AmazonS3", f"{p}-TimedStorage-ByteHrs", {"volumeType": "Standard"}),
        Wanted("s3.requests.tier1", "AmazonS3", f"{p}-Requests-Tier1"),
        Wanted("s3.requests.tier2", "AmazonS3", f"{p}-Requests-Tier2"),
        Wanted("secretsmanager.secret", "AWSSecretsManager", f"{p}-AWSSecretsManager-Secrets"),
        Wanted("secretsmanager.api", "AWSSecretsManager", f"{p}-AWSSecretsManager-APIRequest"),
        Wanted("dt.out.internet", "AWSDataTransfer", f"{p}-DataTransfer-Out-Bytes"),
        Wanted("sns.requests", "AmazonSNS", f"{p}-Requests-Tier1"),
    ]
    return items


def _on_demand(offer: dict[str, Any], sku: str) -> list[dict[str, Any]]:
    """The price dimensions of ``sku``'s (single) on-demand term, lowest range first."""
    for term in offer.get("terms", {}).get("OnDemand", {}).get(sku, {}).values():
        dimensions = list(term.get("priceDimensions", {}).values())
        return sorted(dimensions, key=lambda d: float(d.get("beginRange", 0)))
    return []


def extract(offer: dict[str, Any], items: list[Wanted], url: str, read_on: str) -> dict[str, dict[str, Any]]:
    """Catalog entries for the ``items`` found in one offer file (others are simply absent)."""
    published = str(offer.get("publicationDate", ""))[:10]
    found: dict[str, dict[str, Any]] = {}
    for sku, product in offer.get("products", {}).items():
        attributes = product.get("attributes", {})
        for item in items:
            if item.key in found or attributes.get("usagetype") != item.usage_type:
                continue
            if any(attributes.get(k) != v for k, v in item.attributes.items()):
                continue
            dimensions = _on_demand(offer, sku)
            if not dimensions:
                continue
            entry: dict[str, Any] = {
                "service": item.service,
                "usage_type": item.usage_type,
                "unit": item.unit or dimensions[0].get("unit", ""),
                "description": dimensions[0].get("description", ""),
                "source": url,
                "source_date": published,
                "read_on": read_on,
            }
            rates = [float(d["pricePerUnit"]["USD"]) / item.per_aws_unit for d in dimensions]
            if len(dimensions) == 1:
                entry["usd"] = rates[0]
            else:
                entry["tiers"] = [
                    {
                        "up_to": None if d.get("endRange") in (None, "Inf") else float(d["endRange"]),
                        "usd": rate,
                    }
                    for d, rate in zip(dimensions, rates, strict=True)
                ]
            found[item.key] = entry
    return found


def build_snapshot(
    region: str, offers: dict[str, tuple[str, dict[str, Any]]], items: list[Wanted], read_on: str
) -> dict[str, Any]:
    """The catalog document from the offer files (``service -> (url, offer)``) and the wanted list."""
    prices: dict[str, dict[str, Any]] = {}
    for service, (url, offer) in offers.items():
        prices.update(extract(offer, [i for i in items if i.service == service], url, read_on))
    unavailable = {
        item.key: (
            f"no on-demand product with usagetype {item.usage_type}"
            + (f" and {item.attributes}" if item.attributes else "")
            + f" in the {item.service} offer file"
            if item.service in offers
            else f"the {item.service} offer file was not read"
        )
        for item in items
        if item.key not in prices
    }
    return {
        "format": 1,
        "region": region,
        "location": LOCATION.get(region, region),
        "currency": "USD",
        "term": "OnDemand",
        "snapshot_date": read_on,
        "how_built": "cost/refresh_catalog.py from AWS's public price list bulk files (cited per price).",
        "sources": {},
        "prices": dict(sorted(prices.items())),
        "unavailable": dict(sorted(unavailable.items())),
    }


def _load_offer(service: str, region: str, offers_dir: Path | None) -> tuple[str, dict[str, Any]]:
    url = OFFER_URL.format(service=service, region=region)
    if offers_dir is not None:
        return url, json.loads((offers_dir / f"{service}.json").read_text(encoding="utf-8"))
    with urllib.request.urlopen(url, timeout=600) as response:  # noqa: S310 (fixed https AWS URL)
        return url, json.load(response)


def sizes_from_config(project_dir: Path) -> tuple[set[str], set[str], set[str]]:
    """Instance types, database classes and cache node types used by any environment."""
    instance_types: set[str] = set()
    db_classes: set[str] = set()
    cache_nodes: set[str] = set()
    for model in load_all(project_dir).values():
        for group in model.kubernetes.node_groups if model.kubernetes else []:
            instance_types.update(group.instance_types)
        db_classes.add(model.database.instance_class)
        cache_nodes.add(model.cache.node_type)
    return instance_types, db_classes, cache_nodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="eu-west-1", choices=sorted(USAGE_PREFIX))
    parser.add_argument(
        "--offers-dir", type=Path, help="Folder of pre-downloaded <service>.json offer files."
    )
    parser.add_argument("--output", type=Path, help="Default: cost/catalog/aws-prices-<region>.json")
    parser.add_argument("--project-dir", type=Path, help="Folder holding Pulumi.yaml.")
    args = parser.parse_args(argv)
    items = wanted(args.region, *sizes_from_config(args.project_dir or find_project_dir()))
    offers = {s: _load_offer(s, args.region, args.offers_dir) for s in sorted({i.service for i in items})}
    read_on = datetime.now(UTC).date().isoformat()
    document = build_snapshot(args.region, offers, items, read_on)
    output = args.output or catalog_path(args.region)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}: {len(document['prices'])} prices, {len(document['unavailable'])} unavailable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
