"""The sandbox's sign-in service: OpenID discovery per tenant, the token endpoint (client
credentials with a secret or a certificate assertion, device code, refresh token) and the
page where a person enters a device code."""

from __future__ import annotations

import base64
import html
import secrets
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .http import Request, Response, oauth_error
from .knobs import Governor
from .state import Store, Tenant
from .tokens import TokenService

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


def sharepoint_hosts(tenant: Tenant) -> set[str]:
    """The SharePoint resources of a tenant: its sites' host and its OneDrives' host."""
    name = tenant.initial_domain.split(".")[0].lower()
    return {f"https://{name}.sharepoint.com", f"https://{name}-my.sharepoint.com"}


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    tenant_id: str
    client_id: str
    expires: float
    user_id: str | None = None


def thumbprint_b64(cert: x509.Certificate) -> str:
    """The ``x5t`` header value of a client assertion signed with ``cert``'s key."""
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode().rstrip("=")  # noqa: S303


class LoginService:
    def __init__(self, store: Store, tokens: TokenService, governor: Governor) -> None:
        self.store = store
        self.tokens = tokens
        self.governor = governor
        self.lock = threading.Lock()
        self.device_codes: dict[str, DeviceCode] = {}
        self.refresh_tokens: dict[str, tuple[str, str, str]] = {}  # token -> (tenant, client, user)

    # --- routing -----------------------------------------------------------------------------
    def handle(self, req: Request, tenant_name: str, rest: str) -> Response:
        tenant = self.store.tenant_by_name(tenant_name)
        if tenant is None:
            return oauth_error(400, "invalid_tenant", 90002,
                               f"Tenant '{tenant_name}' not found. Check to make sure you have the correct "
                               "tenant ID and are signing into the correct cloud.")
        if rest == "v2.0/.well-known/openid-configuration" and req.method == "GET":
            return Response(200, self.discovery(req.base_url, tenant))
        if rest == "oauth2/v2.0/token" and req.method == "POST":
            return self.token(req, tenant)
        if rest == "oauth2/v2.0/devicecode" and req.method == "POST":
            return self.device_code(req, tenant)
        if rest == "discovery/v2.0/keys":
            return Response(200, {"keys": []})
        return oauth_error(404, "invalid_request", 900561, f"The endpoint '{rest}' does not exist.")

    def discovery(self, base: str, tenant: Tenant) -> dict[str, Any]:
        root = f"{base}/{tenant.id}"
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox.invalid",
        }

    # --- token endpoint -------------------------------------------------------------------------
    def token(self, req: Request, tenant: Tenant) -> Response:
        form = req.form()
        grant = form.get("grant_type", "")
        app = tenant.apps.get(form.get("client_id", ""))
        if app is None:
            return oauth_error(400, "unauthorized_client", 700016,
                               f"Application with identifier '{form.get('client_id', '')}' was not found in "
                               f"the directory '{tenant.display_name}'.")
        lifetime = self.governor.knobs.token_lifetime
        if grant == "client_credentials":
            problem = self._authenticate_client(req, form, tenant)
            if problem:
                return problem
            scopes = form.get("scope", "").split()
            resource = next((s[:-len("/.default")] for s in scopes if s == GRAPH_DEFAULT_SCOPE
                             or (s.endswith("/.default") and s[:-len("/.default")].lower() in sharepoint_hosts(tenant))),
                            None)
            if resource is None:
                return oauth_error(400, "invalid_scope", 1002012,
                                   "The provided value for scope is not valid. Client credential flows must "
                                   "have a scope value with /.default suffixed to the resource identifier.")
            token, life = self.tokens.issue(tenant.id, app.client_id, lifetime, roles=list(app.roles),
                                            audience=resource.lower(),
                                            acr="2" if form.get("client_assertion") else "1")
            return Response(200, {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life,
                                  "access_token": token})
        if grant in ("urn:ietf:params:oauth:grant-type:device_code", "device_code"):
            return self._device_token(form, tenant, app.client_id, lifetime)
        if grant == "refresh_token":
            with self.lock:
                held = self.refresh_tokens.get(form.get("refresh_token", ""))
            if not held or held[0] != tenant.id or held[1] != app.client_id:
                return oauth_error(400, "invalid_grant", 9002313, "Invalid request. Refresh token is not valid.")
            return self._user_tokens(tenant, app.client_id, held[2], lifetime, form.get("refresh_token"))
        return oauth_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")

    def _authenticate_client(self, req: Request, form: dict[str, str], tenant: Tenant) -> Response | None:
        app = tenant.apps[form["client_id"]]
        if "client_secret" in form:
            if app.secret and secrets.compare_digest(form["client_secret"], app.secret):
                return None
            return oauth_error(401, "invalid_client", 7000215,
                               "Invalid client secret provided. Ensure the secret being sent in the request "
                               "is the client secret value, not the client secret ID.")
        assertion = form.get("client_assertion")
        if assertion and form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            try:
                header = jwt.get_unverified_header(assertion)
            except jwt.PyJWTError:
                return oauth_error(401, "invalid_client", 50027, "Invalid JWT token. The token is malformed.")
            thumb = header.get("x5t") or header.get("x5t#S256")
            key = app.certificates.get((thumb or "").rstrip("="))
            if key is None:
                return oauth_error(401, "invalid_client", 700027,
                                   "The certificate with identifier used to sign the client assertion is not "
                                   "registered on application.")
            audience = f"{req.base_url}/{tenant.id}/oauth2/v2.0/token"
            try:
                claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256", "ES256"],
                                    audience=[audience, audience.replace(tenant.id, tenant.initial_domain)],
                                    options={"require": ["exp", "iss", "sub", "jti"], "verify_aud": False})
            except jwt.PyJWTError as exc:
                return oauth_error(401, "invalid_client", 700027, f"Client assertion failed signature validation: {exc}")
            if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
                return oauth_error(401, "invalid_client", 700023, "Client assertion audience or subject is invalid.")
            if "/oauth2/v2.0/token" not in str(claims.get("aud", "")):
                return oauth_error(401, "invalid_client", 700021, "Client assertion audience claim does not match.")
            return None
        return oauth_error(401, "invalid_client", 7000218,
                           "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

    def register_certificate(self, client_id: str, pem: bytes) -> str:
        cert = x509.load_pem_x509_certificate(pem)
        for tenant in self.store.tenants.values():
            if client_id in tenant.apps:
                thumb = thumbprint_b64(cert)
                s256 = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).decode().rstrip("=")
                tenant.apps[client_id].certificates[thumb] = cert.public_key()
                tenant.apps[client_id].certificates[s256] = cert.public_key()
                return thumb
        raise KeyError(client_id)

    # --- device code ----------------------------------------------------------------------------
    def device_code(self, req: Request, tenant: Tenant) -> Response:
        form = req.form()
        app = tenant.apps.get(form.get("client_id", ""))
        if app is None:
            return oauth_error(400, "unauthorized_client", 700016,
                               f"Application with identifier '{form.get('client_id', '')}' was not found in "
                               f"the directory '{tenant.display_name}'.")
        alphabet = string.ascii_uppercase + string.digits
        user_code = "".join(secrets.choice(alphabet) for _ in range(9))
        code = DeviceCode(secrets.token_urlsafe(32), user_code, tenant.id, app.client_id, time.time() + 900)
        with self.lock:
            self.device_codes[code.device_code] = code
        uri = f"{req.base_url}/devicelogin"
        return Response(200, {
            "device_code": code.device_code, "user_code": user_code, "verification_uri": uri,
            "expires_in": 900, "interval": self.governor.knobs.device_code_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} "
                       "to authenticate.",
        })

    def approve(self, user_code: str, username: str) -> str:
        """Approve a pending device code for ``username``; returns an error text or ''."""
        with self.lock:
            code = next((c for c in self.device_codes.values() if c.user_code == user_code.strip().upper()), None)
        if code is None or code.expires < time.time():
            return "That code is unknown or has expired."
        tenant = self.store.tenants[code.tenant_id]
        user = tenant.find_user(username.strip())
        if user is None:
            return f"There is no account {username!r} in {tenant.display_name}."
        code.user_id = user["id"]
        return ""

    def _device_token(self, form: dict[str, str], tenant: Tenant, client_id: str, lifetime: int) -> Response:
        with self.lock:
            code = self.device_codes.get(form.get("device_code", "") or form.get("code", ""))
        if code is None or code.tenant_id != tenant.id:
            return oauth_error(400, "invalid_grant", 70000, "The provided device code is invalid.")
        if code.expires < time.time():
            return oauth_error(400, "expired_token", 70020, "The provided value for the device code has expired.")
        if code.user_id is None:
            return oauth_error(400, "authorization_pending", 70016,
                               "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        with self.lock:
            self.device_codes.pop(code.device_code, None)
        return self._user_tokens(tenant, client_id, code.user_id, lifetime, None)

    def _user_tokens(self, tenant: Tenant, client_id: str, user_id: str, lifetime: int,
                     old_refresh: str | None) -> Response:
        app = tenant.apps[client_id]
        user = tenant.users.get(user_id)
        if user is None:
            return oauth_error(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
        token, life = self.tokens.issue(tenant.id, client_id, lifetime, scopes=list(app.delegated), user=user)
        refresh = secrets.token_urlsafe(32)
        with self.lock:
            if old_refresh:
                self.refresh_tokens.pop(old_refresh, None)
            self.refresh_tokens[refresh] = (tenant.id, client_id, user_id)
        now = int(time.time())
        id_token = jwt.encode({"aud": client_id, "iss": f"https://sts.sandbox.invalid/{tenant.id}/v2.0",
                               "tid": tenant.id, "oid": user_id, "sub": user_id, "iat": now, "nbf": now,
                               "exp": now + life, "preferred_username": user["userPrincipalName"],
                               "name": user["displayName"], "ver": "2.0"}, "unsigned", algorithm="HS256")
        return Response(200, {"token_type": "Bearer", "scope": " ".join(app.delegated), "expires_in": life,
                              "ext_expires_in": life, "access_token": token, "refresh_token": refresh,
                              "id_token": id_token, "client_info": base64.urlsafe_b64encode(
                                  f'{{"uid":"{user_id}","utid":"{tenant.id}"}}'.encode()).decode().rstrip("=")})

    # --- the page where a person enters the code --------------------------------------------
    def device_page(self, req: Request) -> Response:
        message = ""
        if req.method == "POST":
            form = req.form()
            error = self.approve(form.get("code", ""), form.get("username", ""))
            if not error:
                return Response(200, _page("You are signed in",
                                           "<p id='result'>You have signed in to tenantmove on your device. "
                                           "You may now close this window.</p>"))
            message = f"<p id='result' class='error'>{html.escape(error)}</p>"
        form_html = (
            "<form method='post'><label>Code <input name='code' autofocus></label><br>"
            "<label>Account <input name='username' placeholder='admin@contoso.onmicrosoft.com'></label><br>"
            "<button type='submit'>Next</button></form>")
        return Response(200, _page("Enter code", message + form_html))


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - "
            f"tenantmove sandbox</title></head><body><h1>{html.escape(title)}</h1>{body}"
            "<p><small>tenantmove sandbox: a local stand-in for Microsoft's sign-in page.</small></p></body></html>")
