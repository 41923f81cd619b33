"""CycloneDX 1.6 software bill of materials of a built image, read from the image's own files.

The SBOM lists what is really inside the image, not what a lock file intended: the Debian packages
from the image's dpkg database (``pkg:deb/debian/…``) and the Python distributions installed in its
virtual environment (``pkg:pypi/…``), with the service itself as the metadata component. The
document is checked against the CycloneDX JSON schema before it is written.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from packaging.utils import canonicalize_name

VENV_SITE = Path("opt/venv/lib/python3.11/site-packages")
DPKG_STATUS = Path("var/lib/dpkg/status")


class SbomError(RuntimeError):
    """The image's file system lacks what an SBOM is read from, or the document is invalid."""


def debian_packages(rootfs: Path) -> Iterator[tuple[str, str, str]]:
    """``(name, version, architecture)`` of every installed package in the image's dpkg database."""
    status = rootfs / DPKG_STATUS
    if not status.is_file():
        raise SbomError(f"{status}: no dpkg database in the image")
    for stanza in status.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and "installed" in fields.get("Status", "").split():
            yield fields["Package"], fields["Version"], fields.get("Architecture", "all")


def python_distributions(rootfs: Path) -> Iterator[tuple[str, str]]:
    """``(name, version)`` of every distribution installed in the image's virtual environment."""
    site = rootfs / VENV_SITE
    if not site.is_dir():
        raise SbomError(f"{site}: no virtual environment in the image")
    seen: set[str] = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen.add(name.lower())
            yield name, dist.version


def image_sbom(
    rootfs: Path, *, service: str, version: str, image: str, created: datetime, digest: str | None = None
) -> str:
    """The CycloneDX 1.6 JSON document for the image whose root file system is mounted at ``rootfs``."""
    bom = Bom()
    bom.metadata.timestamp = created
    properties = [Property(name="walletops:image", value=image)]
    if digest:
        properties.append(Property(name="walletops:digest", value=digest))
    root = Component(
        name=service,
        version=version,
        type=ComponentType.CONTAINER,
        bom_ref=f"image:{service}",
        properties=properties,
    )
    bom.metadata.component = root
    for name, pkg_version, arch in sorted(debian_packages(rootfs)):
        purl = PackageURL("deb", "debian", name, pkg_version, {"arch": arch, "distro": "debian-12"})
        bom.components.add(Component(name=name, version=pkg_version, purl=purl, bom_ref=str(purl)))
    for name, dist_version in sorted(python_distributions(rootfs)):
        purl = PackageURL("pypi", None, canonicalize_name(name), dist_version)
        bom.components.add(Component(name=name, version=dist_version, purl=purl, bom_ref=str(purl)))
    bom.register_dependency(root, bom.components)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SbomError(f"CycloneDX document for {service} is invalid: {error}")
    return text + "\n"
