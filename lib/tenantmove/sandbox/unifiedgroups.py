"""A Microsoft 365 group's delivery settings, which Graph reads and writes only with a delegated token and the
runbook therefore handles in Exchange Online PowerShell: ``Get-UnifiedGroup [-Identity X] [-ResultSize Unlimited]``
and ``Set-UnifiedGroup -Identity X [-RequireSenderAuthenticationEnabled $b] [-AutoSubscribeNewMembers[:$b]]
[-PrimarySmtpAddress a]`` (the address: :mod:`.groupaddresses`).
``RequireSenderAuthenticationEnabled`` is Graph's ``allowExternalSenders`` turned round; a new group requires
authenticated senders and does not subscribe its new members, as in Exchange Online.

Seed (per group in ``groups:``): ``allow_external_senders: true``, ``auto_subscribe_new_members: true``."""

from __future__ import annotations

from typing import Any

from .groupaddresses import set_primary
from .state import Tenant

DEFAULTS = {"RequireSenderAuthenticationEnabled": True, "AutoSubscribeNewMembers": False}


def _unified(tenant: Tenant) -> list[dict[str, Any]]:
    return [g for g in tenant.groups.values() if "Unified" in (g.get("groupTypes") or [])]


def _settings(tenant: Tenant, group: dict[str, Any]) -> dict[str, bool]:
    return {**DEFAULTS, **tenant.group_delivery.get(group["id"], {})}


def _find(tenant: Tenant, identity: str, cmdlet: str) -> dict[str, Any]:
    key = identity.lower()
    for group in _unified(tenant):
        if key in {str(group.get("mail") or "").lower(), str(group.get("mailNickname") or "").lower(),
                   str(group.get("displayName") or "").lower(), str(group["id"]).lower()}:
            return group
    raise ValueError(f"{cmdlet}: the operation couldn't be performed because object '{identity}' couldn't be found")


def get_unified_group(tenant: Tenant, p: dict[str, str]) -> list[dict[str, Any]]:
    groups = [_find(tenant, p["identity"], "Get-UnifiedGroup")] if p.get("identity") else _unified(tenant)
    return [{"Identity": g["mailNickname"], "Alias": g["mailNickname"], "DisplayName": g["displayName"],
             "PrimarySmtpAddress": g.get("mail"), "ExternalDirectoryObjectId": g["id"], **_settings(tenant, g)}
            for g in groups]


def _boolean(value: str, name: str) -> bool:
    if value.lower() not in ("$true", "$false"):
        raise ValueError(f"Set-UnifiedGroup: -{name} takes $true or $false, not {value!r}")
    return value.lower() == "$true"


def set_unified_group(tenant: Tenant, p: dict[str, str]) -> str:
    group = _find(tenant, p.get("identity", ""), "Set-UnifiedGroup")
    known = {"requiresenderauthenticationenabled": "RequireSenderAuthenticationEnabled",
             "autosubscribenewmembers": "AutoSubscribeNewMembers"}
    unknown = sorted(set(p) - set(known) - {"identity", "confirm", "primarysmtpaddress"})
    if unknown:
        raise ValueError(f"Set-UnifiedGroup: the sandbox sets {', '.join(known.values())} and PrimarySmtpAddress "
                         f"only, not -{unknown[0]}")
    said = [set_primary(tenant, group, p["primarysmtpaddress"], "Set-UnifiedGroup")] \
        if "primarysmtpaddress" in p else []
    changed = {known[k]: _boolean(v, known[k]) for k, v in p.items() if k in known}
    if changed:
        tenant.group_delivery.setdefault(group["id"], {}).update(changed)
        said.append(f"{group['mailNickname']}: " + ", ".join(f"{k} {v}" for k, v in changed.items()))
    return "; ".join(said) or f"{group['mailNickname']}: nothing to set"
