"""Exchange Online's DKIM signing, as far as the runbook's manual script uses it: ``New-DkimSigningConfig
-DomainName D -Enabled $false`` makes the tenant's two signing keys for an accepted domain, ``Get-DkimSigningConfig
-Identity D`` says the CNAME targets the domain's selectors must point at, and ``Set-DkimSigningConfig -Identity D
-Enabled $true`` turns signing on only once both selectors point there (as Exchange refuses it before). The
selectors' targets are the tenant's own (``selectorN-<domain>._domainkey.<initial domain>``).

The demo's stand-in admin is also the domain's DNS host: when it makes the keys it publishes the two CNAMEs in
the sandbox's zone, as an admin would at their DNS host between the two commands."""

from __future__ import annotations

from typing import Any

from .state import Tenant


def selector_targets(tenant: Tenant, domain: str) -> dict[str, str]:
    return {f"selector{n}": f"selector{n}-{domain.replace('.', '-')}._domainkey.{tenant.initial_domain}"
            for n in (1, 2)}


class DkimSigning:
    def __init__(self, zones: Any) -> None:
        self.zones = zones
        self.configs: dict[tuple[str, str], bool] = {}  # (tenant id, domain) -> enabled

    def cmdlets(self) -> dict[str, Any]:
        return {"New-DkimSigningConfig": self._new, "Get-DkimSigningConfig": self._get,
                "Set-DkimSigningConfig": self._set}

    def _domain(self, tenant: Tenant, name: str) -> str:
        domain = name.lower()
        found = tenant.domains.get(domain)
        if found is None or not found.get("isVerified") or found.get("isInitial"):
            raise ValueError(f"{name} is not an accepted domain of this organization")
        return domain

    def _new(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        domain = self._domain(tenant, params.get("domainname", ""))
        self.configs.setdefault((tenant.id, domain), False)
        for selector, target in selector_targets(tenant, domain).items():  # the admin at the DNS host (demo)
            self.zones.set(f"{selector}._domainkey.{domain}.", "CNAME", [f"{target}."])
        return f"DKIM keys made for {domain} (selector CNAMEs published at the DNS host)"

    def _get(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        domain = self._domain(tenant, params.get("identity", ""))
        if (tenant.id, domain) not in self.configs:
            raise ValueError(f"no DKIM signing config for {domain}: run New-DkimSigningConfig first")
        targets = selector_targets(tenant, domain)
        return f"{domain}: Selector1CNAME {targets['selector1']}, Selector2CNAME {targets['selector2']}"

    def _set(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        domain = self._domain(tenant, params.get("identity", ""))
        if (tenant.id, domain) not in self.configs:
            raise ValueError(f"no DKIM signing config for {domain}: run New-DkimSigningConfig first")
        enable = params.get("enabled", "$true").lower() == "$true"
        if enable:
            for selector, target in selector_targets(tenant, domain).items():
                served = self.zones.values(f"{selector}._domainkey.{domain}.", "CNAME")
                if f"{target}." not in served:
                    raise ValueError(f"CNAME record does not exist for {selector}._domainkey.{domain}: publish it "
                                     f"(-> {target}) and try again")
        self.configs[(tenant.id, domain)] = enable
        return f"DKIM signing for {domain} {'enabled' if enable else 'disabled'}"
