"""Kubernetes schema scanner: a valid manifest passes, a planted schema error is named, versions."""

from __future__ import annotations

import pytest
from scanner_worlds import deployment, graph

from contracts.errors import UsageProblem
from infra.policy.scanners.kubernetes import (
    CHECK_KIND,
    CHECK_SCHEMA,
    scan,
    shipped_versions,
    validate_manifest,
)


def test_the_cluster_version_of_the_config_is_shipped() -> None:
    assert "1.35" in shipped_versions()


def test_a_valid_manifest_passes_the_strict_schema() -> None:
    [check] = scan(graph(deployment()), {"dev": "1.35"})
    assert check.passed and check.rule_id == f"kubernetes:{CHECK_SCHEMA}"
    assert check.subject == "Deployment wallet/app" and check.urn.endswith("::app")


def test_a_planted_schema_error_is_reported_with_its_path() -> None:
    broken = deployment()
    broken["inputs"]["spec"]["replicas"] = "two"
    [check] = scan(graph(broken), {"dev": "1.35"})
    assert not check.passed and check.check_id == CHECK_SCHEMA
    assert "spec.replicas" in check.message


def test_an_unknown_field_fails_strict_validation() -> None:
    [check] = scan(graph(deployment(privilegedd=True)), {"dev": "1.35"})
    assert not check.passed and "privilegedd" in check.message


def test_a_kind_without_schema_is_its_own_finding() -> None:
    custom = deployment()
    custom["type"] = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
    [check] = scan(graph(custom), {"dev": "1.35"})
    assert not check.passed and check.check_id == CHECK_KIND


def test_a_version_without_schemas_is_a_usage_error_not_a_silent_fallback() -> None:
    with pytest.raises(UsageProblem, match=r"1\.20.*shipped"):
        scan(graph(deployment()), {"dev": "1.20"})
    with pytest.raises(UsageProblem, match=r"kubernetes\.version"):
        scan(graph(deployment()), {})


def test_schema_messages_never_quote_the_value() -> None:
    """A Secret's stringData with an object instead of a string: the finding must not print it."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cache", "namespace": "wallet"},
        "stringData": {"value": {"url": "rediss://user:hunter2-password@cache:6379"}},
    }
    check_id, message = validate_manifest(secret, "1.35") or ("", "")
    assert check_id == CHECK_SCHEMA
    assert message.startswith("stringData.value:") and "string" in message
    assert "hunter2" not in message
