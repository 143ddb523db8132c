"""The sandbox's usage reports, read as the forecast reads them: a 302 to a pre-authenticated CSV, one row per
mailbox, OneDrive and site of the tenant, names concealed where the tenant's report setting says so; without
Reports.Read.All, refused."""

from __future__ import annotations

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.services import reports
from tenantmove.services.graph import GraphError

from .conftest import SOURCE_APP, make_client


def test_the_reports_count_items_and_bytes_per_mailbox_onedrive_and_site(sandbox: Sandbox) -> None:
    _, old = make_client(sandbox, "source")
    boxes = reports.sizes(old, reports.MAILBOXES)
    assert len(boxes) >= 20 and (boxes["items"] > 0).any() and (boxes["bytes"] >= 0).all()
    assert "megan.bowen@contoso.example" in set(boxes["scope"])  # Contoso's reports show names
    drives, sites = reports.sizes(old, reports.ONEDRIVES), reports.sizes(old, reports.SITES)
    assert (drives["items"] > 0).any() and any("/sites/sales" in s for s in sites["scope"])
    raw = reports.usage(old, reports.MAILBOXES)
    assert list(raw.columns)[:3] == ["Report Refresh Date", "User Principal Name", "Display Name"]
    _, theirs = make_client(sandbox, "fabrikam")
    hidden = reports.sizes(theirs, reports.MAILBOXES)  # the service's default: names concealed
    assert len(hidden) >= 3 and not any("@" in s for s in hidden["scope"])


def test_without_the_permission_the_report_is_refused(sandbox: Sandbox) -> None:
    roles = sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={})["roles"]
    sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={"roles": [r for r in roles if r != "Reports.Read.All"]})
    try:
        _, old = make_client(sandbox, "source")
        with pytest.raises(GraphError) as info:
            reports.sizes(old, reports.MAILBOXES)
        assert info.value.status == 403 and "Reports.Read.All" in info.value.one_line()
    finally:
        sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={"roles": roles})
