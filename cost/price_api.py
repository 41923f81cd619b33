"""Prices from the source: the AWS Price List Query API, one filtered query per catalog price.

    walletops cost refresh --region eu-west-1 [--answers FILE] [--output FILE]

For every price the estimator may ask for (:func:`wanted`: the fixed list plus the instance types,
database classes and cache node types the ``Pulumi.<env>.yaml`` files use, and any extra sizes
asked for), ``pricing.get_products`` (endpoint us-east-1) is called with ``TERM_MATCH`` filters on
the region, the usage type and the attributes that tell look-alike products apart (engine,
deployment, load balancer family ...), following ``NextToken`` over every page. The product whose
usage type matches exactly and that has one on-demand term gives the price; each catalog entry
records its SKU, the term's effective date and the query that produced it. A price no product
answers, or that several products answer, is written under ``unavailable`` with the reason.

Where the API cannot be reached (this build machine), ``--answers FILE`` replays recorded
answers (``{"answers": [{"ServiceCode", "Filters", "pages": [{"PriceList": [...]}]}]}``) through
botocore's Stubber, so the same code path runs; a price without a recorded answer is unavailable.
This replaces the bulk offer-file download (hundreds of MB per service).

A recorded file may also carry ``cited`` rates (``{"sources", "prices", "unavailable"}``, each
price citing where it was read: a public copy of a price-list row, a pricing page): they fill the
prices no API answer gives, are written with their citation (and ``verified: false`` where no copy
of the price list confirms them), and an API answer for the same key always wins. The checked-in
``cost/catalog/aws-prices-<region>.json`` files are exactly what ``walletops cost refresh --region R
--answers tests/cost/data/price-list-<region>.json`` writes (a test regenerates and compares).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.config import load_all
from contracts.errors import UsageProblem

PRICING_ENDPOINT_REGION = "us-east-1"
SOURCE = "aws-price-list-api"
USAGE_PREFIX = {"eu-west-1": "EU", "eu-central-1": "EUC1", "eu-west-2": "EUW2", "us-east-1": ""}
"""The region code AWS puts before a usage type (``EU-BoxUsage:m6i.large``); us-east-1 has none ..."""
US_EAST_1_PREFIXED = {"AmazonEKS": "USE1", "AmazonECS": "USE1"}
"""... except for these services (``USE1-AmazonEKS-Hours:perCluster``, ``USE1-Fargate-GB-Hours``)."""
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

    def ut(rest: str, service: str = "") -> str:
        prefix = p or (US_EAST_1_PREFIXED.get(service, "") if region == "us-east-1" else "")
        return f"{prefix}-{rest}" if prefix else rest

    linux = {
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    postgres = {"databaseEngine": "PostgreSQL"}
    items = [
        Wanted(f"ec2.BoxUsage:{t}", "AmazonEC2", ut(f"BoxUsage:{t}"), linux) for t in sorted(instance_types)
    ]
    for cls in sorted(db_classes):
        items.append(
            Wanted(f"rds.postgres.{cls}.single-az", "AmazonRDS", ut(f"InstanceUsage:{cls}"), postgres)
        )
        items.append(
            Wanted(f"rds.postgres.{cls}.multi-az", "AmazonRDS", ut(f"Multi-AZUsage:{cls}"), postgres)
        )
    for node in sorted(cache_nodes):
        items.append(
            Wanted(
                f"elasticache.redis.{node}",
                "AmazonElastiCache",
                ut(f"NodeUsage:{node}"),
                {"cacheEngine": "Redis"},
            )
        )
    nlb = {"productFamily": "Load Balancer-Network"}
    alb = {"productFamily": "Load Balancer-Application"}
    items += [
        Wanted("ebs.gp3.storage", "AmazonEC2", ut("EBS:VolumeUsage.gp3")),
        Wanted("ebs.gp3.iops", "AmazonEC2", ut("EBS:VolumeP-IOPS.gp3")),
        Wanted(
            "ebs.gp3.throughput",
            "AmazonEC2",
            ut("EBS:VolumeP-Throughput.gp3"),
            unit="MiBps-Mo",
            per_aws_unit=1024,
        ),
        Wanted("nat.hours", "AmazonEC2", ut("NatGateway-Hours")),
        Wanted("nat.bytes", "AmazonEC2", ut("NatGateway-Bytes")),
        Wanted("vpc.public_ipv4", "AmazonVPC", ut("PublicIPv4:InUseAddress")),
        Wanted("vpce.interface.hours", "AmazonVPC", ut("VpcEndpoint-Hours")),
        Wanted("vpce.interface.bytes", "AmazonVPC", ut("VpcEndpoint-Bytes")),
        Wanted("eks.cluster.standard", "AmazonEKS", ut("AmazonEKS-Hours:perCluster", "AmazonEKS")),
        Wanted("eks.cluster.extended", "AmazonEKS", ut("AmazonEKS-Hours:extendedSupport", "AmazonEKS")),
        Wanted("fargate.vcpu", "AmazonECS", ut("Fargate-vCPU-Hours:perCPU", "AmazonECS")),
        Wanted("fargate.memory", "AmazonECS", ut("Fargate-GB-Hours", "AmazonECS")),
        Wanted("rds.gp3.single-az", "AmazonRDS", ut("RDS:GP3-Storage")),
        Wanted("rds.gp3.multi-az", "AmazonRDS", ut("RDS:Multi-AZ-GP3-Storage")),
        Wanted("rds.backup", "AmazonRDS", ut("RDS:ChargedBackupUsage")),
        Wanted("elb.nlb.hours", "AWSELB", ut("LoadBalancerUsage"), nlb),
        Wanted("elb.nlb.nlcu", "AWSELB", ut("LCUUsage"), nlb),
        Wanted("elb.alb.hours", "AWSELB", ut("LoadBalancerUsage"), alb),
        Wanted("elb.alb.lcu", "AWSELB", ut("LCUUsage"), alb),
        Wanted("apigw.rest.requests", "AmazonApiGateway", ut("ApiGatewayRequest")),
        Wanted("waf.web_acl", "awswaf", ut("WebACLV2")),
        Wanted("waf.rule", "awswaf", ut("RuleV2")),
        Wanted("waf.requests", "awswaf", ut("RequestV2-Tier1")),
        Wanted("kms.key", "awskms", f"{region}-KMS-Keys"),
        Wanted("kms.requests", "awskms", f"{region}-KMS-Requests"),
        Wanted("logs.ingest", "AmazonCloudWatch", ut("DataProcessing-Bytes")),
        Wanted("logs.storage", "AmazonCloudWatch", ut("TimedStorage-ByteHrs")),
        Wanted("s3.standard.storage", "AmazonS3", ut("TimedStorage-ByteHrs"), {"volumeType": "Standard"}),
        Wanted("s3.requests.tier1", "AmazonS3", ut("Requests-Tier1")),
        Wanted("s3.requests.tier2", "AmazonS3", ut("Requests-Tier2")),
        Wanted("secretsmanager.secret", "AWSSecretsManager", ut("AWSSecretsManager-Secrets")),
        Wanted("secretsmanager.api", "AWSSecretsManager", ut("AWSSecretsManager-APIRequest")),
        Wanted("dt.out.internet", "AWSDataTransfer", ut("DataTransfer-Out-Bytes")),
        Wanted("sns.requests", "AmazonSNS", ut("Requests-Tier1")),
        Wanted("dt.regional", "AWSDataTransfer", ut("DataTransfer-Regional-Bytes")),
        Wanted("cloudwatch.alarm", "AmazonCloudWatch", ut("CW:AlarmMonitorUsage")),
        Wanted("config.items", "AWSConfig", ut("ConfigurationItemRecorded")),
        Wanted("config.rule_evaluations", "AWSConfig", ut("ConfigRuleEvaluations")),
    ]
    return items


def filters(item: Wanted, region: str) -> list[dict[str, str]]:
    """The ``TERM_MATCH`` filters of ``item``'s query, in a stable order."""
    terms = {"regionCode": region, "usagetype": item.usage_type, **item.attributes}
    return [{"Type": "TERM_MATCH", "Field": name, "Value": value} for name, value in sorted(terms.items())]


def _on_demand(document: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """The effective date and price dimensions (lowest range first) of a product's one on-demand term."""
    terms = list(((document.get("terms") or {}).get("OnDemand") or {}).values())
    if len(terms) != 1:
        return None
    term = terms[0]
    dimensions = sorted(
        (term.get("priceDimensions") or {}).values(), key=lambda d: float(d.get("beginRange") or 0)
    )
    return str(term.get("effectiveDate", "")), dimensions


def entry_from(
    item: Wanted, documents: list[dict[str, Any]], query: dict[str, Any], read_on: str
) -> dict[str, Any] | str:
    """The catalog entry for ``item`` from the products a query returned, or why there is none."""
    exact = [
        d
        for d in documents
        if (d.get("product") or {}).get("attributes", {}).get("usagetype") == item.usage_type
    ]
    priced = [(d, term) for d in exact if (term := _on_demand(d)) is not None and term[1]]
    if not priced:
        return f"the Price List API returned no on-demand product for {item.service} {item.usage_type}"
    if len(priced) > 1:
        skus = ", ".join(sorted(str(d["product"].get("sku")) for d, _ in priced))
        return (
            f"{len(priced)} products answer {item.usage_type} ({skus}): "
            "add an attribute that tells them apart"
        )
    document, (effective, dimensions) = priced[0]
    rates = [float(d["pricePerUnit"]["USD"]) / item.per_aws_unit for d in dimensions]
    entry: dict[str, Any] = {
        "service": item.service,
        "usage_type": item.usage_type,
        "unit": item.unit or str(dimensions[0].get("unit", "")),
        "description": str(dimensions[0].get("description", "")),
        "source": SOURCE,
        "sku": str(document["product"].get("sku", "")),
        "effective_date": effective,
        "publication_date": str(document.get("publicationDate", "")),
        "query": query,
        "read_on": read_on,
    }
    if len(dimensions) == 1:
        entry["usd"] = rates[0]
    else:
        entry["tiers"] = [
            {"up_to": None if d.get("endRange") in (None, "Inf") else float(d["endRange"]), "usd": rate}
            for d, rate in zip(dimensions, rates, strict=True)
        ]
    return entry


def query_products(client: Any, service_code: str, terms: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Every product of one query (all pages), each PriceList item decoded."""
    documents: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        request: dict[str, Any] = {"ServiceCode": service_code, "Filters": terms, "FormatVersion": "aws_v1"}
        if token:
            request["NextToken"] = token
        page = client.get_products(**request)
        documents += [
            json.loads(item) if isinstance(item, str) else item for item in page.get("PriceList", [])
        ]
        token = page.get("NextToken")
        if not token:
            return documents


def refresh(
    client: Any,
    region: str,
    items: list[Wanted],
    read_on: str,
    answered: set[str] | None = None,
    *,
    cited: Cited | None = None,
) -> dict[str, Any]:
    """The catalog document for ``region`` from the API's answers to one query per item.

    ``answered``: when replaying, the keys that have a recorded answer (the others are unavailable).
    ``cited``: rates read elsewhere, for the keys no answer prices (an answer wins over a citation).
    """
    cited = cited or Cited()
    prices: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}
    for item in items:
        terms = filters(item, region)
        if answered is not None and item.key not in answered:
            unavailable[item.key] = cited.unavailable.get(
                item.key, f"no recorded Price List answer for {item.service} {item.usage_type}"
            )
            continue
        result = entry_from(
            item,
            query_products(client, item.service, terms),
            {"ServiceCode": item.service, "Filters": terms},
            read_on,
        )
        if isinstance(result, str):
            unavailable[item.key] = result
        else:
            prices[item.key] = result
    for key, entry in cited.prices.items():
        if key not in prices:
            prices[key] = entry
            unavailable.pop(key, None)
    for key, reason in cited.unavailable.items():
        if key not in prices:
            unavailable.setdefault(key, reason)
    how_built = (
        f"walletops cost refresh --region {region}: one AWS Price List Query API call "
        "(pricing.get_products, all pages) per price; each price records its SKU, effective "
        "date and query"
    )
    if cited.prices:
        how_built += (
            f"; {sum(1 for e in prices.values() if e['source'] != SOURCE)} prices no API answer gave "
            "are cited rates (each names its source; verified false where no copy of the price list "
            "confirms it)"
        )
    return {
        "format": 1,
        "region": region,
        "location": LOCATION.get(region, region),
        "currency": "USD",
        "term": "OnDemand",
        "snapshot_date": read_on,
        "how_built": how_built,
        "sources": {
            SOURCE: "AWS Price List Query API, pricing.get_products at us-east-1 (see each price's query)",
            **cited.sources,
        },
        "prices": dict(sorted(prices.items())),
        "unavailable": dict(sorted(unavailable.items())),
    }


@dataclass
class Cited:
    """Rates read outside the API (catalog entries citing ``sources``), and why others are missing."""

    sources: dict[str, str] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedAnswers:
    """Recorded ``get_products`` answers: per query, its pages; with where they came from."""

    answers: list[dict[str, Any]]
    source: str = ""
    recorded_on: str = ""
    cited: Cited = field(default_factory=Cited)


def _cited(path: Path, document: Any) -> Cited:
    """The ``cited`` part of a recorded file, refused when a price lacks a rate, a unit or a known source."""
    if document is None:
        return Cited()
    if not isinstance(document, dict):
        raise UsageProblem(f'--answers {path}: "cited" must be {{"sources", "prices", "unavailable"}}')
    sources = dict(document.get("sources") or {})
    prices = dict(document.get("prices") or {})
    for key, entry in prices.items():
        missing = [f for f in ("service", "usage_type", "unit", "source") if not entry.get(f)]
        if missing or ("usd" not in entry and "tiers" not in entry):
            raise UsageProblem(
                f"--answers {path}: cited price {key!r} lacks {', '.join(missing) or 'usd or tiers'}"
            )
        if entry["source"] not in sources and "://" not in entry["source"]:
            raise UsageProblem(
                f"--answers {path}: cited price {key!r} cites {entry['source']!r}; "
                f"allowed: a URL or one of {', '.join(sorted(sources))}"
            )
    return Cited(sources, prices, dict(document.get("unavailable") or {}))


def load_answers(path: Path) -> RecordedAnswers:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"--answers {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"--answers {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("answers"), list):
        raise UsageProblem(
            f'--answers {path}: expected {{"answers": [{{"ServiceCode", "Filters", "pages"}}]}}'
        )
    return RecordedAnswers(
        answers=document["answers"],
        source=str(document.get("source", "")),
        recorded_on=str(document.get("recorded_on", "")),
        cited=_cited(path, document.get("cited")),
    )


def replay_client(recorded: RecordedAnswers, region: str, items: list[Wanted]) -> tuple[Any, set[str]]:
    """A pricing client whose ``get_products`` answers come from ``recorded`` (botocore Stubber),
    queued in the order :func:`refresh` asks; also the keys that have an answer."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "pricing",
        region_name=PRICING_ENDPOINT_REGION,
        aws_access_key_id="replay",  # pragma: allowlist secret
        aws_secret_access_key="replay",  # noqa: S106  # pragma: allowlist secret
    )
    stubber = Stubber(client)
    by_query = {
        (answer["ServiceCode"], json.dumps(answer["Filters"], sort_keys=True)): answer["pages"]
        for answer in recorded.answers
    }
    answered: set[str] = set()
    for item in items:
        terms = filters(item, region)
        pages = by_query.get((item.service, json.dumps(terms, sort_keys=True)))
        if pages is None:
            continue
        answered.add(item.key)
        token = None
        for index, page in enumerate(pages):
            expected: dict[str, Any] = {
                "ServiceCode": item.service,
                "Filters": terms,
                "FormatVersion": "aws_v1",
            }
            if token:
                expected["NextToken"] = token
            token = f"page-{index + 1}" if index + 1 < len(pages) else None
            response: dict[str, Any] = {
                "FormatVersion": "aws_v1",
                "PriceList": [json.dumps(p) for p in page["PriceList"]],
            }
            if token:
                response["NextToken"] = token
            stubber.add_response("get_products", response, expected)
    stubber.activate()
    return client, answered


def live_client() -> Any:
    import boto3

    return boto3.client("pricing", region_name=PRICING_ENDPOINT_REGION)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


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
