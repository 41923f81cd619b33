"""Run nginx from Debian's package for the real local stack: loopback, unprivileged, state-dir only.

nginx runs in the foreground (``daemon off``) as the service account with every path -- pid, logs,
temp folders, config -- under its folder of the stack's state, so it needs no root and touches
nothing of the system nginx. ``stop`` works from another process through the pid file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from walletstubs.gateway.nginx import NginxPaths
from walletstubs.localstack.processes import alive, stop_group
from walletstubs.localstack.users import RunAs, service_account

NGINX_CANDIDATES = ("/usr/sbin/nginx",)
INSTALL_HINT = "install it with scripts/system-packages (as root)"


class NginxError(RuntimeError):
    """nginx is missing, its config is invalid, or it did not start or stop."""


def nginx_binary() -> str:
    """Path of the nginx binary; raises with the install hint when it is missing."""
    found = shutil.which("nginx") or next((c for c in NGINX_CANDIDATES if os.access(c, os.X_OK)), None)
    if found is None:
        raise NginxError(f"nginx not found; {INSTALL_HINT}")
    return found


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"
    except FileNotFoundError:
        return "(no log written)"


class NginxServer:
    """nginx serving ``conf_text`` (and its token verifier ``script_text``) on ``127.0.0.1:port`` from
    the folder ``root``."""

    def __init__(
        self, root: Path, conf_text: str, port: int, run_as: RunAs | None = None, *, script_text: str
    ) -> None:
        self.paths = NginxPaths(Path(root))
        self.conf_text = conf_text
        self.script_text = script_text
        self.port = port
        self.run_as = run_as or service_account()

    def _argv(self, *extra: str) -> list[str]:
        return [
            nginx_binary(),
            "-c", str(self.paths.conf),
            "-p", str(self.paths.root),
            "-e", str(self.paths.error_log),
            *extra,
        ]  # fmt: skip

    def write(self) -> None:
        """Create the folder layout (0700) and the config (0600: it holds API keys)."""
        for folder in (self.paths.root, self.paths.temp, self.paths.error_log.parent):
            folder.mkdir(parents=True, exist_ok=True)
            self.run_as.own(folder, 0o700)
        self.paths.conf.write_text(self.conf_text, encoding="utf-8")
        self.run_as.own(self.paths.conf, 0o600)
        self.paths.jwt_script.write_text(self.script_text, encoding="utf-8")
        self.run_as.own(self.paths.jwt_script, 0o600)

    def test(self) -> str:
        """``nginx -t`` on the written config as the service account; returns nginx's verdict."""
        proc = subprocess.run(
            self._argv("-t"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd="/",
            **self.run_as.popen_kwargs(),  # type: ignore[call-overload]
        )
        if proc.returncode != 0:
            raise NginxError(f"nginx -t rejected {self.paths.conf}: {proc.stderr.strip()}")
        return proc.stderr.strip()

    def start(self, timeout: float = 15) -> int:
        """Write, validate and start nginx; returns the master pid once the port accepts connections."""
        self.write()
        self.test()
        with (self.paths.error_log.parent / "nginx.out").open("ab") as out:
            proc = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                start_new_session=True,
                umask=0o077,
                **self.run_as.popen_kwargs(),  # type: ignore[call-overload]
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise NginxError(f"nginx exited with {proc.returncode}:\n{_tail(self.paths.error_log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return proc.pid
            except OSError:
                time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        raise NginxError(f"nginx did not listen on 127.0.0.1:{self.port} within {timeout:.0f}s")

    def pid(self) -> int | None:
        """The master pid from the pid file, if nginx is running."""
        try:
            pid = int(self.paths.pid.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None

    def stop(self, timeout: float = 10) -> None:
        """Graceful quit, then SIGKILL of the process group; a no-op when nginx is not running."""
        pid = self.pid()
        if pid is None:
            return
        stop_group(pid, sig=signal.SIGQUIT, timeout=timeout)
