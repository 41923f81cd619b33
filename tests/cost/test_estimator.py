"""Golden line items computed by hand from the checked-in snapshot, and the never-silently-zero rule."""

from __future__ import annotations

import json

import pytest
from cost_fixtures import price, resource, small_plan

from contracts.config import UsageConfig
from cost.catalog import catalog_path, load_catalog, parse_catalog


def _lines(report, name, env="dev"):
    return [i for i in report.environments[env].items if i.name == name and not i.free]


def test_eks_standard_cluster_is_ten_cents_an_hour_for_730_hours():
    (line,) = _lines(price(small_plan()), "cluster")
    assert (line.quantity, line.unit, line.unit_price, line.monthly_usd) == (730, "Hrs", 0.10, 73.00)
    assert line.component == "Compute"
    assert line.usage_type == "EU-AmazonEKS-Hours:perCluster"


def test_nat_gateway_hours_and_its_share_of_processed_gb():
    usage = {"dev": UsageConfig(nat_processed_gb=30)}
    hours, processed = _lines(price(small_plan(), usage), "nat-a")
    assert hours.monthly_usd == pytest.approx(0.048 * 730) == 35.04
    assert (processed.quantity, processed.monthly_usd) == (30, 1.44)


def test_multi_az_rds_instance_and_storage_use_the_multi_az_rates():
    instance, storage = _lines(price(small_plan(multi_az=True)), "ledger")
    assert (instance.quantity, instance.unit_price, instance.monthly_usd) == (730, 0.138, 100.74)
    assert "2 x the read Single-AZ rate" in instance.note
    assert (storage.quantity, storage.unit_price, storage.monthly_usd) == (20, 0.254, 5.08)


def test_single_az_rds_instance_and_storage():
    instance, storage = _lines(price(small_plan()), "ledger")
    assert instance.monthly_usd == round(0.069 * 730, 2) == 50.37
    assert storage.monthly_usd == round(20 * 0.127, 2)


def test_node_group_prices_instances_and_the_launch_template_disks():
    instances, disks = _lines(price(small_plan()), "general")
    assert (instances.quantity, instances.monthly_usd) == (2 * 730, round(2 * 730 * 0.0912, 2))
    assert (disks.quantity, disks.unit, disks.monthly_usd) == (100, "GB-Mo", 8.80)


def test_spot_node_group_is_priced_at_the_highest_on_demand_rate_as_an_upper_bound():
    plan = small_plan()
    group = next(r for r in plan["environments"]["dev"]["resources"] if r["name"] == "general")
    group["inputs"].update(capacityType="SPOT", instanceTypes=["t3.large", "m6i.xlarge"])
    instances = _lines(price(plan), "general")[0]
    assert instances.unit_price == 0.214
    assert "upper bound" in instances.note


def test_unknown_types_are_unpriced_with_a_reason_and_known_free_types_are_listed():
    env = price(small_plan()).environments["dev"]
    (unknown,) = [u for u in env.unpriced if u.name == "tgw"]
    assert unknown.reason == "resource type aws:ec2/transitGateway:TransitGateway is not in the cost model"
    free = {i.name: i.note for i in env.items if i.free}
    assert free["node-role"] == "IAM is free"
    assert "node groups" in free["wallet"]
    assert all(not i.free or i.monthly_usd == 0 for i in env.items)


def test_component_resources_are_grouping_only_and_not_listed():
    env = price(small_plan()).environments["dev"]
    listed = {i.name for i in env.items} | {u.name for u in env.unpriced}
    assert not listed & {"network", "compute", "data"}


def test_totals_add_up_by_component_environment_and_overall():
    plan = small_plan()
    plan["environments"]["qa"] = small_plan("qa")["environments"]["qa"]
    report = price(plan)
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
    lines = price(plan, {env: UsageConfig(api_requests_millions=900)}).environments[env].items
    assert [(line.quantity, line.unit_price) for line in lines] == [(333, 3.5), (567, 3.19)]
    assert sum(line.monthly_usd for line in lines) == pytest.approx(333 * 3.5 + 567 * 3.19, abs=0.01)


def test_missing_usage_falls_back_to_model_defaults_and_says_so():
    assert price(small_plan()).environments["dev"].usage_source == "defaults"
    assert price(small_plan(), {"dev": UsageConfig()}).environments["dev"].usage_source == "config"


def test_every_price_in_the_snapshot_cites_a_source_and_a_date():
    catalog = load_catalog("eu-west-1")
    assert len(catalog.prices) >= 25
    for entry in catalog.prices.values():
        assert entry.source in catalog.sources
        assert entry.usd >= 0


def test_ecs_service_is_priced_as_fargate_vcpu_and_memory_hours():
    env = "prod"
    task = resource(
        env, "aws:ecs/taskDefinition:TaskDefinition", "wallet-task", {"cpu": "512", "memory": "1024"}
    )
    service = resource(
        env, "aws:ecs/service:Service", "wallet", {"desiredCount": 3}, dependencies=[task["urn"]]
    )
    plan = {"environments": {env: {"region": "eu-west-1", "resources": [task, service]}}}
    vcpu, memory = _lines(price(plan), "wallet", env)
    assert (vcpu.quantity, vcpu.unit_price, vcpu.monthly_usd) == (1095, 0.04048, 44.33)
    assert (memory.quantity, memory.unit_price, memory.monthly_usd) == (2190, 0.004445, 9.73)


def _single(env: str, typ: str, name: str, inputs: dict, dependencies: list | None = None) -> dict:
    return {
        "environments": {
            env: {
                "region": "eu-west-1",
                "resources": [resource(env, typ, name, inputs, dependencies=dependencies)],
            }
        }
    }


def test_derived_prices_say_so_on_the_line():
    document = json.loads(catalog_path("eu-west-1").read_text(encoding="utf-8"))
    document["prices"]["elasticache.redis.cache.t4g.medium"]["derived"] = "stand-in derivation for this test"
    plan = _single(
        "qa",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "cache",
        {"engine": "redis", "nodeType": "cache.t4g.medium", "numCacheClusters": 2},
    )
    (line,) = _lines(price(plan, catalog=parse_catalog(document)), "cache", "qa")
    assert "derived price: stand-in derivation for this test" in line.note


def test_cache_nodes_use_read_prices_without_a_derived_note():
    plan = _single(
        "prod",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "cache",
        {"engine": "redis", "nodeType": "cache.r6g.xlarge", "numCacheClusters": 3},
    )
    (line,) = _lines(price(plan), "cache", "prod")
    assert (line.quantity, line.unit_price, line.monthly_usd) == (2190, 0.458, round(3 * 730 * 0.458, 2))
    assert "derived" not in line.note
    derived = {key for key, price in load_catalog("eu-west-1").prices.items() if price.derived}
    assert derived == {
        f"rds.postgres.{c}.multi-az"
        for c in ("db.t4g.medium", "db.t4g.large", "db.r6g.large", "db.r6g.xlarge")
    }


def test_r6g_xlarge_is_hourly_rate_times_730_single_and_twice_that_multi_az():
    inputs = {
        "engine": "postgres",
        "instanceClass": "db.r6g.xlarge",
        "allocatedStorage": 500,
        "storageType": "gp3",
    }
    instance, _storage = _lines(
        price(_single("prod", "aws:rds/instance:Instance", "ledger", inputs)), "ledger", "prod"
    )
    assert (instance.quantity, instance.unit_price, instance.monthly_usd) == (730, 0.504, 367.92)
    multi = price(_single("prod", "aws:rds/instance:Instance", "ledger", {**inputs, "multiAz": True}))
    multi_instance, _ = _lines(multi, "ledger", "prod")
    assert (multi_instance.unit_price, multi_instance.monthly_usd) == (1.008, 735.84)
    assert not multi.environments["prod"].unpriced


def test_interface_endpoint_is_charged_per_az_hour():
    plan = _single(
        "dev",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "vpce-kms",
        {"vpcEndpointType": "Interface", "subnetIds": ["subnet-a", "subnet-b", "subnet-c"]},
    )
    (line,) = _lines(price(plan), "vpce-kms")
    assert (line.quantity, line.unit_price, line.monthly_usd) == (3 * 730, 0.011, 24.09)
    assert line.usage_type == "EU-VpcEndpoint-Hours"


def test_internet_egress_splits_across_the_data_transfer_tiers():
    plan = _single("prod", "aws:ec2/internetGateway:InternetGateway", "igw", {})
    lines = _lines(price(plan, {"prod": UsageConfig(data_transfer_out_gb=12_000)}), "igw", "prod")
    assert [(line.quantity, line.unit_price) for line in lines] == [(10240, 0.09), (1760, 0.085)]
    assert sum(line.monthly_usd for line in lines) == pytest.approx(10240 * 0.09 + 1760 * 0.085, abs=0.01)


def test_gp3_iops_and_throughput_above_the_baseline_are_priced_per_node():
    env = "prod"
    template = resource(
        env,
        "aws:ec2/launchTemplate:LaunchTemplate",
        "nodes-lt",
        {
            "blockDeviceMappings": [
                {"ebs": {"volumeSize": 100, "volumeType": "gp3", "iops": 6000, "throughput": 250}}
            ]
        },
    )
    group = resource(
        env,
        "aws:eks/nodeGroup:NodeGroup",
        "general",
        {"instanceTypes": ["m6i.large"], "scalingConfig": {"desiredSize": 2}},
        dependencies=[template["urn"]],
    )
    plan = {"environments": {env: {"region": "eu-west-1", "resources": [template, group]}}}
    _instances, _disks, iops, throughput = _lines(price(plan), "general", env)
    assert (iops.quantity, iops.unit_price, iops.monthly_usd) == (6000, 0.0055, 33.0)
    assert (throughput.quantity, throughput.unit_price, throughput.monthly_usd) == (250, 0.044, 11.0)
