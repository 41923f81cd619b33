"""Retention per config, the PCI DSS floor for audit, the snapshot bucket named as the program names it."""

from __future__ import annotations

import pytest

from contracts.errors import UsageProblem
from infra.logging import bucket_name
from observability.lifecycle import SNAPSHOT_PURPOSE, ilm_policy, snapshot_bucket
from observability.streams import streams


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_retention_follows_config_and_audit_keeps_a_year_searchable(load_env, env_name: str) -> None:
    env = load_env(env_name)
    by_kind = {stream.kind: ilm_policy(stream)["policy"]["phases"] for stream in streams(env)}
    assert by_kind["service"]["delete"]["min_age"] == f"{env.logging.app_retention_days}d"
    assert by_kind["access"]["delete"]["min_age"] == f"{env.logging.access_retention_days}d"
    audit = by_kind["audit"]
    assert int(audit["delete"]["min_age"].removesuffix("d")) >= 365
    assert set(audit) == {"hot", "warm", "delete"}
    assert "readonly" in audit["warm"]["actions"]
    assert audit["hot"]["actions"]["rollover"]["max_primary_shard_size"] == "50gb"


def test_snapshot_bucket_is_named_like_the_programs_buckets(load_env) -> None:
    env = load_env("prod")
    assert snapshot_bucket(env, "123456789012") == bucket_name(
        env.prefix, SNAPSHOT_PURPOSE, "123456789012", env.region
    )
    with pytest.raises(UsageProblem, match="12 digits"):
        snapshot_bucket(env, "12345")
