"""Sign-in to one tenant with msal: client credentials (a secret from an environment variable
whose *name* is a parameter, or a certificate file) or the device-code flow for an admin.

Tokens are renewed before they expire (``refresh_margin``) and on demand after a 401, so a long
run never notices. Works against Microsoft's authority and the sandbox's: the CA is trusted
explicitly through :class:`~tenantmove.httpclient.VerifyingSession`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import ConfigFileError, ServiceUnreachable, SignInError
from ..redact import register_secret
from .http import VerifyingSession

log = logging.getLogger("tenantmove.auth")

GLOBAL_AUTHORITY_HOST = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
METHODS = ("client_secret", "certificate", "device_code")


class DevicePrompt(Protocol):
    """Shows a device code to a person: a widget in JupyterLab, a printed line under papermill."""

    def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None: ...
    def status(self, text: str, waiting: bool = False) -> None: ...


class PrintedPrompt:
    """The headless twin of the sign-in widget: prints, so a person watching the log can sign in. While it waits,
    a progress line every ``every`` seconds, not one a second."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._last = -every

    def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None:
        line = (f"[{role}] sign-in to {tenant}: open {flow['verification_uri']} and enter the code "
                f"{flow['user_code']} (valid {int(flow.get('expires_in', 900)) // 60} min)")
        print(line, flush=True)
        console = sys.__stderr__
        if console is not None and console is not sys.stdout:  # inside papermill's kernel: the runner's console too
            console.write(f"tenantmove: {line}\n")
            console.flush()

    def status(self, text: str, waiting: bool = False) -> None:
        now = time.monotonic()
        if waiting and now - self._last < self.every:
            return
        self._last = now
        print(text, flush=True)


@dataclass
class TenantConfig:
    role: str                     # "source" or "target"
    tenant: str                   # tenant id or any verified domain
    client_id: str
    auth: str = "client_secret"
    secret_env: str = ""
    certificate_file: str = ""
    certificate_password_env: str = ""


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT access token, unverified (for display and permission checks only)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def load_key_pair(path: str, password_env: str, where: str, password_where: str = "") -> tuple[Any, x509.Certificate]:
    """The private key and its certificate from one PEM file; the key's password (if any) from the environment
    variable named ``password_env``, registered for redaction."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"cannot read the certificate file {path}: {exc.strerror}", where=where,
                              hint="give the path of a PEM file with the private key and the certificate") from exc
    password = None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise SignInError(f"environment variable {password_env} is not set", where=password_where or where,
                              hint=f"export {password_env}=<the key's password>")
        register_secret(value)
        password = value.encode()
    try:
        return serialization.load_pem_private_key(data, password=password), x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError) as exc:
        raise ConfigFileError(f"{path} is not a PEM file with a private key and a certificate ({exc})", where=where,
                              hint="concatenate the key and the certificate in PEM form into one file") from exc


def load_certificate(path: str, password_env: str, where: str) -> dict[str, str]:
    """An msal client credential from a PEM file holding the private key and its certificate."""
    key, cert = load_key_pair(path, password_env, where, where.replace("certificate_file", "certificate_password_env"))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    register_secret(key_pem)
    # with the certificate (and no SHA-1 thumbprint) msal signs with PS256 and sends x5t#S256 and x5c
    return {"private_key": key_pem, "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode()}


class SignIn:
    """A token source for one tenant; hand it to :class:`~tenantmove.graph.GraphClient`."""

    def __init__(self, config: TenantConfig, *, authority_host: str = GLOBAL_AUTHORITY_HOST,
                 verify: str | bool = True, prompt: DevicePrompt | None = None, refresh_margin: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.authority_host = authority_host.rstrip("/")
        self.authority = f"{self.authority_host}/{config.tenant}"
        self.verify = verify
        self.prompt = prompt or PrintedPrompt()
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._lifetime = 0.0
        self._app: msal.ClientApplication | None = None
        self._account: dict[str, Any] | None = None
        self.http = VerifyingSession(verify)
        self.acquired = 0

    @property
    def where(self) -> str:
        return self.config.role

    # --- checks before msal ------------------------------------------------------------------------
    def check_tenant(self) -> dict[str, Any]:
        """Ask the authority's discovery document: a clear error for an unknown tenant or no service."""
        url = f"{self.authority}/v2.0/.well-known/openid-configuration"
        try:
            resp = self.http.get(url, timeout=20)
        except requests.exceptions.SSLError as exc:
            raise ServiceUnreachable(f"TLS verification of {self.authority_host} failed", where="ca_file",
                                     hint="trust the CA that signed the sign-in service's certificate "
                                          "(the sandbox writes its own ca.pem)") from exc
        except requests.ConnectionError as exc:
            raise ServiceUnreachable(f"cannot reach the sign-in service at {self.authority_host}",
                                     where=f"{self.where}.tenant",
                                     hint="is the sandbox running (make sandbox)? for real tenants check the network "
                                          "and the cloud parameter") from exc
        if resp.status_code == 400 and "invalid_tenant" in resp.text:
            raise SignInError(f"tenant '{self.config.tenant}' does not exist at {self.authority_host}",
                              where=f"{self.where}.tenant",
                              hint="use the tenant id (a GUID) or a verified domain of that tenant")
        if resp.status_code != 200:
            raise SignInError(f"discovery for tenant '{self.config.tenant}' answered HTTP {resp.status_code}",
                              where=f"{self.where}.tenant")
        return resp.json()

    def _make_app(self) -> msal.ClientApplication:
        cfg = self.config
        kwargs: dict[str, Any] = {"authority": self.authority, "http_client": self.http}
        if self.authority_host != GLOBAL_AUTHORITY_HOST:
            kwargs["instance_discovery"] = False
        if cfg.auth == "device_code":
            return msal.PublicClientApplication(cfg.client_id, **kwargs)
        if cfg.auth == "client_secret":
            secret = os.environ.get(cfg.secret_env or "")
            if not secret:
                raise SignInError(f"environment variable {cfg.secret_env or '(none named)'} is not set",
                                  where=f"{self.where}.secret_env",
                                  hint=f"export {cfg.secret_env or 'TENANTMOVE_' + self.where.upper() + '_SECRET'}"
                                       "=<client secret of the app registration>; never put it in a parameter file")
            register_secret(secret)
            credential: Any = secret
        else:
            credential = load_certificate(cfg.certificate_file, cfg.certificate_password_env,
                                          f"{self.where}.certificate_file")
        return msal.ConfidentialClientApplication(cfg.client_id, client_credential=credential, **kwargs)

    # --- tokens ------------------------------------------------------------------------------------
    def sign_in(self) -> dict[str, Any]:
        """Sign in now (device code: show the code and wait); return the token's claims."""
        self.token()
        return self.claims()

    def token(self, force_refresh: bool = False) -> str:
        with self._lock:
            if (not force_refresh and self._token
                    and self._expires_at - self._clock() > self.refresh_margin_for_lifetime()):
                return self._token
            if self._app is None:
                self.check_tenant()
                self._app = self._make_app()
            result = self._acquire(force_refresh)
            if "access_token" not in result:
                raise self._error(result)
            self._token = result["access_token"]
            register_secret(self._token)
            self._lifetime = float(result.get("expires_in", 3599))
            self._expires_at = self._clock() + self._lifetime
            self.acquired += 1
            log.info("%s: token acquired for tenant %s, valid %ss", self.where, self.config.tenant,
                     result.get("expires_in"))
            return self._token

    def token_for(self, resource: str) -> str:
        """A token for another resource of the same tenant (SharePoint's REST API: ``https://<name>.sharepoint.com``),
        from the same app and sign-in; msal keeps and renews it."""
        self.token()  # signed in (a device code shown once), the app made
        with self._lock:
            app = self._app
            assert app is not None
            scopes = [resource.rstrip("/") + "/.default"]
            if isinstance(app, msal.ConfidentialClientApplication):
                result = app.acquire_token_for_client(scopes=scopes)
            else:
                result = app.acquire_token_silent_with_error(scopes, account=self._account) or {
                    "error": "interaction_required", "error_description": f"no token for {resource} yet"}
            if "access_token" not in result:
                raise self._error(result)
            register_secret(result["access_token"])
            return str(result["access_token"])

    def by_certificate(self) -> bool:
        """Whether the app signs in with a certificate: SharePoint's REST API takes an app-only token only then."""
        return self.config.auth == "certificate"

    def refresh_margin_for_lifetime(self) -> float:
        """Renew this long before expiry: ``refresh_margin`` (5 min), or a fifth of a short token's lifetime."""
        return min(self.refresh_margin, max(1.0, self._lifetime / 5))

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        app = self._app
        assert app is not None
        if isinstance(app, msal.ConfidentialClientApplication):
            if force_refresh:
                for entry in list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                    app.token_cache.remove_at(entry)
            return app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        if self._account is not None:
            result = app.acquire_token_silent_with_error([GRAPH_SCOPE], account=self._account,
                                                         force_refresh=True)
            if result and "access_token" in result:
                return result
        flow = app.initiate_device_flow(scopes=[GRAPH_SCOPE])
        if "user_code" not in flow:
            return flow
        self.prompt.show(self.where, self.config.tenant, flow)
        started = time.monotonic()

        def waiting(f: dict[str, Any]) -> bool:
            self.prompt.status(f"waiting for sign-in ({int(time.monotonic() - started)} s)", waiting=True)
            return f.get("expires_at", 0) < time.time()

        result = app.acquire_token_by_device_flow(flow, exit_condition=waiting)
        if "access_token" in result:
            accounts = app.get_accounts()
            self._account = accounts[0] if accounts else None
            self.prompt.status(f"signed in as {result.get('id_token_claims', {}).get('preferred_username', '?')}")
        return result

    def _error(self, result: dict[str, Any]) -> SignInError:
        error = result.get("error", "unknown_error")
        text = str(result.get("error_description", "")).split("\r\n")[0].split("\n")[0]
        hints = {
            "invalid_client": f"check the secret or certificate of app {self.config.client_id} in {self.where}.*",
            "unauthorized_client": f"register app {self.config.client_id} in tenant {self.config.tenant} "
                                   f"(or fix {self.where}.client_id)",
            "invalid_tenant": f"fix {self.where}.tenant",
            "expired_token": "the device code expired before anyone signed in: run the cell again",
            "authorization_pending": "nobody entered the device code in time: run the cell again",
        }
        return SignInError(f"sign-in failed: {error}: {text}", where=self.where,
                           hint=hints.get(error, "read the error; check the app registration"))

    def claims(self) -> dict[str, Any]:
        return decode_claims(self._token or "")

    def granted(self) -> set[str]:
        claims = self.claims()
        return set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())

    def identity(self) -> dict[str, Any]:
        claims = self.claims()
        return {"tenant_id": claims.get("tid"), "app_id": claims.get("appid") or claims.get("azp"),
                "signed_in_as": claims.get("upn") or claims.get("preferred_username") or "(app-only)",
                "kind": "delegated" if "scp" in claims else "application"}
