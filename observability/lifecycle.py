"""Index lifecycle (ILM) per data stream, the S3 snapshot repository and the nightly SLM policy.

hot (rollover by primary shard size or age) → warm (force-merged; audit also read-only) → delete.
No cold or frozen phase: whatever is kept stays searchable on hot or warm nodes, so audit data
(≥ 365 days, PCI DSS 10.5.1) has its last 90 days — indeed all of it — immediately searchable.
"""

from __future__ import annotations

import re
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.errors import UsageProblem
from observability.streams import Stream

REPOSITORY = "walletops-snapshots"
SLM_POLICY = "walletops-nightly"
ROLLOVER_SHARD_SIZE = "50gb"
SNAPSHOT_PURPOSE = "es-snapshots"
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


def ilm_policy(stream: Stream) -> dict[str, Any]:
    """The ILM policy body of ``stream``: rollover at 50 GB per primary shard or a few days, warm after
    a quarter of the retention (at most 30 days), deleted ``retention_days`` after rollover."""
    days = stream.retention_days
    warm_actions: dict[str, Any] = {
        "set_priority": {"priority": 50},
        "forcemerge": {"max_num_segments": 1},
    }
    if stream.kind == "audit":
        warm_actions["readonly"] = {}
    return {
        "policy": {
            "_meta": {"managed_by": "walletops", "stream": stream.name},
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {
                        "rollover": {
                            "max_primary_shard_size": ROLLOVER_SHARD_SIZE,
                            "max_age": f"{min(7, max(1, days // 4))}d",
                        },
                        "set_priority": {"priority": 100},
                    },
                },
                "warm": {"min_age": f"{min(30, max(1, days // 4))}d", "actions": warm_actions},
                "delete": {
                    "min_age": f"{days}d",
                    "actions": {"delete": {"delete_searchable_snapshot": True}},
                },
            },
        }
    }


def snapshot_bucket(env: EnvironmentConfig, account_id: str) -> str:
    """The snapshot bucket's name as the Pulumi program makes bucket names:
    ``<prefix>-es-snapshots-<account>-<region>`` (S3 names are global)."""
    if not ACCOUNT_ID.match(account_id):
        raise UsageProblem(f"--account-id {account_id!r}: an AWS account id is 12 digits")
    name = f"{env.prefix}-{SNAPSHOT_PURPOSE}-{account_id}-{env.region}"
    if len(name) > 63:
        raise UsageProblem(f"snapshot bucket name {name!r} is longer than S3's 63 characters")
    return name


def repository(env: EnvironmentConfig, bucket: str) -> dict[str, Any]:
    """The S3 snapshot repository; Elasticsearch reaches the bucket with its pods' IRSA role, so no
    keys are stored in the keystore."""
    return {
        "type": "s3",
        "settings": {"bucket": bucket, "base_path": f"elasticsearch/{env.name}", "compress": True},
    }


def slm_policy(env: EnvironmentConfig) -> dict[str, Any]:
    """Nightly snapshot of every walletops data stream, kept 30 days (5 to 60 snapshots)."""
    return {
        "name": f"<walletops-{env.name}-{{now/d}}>",
        "schedule": "0 30 1 * * ?",
        "repository": REPOSITORY,
        "config": {"indices": ["logs-walletops.*"], "include_global_state": False},
        "retention": {"expire_after": "30d", "min_count": 5, "max_count": 60},
    }
