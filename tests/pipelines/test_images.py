"""Image builds: the base spec, the staged context, and a real hermetic build of the wallet image."""

from __future__ import annotations

import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipelines.images import REQUIREMENTS, BaseImageSpec, BuildInputs, stage_context, wheels
from pipelines.manifest import BuildManifest
from pipelines.workspace import Workspace, cache_dir

ROOT = Path(__file__).resolve().parents[2]


def test_base_key_follows_every_input_and_names_the_image() -> None:
    spec = BaseImageSpec()
    assert spec.key() == BaseImageSpec().key()
    assert spec.key() != BaseImageSpec(packages=(*spec.packages, "curl")).key()
    assert spec.key() != BaseImageSpec(source_date_epoch=spec.source_date_epoch + 1).key()
    assert spec.image() == f"localhost/walletops-base:{spec.key()}"


def test_base_is_minimal_debian_with_the_service_user_and_what_the_wheels_link_against() -> None:
    argv = BaseImageSpec().mmdebstrap_argv(Path("/tmp/base.tar"))
    assert argv[0] == "mmdebstrap" and argv[-2:] == ["bookworm", "/tmp/base.tar"]
    assert "--variant=essential" in argv
    assert "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr" in argv  # else usrmerge pulls in perl
    included = next(a for a in argv if a.startswith("--include=")).removeprefix("--include=").split(",")
    assert {"python3", "python3-venv", "libstdc++6", "ca-certificates"} <= set(included)
    assert any("useradd --system --uid 10001" in a for a in argv)


def test_context_holds_only_the_service_its_common_code_the_pins_and_the_wheels(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    (wheel_dir / "x-1-py3-none-any.whl").write_bytes(b"wheel")
    (wheel_dir / ".complete").write_text("")
    context = stage_context(BuildInputs(ROOT, "roundups", "base", wheel_dir, "t"), tmp_path / "ctx")
    packages = {p.name for p in (context / "services-stub" / "walletstubs").iterdir()}
    assert packages == {"__init__.py", "common", "roundups"}
    assert not list(context.rglob("__pycache__"))
    assert (context / REQUIREMENTS).read_text() == (ROOT / REQUIREMENTS).read_text()
    assert [p.name for p in (context / "wheels").iterdir()] == ["x-1-py3-none-any.whl"]
    assert (context / "services-stub" / "docker" / "roundups.Dockerfile").exists()


def test_the_loadtest_context_holds_the_toolkit_packages_and_their_own_pins(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    (wheel_dir / "locust-1-py3-none-any.whl").write_bytes(b"wheel")
    context = stage_context(BuildInputs(ROOT, "loadtest", "base", wheel_dir, "t"), tmp_path / "ctx")
    assert {p.name for p in context.iterdir()} == {"contracts", "loadtests", "services-stub", "wheels"}
    assert (context / "loadtests" / "locustfile.py").is_file() and not list(context.rglob("__pycache__"))
    pins = context / "services-stub" / "docker" / "loadtest-requirements.txt"
    assert pins.read_text() == (ROOT / "services-stub" / "docker" / "loadtest-requirements.txt").read_text()
    assert (context / "services-stub" / "docker" / "loadtest.Dockerfile").exists()


@pytest.mark.service
@pytest.mark.xdist_group("images")
def test_every_library_a_locked_wheel_links_against_is_in_the_base(image_workspace: Workspace) -> None:
    """greenlet (SQLAlchemy's asyncio) needs libstdc++: a base without it builds, then fails at import."""
    from pipelines.images import base_image

    _, tarball = base_image(image_workspace.storage, image_workspace.cache)
    with tarfile.open(tarball) as tar:
        names = {Path(member.name).name for member in tar.getmembers()}
    needed: set[str] = set()
    for wheel in wheels(ROOT / REQUIREMENTS, cache_dir() / "images").glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if ".so" in Path(member).name and ".libs/" not in member:
                    target = image_workspace.state / "so" / wheel.name / member
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))
                    out = subprocess.run(
                        ["readelf", "-d", str(target)], capture_output=True, text=True, check=True
                    ).stdout
                    needed |= {
                        line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line
                    }
    assert "libstdc++.so.6" in needed
    assert needed <= names, sorted(needed - names)


@pytest.mark.service
@pytest.mark.xdist_group("images")
def test_wallet_image_is_built_without_network_pushed_and_described(wallet_build: BuildManifest) -> None:
    record = wallet_build.images["wallet"]
    assert record.repository.endswith("/dev/wallet") and record.tag == "testbuild"
    assert record.digest.startswith("sha256:") and len(record.digest) == 71
    assert Path(record.sbom).is_file()
    assert wallet_build.base_image == BaseImageSpec().image()
