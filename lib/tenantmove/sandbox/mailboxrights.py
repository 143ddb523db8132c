"""Who may act for whom in Exchange Online, which no Graph API shows or changes: FullAccess on a mailbox
(``Add-``/``Remove-``/``Get-MailboxPermission``), Send As (``Add-``/``Get-RecipientPermission``) and Send on Behalf
(``Set-Mailbox -GrantSendOnBehalfTo @{Add=...}``, shown by ``Get-Mailbox``). A ``Get-`` cmdlet's rows go into a CSV
file through :mod:`.pipeline`, as an admin's read-only script writes them. As in Exchange Online, a row names the
mailbox by its ``Identity`` (the recipient's name, not an address), ``AccessRights`` and ``GrantSendOnBehalfTo`` are
collections (of rights, of recipients' names: ``Get-Recipient`` gives their addresses), and ``Get-MailboxPermission``
lists ``NT AUTHORITY\\SELF`` first.

Seed (per user in ``users:``, read by :func:`~.state.build_tenants`): ``full_access: [upn]``, ``send_as: [upn]``,
``send_on_behalf: [upn]``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from .state import Tenant

SELF = "NT AUTHORITY\\SELF"
COLLECTION = "System.Collections.Generic.List`1[System.String]"  # what Export-Csv writes for a list of strings


def _who(tenant: Tenant, identity: str, what: str) -> dict[str, Any]:
    key = identity.lower()
    user = tenant.find_user(identity) or next((u for u in tenant.users.values()
                                               if key == str(u.get("mail") or "").lower()), None)
    if user is None:
        raise ValueError(f"{what}: the operation couldn't be performed because object '{identity}' couldn't be found")
    return user


def _upn(tenant: Tenant, uid: str) -> str:
    return str(tenant.users.get(uid, {}).get("userPrincipalName") or uid)


def name_of(user: dict[str, Any]) -> str:
    """A recipient's name in Exchange Online (its alias here), which ``Identity`` shows."""
    return str(user.get("mailNickname") or str(user["userPrincipalName"]).split("@")[0])


def get_recipient(tenant: Tenant, p: dict[str, str]) -> list[dict[str, Any]]:
    """``Get-Recipient -Identity X``: by name, alias, UPN, address or display name."""
    key = p.get("identity", "").lower()
    found = tenant.find_user(key) or next(
        (u for u in tenant.users.values() if key in {name_of(u).lower(), str(u.get("mail") or "").lower(),
                                                     str(u.get("displayName") or "").lower()}), None)
    if found is None:
        raise ValueError(f"Get-Recipient: the operation couldn't be performed because object '{key}' couldn't be found")
    return [{"Identity": name_of(found), "Name": name_of(found), "Alias": found.get("mailNickname"),
             "DisplayName": found.get("displayName"),
             "PrimarySmtpAddress": found.get("mail") or found["userPrincipalName"],
             "RecipientType": "UserMailbox" if found.get("assignedLicenses") or found.get("mailboxType") else "User"}]


def add_full_access(tenant: Tenant, p: dict[str, str], line: str) -> str:
    box, user = _who(tenant, p.get("identity", ""), "Add-MailboxPermission"), \
        _who(tenant, p.get("user", ""), "Add-MailboxPermission")
    if p.get("accessrights", "").lower() != "fullaccess":
        raise ValueError("Add-MailboxPermission: the sandbox grants -AccessRights FullAccess only")
    held = tenant.mailbox_rights.setdefault(box["id"], [])
    if any(r["user"] == user["id"] for r in held):
        return f"{user['userPrincipalName']} has FullAccess on {box['userPrincipalName']} already"
    held.append({"user": user["id"], "automapping": p.get("automapping", "$true").lower() != "$false"})
    return f"granted FullAccess on {box['userPrincipalName']} to {user['userPrincipalName']}"


def remove_full_access(tenant: Tenant, p: dict[str, str], line: str) -> str:
    box, user = _who(tenant, p.get("identity", ""), "Remove-MailboxPermission"), \
        _who(tenant, p.get("user", ""), "Remove-MailboxPermission")
    held = tenant.mailbox_rights.get(box["id"], [])
    if not any(r["user"] == user["id"] for r in held):
        raise ValueError(f"Remove-MailboxPermission: {user['userPrincipalName']} has no FullAccess on "
                         f"{box['userPrincipalName']}")
    tenant.mailbox_rights[box["id"]] = [r for r in held if r["user"] != user["id"]]
    return f"removed FullAccess on {box['userPrincipalName']} from {user['userPrincipalName']}"


def add_send_as(tenant: Tenant, p: dict[str, str], line: str) -> str:
    box, user = _who(tenant, p.get("identity", ""), "Add-RecipientPermission"), \
        _who(tenant, p.get("trustee", ""), "Add-RecipientPermission")
    if p.get("accessrights", "").lower() != "sendas":
        raise ValueError("Add-RecipientPermission: -AccessRights SendAs is the only right")
    held = tenant.send_as.setdefault(box["id"], [])
    if user["id"] not in held:
        held.append(user["id"])
    return f"granted Send As on {box['userPrincipalName']} to {user['userPrincipalName']}"


def send_on_behalf(tenant: Tenant, box: dict[str, Any], names: list[str]) -> str:
    """``Set-Mailbox -GrantSendOnBehalfTo @{Add='a','b'}``: ``names`` are the quoted values."""
    added = []
    for name in names:
        user = _who(tenant, name, "Set-Mailbox")
        held = box.setdefault("grantSendOnBehalfTo", [])
        if user["id"] not in held:
            held.append(user["id"])
            added.append(user["userPrincipalName"])
    return f"{box['userPrincipalName']}: Send on Behalf for {', '.join(added) or 'nobody new (there already)'}"


def get_full_access(tenant: Tenant, p: dict[str, str]) -> list[dict[str, Any]]:
    box = _who(tenant, p.get("identity", ""), "Get-MailboxPermission")
    rows = [{"Identity": name_of(box), "User": SELF, "AccessRights": ["FullAccess", "ReadPermission"],
             "IsInherited": False, "Deny": False}]
    rows += [{"Identity": name_of(box), "User": _upn(tenant, r["user"]), "AccessRights": ["FullAccess"],
              "IsInherited": False, "Deny": False} for r in tenant.mailbox_rights.get(box["id"], [])]
    return rows


def get_send_as(tenant: Tenant, p: dict[str, str]) -> list[dict[str, Any]]:
    box = _who(tenant, p.get("identity", ""), "Get-RecipientPermission")
    return [{"Identity": name_of(box), "Trustee": _upn(tenant, uid), "AccessControlType": "Allow",
             "AccessRights": ["SendAs"], "IsInherited": False} for uid in tenant.send_as.get(box["id"], [])]


def export_csv(rows: list[dict[str, Any]], params: dict[str, str]) -> str:
    """``Export-Csv -Path P [-Append [-Force]] [-NoTypeInformation]``: the rows written; a collection as its type name,
    as PowerShell writes it (join it in the pipeline to keep its values); a bare value (after ``-ExpandProperty``)
    as PowerShell writes a string: its length."""
    target = Path(params.get("path", ""))
    if not params.get("path") or not target.is_absolute():
        raise ValueError("Export-Csv: give -Path as a full path")
    append = "append" in params and target.is_file() and target.stat().st_size > 0  # an empty file takes a header
    rows = [row if isinstance(row, dict) else {"Length": len(str(row))} for row in rows]
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    if append:  # as PowerShell: the file's header stays; an object lacking one of its columns is refused
        with open(target, newline="", encoding="utf-8") as fh:
            names = next(csv.reader(fh), names) or names
        lacking = sorted({n for row in rows for n in names if n not in row})
        if lacking and "force" not in params:
            raise ValueError(f"Export-Csv: cannot append to {target}: the objects have no property "
                             f"'{lacking[0]}' (write another file, or add -Force)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a" if append else "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names, extrasaction="ignore")
        if not append and rows:  # no objects: an empty file, as PowerShell leaves it
            writer.writeheader()
        for row in rows:
            writer.writerow({k: COLLECTION if isinstance(v, list) else v for k, v in row.items()})
    return f"wrote {len(rows)} row(s) to {target}"
