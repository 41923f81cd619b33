"""Services over TLS: a real service process serves its certificate, callers verify it against the CA,
a renewed certificate is served without a restart, and half-configured TLS stops the service."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from walletstubs.common.settings import SettingsError
from walletstubs.common.tls import ServerTls, client_verify, reload_if_changed
from walletstubs.localstack.servers import free_port

pytestmark = pytest.mark.xdist_group("walletstubs")
NOW = datetime.datetime.now(datetime.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


class Authority:
    """A throw-away CA issuing server certificates for 127.0.0.1 (the private CA's stand-in)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("walletops test CA"))
            .issuer_name(_name("walletops test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(minutes=5))
            .not_valid_after(NOW + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str) -> tuple[Path, Path, int]:
        """A server certificate and key for 127.0.0.1 as files ``<stem>.crt``/``.key``; its serial."""
        key = ec.generate_private_key(ec.SECP256R1())
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("wallet.wallet.svc"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(NOW - datetime.timedelta(minutes=5))
            .not_valid_after(NOW + datetime.timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("wallet.wallet.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = self.folder / f"{stem}.crt", self.folder / f"{stem}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file, serial


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


def _served_serial(port: int, ca_file: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def wallet_over_tls(authority: Authority, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The wallet service as a real process serving TLS; (port, serial of its certificate)."""
    cert_file, key_file, serial = authority.issue("server")
    port = free_port()
    env = {
        **os.environ,
        "WALLETSTUB_PORT": str(port),
        "WALLETSTUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}",
        "WALLETSTUB_TLS_CERT_FILE": str(cert_file),
        "WALLETSTUB_TLS_KEY_FILE": str(key_file),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "walletstubs.wallet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"wallet exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            try:
                _served_serial(port, authority.ca_file)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield port, serial
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_service_serves_tls_that_callers_verify_against_the_ca(
    wallet_over_tls: tuple[int, int], authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, serial = wallet_over_tls
    assert _served_serial(port, authority.ca_file) == serial
    monkeypatch.setenv("WALLETSTUB_TLS_CA_FILE", str(authority.ca_file))
    verify = client_verify()
    assert isinstance(verify, ssl.SSLContext)
    answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=verify, timeout=5)
    assert answer.status_code == 200 and answer.json()["service"] == "wallet"
    with pytest.raises(httpx.ConnectError):  # the system's CAs do not know the private CA
        httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)
    with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP on the TLS port
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_a_renewed_certificate_is_served_without_a_restart(authority: Authority) -> None:
    cert_file, key_file, first = authority.issue("live")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                continue

    threading.Thread(target=serve, daemon=True).start()
    try:
        seen = reload_if_changed(context, str(cert_file), str(key_file), ())
        assert _served_serial(port, authority.ca_file) == first
        assert reload_if_changed(context, str(cert_file), str(key_file), seen) == seen  # unchanged: no reload
        new_cert, new_key, second = authority.issue("renewed")
        os.replace(new_cert, cert_file)  # cert-manager swaps the secret's files in place
        os.replace(new_key, key_file)
        renewed = reload_if_changed(context, str(cert_file), str(key_file), seen)
        assert renewed != seen
        assert _served_serial(port, authority.ca_file) == second != first
    finally:
        listener.close()


def test_a_half_renewed_pair_keeps_the_previous_certificate(authority: Authority) -> None:
    cert_file, key_file, _ = authority.issue("pair")
    other_cert, _, _ = authority.issue("other")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    seen = reload_if_changed(context, str(cert_file), str(key_file), ())
    os.replace(other_cert, cert_file)  # the new certificate arrived, its key not yet
    assert reload_if_changed(context, str(cert_file), str(key_file), seen) == seen


def test_half_configured_tls_stops_the_service(
    authority: Authority, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert_file, key_file, _ = authority.issue("cfg")
    monkeypatch.delenv("WALLETSTUB_TLS_CERT_FILE", raising=False)
    monkeypatch.delenv("WALLETSTUB_TLS_KEY_FILE", raising=False)
    assert ServerTls.from_env() is None
    monkeypatch.setenv("WALLETSTUB_TLS_CERT_FILE", str(cert_file))
    with pytest.raises(SettingsError, match="must be set together"):
        ServerTls.from_env()
    monkeypatch.setenv("WALLETSTUB_TLS_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(SettingsError, match=r"TLS_KEY_FILE.*no such file"):
        ServerTls.from_env()
    monkeypatch.setenv("WALLETSTUB_TLS_KEY_FILE", str(key_file))
    assert ServerTls.from_env() == ServerTls(str(cert_file), str(key_file))
    monkeypatch.setenv("WALLETSTUB_TLS_CA_FILE", str(tmp_path / "nope.crt"))
    with pytest.raises(SettingsError, match="TLS_CA_FILE"):
        client_verify()
    monkeypatch.delenv("WALLETSTUB_TLS_CA_FILE")
    assert client_verify() is True
