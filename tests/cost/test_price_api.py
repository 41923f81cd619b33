"""Prices from the Price List Query API, replayed: filtered queries, every page, look-alikes refused.

The answers are built in the shape ``pricing.get_products`` documents (``FormatVersion aws_v1``:
each PriceList item a JSON string with ``product`` and ``terms``) and replayed through botocore's
Stubber, which also checks every request the refresh makes (filters, format, NextToken).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cost.catalog import parse_catalog
from cost.price_api import Wanted, filters, load_answers, refresh, replay_client, wanted

ROOT = Path(__file__).resolve().parents[2]
NAT = Wanted("nat.hours", "AmazonEC2", "EU-NatGateway-Hours")
NLCU = Wanted("elb.nlb.nlcu", "AWSELB", "EU-LCUUsage", {"productFamily": "Load Balancer-Network"})
EGRESS = Wanted("dt.out.internet", "AWSDataTransfer", "EU-DataTransfer-Out-Bytes")


def item(sku: str, usagetype: str, *dimensions: tuple[str, str, str, str], **attributes: str) -> dict:
    """One PriceList item: a product and its single on-demand term (unit, begin, end, USD per range)."""
    return {
        "product": {
            "sku": sku,
            "attributes": {"usagetype": usagetype, "regionCode": "eu-west-1", **attributes},
        },
        "serviceCode": "AmazonEC2",
        "publicationDate": "2026-11-20T10:00:00Z",
        "terms": {
            "OnDemand": {
                f"{sku}.JRTCKXETXF": {
                    "sku": sku,
                    "effectiveDate": "2026-11-01T00:00:00Z",
                    "offerTermCode": "JRTCKXETXF",
                    "priceDimensions": {
                        f"{sku}.JRTCKXETXF.{i}": {
                            "unit": unit,
                            "beginRange": begin,
                            "endRange": end,
                            "description": f"{usagetype} range {i}",
                            "pricePerUnit": {"USD": usd},
                        }
                        for i, (unit, begin, end, usd) in enumerate(dimensions)
                    },
                }
            }
        },
    }


def answer(wanted_item: Wanted, *pages: list[dict]) -> dict:
    return {
        "ServiceCode": wanted_item.service,
        "Filters": filters(wanted_item, "eu-west-1"),
        "pages": [{"PriceList": page} for page in pages],
    }


ANSWERS = {
    "source": "test answers in the documented get_products shape",
    "recorded_on": "2026-12-02",
    "answers": [
        # The NAT product is on the second page: the refresh must follow NextToken.
        answer(
            NAT,
            [item("REGIONAL", "EU-RegionalNatGateway-Hours", ("Hrs", "0", "Inf", "0.0480000000"))],
            [item("ZONAL", "EU-NatGateway-Hours", ("Hrs", "0", "Inf", "0.0480000000"))],
        ),
        # Two products answer the same usage type: refused as ambiguous, not guessed.
        answer(
            NLCU,
            [
                item("NLCU-A", "EU-LCUUsage", ("LCU-Hrs", "0", "Inf", "0.006")),
                item("NLCU-B", "EU-LCUUsage", ("LCU-Hrs", "0", "Inf", "0.0")),
            ],
        ),
        answer(
            EGRESS,
            [
                item(
                    "EGRESS",
                    "EU-DataTransfer-Out-Bytes",
                    ("GB", "10240", "51200", "0.085"),
                    ("GB", "0", "10240", "0.09"),
                    ("GB", "51200", "Inf", "0.07"),
                )
            ],
        ),
    ],
}


def test_filters_pin_the_region_the_usage_type_and_the_telling_attributes() -> None:
    assert filters(NLCU, "eu-west-1") == [
        {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "Load Balancer-Network"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
        {"Type": "TERM_MATCH", "Field": "usagetype", "Value": "EU-LCUUsage"},
    ]


def test_replayed_answers_give_sku_effective_date_query_tiers_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(ANSWERS))
    items = [NAT, NLCU, EGRESS, Wanted("kms.key", "awskms", "eu-west-1-KMS-Keys")]
    client, answered = replay_client(load_answers(path), "eu-west-1", items)
    document = refresh(client, "eu-west-1", items, "2026-12-02", answered)
    nat = document["prices"]["nat.hours"]
    assert (nat["sku"], nat["usd"], nat["effective_date"]) == ("ZONAL", 0.048, "2026-11-01T00:00:00Z")
    assert nat["query"] == {"ServiceCode": "AmazonEC2", "Filters": filters(NAT, "eu-west-1")}
    assert document["prices"]["dt.out.internet"]["tiers"] == [
        {"up_to": 10240.0, "usd": 0.09},
        {"up_to": 51200.0, "usd": 0.085},
        {"up_to": None, "usd": 0.07},
    ]
    assert "2 products answer EU-LCUUsage (NLCU-A, NLCU-B)" in document["unavailable"]["elb.nlb.nlcu"]
    assert document["unavailable"]["kms.key"] == "no recorded Price List answer for awskms eu-west-1-KMS-Keys"
    catalog = parse_catalog(document)
    nat_price = catalog.get("nat.hours")
    assert nat_price is not None and nat_price.usd == 0.048
    assert catalog.get("elb.nlb.nlcu") is None


def test_the_wanted_list_covers_the_configured_sizes_and_the_new_charges() -> None:
    keys = {w.key for w in wanted("eu-central-1", {"m6i.large"}, {"db.r6g.2xlarge"}, {"cache.r6g.large"})}
    assert {"ec2.BoxUsage:m6i.large", "rds.postgres.db.r6g.2xlarge.multi-az", "rds.backup"} <= keys
    assert {"elb.nlb.hours", "elb.nlb.nlcu", "dt.regional", "cloudwatch.alarm", "config.items"} <= keys
    prefixes = {w.usage_type.split("-")[0] for w in wanted("eu-central-1", set(), set(), set())}
    assert "EUC1" in prefixes


def test_cost_refresh_replays_answers_into_a_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(ANSWERS))
    out = tmp_path / "aws-prices-eu-west-1.json"
    result = subprocess.run(
        [sys.executable, "-c", "from walletops.cli import main; main()", "cost", "refresh",
         "--region", "eu-west-1", "--answers", str(path), "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 prices" in result.stderr
    document = json.loads(out.read_text())
    assert "replayed from answers.json" in document["sources"]["aws-price-list-api"]
    assert document["prices"]["nat.hours"]["sku"] == "ZONAL"
    bad = subprocess.run(
        [sys.executable, "-c", "from walletops.cli import main; main()",
         "cost", "refresh", "--region", "mars-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "--region 'mars-1': allowed: eu-central-1" in bad.stderr
