"""The unprivileged account the local stack's services and nginx run under when we are root.

As a normal user everything runs as that user. As root (CI containers, the dev VM) the services and
nginx run as the ``walletops`` system user (created on first use, no login shell, no home), so no
service of the stack runs as root -- the verification tests check exactly that.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "walletops"


class UserError(RuntimeError):
    """The service account could not be created or used."""


@dataclass(frozen=True)
class RunAs:
    """Who a process runs as: ``user`` None means "as ourselves" (we are not root)."""

    user: str | None
    uid: int
    gid: int

    def own(self, path: Path, mode: int) -> None:
        """Hand ``path`` to this account with ``mode`` (0700 folders, 0600 files with secrets)."""
        if self.user is not None:
            os.chown(path, self.uid, self.gid)
        path.chmod(mode)

    def popen_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``subprocess`` to drop to this account (none when not root)."""
        if self.user is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def service_account() -> RunAs:
    """The account for the stack's processes, creating the ``walletops`` system user when root."""
    if os.geteuid() != 0:
        return RunAs(None, os.getuid(), os.getgid())
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        argv = [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent"]
        argv += ["--shell", "/usr/sbin/nologin", "--user-group", SERVICE_USER]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
            raise UserError(f"could not create system user {SERVICE_USER!r}: {proc.stderr.strip()}") from None
        entry = pwd.getpwnam(SERVICE_USER)
    return RunAs(SERVICE_USER, entry.pw_uid, entry.pw_gid)
