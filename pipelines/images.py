"""Daemonless, hermetic image builds: a Debian base from packages, wheels from the lock, buildah.

No Docker engine and no public image registry are needed:

1. **Base image** — ``mmdebstrap`` makes a minimal Debian bookworm root file system (Python 3.11,
   the libraries the locked wheels link against, the unprivileged ``app`` user) as a tarball with
   a fixed ``SOURCE_DATE_EPOCH``, so the same spec always gives the same bytes. ``buildah`` turns
   it into an image tagged by the spec's hash; the tarball is cached by that hash.
2. **Wheels** — the image requirements (``services-stub/docker/requirements.txt``, hashed pins)
   are downloaded as binary wheels on the host, cached by the file's hash.
3. **Service image** — ``buildah bud`` on a staged context (the service's code, the requirements,
   the wheels), ``--network none`` under runc: the ``RUN`` that installs the wheels has no network
   and no package index, and pip checks every hash.

The same commands run on a CI runner (Debian/Ubuntu packages) and push to ECR instead of the
loopback registry. Storage lives in a folder of our own (``--root``/``--runroot``), never in the
system's container storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

SERVICES: tuple[str, ...] = ("wallet", "roundups", "exchange", "simexchange", "loadtest")
"""The images the build makes (one Dockerfile each under ``services-stub/docker``): the stub
services, and ``loadtest``, the in-cluster Locust image (``infra/loadtest_cluster.py``)."""

DOCKER_DIR = Path("services-stub/docker")
REQUIREMENTS = DOCKER_DIR / "requirements.txt"
TOOLKIT_IMAGES: dict[str, tuple[tuple[str, ...], Path]] = {
    "loadtest": (("contracts", "loadtests"), DOCKER_DIR / "loadtest-requirements.txt"),
}
"""Images of the toolkit rather than of a service: the project packages they copy, their pins."""


def requirements_of(service: str) -> Path:
    """The hashed pins an image installs (relative to the project)."""
    return TOOLKIT_IMAGES[service][1] if service in TOOLKIT_IMAGES else REQUIREMENTS


ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")
"""Explicit limits: runc cannot raise the default nofile limit above the host's hard limit here."""

PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
"""Wheel platforms the base runs (Debian 12: glibc 2.36, x86_64); pip needs every tag spelled out."""

DEBIAN_TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "buildah": "buildah",
    "podman": "podman",
    "skopeo": "skopeo",
    "runc": "runc",
    "docker-registry": "docker-registry",
}
"""Command → Debian package that provides it."""


class ImageError(RuntimeError):
    """A tool of the image path is missing or failed; the message carries its output."""


def missing_tools(names: Sequence[str] = tuple(DEBIAN_TOOLS)) -> list[str]:
    """The Debian packages to install for the image path (empty when every command is present)."""
    return sorted({DEBIAN_TOOLS[name] for name in names if shutil.which(name) is None})


def run_tool(argv: Sequence[str], *, timeout: float = 900, env: Mapping[str, str] | None = None) -> str:
    """Run one tool, return its stdout; a missing binary or a non-zero exit raises :class:`ImageError`."""
    if shutil.which(argv[0]) is None:
        raise ImageError(
            f"{argv[0]} not found; install the Debian package {DEBIAN_TOOLS.get(argv[0], argv[0])} "
            "(scripts/system-packages does)"
        )
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{' '.join(argv[:3])} … failed ({proc.returncode}):\n{tail}")
    return proc.stdout


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class BaseImageSpec:
    """What goes into the base image; its hash names the cached tarball and the image tag.

    ``packages`` are what the services need beyond Debian's essential set: the interpreter, venv
    (pip to install the wheels), CA certificates, ``passwd`` for the service user, and
    ``libstdc++6`` (greenlet's extension links against it).
    """

    suite: str = "bookworm"
    variant: str = "essential"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates", "passwd", "libstdc++6")
    excluded_paths: tuple[str, ...] = (
        "/usr/share/doc/*",
        "/usr/share/man/*",
        "/usr/share/locale/*",
        "/usr/share/info/*",
    )
    uid: int = 10001
    source_date_epoch: int = 1747699200
    """2025-05-20: file times and the service user's password-change date in the image."""

    def key(self) -> str:
        """Stable short hash of every field: equal specs share one cached base."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def image(self) -> str:
        return f"localhost/walletops-base:{self.key()}"

    def mmdebstrap_argv(self, target: Path) -> list[str]:
        """The mmdebstrap command that writes this root file system as a tarball to ``target``."""
        user = (
            f'chroot "$1" groupadd --system --gid {self.uid} app && '
            f'chroot "$1" useradd --system --uid {self.uid} --gid app --home-dir /nonexistent '
            "--no-create-home --shell /usr/sbin/nologin app"
        )
        tidy = 'rm -f "$1"/var/log/lastlog "$1"/var/log/faillog "$1"/etc/*-'
        return [
            "mmdebstrap",
            "--quiet",
            f"--variant={self.variant}",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            f"--include={','.join(self.packages)}",
            *(f"--dpkgopt=path-exclude={path}" for path in self.excluded_paths),
            f"--customize-hook={user}",
            f"--customize-hook={tidy}",
            self.suite,
            str(target),
        ]


@dataclass(frozen=True)
class Storage:
    """A containers-storage of our own: buildah, podman and skopeo all point at the same folders."""

    root: Path
    runroot: Path

    @classmethod
    def under(cls, folder: Path) -> Storage:
        """Storage in ``folder``; the run root (locks, mounts) goes to a short path in the temp folder."""
        tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
        return cls(folder / "storage", Path(tempfile.gettempdir()) / f"walletops-run-{tag}")

    def flags(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "overlay"]

    def buildah(self, *args: str, timeout: float = 900) -> str:
        return run_tool(["buildah", *self.flags(), *args], timeout=timeout)

    def podman(self, *args: str, timeout: float = 300) -> str:
        common = ["--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
        return run_tool(["podman", *self.flags(), *common, *args], timeout=timeout)

    def has_image(self, image: str) -> bool:
        out = self.buildah("images", "--format", "{{.Name}}:{{.Tag}}")
        return image in out.split()

    def image_id(self, image: str) -> str:
        return self.buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", image).strip()


def base_image(storage: Storage, cache: Path, spec: BaseImageSpec | None = None) -> tuple[str, Path]:
    """The base image in ``storage`` (made or imported only when missing) and its cached tarball."""
    spec = spec or BaseImageSpec()
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"base-{spec.key()}.tar"
    if not tarball.exists():
        partial = tarball.with_suffix(".partial.tar")
        partial.unlink(missing_ok=True)
        run_tool(
            spec.mmdebstrap_argv(partial),
            timeout=1800,
            env={"SOURCE_DATE_EPOCH": str(spec.source_date_epoch)},
        )
        partial.rename(tarball)
    image = spec.image()
    if not storage.has_image(image):
        container = storage.buildah("from", "scratch").strip()
        try:
            storage.buildah("add", "--quiet", container, str(tarball), "/")
            storage.buildah(
                "config",
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                '["/usr/bin/python3"]',
                "--label",
                f"org.opencontainers.image.base.name=debian:{spec.suite}",
                "--label",
                f"io.walletops.base.key={spec.key()}",
                container,
            )
            storage.buildah("commit", "--quiet", "--timestamp", str(spec.source_date_epoch), container, image)
        finally:
            storage.buildah("rm", container)
    return image, tarball


def wheels(requirements: Path, cache: Path) -> Path:
    """Binary wheels for every hashed pin of ``requirements``, downloaded once per file content."""
    folder = cache / f"wheels-{sha256_file(requirements)[:16]}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run_tool(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--no-deps",
            "--require-hashes",
            "--python-version",
            "3.11",
            *(arg for tag in PLATFORMS for arg in ("--platform", tag)),
            "--implementation",
            "cp",
            "--dest",
            str(folder),
            "-r",
            str(requirements),
        ],
        timeout=900,
    )
    (folder / ".complete").write_text("")
    return folder


@dataclass(frozen=True)
class BuiltImage:
    """One service image in local storage."""

    service: str
    image: str
    image_id: str


@dataclass
class BuildInputs:
    """Everything one service image is built from."""

    project_dir: Path
    service: str
    base: str
    wheels: Path
    tag: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def dockerfile(self) -> Path:
        return self.project_dir / DOCKER_DIR / f"{self.service}.Dockerfile"


def stage_context(inputs: BuildInputs, folder: Path) -> Path:
    """A build context with only what the Dockerfile copies: the code, the pins, the wheels."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if inputs.service in TOOLKIT_IMAGES:
        folder.mkdir(parents=True, exist_ok=True)
        for package in TOOLKIT_IMAGES[inputs.service][0]:
            shutil.copytree(inputs.project_dir / package, folder / package, ignore=ignore)
    else:
        src = inputs.project_dir / "services-stub" / "walletstubs"
        dst = folder / "services-stub" / "walletstubs"
        dst.mkdir(parents=True)
        shutil.copy2(src / "__init__.py", dst / "__init__.py")
        for package in ("common", inputs.service):
            shutil.copytree(src / package, dst / package, ignore=ignore)
    (folder / DOCKER_DIR).mkdir(parents=True)
    requirements = requirements_of(inputs.service)
    shutil.copy2(inputs.project_dir / requirements, folder / requirements)
    shutil.copy2(inputs.dockerfile, folder / DOCKER_DIR / inputs.dockerfile.name)
    shutil.copytree(inputs.wheels, folder / "wheels", ignore=shutil.ignore_patterns(".complete"))
    return folder


def build(storage: Storage, inputs: BuildInputs, source_date_epoch: int) -> BuiltImage:
    """Build one service image with no network during the build; file times fixed for reproducibility."""
    if not inputs.dockerfile.is_file():
        raise ImageError(f"{inputs.dockerfile}: no Dockerfile for service {inputs.service!r}")
    with tempfile.TemporaryDirectory(prefix=f"walletops-ctx-{inputs.service}-") as tmp:
        context = stage_context(inputs, Path(tmp))
        labels = [arg for item in sorted(inputs.labels.items()) for arg in ("--label", "=".join(item))]
        storage.buildah(
            "bud",
            "--quiet",
            "--isolation",
            "oci",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--layers=false",
            "--format",
            "docker",
            "--timestamp",
            str(source_date_epoch),
            *(arg for limit in ULIMITS for arg in ("--ulimit", limit)),
            "--build-arg",
            f"BASE_IMAGE={inputs.base}",
            *labels,
            "-f",
            str(context / DOCKER_DIR / inputs.dockerfile.name),
            "-t",
            inputs.tag,
            str(context),
            timeout=1800,
        )
    return BuiltImage(inputs.service, inputs.tag, storage.image_id(inputs.tag))
