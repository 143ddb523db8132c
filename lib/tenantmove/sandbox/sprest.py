"""SharePoint's own REST API (``https://<host>/<site>/_api/...``), served at ``/_sp/<host>/<site>/_api/...``:
what Graph v1.0 cannot write (site groups, role assignments, authorship) is written here. The rules the runbook
depends on, as SharePoint documents them:

- a token for the SharePoint resource (``https://<name>.sharepoint.com``, or ``-my`` for OneDrives) of the
  site's own tenant; a Graph token is refused (401);
- an app-only token must come from a certificate: one an app got with a secret is refused with SharePoint's
  ``Unsupported app only token.`` (401), so a runbook signed in with a secret writes PnP commands instead;
- answers in ``odata=nometadata`` JSON.

Routes: ``GET _api/web`` (the site: Title, Url, ServerRelativeUrl, Id)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .http import Request, Response
from .state import Store
from .tokens import TokenError, TokenService


def _error(status: int, message: str, code: str = "-2147024891, System.UnauthorizedAccessException") -> Response:
    return Response(status, {"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}},
                             "error_description": message})


class SharePointRest:
    def __init__(self, store: Store, tokens: TokenService, sites: Any) -> None:
        self.store, self.tokens, self.sites = store, tokens, sites

    def handle(self, req: Request, rest: str) -> Response:
        """``rest``: ``<host>/<site path>/_api/<call>``."""
        host, _, tail = rest.partition("/")
        site_path, found, call = ("/" + tail).partition("/_api/")
        if not found:
            return _error(404, "The sandbox serves SharePoint's REST API under <site>/_api/ only.", "-1, NotFound")
        tenant = next((t for t in self.store.tenants.values()
                       if host.lower() in {f"{t.initial_domain.split('.')[0]}.sharepoint.com".lower(),
                                           f"{t.initial_domain.split('.')[0]}-my.sharepoint.com".lower()}), None)
        if tenant is None:
            return _error(404, f"No tenant has the host {host}.", "-1, NotFound")
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return _error(401, "Access denied: no bearer token.")
        try:
            claims = self.tokens.check(auth.split(" ", 1)[1], audience=f"https://{host.lower()}")
        except TokenError as exc:
            return _error(401, f"Invalid audience or token: {exc.message}")
        if claims.get("tid") != tenant.id:
            return _error(401, "The token is for another tenant.")
        if "roles" in claims and "scp" not in claims and claims.get("appidacr") != "2":
            return _error(401, "Unsupported app only token.")
        site_path = unquote(site_path.rstrip("/"))
        site = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id and s.host.lower() == host.lower()
                     and s.path.lower() == site_path.lower()), None)
        if site is None:
            return _error(404, f"The site {site_path} does not exist.", "-2147024894, System.IO.FileNotFoundException")
        if call == "web" and req.method == "GET":
            return Response(200, {"Id": site.id, "Title": site.title, "Url": site.web_url,
                                  "ServerRelativeUrl": site.path or "/"})
        return _error(400, f"The sandbox does not serve {req.method} _api/{call}.", "-1, NotSupported")
