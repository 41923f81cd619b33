"""End-user JWTs at the local gateways, shaped like the Cognito user pool's access tokens in AWS.

The local stack is its own issuer: an RS256 key pair generated once per state folder
(:func:`write_keys`: the private key 0600, the public keys as a JWKS and as SPKI for nginx), and
:class:`TokenIssuer` mints access tokens with Cognito's claims (``iss``, ``sub``, ``client_id``,
``token_use: access``, ``scope``, ``iat``, ``exp``, ``jti``, ``username``).

:class:`TokenVerifier` accepts a request's ``Authorization: Bearer <token>`` only when the signature
verifies with a key of the JWKS (RS256 only, by ``kid``), the issuer matches, it is an access token of
a known client, it has not expired (30 s leeway) and it carries the route's OAuth scope -- the checks
API Gateway's ``COGNITO_USER_POOLS`` authorizer makes with ``authorization_scopes``. Verified tokens
are remembered until they expire (at most five minutes), so a client reusing its token costs a dict
lookup, not an RSA verification.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
CACHE_SECONDS = 300
CACHE_SIZE = 10000
PRIVATE_KEY_FILE = "jwt-private.pem"
JWKS_FILE = "jwks.json"
SPKI_FILE = "jwt-spki.json"


@dataclass(frozen=True)
class Claims:
    """What the gateway forwards and checks of a verified access token."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    expires: int


def write_keys(folder: Path, kid: str | None = None) -> None:
    """Generate the issuer's RS256 key pair into ``folder`` unless it is there: the private key (0600),
    the public JWKS, and the public keys as SPKI (base64 DER by ``kid``) for nginx's njs."""
    private = folder / PRIVATE_KEY_FILE
    if private.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private.touch(mode=0o600)
    private.write_bytes(pem)
    kid = kid or uuid.uuid4().hex[:16]
    public = RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": ALGORITHM})
    (folder / JWKS_FILE).write_text(json.dumps({"keys": [public.as_dict(private=False)]}, indent=2) + "\n")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / SPKI_FILE).write_text(json.dumps({kid: base64.b64encode(der).decode()}, indent=2) + "\n")


def read_jwks(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / JWKS_FILE).read_text())
    return data


def read_spki(folder: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((folder / SPKI_FILE).read_text())
    return data


class TokenIssuer:
    """Mints Cognito-shaped access tokens with the stack's private key."""

    def __init__(self, folder: Path, issuer: str) -> None:
        pem = (folder / PRIVATE_KEY_FILE).read_bytes()
        kid = next(iter(read_spki(folder)))
        self.key = RSAKey.import_key(pem, {"kid": kid, "alg": ALGORITHM})
        self.kid = kid
        self.issuer = issuer

    def token(
        self,
        subject: str,
        *,
        client_id: str,
        scopes: Iterable[str],
        ttl_seconds: int = 3600,
        kind: Literal["access", "id"] = "access",
        issuer: str | None = None,
        now: float | None = None,
    ) -> str:
        """An access token for ``subject`` issued to app client ``client_id``."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "username": subject,
            "client_id": client_id,
            "token_use": kind,
            "scope": " ".join(scopes),
            "iat": issued,
            "auth_time": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self.key)


class TokenVerifier:
    """Verifies ``Authorization: Bearer`` access tokens against a JWKS; see the module docstring."""

    def __init__(
        self,
        jwks: dict[str, Any],
        *,
        issuer: str,
        clients: Iterable[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        self.issuer = issuer
        self.clients = frozenset(clients)
        self.clock = clock
        self._verified: OrderedDict[str, tuple[Claims, float]] = OrderedDict()

    def verify(self, authorization: str | None, scope: str) -> Claims | None:
        """The claims of a valid token carrying ``scope``; None for anything else."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ").strip()
        now = self.clock()
        cached = self._verified.get(token)
        if cached is not None and cached[1] > now:
            claims = cached[0]
        else:
            self._verified.pop(token, None)
            verified = self._verify(token, now)
            if verified is None:
                return None
            claims = verified
            self._verified[token] = (claims, min(claims.expires + LEEWAY_SECONDS, now + CACHE_SECONDS))
            while len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims if scope in claims.scopes else None

    def _verify(self, token: str, now: float) -> Claims | None:
        try:
            decoded = jwt.decode(token, self.keys, algorithms=[ALGORITHM])
        except (JoseError, ValueError):
            return None
        payload = decoded.claims
        expires = payload.get("exp")
        if (
            payload.get("iss") != self.issuer
            or payload.get("token_use") != "access"
            or payload.get("client_id") not in self.clients
            or not isinstance(payload.get("sub"), str)
            or not isinstance(expires, int)
            or expires + LEEWAY_SECONDS <= now
        ):
            return None
        return Claims(
            sub=payload["sub"],
            client_id=payload["client_id"],
            scopes=frozenset(str(payload.get("scope", "")).split()),
            expires=expires,
        )
