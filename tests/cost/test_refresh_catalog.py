"""The snapshot refresh, offline: a tiny offer file in AWS's bulk format goes in, catalog entries come out."""

from __future__ import annotations

from cost.catalog import parse_catalog
from cost.refresh_catalog import OFFER_URL, build_snapshot, extract, wanted

URL = OFFER_URL.format(service="AmazonEC2", region="eu-west-1")


def product(sku: str, **attributes: str) -> dict:
    return {
        "sku": sku,
        "productFamily": attributes.pop("family", "Compute Instance"),
        "attributes": attributes,
    }


def on_demand(sku: str, *dimensions: tuple[str, str, str, str]) -> dict:
    return {
        f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF",
            "sku": sku,
            "priceDimensions": {
                f"{sku}.JRTCKXETXF.{i}": {
                    "unit": unit,
                    "beginRange": begin,
                    "endRange": end,
                    "pricePerUnit": {"USD": usd},
                }
                for i, (unit, begin, end, usd) in enumerate(dimensions)
            },
        }
    }


LINUX = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
OFFER = {
    "formatVersion": "v1.0",
    "offerCode": "AmazonEC2",
    "publicationDate": "2026-11-20T10:00:00Z",
    "products": {
        "WIN": product("WIN", usagetype="EU-BoxUsage:t3.large", **{**LINUX, "operatingSystem": "Windows"}),
        "LIN": product("LIN", usagetype="EU-BoxUsage:t3.large", **LINUX),
        "RES": product(
            "RES",
            usagetype="EU-BoxUsage:t3.large",
            **{**LINUX, "capacitystatus": "UnusedCapacityReservation"},
        ),
        "NAT": product("NAT", usagetype="EU-NatGateway-Hours", family="NAT Gateway"),
        "OTHER": product("OTHER", usagetype="EU-BoxUsage:c7i.large", **LINUX),
    },
    "terms": {
        "OnDemand": {
            "WIN": on_demand("WIN", ("Hrs", "0", "Inf", "0.1280000000")),
            "LIN": on_demand("LIN", ("Hrs", "0", "Inf", "0.0912000000")),
            "RES": on_demand("RES", ("Hrs", "0", "Inf", "0.0912000000")),
            "NAT": on_demand("NAT", ("Hrs", "0", "Inf", "0.0480000000")),
            "OTHER": on_demand("OTHER", ("Hrs", "0", "Inf", "0.1000000000")),
        },
        "Reserved": {},
    },
}


def test_extract_keeps_the_linux_shared_on_demand_rate_and_records_source_and_date():
    items = wanted("eu-west-1", {"t3.large"}, set(), set())
    found = extract(OFFER, [i for i in items if i.service == "AmazonEC2"], URL, "2026-11-25")
    assert found["ec2.BoxUsage:t3.large"]["usd"] == 0.0912
    assert found["ec2.BoxUsage:t3.large"]["source"] == URL
    assert found["ec2.BoxUsage:t3.large"]["source_date"] == "2026-11-20"
    assert found["nat.hours"]["usd"] == 0.048
    assert "ec2.BoxUsage:c7i.large" not in found


def test_tiered_dimensions_become_tiers():
    offer = {
        "publicationDate": "2026-11-01T00:00:00Z",
        "products": {"API": product("API", usagetype="EU-ApiGatewayRequest", family="API Calls")},
        "terms": {
            "OnDemand": {
                "API": on_demand(
                    "API",
                    ("Requests", "333000000", "Inf", "0.0000031900"),
                    ("Requests", "0", "333000000", "0.0000035000"),
                )
            }
        },
    }
    items = [i for i in wanted("eu-west-1", set(), set(), set()) if i.key == "apigw.rest.requests"]
    entry = extract(offer, items, "u", "2026-11-25")["apigw.rest.requests"]
    assert entry["tiers"] == [{"up_to": 333000000.0, "usd": 0.0000035}, {"up_to": None, "usd": 0.00000319}]


def test_gp3_throughput_published_per_gibps_month_is_stored_per_mibps_month():
    offer = {
        "publicationDate": "2026-11-01T00:00:00Z",
        "products": {
            "TP": product("TP", usagetype="EU-EBS:VolumeP-Throughput.gp3", family="Provisioned Throughput")
        },
        "terms": {"OnDemand": {"TP": on_demand("TP", ("GiBps-mo", "0", "Inf", "45.0560000000"))}},
    }
    items = [i for i in wanted("eu-west-1", set(), set(), set()) if i.key == "ebs.gp3.throughput"]
    entry = extract(offer, items, "u", "2026-11-25")["ebs.gp3.throughput"]
    assert (entry["unit"], entry["usd"]) == ("MiBps-Mo", 0.044)


def test_snapshot_lists_what_it_could_not_find_and_parses_as_a_catalog():
    items = wanted("eu-west-1", {"t3.large"}, {"db.t4g.medium"}, set())
    document = build_snapshot("eu-west-1", {"AmazonEC2": (URL, OFFER)}, items, "2026-11-25")
    assert "ec2.BoxUsage:t3.large" in document["prices"]
    assert (
        "no on-demand product with usagetype EU-EBS:VolumeUsage.gp3"
        in document["unavailable"]["ebs.gp3.storage"]
    )
    assert (
        document["unavailable"]["rds.postgres.db.t4g.medium.single-az"]
        == "the AmazonRDS offer file was not read"
    )
    catalog = parse_catalog(document)
    assert catalog.prices["nat.hours"].usd == 0.048
    assert catalog.missing_reason("kms.key") == "the awskms offer file was not read"
