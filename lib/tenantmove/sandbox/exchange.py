"""Exchange Online PowerShell, as far as the runbook's manual scripts use it: the admin API runs a
script against one tenant, as an admin would in a PowerShell session (``$ErrorActionPreference =
'Stop'``: the first error ends it). Supported: ``Connect-ExchangeOnline``, ``New-DistributionGroup``
(-Name -Alias -PrimarySmtpAddress [-Type Distribution|Security]) and ``Add-DistributionGroupMember``
(-Identity -Member), ``Get-Mailbox -Identity`` (read into a variable: its ``LegacyExchangeDN``), ``Set-Mailbox
-Identity -EmailAddresses|-GrantSendOnBehalfTo @{Add=...}``, the mailbox rights of :mod:`.mailboxrights`, a group's
delivery settings (:mod:`.unifiedgroups`) and primary address (:mod:`.groupaddresses`), and a ``Get-`` cmdlet's rows piped into ``Export-Csv`` (:mod:`.pipeline`). Anything else is refused, so a script the runbook writes is held to
what Exchange accepts."""

from __future__ import annotations

import re
import uuid
from typing import Any

from . import groupaddresses, mailboxrights, pipeline, unifiedgroups
from .state import Tenant, now_iso

# 'a','b' is one (list) value; @{Add='a','b'} one hashtable
TOKEN_RE = re.compile(r"'((?:[^']|'')*)'(?:\s*,\s*'(?:[^']|'')*')*|(@\{[^}]*\})|(\S+)")
ASSIGN_RE = re.compile(r"^\$(\w+)\s*=\s*\((.+)\)\.(\w+)$")  # $dn = (Get-Mailbox -Identity 'x').LegacyExchangeDN
QUOTED_RE = re.compile(r"'((?:[^']|'')*)'")
DOUBLE_RE = re.compile(r'"([^"]*)"')
BARE_RE = re.compile(r"(?<=\s)\$(\w+)\b")


def _bare(variables: dict[str, str], name: str) -> str:
    """A variable used bare: a boolean as itself, anything else quoted; an unknown name is PowerShell's own."""
    if name not in variables:
        return "$" + name
    value = variables[name]
    return value if value in ("$true", "$false") else "'" + value.replace("'", "''") + "'"


class PowerShellError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse(line: str) -> tuple[str, dict[str, str]]:
    """``Cmdlet -Param 'value' -Switch -Switch:$false`` -> (cmdlet, {param: value})."""
    tokens = []
    for m in TOKEN_RE.finditer(line):
        token = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2) or m.group(3)
        if m.group(3) is not None and token.startswith("-") and ":" in token:  # -Switch:$false is one token
            tokens += token.split(":", 1)
        else:
            tokens.append(token)
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


def legacy_dn(user: dict[str, Any]) -> str:
    """The mailbox's LegacyExchangeDN, as Exchange Online forms it (the object's id and alias in the last part)."""
    return ("/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/"
            f"cn={str(user['id']).replace('-', '')[:32]}-{user.get('mailNickname') or 'user'}")


def _mailbox_user(tenant: Tenant, identity: str) -> dict[str, Any]:
    user = tenant.find_user(identity) or next(
        (u for u in tenant.users.values() if identity.lower() in {str(u.get("mail") or "").lower(),
                                                                    str(u.get("mailNickname") or "").lower()}), None)
    if user is None or not (user.get("assignedLicenses") or user.get("mailboxType")):
        raise ValueError(f"The operation couldn't be performed because object '{identity}' couldn't be found")
    return user


def get_mailbox(tenant: Tenant, p: dict[str, str]) -> dict[str, Any]:
    """Get-Mailbox -Identity X: the properties the runbook's scripts read."""
    user = _mailbox_user(tenant, p.get("identity", ""))
    return {"Identity": mailboxrights.name_of(user), "Name": mailboxrights.name_of(user),
            "UserPrincipalName": user["userPrincipalName"],
            "LegacyExchangeDN": legacy_dn(user), "EmailAddresses": list(user.get("proxyAddresses") or []),
            "PrimarySmtpAddress": user.get("mail"), "RecipientTypeDetails": _details(user),
            "GrantSendOnBehalfTo": [mailboxrights.name_of(tenant.users[u]) for u in user.get("grantSendOnBehalfTo")
                                    or [] if u in tenant.users]}


def _details(user: dict[str, Any]) -> str:
    return {"shared": "SharedMailbox", "room": "RoomMailbox", "equipment": "EquipmentMailbox"}.get(
        str(user.get("mailboxType")), "UserMailbox")


def _set_mailbox(tenant: Tenant, p: dict[str, str]) -> str:
    """Set-Mailbox -Identity X -EmailAddresses @{Add='smtp:a','X500:b'}: addresses added (one already there is
    left as it is; one in a domain the organisation does not accept, or held by another recipient, is refused);
    -GrantSendOnBehalfTo @{Add='a','b'}: who may send on the mailbox's behalf."""
    user = _mailbox_user(tenant, p.get("identity", ""))
    if p.get("grantsendonbehalfto", "").lower().startswith("@{add="):
        return mailboxrights.send_on_behalf(tenant, user, [v.replace("''", "'")
                                                          for v in QUOTED_RE.findall(p["grantsendonbehalfto"])])
    table = p.get("emailaddresses", "")
    if not table.lower().startswith("@{add="):
        raise ValueError("Set-Mailbox: the sandbox takes -EmailAddresses or -GrantSendOnBehalfTo @{Add=...} only")
    added = []
    accepted = {d.lower() for d, v in tenant.domains.items() if v.get("isVerified")}
    for address in (v.replace("''", "'") for v in QUOTED_RE.findall(table)):
        kind, _, value = address.partition(":")
        if kind.lower() == "smtp":
            if value.rsplit("@", 1)[-1].lower() not in accepted:
                raise ValueError(f"The domain of {value} isn't an accepted domain of this organization")
            for other in tenant.users.values():
                if other is not user and value.lower() in {x.split(":", 1)[-1].lower()
                                                           for x in other.get("proxyAddresses") or []}:
                    raise ValueError(f"The proxy address \"SMTP:{value}\" is already being used by "
                                     f"{other['userPrincipalName']}")
        elif kind.upper() != "X500" or not value.startswith("/o="):
            raise ValueError(f"{address!r} is not an smtp: or X500: address")
        if address.lower() not in {x.lower() for x in user.get("proxyAddresses") or []}:
            user.setdefault("proxyAddresses", []).append(("smtp" if kind.lower() == "smtp" else "X500") + ":" + value)
            added.append(address)
    return f"{user['userPrincipalName']}: added {', '.join(added) or 'nothing (there already)'}"


CMDLETS = {"new-distributiongroup": _new_group, "add-distributiongroupmember": _add_member,
           "set-mailbox": _set_mailbox, "set-unifiedgroup": unifiedgroups.set_unified_group,
           "set-distributiongroup": groupaddresses.set_distribution_group}
# cmdlets that take the line too (Exchange's rights, :mod:`.mailboxrights`)
RIGHTS = {"add-mailboxpermission": mailboxrights.add_full_access,
          "remove-mailboxpermission": mailboxrights.remove_full_access,
          "add-recipientpermission": mailboxrights.add_send_as}
# what a Get- cmdlet gives a pipe: rows
READERS = {"get-mailboxpermission": mailboxrights.get_full_access, "get-recipientpermission": mailboxrights.get_send_as,
           "get-mailbox": lambda tenant, p: [get_mailbox(tenant, p)], "get-recipient": mailboxrights.get_recipient,
           "get-unifiedgroup": unifiedgroups.get_unified_group}


def run_script(tenant: Tenant, script: str, more: dict[str, Any] | None = None,
               connect: Any = None, organization: Any = None) -> list[str]:
    """Run ``script`` line by line; return what each command did, or raise at the first error. ``more``
    adds cmdlets (``name -> handler(tenant, params, line)``), e.g. SharePoint Online's. ``connect(url)``
    answers the tenant a ``Connect-SPOService -Url`` line names, ``organization(name)`` the one a
    ``Connect-ExchangeOnline -Organization`` line names: the session works in that tenant from then on. A variable
    takes a mailbox's property (``$dn = (Get-Mailbox -Identity 'x').LegacyExchangeDN``) and a double-quoted string
    uses it (``"X500:$dn"``)."""
    done = []
    extra = {k.lower(): v for k, v in (more or {}).items()}
    variables: dict[str, str] = {}
    for number, raw in enumerate(script.splitlines(), start=1):
        line = raw.strip()
        if (line.lower().startswith("connect-exchangeonline") and "-organization" in line.lower()) or \
                (line.lower().startswith("connect-mggraph") and "-tenantid" in line.lower()):
            try:
                given = parse(line)[1]
                name = given.get("organization") or given.get("tenantid", "")
            except ValueError as exc:
                raise PowerShellError(number, str(exc)) from exc
            found = organization(name) if organization is not None else None
            if found is None:
                raise PowerShellError(number, f"Connect-ExchangeOnline: no organization {name!r}")
            tenant = found
            done.append(f"connected to {'Microsoft Graph' if line.lower().startswith('connect-mggraph') else 'Exchange Online'} of {name}")
            continue
        if not line or line.startswith("#") or line.lower().startswith(
                ("$erroractionpreference", "connect-exchangeonline", "connect-microsoftteams",
                 "disconnect-exchangeonline")):
            continue
        line = DOUBLE_RE.sub(lambda m: "'" + re.sub(r"\$(\w+)", lambda v: variables.get(v.group(1), ""),
                                                     m.group(1)).replace("'", "''") + "'", line)
        line = BARE_RE.sub(lambda m: _bare(variables, m.group(1)), line)  # -AllowConflicts $ac1
        assigned = ASSIGN_RE.match(line)
        if assigned:
            try:
                cmdlet, params = parse(assigned.group(2))
                if cmdlet.lower() == "get-mailbox":
                    read = get_mailbox(tenant, params)
                elif cmdlet.lower().startswith("get-") and cmdlet.lower() in extra:
                    read = extra[cmdlet.lower()](tenant, params, assigned.group(2))
                else:
                    raise ValueError(f"the sandbox reads the properties of Get- cmdlets it knows only, not {cmdlet}")
                value = read.get(assigned.group(3), "")
                variables[assigned.group(1)] = ("$true" if value else "$false") if isinstance(value, bool) else str(value)
            except ValueError as exc:
                raise PowerShellError(number, str(exc)) from exc
            continue
        if line.lower().startswith("connect-sposervice") and "<" in line:  # the admin fills in the placeholder
            continue
        try:
            if " | " in line:
                done.append(pipeline.run(tenant, line, parse, READERS, mailboxrights.export_csv))
                continue
            cmdlet, params = parse(line)
            if cmdlet.lower() == "connect-sposervice":
                if connect is not None and params.get("url"):
                    tenant = connect(params["url"])
                    done.append(f"connected to {params['url']}")
                continue
            if cmdlet.lower() in RIGHTS:
                done.append(RIGHTS[cmdlet.lower()](tenant, params, line))
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
