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

import pytest

from contracts.errors import UsageProblem
from cost.catalog import catalog_path, parse_catalog
from cost.price_api import (
    Cited,
    RecordedAnswers,
    Wanted,
    filters,
    load_answers,
    refresh,
    replay_client,
    sizes_from_config,
    wanted,
)

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


def _cli_refresh(region: str, answers: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from walletops.cli import main; main()", "cost", "refresh",
         "--region", region, "--answers", str(answers), "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("region", ["eu-west-1", "eu-central-1", "us-east-1"])
def test_each_checked_in_catalog_is_what_refresh_writes_from_its_recorded_file(
    region: str, tmp_path: Path
) -> None:
    recorded = ROOT / "tests" / "cost" / "data" / f"price-list-{region}.json"
    out = tmp_path / f"aws-prices-{region}.json"
    result = _cli_refresh(region, recorded, out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == catalog_path(region).read_text(encoding="utf-8"), (
        f"cost/catalog/aws-prices-{region}.json differs from `walletops cost refresh --region {region} "
        f"--answers {recorded.relative_to(ROOT)}`: regenerate it with that command"
    )
    catalog = parse_catalog(json.loads(out.read_text()))
    for key, price in catalog.prices.items():
        assert price.source in catalog.sources or "://" in price.source, key
    # Every price the configured plans may ask for is priced or says why not.
    keys = {w.key for w in wanted(region, *sizes_from_config(ROOT))}
    assert keys <= set(catalog.prices) | set(catalog.unavailable)


def test_an_api_answer_wins_over_a_cited_rate_and_citations_fill_the_rest() -> None:
    cited = Cited(
        sources={"page": "a pricing page"},
        prices={
            "nat.hours": {"service": "AmazonEC2", "usage_type": "EU-NatGateway-Hours", "unit": "Hrs",
                          "usd": 0.05, "source": "page"},
            "kms.key": {"service": "awskms", "usage_type": "eu-west-1-KMS-Keys", "unit": "Keys",
                        "usd": 1.0, "source": "page", "verified": False},
        },
        unavailable={"egress.other": "no source"},
    )  # fmt: skip
    recorded = RecordedAnswers(answers=list(ANSWERS["answers"]))  # type: ignore[arg-type]
    items = [NAT, Wanted("kms.key", "awskms", "eu-west-1-KMS-Keys")]
    client, answered = replay_client(recorded, "eu-west-1", items)
    document = refresh(client, "eu-west-1", items, "2026-12-02", answered, cited=cited)
    assert document["prices"]["nat.hours"]["sku"] == "ZONAL"
    assert document["prices"]["nat.hours"]["usd"] == 0.048
    assert document["prices"]["kms.key"]["source"] == "page"
    assert document["sources"]["page"] == "a pricing page"
    assert document["unavailable"] == {"egress.other": "no source"}
    kms = parse_catalog(document).get("kms.key")
    assert kms is not None and kms.verified is False


def test_a_cited_rate_without_a_known_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    bad = {"service": "awskms", "usage_type": "eu-west-1-KMS-Keys", "unit": "Keys", "usd": 1.0,
           "source": "hearsay"}  # fmt: skip
    path.write_text(json.dumps({"answers": [], "cited": {"sources": {}, "prices": {"kms.key": bad}}}))
    with pytest.raises(UsageProblem, match=r"cited price 'kms\.key' cites 'hearsay'"):
        load_answers(path)
    del bad["usd"]
    path.write_text(
        json.dumps({"answers": [], "cited": {"sources": {"hearsay": "x"}, "prices": {"kms.key": bad}}})
    )
    with pytest.raises(UsageProblem, match=r"cited price 'kms\.key' lacks usd or tiers"):
        load_answers(path)
