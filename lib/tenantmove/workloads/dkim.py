"""DKIM after the move: the custom domain's selector CNAMEs (``selector1._domainkey``, ``selector2._domainkey``)
point at the old tenant's signing keys; once the domain is the new tenant's they must point at the new tenant's,
or mail it sends fails DKIM. No Graph API makes the keys: a manual item with the Exchange Online commands
(``New-DkimSigningConfig``, ``Get-DkimSigningConfig`` for the CNAME targets, the DNS change, then
``Set-DkimSigningConfig -Enabled $true``), read back from DNS on every run: done when both selectors point at
the new tenant."""

from __future__ import annotations

from collections.abc import Iterable

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..services.dnsops import Nameservers

SELECTORS = ("selector1", "selector2")


def points_at(value: str, initial_domain: str) -> bool:
    """Whether a selector's CNAME target is a key of the tenant whose initial domain is ``initial_domain``: the
    classic form ends in ``._domainkey.<initial domain>``; the newer ``….dkim.mail.microsoft`` form names the
    tenant's first label."""
    target = value.rstrip(".").lower()
    initial = initial_domain.lower()
    return target.endswith(f"._domainkey.{initial}") or (
        target.endswith(".dkim.mail.microsoft") and f".{initial.split('.')[0]}." in f".{target}.")


class DkimSigning(Workload):
    kind = "dkim"
    title = "DKIM signing for the custom domain"
    manual_shell = "Exchange Online PowerShell (new tenant)"

    def __init__(self, ns: Nameservers, domain: str, new_initial: str, had_dkim: bool) -> None:
        self.ns, self.domain, self.new_initial, self.had_dkim = ns, domain, new_initial, had_dkim
        self.manual_preamble = (f"Connect-ExchangeOnline -Organization {ps_quote(new_initial)}",)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        if self.had_dkim:  # the old tenant signed the domain's mail: the new one must too
            yield Work(f"dkim {self.domain}", f"DKIM selectors of {self.domain}", detail={"domain": self.domain})

    def served(self) -> dict[str, list[str]]:
        return {s: sorted(set().union(*self.ns.values(f"{s}._domainkey.{self.domain}", "CNAME"))) for s in SELECTORS}

    def apply(self, work: Work, existing: object) -> Applied | ManualStep:
        served = self.served()
        if all(values and all(points_at(v, self.new_initial) for v in values) for values in served.values()):
            return Applied(None, "read back: the selectors point at the new tenant",
                           detail={"selectors": served})
        domain = ps_quote(self.domain)
        now = "; ".join(f"{s}: {', '.join(v) or 'none'}" for s, v in served.items())
        return ManualStep(work.key, f"DKIM for {self.domain}: the selectors point at the old tenant's keys ({now})", [
            f"New-DkimSigningConfig -DomainName {domain} -Enabled $false",
            f"Get-DkimSigningConfig -Identity {domain}",
            f"# at your DNS host: selector1._domainkey.{self.domain} and selector2._domainkey.{self.domain} as CNAMEs "
            "to the Selector1CNAME and Selector2CNAME the line above prints",
            f"Set-DkimSigningConfig -Identity {domain} -Enabled $true"],
            check=f"selector1 and selector2 of {self.domain} point at {self.new_initial}'s keys (DNS)")
