"""Build manifests and release history: what deploy, promote and rollback rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.errors import UsageProblem
from pipelines.manifest import BuildManifest, ImageRecord, Release, Releases, next_environment

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def _release(commit: str, digest: str) -> Release:
    return Release(
        commit=commit, registry="r", digests={"wallet": digest}, deployed=datetime.now(UTC), source="t"
    )


def test_manifest_round_trips_and_lists_digests_by_service(tmp_path: Path) -> None:
    record = ImageRecord(
        repository="r/dev/wallet", tag="c1", digest=D1, sbom="s", sbom_sha256="x", image_id="i"
    )
    manifest = BuildManifest(
        commit="c1",
        created=datetime.now(UTC),
        registry="r",
        environment="dev",
        base_image="b",
        base_key="k",
        images={"wallet": record},
    )
    manifest.write(tmp_path / "m.json")
    again = BuildManifest.read(tmp_path / "m.json")
    assert again == manifest
    assert again.digests() == {"wallet": D1}
    assert record.reference == f"r/dev/wallet@{D1}"


def test_a_missing_or_malformed_manifest_is_a_usage_problem_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match="no such file"):
        BuildManifest.read(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text('{"commit": "c", "images": {"wallet": {"digest": "latest"}}}')
    with pytest.raises(UsageProblem) as problem:
        BuildManifest.read(tmp_path / "bad.json")
    assert any("bad.json" in line and "digest" in line for line in problem.value.problems)


def test_rollback_target_is_the_last_release_with_other_digests(tmp_path: Path) -> None:
    history = Releases()
    assert history.previous("dev") is None
    history.record("dev", _release("a", D1))
    history.record("dev", _release("b", D2))
    history.record("dev", _release("b", D2))
    previous = history.previous("dev")
    assert previous is not None and previous.commit == "a"
    history.mark_passed("dev", "smoke")
    history.mark_passed("dev", "smoke")
    history.save(tmp_path / "r.json")
    current = Releases.load(tmp_path / "r.json").current("dev")
    assert current is not None and current.passed == ["smoke"]


def test_gates_cannot_be_marked_where_nothing_was_deployed() -> None:
    with pytest.raises(UsageProblem, match="nothing deployed"):
        Releases().mark_passed("qa", "smoke")


def test_promotion_order_is_dev_qa_stage_prod() -> None:
    assert [next_environment(env) for env in ("dev", "qa", "stage", "prod")] == ["qa", "stage", "prod", None]
