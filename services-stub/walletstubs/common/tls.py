"""TLS of the services: serving with a certificate that renews while running, calling with a CA.

In the cloud a service serves TLS when ``WALLETSTUB_TLS_CERT_FILE`` and ``WALLETSTUB_TLS_KEY_FILE``
name its certificate and key (a Kubernetes TLS secret kept renewed by cert-manager). The files
change in place when the certificate renews; each worker watches them and loads the new pair into
the same SSL context, so new connections get the new certificate without a restart. Callers
verify the services they call against ``WALLETSTUB_TLS_CA_FILE`` (the private CA) when it is set,
the system's CAs otherwise. Locally none of these is set and the services speak plain HTTP on
loopback.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from walletstubs.common.settings import SettingsError, env_optional

RELOAD_CHECK_SECONDS = 30.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerTls:
    """The certificate and key a service serves with."""

    cert_file: str
    key_file: str

    @classmethod
    def from_env(cls) -> ServerTls | None:
        """Both files, or neither (plain HTTP); one without the other stops the service."""
        cert, key = env_optional("TLS_CERT_FILE"), env_optional("TLS_KEY_FILE")
        if (cert is None) != (key is None):
            raise SettingsError(
                "WALLETSTUB_TLS_CERT_FILE and WALLETSTUB_TLS_KEY_FILE must be set together (TLS) "
                "or not at all (plain HTTP)"
            )
        if cert is None or key is None:
            return None
        for name, path in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
            if not Path(path).is_file():
                raise SettingsError(f"WALLETSTUB_{name}={path!r}: no such file")
        return cls(cert_file=cert, key_file=key)


def server_context(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: its context (from the configured files), TLS 1.2 at least,
    with a watcher that reloads the pair into it when cert-manager renews them."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    watch(context, str(config.ssl_certfile), str(config.ssl_keyfile))
    return context


def _stamp(paths: tuple[str, str]) -> tuple[tuple[int, int], ...]:
    stamps = []
    for path in paths:
        status = os.stat(path)  # follows the secret volume's symlinks to the current files
        stamps.append((status.st_ino, status.st_mtime_ns))
    return tuple(stamps)


def reload_if_changed(
    context: ssl.SSLContext, cert_file: str, key_file: str, seen: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    """Load the pair into ``context`` when either file changed since ``seen``; the new stamps.

    A half-written pair (certificate and key not matching yet) is left for the next check: the
    context keeps serving the previous certificate."""
    current = _stamp((cert_file, key_file))
    if current == seen:
        return seen
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        log.warning("tls certificate reload failed, keeping the previous one: %s", exc)
        return seen
    log.info("tls certificate reloaded from %s", cert_file)
    return current


def watch(
    context: ssl.SSLContext, cert_file: str, key_file: str, every: float = RELOAD_CHECK_SECONDS
) -> threading.Thread:
    """A daemon thread calling :func:`reload_if_changed` every ``every`` seconds."""
    seen = _stamp((cert_file, key_file))

    def loop() -> None:
        nonlocal seen
        stop = threading.Event()
        while not stop.wait(every):
            try:
                seen = reload_if_changed(context, cert_file, key_file, seen)
            except OSError as exc:
                log.warning("tls certificate files unreadable, keeping the previous ones: %s", exc)

    thread = threading.Thread(target=loop, name="tls-reload", daemon=True)
    thread.start()
    return thread


def client_verify() -> ssl.SSLContext | bool:
    """How a service verifies the services it calls: the private CA when configured, else the system's."""
    ca_file = env_optional("TLS_CA_FILE")
    if ca_file is None:
        return True
    if not Path(ca_file).is_file():
        raise SettingsError(f"WALLETSTUB_TLS_CA_FILE={ca_file!r}: no such file")
    return ssl.create_default_context(cafile=ca_file)
