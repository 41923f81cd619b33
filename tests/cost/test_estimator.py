"""Golden line items computed by hand from the checked-in snapshot, and the never-silently-zero rule."""

from __future__ import annotations

import json

import pytest
from cost_fixtures import price, resource, small_plan

from contracts.config import UsageConfig
from cost.catalog import catalog_path, load_catalog, parse_catalog
from cost.estimator import FREE, PRICERS, UNPRICED, classify


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
    instance, storage, _backup = _lines(price(small_plan(multi_az=True)), "ledger")
    assert (instance.quantity, instance.unit_price, instance.monthly_usd) == (730, 0.138, 100.74)
    assert "2 x the read Single-AZ rate" in instance.note
    assert (storage.quantity, storage.unit_price, storage.monthly_usd) == (20, 0.254, 5.08)


def test_single_az_rds_instance_and_storage():
    instance, storage, _backup = _lines(price(small_plan()), "ledger")
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
    assert set(document["environments"]["qa"]) == {
        "monthly_usd",
        "first_year_monthly_usd",
        "items",
        "unpriced",
    }


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
    read_sizes = ("db.t4g.medium", "db.t4g.large", "db.r6g.large", "db.r6g.xlarge")
    larger = ("2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
    assert derived == (
        {f"rds.postgres.{c}.multi-az" for c in read_sizes}
        | {f"rds.postgres.db.r6g.{s}.{d}" for s in larger for d in ("single-az", "multi-az")}
        | {f"elasticache.redis.cache.r6g.{s}" for s in ("2xlarge", "4xlarge", "8xlarge")}
        | {"eks.cluster.extended"}
    )


def test_an_extended_support_cluster_pays_the_cluster_hour_and_the_surcharge() -> None:
    plan = _single(
        "prod", "aws:eks/cluster:Cluster", "cluster", {"upgradePolicy": {"supportType": "EXTENDED"}}
    )
    lines = _lines(price(plan), "cluster", "prod")
    assert [(line.usage_type, line.monthly_usd) for line in lines] == [
        ("EU-AmazonEKS-Hours:perCluster", 73.0),
        ("EU-AmazonEKS-Hours:extendedSupport", 365.0),
    ]
    # AWS's total for a cluster in extended support: 0.60 USD an hour.
    assert round(sum(line.monthly_usd for line in lines) / 730, 2) == 0.6


def test_every_size_the_capacity_model_can_choose_has_a_price():
    from loadtests.capacity import CACHE_TYPES, RDS_CLASSES

    catalog = load_catalog("eu-west-1")
    for cls in RDS_CLASSES:
        for deployment in ("single-az", "multi-az"):
            assert catalog.get(f"rds.postgres.{cls}.{deployment}") is not None, cls
    for node in CACHE_TYPES:
        assert catalog.get(f"elasticache.redis.{node}") is not None, node


def test_r6g_xlarge_is_hourly_rate_times_730_single_and_twice_that_multi_az():
    inputs = {
        "engine": "postgres",
        "instanceClass": "db.r6g.xlarge",
        "allocatedStorage": 500,
        "storageType": "gp3",
    }
    instance, _storage, *_ = _lines(
        price(_single("prod", "aws:rds/instance:Instance", "ledger", inputs)), "ledger", "prod"
    )
    assert (instance.quantity, instance.unit_price, instance.monthly_usd) == (730, 0.504, 367.92)
    multi = price(_single("prod", "aws:rds/instance:Instance", "ledger", {**inputs, "multiAz": True}))
    multi_instance, *_ = _lines(multi, "ledger", "prod")
    assert (multi_instance.unit_price, multi_instance.monthly_usd) == (1.008, 735.84)
    assert not multi.environments["prod"].unpriced


def test_interface_endpoint_is_charged_per_az_hour():
    plan = _single(
        "dev",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "vpce-kms",
        {"vpcEndpointType": "Interface", "subnetIds": ["subnet-a", "subnet-b", "subnet-c"]},
    )
    line, processed = _lines(price(plan, {"dev": UsageConfig(vpce_processed_gb=40)}), "vpce-kms")
    assert (line.quantity, line.unit_price, line.monthly_usd) == (3 * 730, 0.011, 24.09)
    assert line.usage_type == "EU-VpcEndpoint-Hours"
    assert (processed.usage_type, processed.quantity, processed.monthly_usd) == (
        "EU-VpcEndpoint-Bytes",
        40,
        0.40,
    )


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


def test_a_2557_day_log_group_is_priced_for_its_retention_with_the_first_year_beside_it():
    plan = _single("prod", "aws:cloudwatch/logGroup:LogGroup", "audit-logs", {"retentionInDays": 2557})
    ingest, storage = _lines(price(plan, {"prod": UsageConfig(log_ingest_gb=100)}), "audit-logs", "prod")
    assert ingest.monthly_usd == 57.0
    months = 2557 / (365 / 12)
    assert storage.quantity == pytest.approx(100 * months, abs=0.01)
    assert storage.monthly_usd == round(100 * months * 0.03, 2) == 252.2
    assert storage.first_year_usd == round(100 * 6.0 * 0.03, 2)
    report = price(plan, {"prod": UsageConfig(log_ingest_gb=100)})
    env = report.environments["prod"]
    assert env.monthly_usd == 57.0 + 252.2
    assert env.first_year_monthly_usd == 57.0 + 18.0


def test_short_retention_fills_up_within_the_first_year():
    plan = _single("dev", "aws:cloudwatch/logGroup:LogGroup", "app", {"retentionInDays": 30})
    _ingest, storage = _lines(price(plan, {"dev": UsageConfig(log_ingest_gb=10)}), "app")
    held = 30 / (365 / 12)
    assert storage.quantity == pytest.approx(10 * held, abs=0.001)
    assert storage.first_year_usd == round(10 * (0.5 / 12 + held * 11 / 12) * 0.03, 2)


def test_a_log_group_that_never_expires_is_unpriced_not_capped():
    plan = _single("dev", "aws:cloudwatch/logGroup:LogGroup", "forever", {})
    env = price(plan).environments["dev"]
    (entry,) = env.unpriced
    assert "grows without bound" in entry.reason


def test_network_load_balancer_hour_and_nlcu_from_the_largest_dimension():
    plan = _single("prod", "aws:lb/loadBalancer:LoadBalancer", "nlb", {"loadBalancerType": "network"})
    usage = UsageConfig(lb_processed_gb=730 * 3, lb_new_connections_per_second=800, lb_active_connections=1)
    hours, nlcu = _lines(price(plan, {"prod": usage}), "nlb", "prod")
    assert (hours.usage_type, hours.quantity, hours.unit_price, hours.monthly_usd) == (
        "EU-LoadBalancerUsage",
        730,
        0.0252,
        18.40,
    )
    assert (nlcu.usage_type, nlcu.quantity, nlcu.monthly_usd) == ("EU-LCUUsage", 3 * 730, 13.14)
    assert "processed bytes" in nlcu.note
    assert "rate unverified" in nlcu.note
    busy = UsageConfig(lb_processed_gb=0, lb_new_connections_per_second=1600, lb_active_connections=1)
    _, by_connections = _lines(price(plan, {"prod": busy}), "nlb", "prod")
    assert by_connections.quantity == 2 * 730
    assert "new connections" in by_connections.note


def test_rds_backup_beyond_the_free_allowance_is_retention_times_daily_change():
    inputs = {
        "engine": "postgres",
        "instanceClass": "db.t4g.medium",
        "allocatedStorage": 100,
        "storageType": "gp3",
        "backupRetentionPeriod": 35,
    }
    plan = _single("prod", "aws:rds/instance:Instance", "ledger", inputs)
    lines = _lines(price(plan, {"prod": UsageConfig(db_backup_daily_change_gb=4)}), "ledger", "prod")
    (backup,) = [line for line in lines if line.usage_type == "EU-RDS:ChargedBackupUsage"]
    assert (backup.quantity, backup.unit_price, backup.monthly_usd) == (140, 0.095, 13.30)


def test_cross_az_traffic_is_charged_on_both_sides_on_the_vpc():
    plan = _single("prod", "aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    (line,) = _lines(price(plan, {"prod": UsageConfig(cross_az_gb=500)}), "vpc", "prod")
    assert (line.usage_type, line.quantity, line.monthly_usd) == (
        "EU-DataTransfer-Regional-Bytes",
        1000,
        10.0,
    )


def test_s3_requests_and_alarms_and_config_items_are_priced():
    env = "qa"
    resources = [
        resource(env, "aws:s3/bucket:Bucket", "logs"),
        resource(env, "aws:cloudwatch/metricAlarm:MetricAlarm", "cpu-high", {"metricName": "CPU"}),
        resource(env, "aws:cfg/recorder:Recorder", "recorder"),
    ]
    plan = {"environments": {env: {"region": "eu-west-1", "resources": resources}}}
    usage = UsageConfig(
        s3_storage_gb=0,
        s3_put_requests_thousands=200,
        s3_get_requests_thousands=1000,
        config_items_thousands=2,
    )
    report = price(plan, {env: usage})
    puts, gets = _lines(report, "logs", env)
    assert (puts.quantity, puts.unit, puts.monthly_usd) == (0.2, "1M requests", 1.0)
    assert (gets.quantity, gets.monthly_usd) == (1.0, 0.4)
    (alarm,) = _lines(report, "cpu-high", env)
    assert alarm.monthly_usd == 0.10
    (items,) = _lines(report, "recorder", env)
    assert items.monthly_usd == 6.0


def test_config_rule_evaluations_are_priced_in_the_volume_tiers() -> None:
    env = "prod"
    plan = _single(env, "aws:cfg/rule:Rule", "s3-encrypted", {"source": {"owner": "AWS"}})
    (line,) = _lines(price(plan, {env: UsageConfig(config_items_thousands=5)}), "s3-encrypted", env)
    # 5,000 evaluations in the first tier at 0.001 USD each.
    assert (line.usage_type, line.quantity, line.monthly_usd) == (
        "EU-ConfigRuleEvaluations (tier 1)",
        5000,
        5.0,
    )
    big = _lines(price(plan, {env: UsageConfig(config_items_thousands=600)}), "s3-encrypted", env)
    # 100,000 x 0.001 + 400,000 x 0.0008 + 100,000 x 0.0005
    assert round(sum(line.monthly_usd for line in big), 2) == 470.0


def test_config_rules_share_the_accounts_volume_tiers() -> None:
    env = "prod"
    rules = [resource(env, "aws:cfg/rule:Rule", f"rule-{n}") for n in range(3)]
    plan = {"environments": {env: {"region": "eu-west-1", "resources": rules}}}
    report = price(plan, {env: UsageConfig(config_items_thousands=60)})
    per_rule = [sum(line.monthly_usd for line in _lines(report, f"rule-{n}", env)) for n in range(3)]
    # 180,000 evaluations in all: the first 100,000 at 0.001, the next 80,000 at 0.0008,
    # not 3 x 60,000 at the first tier's 0.001 (180 USD).
    assert round(sum(per_rule), 2) == 164.0
    assert per_rule == [60.0, 40.0 + 16.0, 48.0]


def test_a_plan_in_eu_central_1_is_priced_from_its_own_catalog() -> None:
    env = "dev"
    resources = [
        resource(env, "aws:eks/cluster:Cluster", "cluster", {"upgradePolicy": {"supportType": "STANDARD"}}),
        resource(env, "aws:ec2/natGateway:NatGateway", "nat"),
        resource(env, "aws:cfg/rule:Rule", "rule"),
    ]
    plan = {"environments": {env: {"region": "eu-central-1", "resources": resources}}}
    report = price(plan)
    result = report.environments[env]
    assert result.region == "eu-central-1"
    (cluster,) = _lines(report, "cluster", env)
    assert (cluster.usage_type, cluster.monthly_usd) == ("EUC1-AmazonEKS-Hours:perCluster", 73.0)
    (rule,) = _lines(report, "rule", env)
    assert rule.usage_type.startswith("EUC1-ConfigRuleEvaluations")
    # No eu-central-1 NAT rate could be sourced: the NAT is unpriced with that reason, never eu-west-1's.
    reasons = " | ".join(u.reason for u in result.unpriced if u.name == "nat")
    assert "no eu-central-1 source for AmazonEC2 EUC1-NatGateway-Hours" in reasons
    assert "no eu-central-1 source for AmazonEC2 EUC1-NatGateway-Bytes" in reasons
    assert not _lines(report, "nat", env)
    assert load_catalog("eu-central-1").region == "eu-central-1"


def test_us_east_1_usage_types_have_no_region_code() -> None:
    catalog = load_catalog("us-east-1")
    m6i = catalog.get("ec2.BoxUsage:m6i.large")
    assert m6i is not None and (m6i.usage_type, m6i.usd) == ("BoxUsage:m6i.large", 0.096)


def test_unpriced_types_give_the_catalogs_reason_and_are_never_zero_lines():
    plan = _single("prod", "aws:guardduty/detector:Detector", "guardduty", {"enable": True})
    env = price(plan).environments["prod"]
    assert not env.items
    (entry,) = env.unpriced
    assert "GuardDuty bills per CloudTrail event" in entry.reason
    assert "no eu-west-1 source" in entry.reason


def test_every_type_sits_in_exactly_one_classification_table():
    tables = {"priced": set(PRICERS), "free": set(FREE), "unpriced": set(UNPRICED)}
    for name, types in tables.items():
        for other, other_types in tables.items():
            if name < other:
                assert not types & other_types, f"{name} and {other} both list {types & other_types}"
    assert classify("aws:lb/loadBalancer:LoadBalancer") == "priced"
    assert classify("aws:iam/role:Role") == "free"
    assert classify("kubernetes:helm.sh/v3:Release") == "free"
    assert classify("aws:cfg/rule:Rule") == "priced"
    assert classify("aws:codebuild/project:Project") == "unpriced"
    assert classify("aws:ec2/transitGateway:TransitGateway") is None


def _k8s(env: str, kind: str, name: str, inputs: dict) -> dict:
    return resource(env, kind, name, inputs)


def test_kubernetes_volumes_are_priced_as_ebs_not_free():
    env = "stage"
    gp3 = _k8s(
        env,
        "kubernetes:storage.k8s.io/v1:StorageClass",
        "gp3",
        {"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}},
    )
    claim = _k8s(
        env,
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kibana-data",
        {"spec": {"storageClassName": "gp3", "resources": {"requests": {"storage": "10Gi"}}}},
    )
    stateful = _k8s(
        env,
        "kubernetes:apps/v1:StatefulSet",
        "es-data",
        {
            "spec": {
                "replicas": 3,
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"storageClassName": "gp3", "resources": {"requests": {"storage": "100Gi"}}},
                    }
                ],
            }
        },
    )
    unknown = _k8s(
        env,
        "kubernetes:core/v1:PersistentVolumeClaim",
        "odd",
        {"spec": {"storageClassName": "io2", "resources": {"requests": {"storage": "5Gi"}}}},
    )
    plan = {"environments": {env: {"region": "eu-west-1", "resources": [gp3, claim, stateful, unknown]}}}
    report = price(plan)
    (small,) = _lines(report, "kibana-data", env)
    assert (small.usage_type, small.quantity, small.monthly_usd) == ("EU-EBS:VolumeUsage.gp3", 10, 0.88)
    (data,) = _lines(report, "es-data", env)
    assert (data.quantity, data.monthly_usd) == (300, 26.40)
    unpriced = report.environments[env].unpriced
    assert [u.name for u in unpriced] == ["odd"]
    assert "only gp3 volumes are in the catalog" in unpriced[0].reason
    assert classify("kubernetes:storage.k8s.io/v1:StorageClass") == "free"
    assert classify("kubernetes:apps/v1:StatefulSet") == "priced"
