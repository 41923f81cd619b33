"""Every Elasticsearch request body that render produces is valid against the official API
specification (trimmed extract, source and commit recorded); the validator rejects planted defects."""

from __future__ import annotations

import copy
import json

import pytest
from spec_validator import SpecValidator
from typer.testing import CliRunner

from observability.assets import render
from observability.lifecycle import snapshot_bucket
from walletops.cli_observability import app

VALIDATOR = SpecValidator()


def test_extract_records_its_source() -> None:
    source = VALIDATOR.source
    assert source["repository"] == "elastic/elasticsearch-specification"
    assert len(source["commit"]) == 40 and source["path"].startswith("output/")


@pytest.mark.parametrize("env_name", ["dev", "qa", "stage", "prod"])
def test_every_elasticsearch_body_matches_the_specification(load_env, env_name: str) -> None:
    env = load_env(env_name)
    requests = [r for r in render(env, snapshot_bucket(env, "123456789012")) if r.target == "elasticsearch"]
    assert len(requests) == 14
    problems = {r.key: VALIDATOR.validate(r.method, r.path, r.body) for r in requests}
    assert {key: errors for key, errors in problems.items() if errors} == {}


def test_validator_rejects_unknown_property_wrong_type_missing_required_and_bad_enum(load_env) -> None:
    requests = {}
    for request in render(load_env("prod"), "bucket-name"):
        requests.setdefault(request.kind, request)
    ilm = copy.deepcopy(requests["ilm_policy"].body)
    ilm["policy"]["phases"]["hot"]["actions"]["rollover"]["max_size_gb"] = 5
    ilm["policy"]["phases"]["warm"]["actions"]["forcemerge"]["max_num_segments"] = "one"
    errors = VALIDATOR.validate("PUT", requests["ilm_policy"].path, ilm)
    assert any("unknown property 'max_size_gb'" in e for e in errors)
    assert any("max_num_segments: expected number" in e for e in errors)
    pipeline = copy.deepcopy(requests["ingest_pipeline"].body)
    del next(iter(pipeline["processors"][0].values()))["field"]
    assert any(
        "required property 'field'" in e
        for e in VALIDATOR.validate("PUT", requests["ingest_pipeline"].path, pipeline)
    )
    repo = copy.deepcopy(requests["snapshot_repository"].body)
    repo["type"] = "ftp"
    assert VALIDATOR.validate("PUT", requests["snapshot_repository"].path, repo) != []
    template = copy.deepcopy(requests["component_template"].body)
    template["template"]["mappings"]["properties"]["message"]["typo"] = True
    assert VALIDATOR.validate("PUT", requests["component_template"].path, template) != []
    assert VALIDATOR.validate("PUT", "/_unknown/x", {}) == [
        "PUT /_unknown/x: no such endpoint in the extract"
    ]


def test_the_files_render_writes_for_prod_pass_the_specification(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["render", "--env", "prod", "--account-id", "123456789012", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    written = [json.loads(path.read_text()) for path in sorted((tmp_path / "prod").glob("*.json"))]
    bodies = [request for request in written if request["target"] == "elasticsearch"]
    assert len(bodies) == 14
    assert [VALIDATOR.validate(r["method"], r["path"], r["body"]) for r in bodies] == [[]] * 14
