"""Image registries: Debian's ``docker-registry`` on loopback here, ECR (or any OCI registry) in CI.

Images are addressed as ``<registry>/<environment>/<service>``: each environment has its own
repository, so promotion is a copy of one digest from one repository to the next (``skopeo copy``
of ``repo@sha256:…``) — blobs are mounted, nothing is rebuilt, and the digest cannot change.

:class:`LoopbackRegistry` starts the registry on a free 127.0.0.1 port with its data in a folder of
ours, records its pid and port in that folder (so another process can find or stop it), and stops
it again. TLS is off for loopback only: :class:`Registry` verifies TLS for every other address.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.images import ImageError, Storage, run_tool

DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
LOOPBACK = re.compile(r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$")


@dataclass(frozen=True)
class Registry:
    """Where images go: ``address`` (host[:port]) and whether TLS is verified (loopback: never)."""

    address: str

    @property
    def loopback(self) -> bool:
        return bool(LOOPBACK.match(self.address))

    def tls_flag(self, name: str = "--tls-verify") -> str:
        return f"{name}={'false' if self.loopback else 'true'}"

    def repository(self, env: str, service: str) -> str:
        return f"{self.address}/{env}/{service}"

    def push(self, storage: Storage, image: str, env: str, service: str, tag: str) -> str:
        """Push a local image to ``<env>/<service>:<tag>``; return the digest the registry stored."""
        dest = f"{self.repository(env, service)}:{tag}"
        digest_file = storage.root.parent / f"digest-{env}-{service}"
        storage.buildah(
            "push", "--quiet", self.tls_flag(), "--digestfile", str(digest_file), image, f"docker://{dest}"
        )
        pushed = digest_file.read_text().strip()
        digest_file.unlink()
        stored = self.digest(f"{dest}")
        if stored != pushed:
            raise ImageError(f"{dest}: registry holds {stored}, push reported {pushed}")
        return stored

    def digest(self, reference: str) -> str:
        """The manifest digest the registry serves for ``reference`` (``repo:tag`` or ``repo@digest``)."""
        out = run_tool(
            ["skopeo", "inspect", self.tls_flag(), "--format", "{{.Digest}}", f"docker://{reference}"],
            timeout=120,
        ).strip()
        if not DIGEST.match(out):
            raise ImageError(f"{reference}: unexpected digest {out!r}")
        return out

    def copy(self, digest: str, src_env: str, dst_env: str, service: str, tag: str) -> str:
        """Copy ``<src_env>/<service>@digest`` to ``<dst_env>/<service>:<tag>``; the digest cannot change."""
        if not DIGEST.match(digest):
            raise ImageError(f"{digest!r} is not a sha256 digest")
        src = f"{self.repository(src_env, service)}@{digest}"
        dest = f"{self.repository(dst_env, service)}:{tag}"
        run_tool(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                self.tls_flag("--src-tls-verify"),
                self.tls_flag("--dest-tls-verify"),
                f"docker://{src}",
                f"docker://{dest}",
            ],
            timeout=600,
        )
        copied = self.digest(dest)
        if copied != digest:
            raise ImageError(f"{dest}: copy changed the digest ({digest} → {copied})")
        return copied


CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


class LoopbackRegistry:
    """Debian's ``docker-registry`` on a free loopback port, its data and record under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.record_file = folder / "registry.json"

    def record(self) -> dict[str, int] | None:
        if not self.record_file.exists():
            return None
        data = json.loads(self.record_file.read_text())
        return {"pid": int(data["pid"]), "port": int(data["port"])}

    def running(self) -> Registry | None:
        """The registry started from this folder, when it is still up and answering."""
        record = self.record()
        if record is None or not _alive(record["pid"]):
            return None
        registry = Registry(f"127.0.0.1:{record['port']}")
        return registry if self._answers(registry) else None

    @staticmethod
    def _answers(registry: Registry) -> bool:
        try:
            return httpx.get(f"http://{registry.address}/v2/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 30) -> Registry:
        """Start (or reuse) the registry; raise :class:`ImageError` with its log when it will not answer."""
        existing = self.running()
        if existing is not None:
            return existing
        self.folder.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        config = self.folder / "config.yml"
        config.write_text(CONFIG.format(data=self.folder / "data", port=port))
        log = self.folder / "registry.log"
        binary = "docker-registry"
        run_tool([binary, "--version"], timeout=30)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [binary, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.record_file.write_text(json.dumps({"pid": proc.pid, "port": port}))
        registry = Registry(f"127.0.0.1:{port}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if self._answers(registry):
                return registry
            time.sleep(0.2)
        self.stop()
        raise ImageError(f"docker-registry did not answer on 127.0.0.1:{port}: {log.read_text()[-2000:]}")

    def stop(self, timeout: float = 10) -> bool:
        """Stop the registry started from this folder; True when one was running."""
        record = self.record()
        self.record_file.unlink(missing_ok=True)
        if record is None or not _alive(record["pid"]):
            return False
        os.killpg(record["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(record["pid"]):
            time.sleep(0.1)
        if _alive(record["pid"]):
            os.killpg(record["pid"], signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record["pid"], os.WNOHANG)
        return True
