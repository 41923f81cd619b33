"""Promotion moves the tested digests one environment on, and only when the source passed its gates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.errors import UsageProblem
from pipelines.manifest import BuildManifest, Gate, ImageRecord, Release, Releases
from pipelines.promote import check_promotion, promote
from pipelines.registry import Registry
from pipelines.results import Status

D1, D2 = "sha256:" + "a" * 64, "sha256:" + "b" * 64


class CopyingRegistry(Registry):
    """A registry that records copies (the real copy is exercised in test_registry.py)."""

    def __init__(self) -> None:
        super().__init__("registry.example")
        object.__setattr__(self, "copies", [])

    def copy(self, digest: str, src_env: str, dst_env: str, service: str, tag: str) -> str:
        self.copies.append((digest, src_env, dst_env, service, tag))  # type: ignore[attr-defined]
        return digest


def _manifest() -> BuildManifest:
    images = {
        name: ImageRecord(
            repository=f"registry.example/dev/{name}",
            tag="c1",
            digest=digest,
            sbom="s",
            sbom_sha256="x",
            image_id="i",
        )
        for name, digest in (("wallet", D1), ("roundups", D2))
    }
    return BuildManifest(
        commit="c1",
        created=datetime.now(UTC),
        registry="registry.example",
        environment="dev",
        base_image="b",
        base_key="k",
        images=images,
    )


def _history(env: str, passed: list[Gate], digests: dict[str, str] | None = None) -> Releases:
    history = Releases()
    history.record(
        env,
        Release(
            commit="c1",
            registry="registry.example",
            digests=digests or _manifest().digests(),
            deployed=datetime.now(UTC),
            source="build c1",
            passed=passed,
        ),
    )
    return history


def test_promotion_copies_every_digest_unchanged_to_the_next_environment() -> None:
    registry = CopyingRegistry()
    result = promote(_manifest(), _history("stage", ["smoke", "gate"]), "stage", "prod", registry)
    assert result.status is Status.passed
    assert sorted(registry.copies) == [  # type: ignore[attr-defined]
        (D1, "stage", "prod", "wallet", "c1"),
        (D2, "stage", "prod", "roundups", "c1"),
    ]
    assert result.artefacts["prod wallet"] == f"registry.example/prod/wallet@{D1}"


@pytest.mark.parametrize(
    ("source", "target", "history", "problem"),
    [
        ("dev", "stage", _history("dev", ["smoke"]), "one step at a time"),
        ("prod", "dev", _history("prod", ["smoke"]), "one step at a time"),
        ("qa", "stage", Releases(), "nothing deployed"),
        ("dev", "qa", _history("dev", []), "has not passed smoke"),
        ("stage", "prod", _history("stage", ["smoke"]), "has not passed gate"),
        ("dev", "qa", _history("dev", ["smoke"], {"wallet": D2, "roundups": D2}), "promote what was tested"),
    ],
)
def test_promotion_is_refused_out_of_order_untested_or_of_another_build(
    source: str, target: str, history: Releases, problem: str
) -> None:
    registry = CopyingRegistry()
    with pytest.raises(UsageProblem, match=problem):
        check_promotion(_manifest(), history, source, target)
    with pytest.raises(UsageProblem):
        promote(_manifest(), history, source, target, registry)
    assert registry.copies == []  # type: ignore[attr-defined]
