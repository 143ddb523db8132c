"""Exchange Online PowerShell, as far as the runbook's manual scripts use it: the admin API runs a
script against one tenant, as an admin would in a PowerShell session (``$ErrorActionPreference =
'Stop'``: the first error ends it). Supported: ``Connect-ExchangeOnline``, ``New-DistributionGroup``
(-Name -Alias -PrimarySmtpAddress [-Type Distribution|Security]) and ``Add-DistributionGroupMember``
(-Identity -Member). Anything else is refused, so a script the runbook writes is held to what
Exchange accepts."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .state import Tenant, now_iso

TOKEN_RE = re.compile(r"'((?:[^']|'')*)'(?:\s*,\s*'(?:[^']|'')*')*|(\S+)")  # 'a','b' is one (list) value


class PowerShellError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse(line: str) -> tuple[str, dict[str, str]]:
    """``Cmdlet -Param 'value' -Switch`` -> (cmdlet, {param: value})."""
    tokens = [m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2) for m in TOKEN_RE.finditer(line)]
    cmdlet, params = tokens[0], {}
    i = 1
    while i < len(tokens):
        name = tokens[i]
        if not name.startswith("-"):
            raise ValueError(f"unexpected {name!r}")
        if i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            params[name[1:].lower()] = tokens[i + 1]
            i += 2
        else:
            params[name[1:].lower()] = "$true"
            i += 1
    return cmdlet, params


def _find_group(tenant: Tenant, identity: str) -> dict[str, Any] | None:
    key = identity.lower()
    for group in tenant.groups.values():
        if key in {(group.get("mail") or "").lower(), str(group.get("mailNickname", "")).lower(),
                   str(group.get("displayName", "")).lower()}:
            return group
    return None


def _new_group(tenant: Tenant, p: dict[str, str]) -> str:
    for required in ("name", "alias", "primarysmtpaddress"):
        if required not in p:
            raise ValueError(f"New-DistributionGroup needs -{required}")
    address = p["primarysmtpaddress"]
    domain = address.rsplit("@", 1)[-1].lower()
    accepted = {d for d, v in tenant.domains.items() if v.get("isVerified")}
    if domain not in accepted:
        raise ValueError(f"{domain} is not an accepted domain of this organization")
    if _find_group(tenant, p["alias"]) or _find_group(tenant, address):
        raise ValueError(f"The proxy address \"SMTP:{address}\" is already being used")
    security = p.get("type", "Distribution").lower() == "security"
    gid = str(uuid.uuid4())
    tenant.groups[gid] = {"id": gid, "createdDateTime": now_iso(), "description": None, "displayName": p["name"],
                          "groupTypes": [], "mail": address, "mailEnabled": True, "mailNickname": p["alias"],
                          "proxyAddresses": [f"SMTP:{address}"], "securityEnabled": security, "visibility": None}
    tenant.members[gid] = []
    return f"created {address}"


def _add_member(tenant: Tenant, p: dict[str, str]) -> str:
    group = _find_group(tenant, p.get("identity", ""))
    if group is None or "Unified" in group.get("groupTypes", []) or not group.get("mailEnabled"):
        raise ValueError(f"Couldn't find object \"{p.get('identity')}\" (not a distribution group)")
    user = tenant.find_user(p.get("member", ""))
    if user is None:
        raise ValueError(f"Couldn't find object \"{p.get('member')}\"")
    if user["id"] in tenant.members[group["id"]]:
        raise ValueError(f"The recipient \"{user['userPrincipalName']}\" is already a member of the group")
    tenant.members[group["id"]].append(user["id"])
    return f"added {user['userPrincipalName']} to {group['mail']}"


CMDLETS = {"new-distributiongroup": _new_group, "add-distributiongroupmember": _add_member}


def run_script(tenant: Tenant, script: str, more: dict[str, Any] | None = None,
               connect: Any = None) -> list[str]:
    """Run ``script`` line by line; return what each command did, or raise at the first error. ``more``
    adds cmdlets (``name -> handler(tenant, params, line)``), e.g. SharePoint Online's. ``connect(url)``
    answers the tenant a ``Connect-SPOService -Url`` line names: the session works in that tenant from then on."""
    done = []
    extra = {k.lower(): v for k, v in (more or {}).items()}
    for number, raw in enumerate(script.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line.lower().startswith(
                ("$erroractionpreference", "connect-exchangeonline", "connect-microsoftteams")):
            continue
        if line.lower().startswith("connect-sposervice") and "<" in line:  # the admin fills in the placeholder
            continue
        try:
            cmdlet, params = parse(line)
            if cmdlet.lower() == "connect-sposervice":
                if connect is not None and params.get("url"):
                    tenant = connect(params["url"])
                    done.append(f"connected to {params['url']}")
                continue
            if cmdlet.lower() in extra:
                done.append(extra[cmdlet.lower()](tenant, params, line))
                continue
            handler = CMDLETS.get(cmdlet.lower())
            if handler is None:
                raise ValueError(f"The term '{cmdlet}' is not supported by the sandbox's PowerShell")
            done.append(handler(tenant, params))
        except ValueError as exc:
            raise PowerShellError(number, str(exc)) from exc
    return done
