"""A group's primary SMTP address, which Graph reads but cannot write (``mail`` is read-only there): Exchange Online
PowerShell sets it, ``Set-UnifiedGroup -Identity X -PrimarySmtpAddress a`` for a Microsoft 365 group and
``Set-DistributionGroup -Identity X -PrimarySmtpAddress a`` for a distribution list or mail-enabled security group.
As in Exchange Online, the address's domain must be an accepted (verified) domain of the organization, no other
recipient may hold the address, and the old primary address stays as an alias (``smtp:``)."""

from __future__ import annotations

from typing import Any

from .state import Tenant


def _holder(tenant: Tenant, address: str) -> str | None:
    """The recipient (user or group) that has ``address`` among its addresses, by its name."""
    want = address.lower()
    for obj in [*tenant.users.values(), *tenant.groups.values()]:
        addresses = {str(obj.get("mail") or "").lower()} | {p.partition(":")[2].lower()
                                                             for p in obj.get("proxyAddresses") or []}
        if want in addresses:
            return str(obj.get("userPrincipalName") or obj.get("mailNickname") or obj["id"])
    return None


def set_primary(tenant: Tenant, group: dict[str, Any], address: str, cmdlet: str) -> str:
    """Make ``address`` the group's primary SMTP address; the old one becomes an alias."""
    domain = address.rsplit("@", 1)[-1].lower()
    if "@" not in address:
        raise ValueError(f"{cmdlet}: {address!r} is not a valid SMTP address")
    if domain not in {d for d, v in tenant.domains.items() if v.get("isVerified")}:
        raise ValueError(f"{cmdlet}: the domain {domain} of {address} is not an accepted domain of this organization")
    holder = _holder(tenant, address)
    if holder is not None and holder not in (group.get("mailNickname"), group["id"]):
        raise ValueError(f"{cmdlet}: the proxy address \"SMTP:{address}\" is already being used by {holder}")
    old = str(group.get("mail") or "")
    if old.lower() == address.lower():
        return f"{group['mailNickname']}: {address} is its primary address already"
    others = [p for p in group.get("proxyAddresses") or [] if p.partition(":")[2].lower() != address.lower()
              and p.partition(":")[2].lower() != old.lower()]
    group["proxyAddresses"] = [f"SMTP:{address}"] + ([f"smtp:{old}"] if old else []) + others
    group["mail"] = address
    return f"{group['mailNickname']}: primary address {address} (was {old or 'none'})"


def set_distribution_group(tenant: Tenant, p: dict[str, str]) -> str:
    """``Set-DistributionGroup -Identity X -PrimarySmtpAddress a``: a distribution list or mail-enabled security
    group (a Microsoft 365 group is Set-UnifiedGroup's)."""
    key = p.get("identity", "").lower()
    found = [g for g in tenant.groups.values() if g.get("mailEnabled") and "Unified" not in (g.get("groupTypes") or [])
             and key in {str(g.get("mail") or "").lower(), str(g.get("mailNickname") or "").lower(),
                         str(g.get("displayName") or "").lower(), str(g["id"]).lower()}]
    if not found:
        raise ValueError(f"Set-DistributionGroup: the operation couldn't be performed because object "
                         f"'{p.get('identity', '')}' couldn't be found")
    unknown = sorted(set(p) - {"identity", "primarysmtpaddress", "confirm"})
    if unknown or "primarysmtpaddress" not in p:
        raise ValueError("Set-DistributionGroup: the sandbox sets -PrimarySmtpAddress only"
                         + (f", not -{unknown[0]}" if unknown else ""))
    return set_primary(tenant, found[0], p["primarysmtpaddress"], "Set-DistributionGroup")
