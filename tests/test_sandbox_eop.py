"""Exchange Online Protection's receiving side in the sandbox, over real SMTP on loopback (Python's smtplib as the
sender): mail for a domain verified in a tenant lands in the recipient's Inbox; someone unknown there is refused
for good; a domain no tenant holds is refused for good or deferred, as the knob says (Microsoft's documentation
does not settle which)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from tenantmove.sandbox import Sandbox

from .test_mail_sandbox import counts


def _mail(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "orders@fabrikam.example", to, subject
    msg.set_content("Please confirm the order.")
    return msg


def _inbox(sb: Sandbox, upn: str) -> int:
    return counts(sb, "source", upn)["Inbox"]


def test_mail_for_a_tenants_domain_lands_in_the_inbox_and_strangers_are_refused(fresh_sandbox: Sandbox) -> None:
    sb = fresh_sandbox
    smtp, before = sb.endpoints["smtp"], _inbox(sb, "megan.bowen@contoso.example")
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as conn:
        refused = conn.send_message(_mail("megan.bowen@contoso.example", "Order 4711"))
        assert refused == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as nobody:
            conn.send_message(_mail("nobody@contoso.example", "Order 4712"))
        assert nobody.value.recipients["nobody@contoso.example"][0] == 550
    assert _inbox(sb, "megan.bowen@contoso.example") == before + 1  # the stranger's mail went nowhere
    assert sb.stats()["counts"].get("eop delivered", 0) >= 1


@pytest.mark.parametrize("answer, code", [("reject", 550), ("defer", 451)])
def test_a_domain_no_tenant_holds_is_refused_or_deferred_as_the_knob_says(fresh_sandbox: Sandbox, answer: str,
                                                                          code: int) -> None:
    fresh_sandbox.set_knobs(eop_unknown_domain=answer)
    smtp = fresh_sandbox.endpoints["smtp"]
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as conn:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            conn.send_message(_mail("megan.bowen@nowhere.example", "Order 4713"))
    assert refused.value.recipients["megan.bowen@nowhere.example"][0] == code
