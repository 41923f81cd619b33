"""Golden line items computed by hand from the checked-in snapshot, and the never-silently-zero rule."""

from __future__ import annotations

import pytest
from cost_fixtures import resource, small_plan

from cost.catalog import load_catalog
from cost.estimator import estimate
from infra.config import UsageConfig


def _lines(report, name, env="dev"):
    return [i for i in report.environments[env].items if i.name == name and not i.free]


def test_eks_standard_cluster_is_ten_cents_an_hour_for_730_hours():
    (line,) = _lines(estimate(small_plan()), "cluster")
    assert (line.quantity, line.unit, line.unit_price, line.monthly_usd) == (730, "Hrs", 0.10, 73.00)
    assert line.component == "Compute"
    assert line.usage_type == "EU-AmazonEKS-Hours:perCluster"


def test_nat_gateway_hours_and_its_share_of_processed_gb():
    usage = {"dev": UsageConfig(nat_processed_gb=30)}
    hours, processed = _lines(estimate(small_plan(), usage), "nat-a")
    assert hours.monthly_usd == pytest.approx(0.048 * 730) == 35.04
    assert (processed.quantity, processed.monthly_usd) == (30, 1.44)


def test_multi_az_rds_uses_the_multi_az_storage_rate_and_reports_the_missing_instance_rate():
    report = estimate(small_plan(multi_az=True))
    (storage,) = _lines(report, "ledger")
    assert (storage.quantity, storage.unit_price, storage.monthly_usd) == (20, 0.254, 5.08)
    (missing,) = [u for u in report.environments["dev"].unpriced if u.name == "ledger"]
    assert "rds.postgres.db.t4g.medium.multi-az" in missing.reason


def test_single_az_rds_instance_and_storage():
    instance, storage = _lines(estimate(small_plan()), "ledger")
    assert instance.monthly_usd == round(0.069 * 730, 2) == 50.37
    assert storage.monthly_usd == round(20 * 0.127, 2)


def test_node_group_prices_instances_and_the_launch_template_disks():
    instances, disks = _lines(estimate(small_plan()), "general")
    assert (instances.quantity, instances.monthly_usd) == (2 * 730, round(2 * 730 * 0.0912, 2))
    assert (disks.quantity, disks.unit, disks.monthly_usd) == (100, "GB-Mo", 8.80)


def test_spot_node_group_is_priced_at_the_highest_on_demand_rate_as_an_upper_bound():
    plan = small_plan()
    group = next(r for r in plan["environments"]["dev"]["resources"] if r["name"] == "general")
    group["inputs"].update(capacityType="SPOT", instanceTypes=["t3.large", "m6i.xlarge"])
    instances = _lines(estimate(plan), "general")[0]
    assert instances.unit_price == 0.214
    assert "upper bound" in instances.note


def test_unknown_types_are_unpriced_with_a_reason_and_known_free_types_are_listed():
    env = estimate(small_plan()).environments["dev"]
    (unknown,) = [u for u in env.unpriced if u.name == "tgw"]
    assert unknown.reason == "resource type aws:ec2/transitGateway:TransitGateway is not in the cost model"
    free = {i.name: i.note for i in env.items if i.free}
    assert free["node-role"] == "IAM is free"
    assert "node groups" in free["wallet"]
    assert all(not i.free or i.monthly_usd == 0 for i in env.items)


def test_component_resources_are_grouping_only_and_not_listed():
    env = estimate(small_plan()).environments["dev"]
    listed = {i.name for i in env.items} | {u.name for u in env.unpriced}
    assert not listed & {"network", "compute", "data"}


def test_totals_add_up_by_component_environment_and_overall():
    plan = small_plan()
    plan["environments"]["qa"] = small_plan("qa")["environments"]["qa"]
    report = estimate(plan)
    for env in report.environments.values():
        assert env.monthly_usd == pytest.approx(sum(env.by_component().values()), abs=0.01)
    assert report.total_monthly_usd == pytest.approx(sum(e.monthly_usd for e in report.environments.values()))
    document = report.to_json()
    assert set(document) == {"currency", "environments", "total_monthly_usd"}
    assert set(document["environments"]["qa"]) == {"monthly_usd", "items", "unpriced"}


def test_tiered_api_requests_split_across_tiers():
    env = "prod"
    api = resource(env, "aws:apigateway/restApi:RestApi", "api")
    plan = {"environments": {env: {"region": "eu-west-1", "resources": [api]}}}
    lines = estimate(plan, {env: UsageConfig(api_requests_millions=900)}).environments[env].items
    assert [(line.quantity, line.unit_price) for line in lines] == [(333, 3.5), (567, 3.19)]
    assert sum(line.monthly_usd for line in lines) == pytest.approx(333 * 3.5 + 567 * 3.19, abs=0.01)


def test_missing_usage_falls_back_to_model_defaults_and_says_so():
    assert estimate(small_plan()).environments["dev"].usage_source == "defaults"
    assert estimate(small_plan(), {"dev": UsageConfig()}).environments["dev"].usage_source == "config"


def test_every_price_in_the_snapshot_cites_a_source_and_a_date():
    catalog = load_catalog("eu-west-1")
    assert len(catalog.prices) >= 25
    for price in catalog.prices.values():
        assert price.source in catalog.sources
        assert price.usd >= 0


def test_ecs_service_is_priced_as_fargate_vcpu_and_memory_hours():
    env = "prod"
    task = resource(
        env, "aws:ecs/taskDefinition:TaskDefinition", "wallet-task", {"cpu": "512", "memory": "1024"}
    )
    service = resource(
        env, "aws:ecs/service:Service", "wallet", {"desiredCount": 3}, dependencies=[task["urn"]]
    )
    plan = {"environments": {env: {"region": "eu-west-1", "resources": [task, service]}}}
    vcpu, memory = _lines(estimate(plan), "wallet", env)
    assert (vcpu.quantity, vcpu.unit_price, vcpu.monthly_usd) == (1095, 0.04048, 44.33)
    assert (memory.quantity, memory.unit_price, memory.monthly_usd) == (2190, 0.004445, 9.73)


def test_derived_prices_say_so_on_the_line():
    env = "qa"
    cache = resource(
        env,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "cache",
        {"engine": "redis", "nodeType": "cache.t4g.medium", "numCacheClusters": 2},
    )
    plan = {"environments": {env: {"region": "eu-west-1", "resources": [cache]}}}
    (line,) = _lines(estimate(plan), "cache", env)
    assert (line.quantity, line.unit_price, line.monthly_usd) == (1460, 0.068, 99.28)
    assert "derived price: Valkey rate $0.0544 / 0.8" in line.note
