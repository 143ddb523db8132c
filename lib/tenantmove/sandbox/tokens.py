"""Access tokens the sandbox issues and checks: signed JWTs carrying the tenant, the app and
its permissions (``roles`` for app-only tokens, ``scp`` for delegated ones), like Entra ID's."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from typing import Any

import jwt

AUDIENCE = "https://graph.microsoft.com"


class TokenError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TokenService:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._not_before = 0.0  # tokens issued before this instant are refused (admin "expire all")
        self.issued = 0

    def issue(self, tenant_id: str, client_id: str, lifetime: int, *, roles: list[str] | None = None,
              scopes: list[str] | None = None, user: dict[str, Any] | None = None, audience: str = AUDIENCE,
              acr: str = "1") -> tuple[str, int]:
        """``audience``: Graph, or a SharePoint host (``https://<name>.sharepoint.com``); ``acr``: how the app
        proved itself, as Entra ID's ``appidacr`` says it (0 none, 1 a secret, 2 a certificate)."""
        now = time.time()
        claims: dict[str, Any] = {
            "aud": audience, "appidacr": acr, "iss": f"https://sts.sandbox.invalid/{tenant_id}/", "tid": tenant_id,
            "appid": client_id, "iat": int(now), "nbf": int(now) - 1, "exp": int(now + lifetime),
            "uti": uuid.uuid4().hex, "ver": "1.0", "_iat_precise": now,
        }
        if roles is not None:
            claims["roles"] = roles
            claims["idtyp"] = "app"
        if scopes is not None:
            claims["scp"] = " ".join(scopes)
        if user:
            claims.update({"oid": user["id"], "upn": user["userPrincipalName"], "name": user["displayName"]})
        with self._lock:
            self.issued += 1
        return jwt.encode(claims, self._key, algorithm="HS256"), lifetime

    def check(self, token: str, audience: str = AUDIENCE) -> dict[str, Any]:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=audience,
                                options={"require": ["exp", "tid"]})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("InvalidAuthenticationToken", "Access token validation failure. Invalid audience or signature.") from exc
        if claims.get("_iat_precise", 0) < self._not_before:
            raise TokenError("InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        return claims

    def expire_all(self) -> None:
        """Make every token issued so far invalid, as if they had all expired."""
        self._not_before = time.time()
