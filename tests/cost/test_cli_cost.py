"""``walletops cost`` end to end on a hand-written plan: formats, gates, diff, budget, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cost_fixtures import resource, small_plan

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from walletops.cli import main; main()", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    plan = small_plan()
    plan["environments"]["prod"] = small_plan("prod", multi_az=True)["environments"]["prod"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def cost_json(*args: str) -> dict:
    result = run("cost", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_has_the_documented_shape_and_uses_config_usage(plan_file: Path):
    data = cost_json("--plan", str(plan_file))
    assert set(data) == {"currency", "environments", "total_monthly_usd"}
    assert data["currency"] == "USD"
    assert list(data["environments"]) == ["dev", "prod"]
    dev = data["environments"]["dev"]
    assert data["total_monthly_usd"] == pytest.approx(
        dev["monthly_usd"] + data["environments"]["prod"]["monthly_usd"]
    )
    nat_gb = next(i for i in dev["items"] if i["usage_type"] == "EU-NatGateway-Bytes")
    assert nat_gb["quantity"] == 30  # Pulumi.dev.yaml usage.nat_processed_gb
    assert {
        "urn",
        "component",
        "service",
        "usage_type",
        "quantity",
        "unit",
        "unit_price",
        "monthly_usd",
    } <= set(nat_gb)
    assert any(u["name"] == "tgw" for u in dev["unpriced"])


def test_usage_file_overrides_config(plan_file: Path, tmp_path: Path):
    usage = tmp_path / "usage.yaml"
    usage.write_text("dev:\n  nat_processed_gb: 1000\n")
    dev = cost_json("--plan", str(plan_file), "--env", "dev", "--usage", str(usage))["environments"]["dev"]
    nat_gb = next(i for i in dev["items"] if i["usage_type"] == "EU-NatGateway-Bytes")
    assert (nat_gb["quantity"], nat_gb["monthly_usd"]) == (1000, 48.0)


def test_fail_over_is_a_ci_gate(plan_file: Path):
    dev = cost_json("--plan", str(plan_file), "--env", "dev")["environments"]["dev"]["monthly_usd"]
    over = run("cost", "--plan", str(plan_file), "--env", "dev", "--fail-over", str(dev - 1))
    assert over.returncode == 1
    assert "over budget: dev" in over.stderr
    assert run("cost", "--plan", str(plan_file), "--env", "dev", "--fail-over", str(dev + 1)).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "sarif"], "--format sarif: allowed: table, json, md, csv, html"),
        (["--env", "stage"], "no environment stage in it"),
        (["--env", "moon"], "unknown environment"),
        (["--fail-over", "-5"], "--fail-over -5.0: allowed"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(plan_file: Path, args: list[str], message: str):
    result = run("cost", "--plan", str(plan_file), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_usage_key_is_bad_input(plan_file: Path, tmp_path: Path):
    usage = tmp_path / "usage.yaml"
    usage.write_text("nat_gb: 3\n")
    result = run("cost", "--plan", str(plan_file), "--usage", str(usage))
    assert result.returncode == 2
    assert "unknown key(s) nat_gb; allowed: api_requests_millions" in result.stderr


def test_html_loads_plotly_once_for_both_charts(plan_file: Path, tmp_path: Path):
    out = tmp_path / "cost.html"
    assert run("cost", "--plan", str(plan_file), "--format", "html", "--output", str(out)).returncode == 0
    page = out.read_text()
    assert page.count("<script src='plotly.min.js'></script>") == 1
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    assert len(page.encode()) < 200_000  # was 4.9 MB with the library inlined
    assert '"barmode":"stack"' in page and '"barmode":"group"' in page
    assert "EU-AmazonEKS-Hours:perCluster" in page
    standalone = run("cost", "--plan", str(plan_file), "--format", "html").stdout
    from plotly.offline import get_plotlyjs

    library = get_plotlyjs()
    assert standalone.count(library[:400]) == 1 and len(standalone) < len(library) + 200_000


def test_the_table_reads_on_80_columns_grouped_by_resource(plan_file: Path):
    from cost_fixtures import price
    from rich.console import Console

    from contracts.config import load_all
    from cost import report as views

    plan = json.loads(plan_file.read_text())
    report = price(plan, {name: m.usage for name, m in load_all(ROOT, ["dev", "prod"]).items()})
    console = Console(width=80, record=True, color_system=None)
    views.render_tables(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    ledger = next(i for i, line in enumerate(lines) if line.strip().startswith("ledger (Data)"))
    assert "EU-InstanceUsage:db.t4g.medium" in lines[ledger + 1] and "├─" in lines[ledger + 1]
    assert any("└─" in line for line in lines[ledger + 1 : ledger + 5])
    assert "steady state" in text and "first year" in text


def test_csv_and_markdown(plan_file: Path):
    csv = run("cost", "--plan", str(plan_file), "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("environment,urn,name,type,component,service,usage_type")
    assert any(",UNPRICED," in line for line in csv)
    md = run("cost", "--plan", str(plan_file), "--format", "md").stdout
    assert "| dev |" in md
    assert "Not priced:" in md


def test_diff_reports_added_resources_and_agrees_with_the_estimates(plan_file: Path, tmp_path: Path):
    head = json.loads(plan_file.read_text())
    head["environments"]["dev"]["resources"].append(
        resource("dev", "aws:ec2/natGateway:NatGateway", "nat-b", {"subnetId": "subnet-2"})
    )
    head_file = tmp_path / "head.json"
    head_file.write_text(json.dumps(head))
    result = run("cost", "diff", "--base", str(plan_file), "--head", str(head_file), "--format", "json")
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)
    before = cost_json("--plan", str(plan_file))["environments"]["dev"]["monthly_usd"]
    dev = diff["environments"]["dev"]
    assert dev["base_usd"] == before
    assert [a["name"] for a in dev["added"]] == ["nat-b"]
    assert dev["added"][0]["monthly_usd"] == pytest.approx(35.04 + 15 * 0.048, abs=0.01)
    assert [c["name"] for c in dev["changed"]] == ["nat-a"]  # NAT GB now split over two gateways
    assert dev["delta_usd"] == pytest.approx(35.04, abs=0.01)
    md = run("cost", "diff", "--base", str(plan_file), "--head", str(head_file)).stdout
    assert "| added | `nat-b` |" in md


def test_budget_rule_of_thumb_sits_beside_the_estimate(plan_file: Path):
    estimates = cost_json("--plan", str(plan_file))["environments"]
    result = run("cost", "budget", "--plan", str(plan_file), "--factors", "dev=0.25", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["environments"]
    assert rows["prod"]["estimate_usd"] == estimates["prod"]["monthly_usd"]
    assert rows["dev"]["rule_of_thumb_usd"] == round(0.25 * estimates["prod"]["monthly_usd"], 2)
    assert rows["dev"]["difference_usd"] == pytest.approx(
        rows["dev"]["rule_of_thumb_usd"] - estimates["dev"]["monthly_usd"], abs=0.01
    )
    assert rows["dev"]["agrees"] is False


def test_budget_bad_factors_exit_2(plan_file: Path):
    result = run("cost", "budget", "--plan", str(plan_file), "--factors", "qa=lots,moon=1")
    assert result.returncode == 2
    assert "'lots' is not a number" in result.stderr
    assert "'moon=1': expected ENV=FACTOR" in result.stderr


def test_ecs_variant_of_an_eks_environment_is_a_valid_model():
    from contracts.config import ComputeEngine, load_environment
    from walletops.cli_cost import ecs_variant

    stage = load_environment("stage", ROOT)
    variant = ecs_variant(stage)
    assert variant.compute_engine is ComputeEngine.ecs
    assert variant.kubernetes is None
    assert variant.loadtest.in_cluster is False
    assert variant.database == stage.database


def test_engines_and_actuals_refuse_all_environments():
    assert "compare one environment at a time" in run("cost", "engines", "--env", "all").stderr
    assert run("cost", "actuals", "--env", "all").returncode == 2
