"""Which DNS records the cutover may touch: only Microsoft 365's, never SPF, DMARC or a web host's."""

from __future__ import annotations

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
