"""Prices of what observability adds: Elasticsearch data volumes, alarms, OpenSearch (unpriced, said why)."""

from __future__ import annotations

from typing import Any

from cost_fixtures import price, resource


def _plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": 1,
        "environments": {"prod": {"region": "eu-west-1", "resources": list(resources), "outputs": {}}},
    }


GP3_CLASS = resource(
    "prod",
    "kubernetes:storage.k8s.io/v1:StorageClass",
    "gp3-encrypted",
    {
        "metadata": {"name": "gp3-encrypted"},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
    },
)


def _es(node_sets: list[dict[str, Any]]) -> dict[str, Any]:
    return resource(
        "prod",
        "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
        "elasticsearch",
        {"spec": {"nodeSets": node_sets}},
    )


def test_elasticsearch_volumes_are_gp3_gib_per_node() -> None:
    claim = {"spec": {"storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "500Gi"}}}}
    es = _es([{"name": "default", "count": 3, "volumeClaimTemplates": [claim]}])
    report = price(_plan(GP3_CLASS, es))
    (line,) = [i for i in report.environments["prod"].items if i.name == "elasticsearch"]
    assert (line.usage_type, line.quantity, line.unit_price) == ("EU-EBS:VolumeUsage.gp3", 1500, 0.088)
    assert line.monthly_usd == 132.0
    assert "Elasticsearch node set default: 3 x 500 GB gp3" in line.note


def test_elasticsearch_volumes_on_a_class_the_plan_lacks_are_unpriced() -> None:
    claim = {"spec": {"storageClassName": "io2-fast", "resources": {"requests": {"storage": "500Gi"}}}}
    env = price(_plan(GP3_CLASS, _es([{"name": "hot", "count": 3, "volumeClaimTemplates": [claim]}])))
    assert not [i for i in env.environments["prod"].items if i.name == "elasticsearch"]
    assert "storage class io2-fast is not an EBS gp3 class" in env.environments["prod"].unpriced[0].reason


def test_a_terabyte_claim_is_1024_gib() -> None:
    claim = {"spec": {"storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "1Ti"}}}}
    report = price(_plan(GP3_CLASS, _es([{"name": "hot", "count": 1, "volumeClaimTemplates": [claim]}])))
    (line,) = [i for i in report.environments["prod"].items if i.name == "elasticsearch"]
    assert line.quantity == 1024


def test_each_alarm_is_one_standard_alarm_month() -> None:
    alarms = [resource("prod", "aws:cloudwatch/metricAlarm:MetricAlarm", f"alarm-{n}") for n in range(3)]
    env = price(_plan(*alarms)).environments["prod"]
    assert [(i.usage_type, i.quantity, i.monthly_usd) for i in env.items] == [
        ("EU-CW:AlarmMonitorUsage", 1, 0.1)
    ] * 3
    assert env.monthly_usd == 0.3


def test_opensearch_without_a_catalog_price_is_unpriced_with_the_reason() -> None:
    domain = resource(
        "prod",
        "aws:opensearch/domain:Domain",
        "opensearch",
        {
            "clusterConfig": {"instanceType": "r6g.large.search", "instanceCount": 3},
            "ebsOptions": {"volumeSize": 100},
        },
    )
    env = price(_plan(domain)).environments["prod"]
    assert not env.items
    reasons = sorted(u.reason for u in env.unpriced)
    assert reasons[0].startswith("opensearch.gp3.storage: no public eu-west-1 source")
    assert reasons[1].startswith("opensearch.instance:r6g.large.search: no public eu-west-1 source")
