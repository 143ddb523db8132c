"""Which DNS records the cutover may touch: only Microsoft 365's, never SPF, DMARC or a web host's."""

from __future__ import annotations

import pandas as pd
import pytest

from tenantmove.workloads.dnsrecords import SERVICE_NAMES, spf_with_microsoft

RULES = {(template, rtype): rule for template, rtype, _, rule in SERVICE_NAMES}


@pytest.mark.parametrize(("template", "rtype", "value", "microsoft"), [
    ("{d}", "MX", "0 contoso-example.mail.protection.outlook.com", True),
    ("{d}", "MX", "0 contoso-example.l-v1.mx.microsoft", True),
    ("{d}", "MX", "10 mx1.filter.example", False),
    ("{d}", "MX", "10 outlook.com.evil.example", False),
    ("autodiscover.{d}", "CNAME", "autodiscover.outlook.com", True),
    ("autodiscover.{d}", "CNAME", "autodiscover.mailhost.example", False),
    ("sip.{d}", "CNAME", "sipdir.online.lync.com", True),
    ("lyncdiscover.{d}", "CNAME", "webdir.online.lync.com", True),
    ("_sip._tls.{d}", "SRV", "100 1 443 sipdir.online.lync.com", True),
    ("_sipfederationtls._tcp.{d}", "SRV", "100 1 5061 sip.pbx.example", False),
    ("www.{d}", "CNAME", "contoso.sharepoint.com", True),
    ("www.{d}", "CNAME", "contoso.azurewebsites.net", False),
    ("www.{d}", "CNAME", "notsharepoint.com", False),
])
def test_a_record_is_microsoft_365s_only_by_its_value(template: str, rtype: str, value: str, microsoft: bool) -> None:
    assert RULES[(template, rtype)](value) is microsoft


def test_spf_gets_microsofts_include_with_every_other_mechanism_kept() -> None:
    assert spf_with_microsoft("v=spf1 include:mailgun.org ip4:192.0.2.1 ~all") == \
        "v=spf1 include:mailgun.org ip4:192.0.2.1 include:spf.protection.outlook.com ~all"
    assert spf_with_microsoft("v=spf1 mx redirect=_spf.example") == \
        "v=spf1 mx include:spf.protection.outlook.com redirect=_spf.example"
    same = "v=spf1 include:spf.protection.outlook.com -all"
    assert spf_with_microsoft(same) == same


def test_a_dkim_selector_belongs_to_the_tenant_whose_keys_it_names() -> None:
    from tenantmove.workloads.dkim import points_at

    assert points_at("selector1-contoso-example._domainkey.contosonew.onmicrosoft.com.", "contosonew.onmicrosoft.com")
    assert not points_at("selector1-contoso-example._domainkey.contoso.onmicrosoft.com", "contosonew.onmicrosoft.com")
    assert points_at("selector1-contoso-example._domainkey.contosonew.r-v1.dkim.mail.microsoft",
                     "contosonew.onmicrosoft.com")
    assert not points_at("selector1-contoso-example._domainkey.contoso.r-v1.dkim.mail.microsoft",
                         "contosonew.onmicrosoft.com")


class _Served:
    """What one authoritative server serves: {(name, type): {values}} (a small fake of Nameservers' reads)."""

    def __init__(self, records: dict[tuple[str, str], set[str]]) -> None:
        self.records = records

    def values(self, name: str, rtype: str) -> list[set[str]]:
        return [set(self.records.get((name, rtype), set()))]


def test_the_way_back_restores_the_cutovers_records_as_the_snapshot_had_them_and_leaves_yours() -> None:
    from tenantmove.services.dnsops import record
    from tenantmove.workloads.dnssnapshot import COLUMNS, owner, restore_plan

    d = "contoso.example"
    before = [(d, "MX", "0 contoso-example.mail.protection.outlook.com"), (d, "TXT", "v=spf1 mx -all"),
              (d, "TXT", "MS=ms111"), (d, "A", "192.0.2.10"), (f"autodiscover.{d}", "CNAME", "autodiscover.outlook.com"),
              (f"selector1._domainkey.{d}", "CNAME", "selector1-contoso-example._domainkey.contoso.onmicrosoft.com")]
    snapshot = pd.DataFrame([{"name": n, "type": t, "value": v, "owner": owner(d, n, t, v)} for n, t, v in before],
                            columns=COLUMNS)
    now = _Served({(d, "MX"): {"10 mx-hold.contoso.example"},  # the holding MX, left by a cutover stopped half-way
                   (d, "TXT"): {"v=spf1 mx include:spf.protection.outlook.com -all", "MS=ms222"},  # the new tenant's
                   (d, "A"): {"192.0.2.99"},  # yours, changed since phase 00: not the way back's to touch
                   (f"selector1._domainkey.{d}", "CNAME"): {"selector1-contoso-example._domainkey.contosonew.onmicrosoft.com"}})
    present, absent, table = restore_plan(now, d, snapshot, [record(d, "TXT", "MS=ms333")], "mx-hold.contoso.example",
                                          ttl=300)
    assert {(r.type, r.value) for r in present} == {
        ("MX", "0 contoso-example.mail.protection.outlook.com"), ("TXT", "v=spf1 mx -all"), ("TXT", "MS=ms333"),
        ("CNAME", "autodiscover.outlook.com"),
        ("CNAME", "selector1-contoso-example._domainkey.contoso.onmicrosoft.com")}  # the old tenant's code, as Graph says
    assert {r.ttl for r in present} == {300}
    assert {(r.type, r.value) for r in absent} == {
        ("MX", "10 mx-hold.contoso.example"), ("TXT", "v=spf1 mx include:spf.protection.outlook.com -all"),
        ("TXT", "MS=ms222"), ("CNAME", "selector1-contoso-example._domainkey.contosonew.onmicrosoft.com")}
    assert "192.0.2.99" not in set(table["value"]) and "192.0.2.10" not in {r.value for r in present}
    assert set(table["action"]) == {"restore", "remove"}
