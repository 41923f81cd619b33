"""SBOMs list what is inside the image: Debian packages and the virtual environment's distributions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from pipelines.manifest import BuildManifest
from pipelines.sbom import SbomError, image_sbom

STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u10

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: python3
Status: install ok installed
Architecture: amd64
Version: 3.11.2-1+b1
"""


def _rootfs(tmp_path: Path) -> Path:
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS)
    site = tmp_path / "opt/venv/lib/python3.11/site-packages/FastAPI-0.165.0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: FastAPI\nVersion: 0.165.0\n")
    return tmp_path


def test_sbom_is_valid_cyclonedx_with_installed_debian_packages_and_python_distributions(
    tmp_path: Path,
) -> None:
    text = image_sbom(
        _rootfs(tmp_path),
        service="wallet",
        version="c1",
        image="i",
        created=datetime.now(UTC),
        digest="sha256:" + "0" * 64,
    )
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    purls = sorted(c["purl"] for c in document["components"])
    assert purls == [
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12",
        "pkg:deb/debian/python3@3.11.2-1%2Bb1?arch=amd64&distro=debian-12",
        "pkg:pypi/fastapi@0.165.0",
    ]
    assert document["metadata"]["component"]["type"] == "container"
    root = document["metadata"]["component"]["bom-ref"]
    assert len(next(d for d in document["dependencies"] if d["ref"] == root)["dependsOn"]) == 3


def test_an_image_without_a_dpkg_database_or_venv_has_no_sbom(tmp_path: Path) -> None:
    with pytest.raises(SbomError, match="dpkg"):
        image_sbom(tmp_path, service="w", version="c", image="i", created=datetime.now(UTC))


@pytest.mark.service
@pytest.mark.xdist_group("images")
def test_the_built_wallet_image_sbom_lists_the_locked_pins(wallet_build: BuildManifest) -> None:
    record = wallet_build.images["wallet"]
    document = json.loads(Path(record.sbom).read_text())
    pypi = {
        c["purl"].removeprefix("pkg:pypi/").split("@")[0]: c["version"]
        for c in document["components"]
        if c["purl"].startswith("pkg:pypi/")
    }
    requirements = (Path(__file__).resolve().parents[2] / "services-stub/docker/requirements.txt").read_text()
    pins = dict(line.split(" ")[0].split("==") for line in requirements.splitlines() if "==" in line)
    assert pypi == {canonicalize_name(name): version for name, version in pins.items()}
    assert any(c["name"] == "libstdc++6" for c in document["components"])
    assert {p["value"] for p in document["metadata"]["component"]["properties"]} >= {record.digest}
