"""SharePoint's own REST API in the sandbox, through the real sign-in and client: a certificate's app-only token
for the SharePoint resource reads a site; a secret's is refused as SharePoint refuses it (so the runbook knows,
before it tries, that PnP commands must do that work); a Graph token, or one of the other tenant, is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tenantmove.sandbox import Sandbox
from tenantmove.services.auth import SignIn
from tenantmove.services.graph import GraphError
from tenantmove.services.sprest import SharePointRest

from .conftest import SOURCE_APP, tenant_config
from .test_auth_sandbox import _self_signed

SALES = "https://contoso.sharepoint.com/sites/sales"


def _signin(sb: Sandbox, **overrides: str) -> SignIn:
    config = tenant_config("source", **overrides) if overrides else tenant_config("source")
    return SignIn(config, authority_host=sb.endpoints["authority_host"], verify=sb.ca_file)


def _rest(sb: Sandbox, signin: SignIn) -> SharePointRest:
    return SharePointRest(signin, verify=sb.ca_file, sandbox_url=sb.endpoints["sharepoint_url"])


def test_a_certificate_reads_a_site_and_a_secret_is_refused_as_sharepoint_refuses_it(fresh_sandbox: Sandbox,
                                                                                     tmp_path: Path) -> None:
    sb = fresh_sandbox
    secret = _rest(sb, _signin(sb))
    assert "certificate" in secret.usable()
    with pytest.raises(GraphError) as info:
        secret.get(SALES, "web")
    assert info.value.status == 401 and "Unsupported app only token" in str(info.value)

    pem = _self_signed(tmp_path)
    sb.admin("POST", f"apps/{SOURCE_APP}/certificates", data=pem.read_bytes().split(b"-----END PRIVATE KEY-----\n")[1])
    by_cert = _rest(sb, _signin(sb, auth="certificate", certificate_file=str(pem), secret_env=""))
    assert by_cert.usable() == ""
    web = by_cert.get(SALES, "web")
    assert (web["Title"], web["ServerRelativeUrl"]) == ("Sales", "/sites/sales")

    graph_token = _signin(sb).token()  # a Graph token is not SharePoint's
    answer = requests.get(f"{sb.endpoints['sharepoint_url']}/contoso.sharepoint.com/sites/sales/_api/web",
                          headers={"Authorization": f"Bearer {graph_token}"}, verify=sb.ca_file, timeout=10)
    assert answer.status_code == 401
    other = requests.get(f"{sb.endpoints['sharepoint_url']}/contosonew.sharepoint.com/sites/sales/_api/web",
                         headers={"Authorization": f"Bearer {by_cert.signin.token_for('https://contoso.sharepoint.com')}"},
                         verify=sb.ca_file, timeout=10)
    assert other.status_code == 401  # the audience is another tenant's host
