"""SharePoint's own REST API (``<site>/_api/...``), for what Graph v1.0 cannot write: site groups, role assignments,
authorship. Its tokens are for the SharePoint resource (``https://<name>.sharepoint.com``, ``-my`` for OneDrives),
from the same app and sign-in as Graph's; an app-only token must come from a certificate, since SharePoint refuses
one an app got with a secret (``Unsupported app only token.``). Where that is so, :meth:`SharePointRest.usable`
says why, and the workloads write PnP commands for the admin instead. Requests go through :class:`GraphClient`
(retries, ``Retry-After``, the decorated User-Agent SharePoint asks for)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .auth import SignIn
from .graph import GraphClient

NOMETADATA = {"Accept": "application/json;odata=nometadata"}


class ResourceToken:
    """The token source of one SharePoint host, for a :class:`GraphClient`."""

    def __init__(self, signin: SignIn, resource: str) -> None:
        self.signin, self.resource = signin, resource

    def token(self, force_refresh: bool = False) -> str:
        return self.signin.token_for(self.resource)


class SharePointRest:
    def __init__(self, signin: SignIn, *, verify: str | bool = True, sandbox_url: str = "", **client_options: Any):
        """``sandbox_url``: where the sandbox serves ``https://<host>/...`` (``<sandbox_url>/<host>/...``). An app
        that signs in to Graph with a secret and also has a certificate (``certificate_file``) signs in to
        SharePoint with the certificate."""
        config = signin.config
        if config.auth == "client_secret" and config.certificate_file:
            signin = SignIn(replace(config, auth="certificate"), authority_host=signin.authority_host,
                            verify=signin.verify)
        self.signin, self.verify, self.sandbox_url = signin, verify, sandbox_url.rstrip("/")
        self.options = client_options
        self.clients: dict[str, GraphClient] = {}

    def usable(self) -> str:
        """"" when SharePoint will take this sign-in's tokens; otherwise why not, and what to do."""
        if self.signin.config.auth == "client_secret":
            return ("the app signs in with a secret, and SharePoint's REST API takes app-only tokens only from a "
                    "certificate: give the app a certificate (certificate_file) to have this done here, or run the "
                    "PnP commands")
        return ""

    def client(self, web_url: str) -> tuple[GraphClient, str]:
        """The client of ``web_url``'s host, and the site's path on it."""
        parts = urlsplit(web_url)
        host = parts.netloc.lower()
        if host not in self.clients:
            base = f"{self.sandbox_url}/{host}" if self.sandbox_url else f"https://{host}"
            self.clients[host] = GraphClient(ResourceToken(self.signin, f"https://{host}"), base, verify=self.verify,
                                             name=f"{self.signin.where} SharePoint", **self.options)
        return self.clients[host], parts.path.rstrip("/")

    def get(self, web_url: str, call: str) -> dict[str, Any]:
        client, site = self.client(web_url)
        return client.request("GET", f"{site}/_api/{call}", headers=NOMETADATA).json()

    def get_all(self, web_url: str, call: str) -> list[dict[str, Any]]:
        """Every page of a collection (SharePoint pages list items at 100 unless ``$top`` says more, and names the
        next page in ``odata.nextLink``, an absolute URL on the same host)."""
        client, site = self.client(web_url)
        url = f"{site}/_api/{call}" if "$top=" in call else f"{site}/_api/{call}{'&' if '?' in call else '?'}$top=5000"
        found: list[dict[str, Any]] = []
        while url:
            body = client.request("GET", url, headers=NOMETADATA).json()
            found += body.get("value", [])
            following = urlsplit(str(body.get("odata.nextLink") or ""))
            url = f"{following.path}?{following.query}" if following.path else ""
        return found

    def post(self, web_url: str, call: str, body: dict[str, Any]) -> dict[str, Any]:
        client, site = self.client(web_url)
        resp = client.request("POST", f"{site}/_api/{call}", json=body, headers=NOMETADATA)
        return resp.json() if resp.content else {}

    def get_bytes(self, web_url: str, call: str) -> bytes:
        client, site = self.client(web_url)
        return client.request("GET", f"{site}/_api/{call}").content

    def post_bytes(self, web_url: str, call: str, data: bytes) -> dict[str, Any]:
        client, site = self.client(web_url)
        resp = client.request("POST", f"{site}/_api/{call}", data=data,
                              headers={**NOMETADATA, "Content-Type": "application/octet-stream"})
        return resp.json() if resp.content else {}
