"""The loopback registry: pushed digests read back, promotion copies keep them, bad digests refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pipelines.images import ImageError
from pipelines.manifest import BuildManifest
from pipelines.registry import LoopbackRegistry, Registry

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("images")]


def test_the_pushed_digest_is_what_the_registry_serves(
    wallet_build: BuildManifest, loopback_registry: Registry
) -> None:
    record = wallet_build.images["wallet"]
    assert loopback_registry.digest(f"{record.repository}:{record.tag}") == record.digest
    assert loopback_registry.digest(record.reference) == record.digest


def test_promotion_copy_keeps_the_digest_in_the_next_repository(
    wallet_build: BuildManifest, loopback_registry: Registry
) -> None:
    digest = wallet_build.images["wallet"].digest
    copied = loopback_registry.copy(digest, "dev", "qa", "wallet", "testbuild")
    assert copied == digest
    assert loopback_registry.digest(f"{loopback_registry.repository('qa', 'wallet')}:testbuild") == digest


def test_a_digest_that_is_not_in_the_source_repository_is_refused(loopback_registry: Registry) -> None:
    with pytest.raises(ImageError):
        loopback_registry.copy("sha256:" + "0" * 64, "dev", "qa", "wallet", "nothing")
    with pytest.raises(ImageError, match="not a sha256 digest"):
        loopback_registry.copy("latest", "dev", "qa", "wallet", "nothing")


def test_registry_listens_on_loopback_only_and_stops(tmp_path: Path) -> None:
    folder = LoopbackRegistry(tmp_path / "registry")
    registry = folder.start()
    assert registry.address.startswith("127.0.0.1:") and registry.loopback
    assert registry.tls_flag() == "--tls-verify=false"
    assert folder.running() == registry
    assert httpx.get(f"http://{registry.address}/v2/", timeout=5).status_code == 200
    assert (tmp_path / "registry" / "config.yml").read_text().count("addr: 127.0.0.1:") == 1
    assert folder.stop() is True
    assert folder.running() is None
    assert not Registry("123456789012.dkr.ecr.eu-west-1.amazonaws.com").loopback
