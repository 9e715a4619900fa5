"""ServiceAccount tokens (TokenRequest) and the authentication reviews.

`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (what `kubectl create
token NAME -n NS` sends) issues a bearer token that authenticates as
`system:serviceaccount:NS:NAME`. The token is JWT-shaped (signed with a key of
this server, HS256 where a real cluster uses its service-account key) and is
checked on every request against what the server issued: it stops working when
it expires, or when its ServiceAccount is deleted (a new ServiceAccount of the
same name has another uid, so the old token stays dead).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import invalid

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600


@dataclass(frozen=True)
class IssuedToken:
    """One token the server issued.

    Attributes:
        token: The bearer token.
        namespace: The ServiceAccount's namespace.
        name: The ServiceAccount's name.
        uid: The ServiceAccount's uid when the token was issued.
        expires: When it expires (epoch seconds).
        audiences: Its audiences.
    """

    token: str
    namespace: str
    name: str
    uid: str
    expires: float
    audiences: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Issues and recognises ServiceAccount tokens; thread-safe."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        expiration_seconds: int = DEFAULT_EXPIRATION,
        audiences: tuple[str, ...] = (ISSUER,),
        now: float | None = None,
    ) -> IssuedToken:
        """Issue a token for a ServiceAccount."""
        issued_at = int(time.time() if now is None else now)
        expires = issued_at + expiration_seconds
        header = {"alg": "HS256", "typ": "JWT", "kid": "kubeapi-test"}
        claims = {
            "aud": list(audiences),
            "exp": expires,
            "iat": issued_at,
            "nbf": issued_at,
            "iss": ISSUER,
            "jti": secrets.token_hex(8),
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uid},
            },
        }
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(signature)}"
        record = IssuedToken(token, namespace, name, uid, float(expires), tuple(audiences))
        with self._lock:
            self._tokens[token] = record
        return record

    def lookup(self, token: str, now: float | None = None) -> IssuedToken | None:
        """Return the unexpired token record of a bearer token, or None."""
        with self._lock:
            record = self._tokens.get(token)
        if record is None:
            return None
        if (time.time() if now is None else now) >= record.expires:
            return None
        return record


def expiration_of(spec: dict[str, Any], name: str) -> int:
    """Return the requested token lifetime, or raise the 422 the real server gives.

    Raises:
        ApiError: `spec.expirationSeconds` below 10 minutes or not an integer.
    """
    value = spec.get("expirationSeconds")
    if value is None:
        return DEFAULT_EXPIRATION
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < MIN_EXPIRATION:
        raise invalid(
            "TokenRequest",
            "authentication.k8s.io",
            name,
            [
                (
                    "FieldValueInvalid",
                    "spec.expirationSeconds",
                    f"Invalid value: {value!r}: may not specify a duration less than 10 minutes",
                )
            ],
        )
    return value
