"""Identity and domain cutover, as library functions the phase notebooks 10, 20 and 30 call.

Every write goes through the ledger: an item is planned once, counted before each attempt, and
marked done with the target id. Creating an object first looks it up by its natural key (UPN, mail
nickname), so a run killed between "created" and "recorded" adopts the object on the rerun instead
of creating a second one.
"""

from __future__ import annotations

import csv
import os
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .dnsops import (
    Nameservers,
    Provider,
    Record,
    RecordPlan,
    from_graph,
    plan_changes,
    record,
    wait_until_applied,
)
from .errors import TenantmoveError
from .graph import GraphClient, GraphError, GraphNotFound
from .inventory import Inventory
from .ledger import Ledger, Planned

Progress = Callable[[int, int, float], None]


class CutoverError(TenantmoveError):
    """A cutover step could not complete; the message says which and what to do."""


# --- temporary passwords ----------------------------------------------------------------------------
class PasswordVault:
    """New users' temporary passwords: appended to a CSV readable only by its owner, never shown."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.count = 0

    def new_password(self) -> str:
        alphabet = string.ascii_letters + string.digits
        core = "".join(secrets.choice(alphabet) for _ in range(14))
        return core + secrets.choice("!#%+-=?") + secrets.choice(string.digits) + secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ")

    def add(self, upn: str, password: str) -> None:
        from .redact import register_secret

        register_secret(password)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.path, 0o600)
        with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
            if fh.tell() == 0:
                fh.write("userPrincipalName,temporaryPassword\n")
            csv.writer(fh).writerow([upn, password])
        self.count += 1


# --- shared helpers -----------------------------------------------------------------------------------
def find_user(client: GraphClient, upn: str) -> dict[str, Any] | None:
    try:
        return client.get(f"users/{upn}", {"$select": "id,userPrincipalName,usageLocation,assignedLicenses,mail"},
                          expected=(404,))
    except GraphNotFound:
        return None


def sku_ids(target: Inventory) -> dict[str, str]:
    return dict(zip(target.licences["skuPartNumber"], target.licences["skuId"], strict=True))


def local_part(upn: str) -> str:
    return upn.split("@", 1)[0]


# --- phase 10 -----------------------------------------------------------------------------------------
def licence_table(moving: pd.DataFrame, target: Inventory) -> pd.DataFrame:
    """Per SKU: seats the mapping needs against what the new tenant has free."""
    needed: dict[str, int] = {}
    for lic in moving["licences"]:
        for part in str(lic).split():
            needed[part] = needed.get(part, 0) + 1
    rows = []
    for _, sku in target.licences.iterrows():
        need = needed.pop(sku["skuPartNumber"], 0)
        rows.append({"skuPartNumber": sku["skuPartNumber"], "needed": need, "enabled": int(sku["enabled"]),
                     "consumed": int(sku["consumed"]), "available": int(sku["available"]),
                     "after move": int(sku["available"]) - need})
    rows += [{"skuPartNumber": part, "needed": n, "enabled": 0, "consumed": 0, "available": 0, "after move": -n}
             for part, n in needed.items()]
    return pd.DataFrame(rows, columns=["skuPartNumber", "needed", "enabled", "consumed", "available", "after move"])


def prestage_upn(target_upn: str, new_initial: str) -> str:
    return f"{local_part(target_upn)}@{new_initial}"


@dataclass
class UserResult:
    created: int = 0
    adopted: int = 0
    renamed: int = 0
    licensed: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"created": self.created, "already there (adopted)": self.adopted, "renamed": self.renamed,
                "licences assigned": self.licensed, "done before": self.skipped, "failed": len(self.failed)}


def ensure_users(client: GraphClient, ledger: Ledger, phase: str, kind: str, moving: pd.DataFrame, source: Inventory,
                 target: Inventory, vault: PasswordVault, *, upn_for: Callable[[pd.Series], str],
                 also_look_for: Callable[[pd.Series], list[str]] | None = None, licences: bool = True,
                 progress: Progress | None = None) -> UserResult:
    """Create or update one user per mapping row, idempotently through the ledger."""
    ids = dict(zip(source.users["userPrincipalName"].str.lower(), source.users["id"], strict=True))
    ledger.plan(phase, kind, [Planned(ids[r["source_upn"].lower()], r["source_upn"]) for _, r in moving.iterrows()])
    skus = sku_ids(target)
    result = UserResult()
    started = time.monotonic()
    for n, (_, row) in enumerate(moving.iterrows(), start=1):
        source_id = ids[row["source_upn"].lower()]
        item = ledger.get(kind, source_id)
        if item is not None and item.state == "done":
            result.skipped += 1
            continue
        want = upn_for(row)
        ledger.attempt(kind, source_id)
        try:
            user, how = _ensure_one(client, row, want, (also_look_for(row) if also_look_for else []), vault)
            if how == "created":
                result.created += 1
            elif how == "renamed":
                result.renamed += 1
            else:
                result.adopted += 1
            if licences and row.get("licences"):
                have = {lic["skuId"] for lic in user.get("assignedLicenses") or []}
                add = [{"skuId": skus[p], "disabledPlans": []} for p in str(row["licences"]).split() if skus[p] not in have]
                if add:
                    client.post(f"users/{user['id']}/assignLicense", {"addLicenses": add, "removeLicenses": []},
                                idempotent=True)
                    result.licensed += 1
            ledger.done(kind, source_id, user["id"], note=f"{how} {want}", detail={"upn": want})
        except GraphError as exc:
            ledger.failed(kind, source_id, exc.one_line())
            result.failed.append(f"{row['source_upn']}: {exc.graph_message}")
        if progress:
            progress(n, len(moving), time.monotonic() - started)
    return result


def _ensure_one(client: GraphClient, row: pd.Series, want: str, others: list[str],
                vault: PasswordVault) -> tuple[dict[str, Any], str]:
    existing = find_user(client, want)
    if existing is not None:
        _update_profile(client, existing, row)
        return existing, "adopted"
    for other in others:  # pre-staged on the onmicrosoft domain: rename instead of creating a second user
        staged = find_user(client, other)
        if staged is not None:
            client.patch(f"users/{staged['id']}", {"userPrincipalName": want, "mail": want})
            _update_profile(client, staged, row)
            return dict(staged, userPrincipalName=want), "renamed"
    password = vault.new_password()
    body = {"accountEnabled": True, "displayName": row.get("display_name") or local_part(want),
            "mailNickname": local_part(want).replace("'", ""), "userPrincipalName": want,
            "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": True}}
    if row.get("usage_location"):
        body["usageLocation"] = row["usage_location"]  # before any licence: licences need it
    created = client.post("users", body)
    vault.add(want, password)
    return dict(created, assignedLicenses=[]), "created"


def _update_profile(client: GraphClient, user: dict[str, Any], row: pd.Series) -> None:
    if row.get("usage_location") and user.get("usageLocation") != row["usage_location"]:
        client.patch(f"users/{user['id']}", {"usageLocation": row["usage_location"]})
        user["usageLocation"] = row["usage_location"]


# --- phase 20: release the domain from the old tenant --------------------------------------------------
def domain_references(client: GraphClient, domain: str) -> pd.DataFrame:
    refs = client.get_all(f"domains/{domain}/domainNameReferences", {"$top": "999"})
    rows = [{"type": r.get("@odata.type", "").rsplit(".", 1)[-1], "id": r["id"], "name": r.get("displayName"),
             "address": r.get("userPrincipalName") or r.get("mail") or ""} for r in refs]
    return pd.DataFrame(rows, columns=["type", "id", "name", "address"])


def rename_plan(refs: pd.DataFrame, domain: str, initial: str) -> pd.DataFrame:
    """Users are renamed here (UPN and primary address); groups and apps are renamed by forceDelete,
    because Graph cannot change a group's addresses or every app's identifier URIs."""
    rows = []
    for _, ref in refs.iterrows():
        if ref["type"] == "user" and str(ref["address"]).lower().endswith("@" + domain):
            rows.append({"type": "user", "id": ref["id"], "name": ref["name"], "from": ref["address"],
                         "to": f"{local_part(ref['address'])}@{initial}", "how": "PATCH userPrincipalName and mail"})
        else:
            rows.append({"type": ref["type"], "id": ref["id"], "name": ref["name"], "from": ref["address"],
                         "to": f"…@{initial}", "how": "renamed by forceDelete (aliases and addresses)"})
    return pd.DataFrame(rows, columns=["type", "id", "name", "from", "to", "how"])


# name, type, what it is for, a filter on the value (None: every value)
SERVICE_NAMES: list[tuple[str, str, str, Callable[[str], bool] | None]] = [
    ("{d}", "MX", "mail (Exchange Online)", None),
    ("autodiscover.{d}", "CNAME", "Outlook autodiscover", None),
    ("{d}", "TXT", "SPF (who may send mail)", lambda v: v.lower().startswith("v=spf1")),
    ("sip.{d}", "CNAME", "Skype/Lync sign-in", None),
    ("lyncdiscover.{d}", "CNAME", "Skype/Lync discovery", None),
    ("_sip._tls.{d}", "SRV", "Skype/Lync SIP", None),
    ("_sipfederationtls._tcp.{d}", "SRV", "Skype/Lync federation", None),
    ("www.{d}", "CNAME", "public website", None),
]


def records_to_remove(ns: Nameservers, domain: str) -> tuple[list[Record], pd.DataFrame]:
    """Live lookups at the authoritative servers: every service record the domain still serves."""
    found: list[Record] = []
    rows = []
    for template, rtype, purpose, keep in SERVICE_NAMES:
        name = template.format(d=domain)
        values = set().union(*ns.values(name, rtype))
        for value in sorted(values):
            if keep is None or keep(value):
                found.append(record(name, rtype, value))
                rows.append({"name": name, "type": rtype, "value": value, "purpose": purpose})
    return found, pd.DataFrame(rows, columns=["name", "type", "value", "purpose"])


def rename_users(client: GraphClient, ledger: Ledger, phase: str, plan: pd.DataFrame) -> dict[str, int]:
    users = plan[plan["type"] == "user"]
    ledger.plan(phase, "rename-user", [Planned(r["id"], r["from"], detail={"to": r["to"]}) for _, r in users.iterrows()])
    done = failed = before = 0
    for _, r in users.iterrows():
        item = ledger.get("rename-user", r["id"])
        if item and item.state == "done":
            before += 1
            continue
        ledger.attempt("rename-user", r["id"])
        try:
            client.patch(f"users/{r['id']}", {"userPrincipalName": r["to"], "mail": r["to"]})
            ledger.done("rename-user", r["id"], r["id"], note=f"{r['from']} -> {r['to']}")
            done += 1
        except GraphError as exc:
            ledger.failed("rename-user", r["id"], exc.one_line())
            failed += 1
    return {"renamed": done, "renamed before": before, "failed": failed}


def delete_domain(client: GraphClient, domain: str, initial: str, wait_seconds: float,
                  sleep: Callable[[float], None] = time.sleep) -> str:
    """Delete the domain; if anything still references it, fall back to forceDelete within its limits."""
    names = {d["id"]: d for d in client.get("domains")["value"]}
    if domain not in names:
        return "already deleted"
    if names[domain].get("isDefault"):
        client.patch(f"domains/{initial}", {"isDefault": True})
    try:
        client.delete(f"domains/{domain}", expected=(400,))  # refused while referenced: forceDelete follows
        return "deleted"
    except GraphError as exc:
        if exc.status != 400 or "referenced" not in exc.graph_message:
            raise
    left = len(client.get_all(f"domains/{domain}/domainNameReferences", {"$top": "999"}))
    if left > 1000:
        raise CutoverError(f"{domain} is still referenced by {left} objects; forceDelete renames at most 1,000",
                           where="20_release_domain", hint="rename more users first (rerun this phase), then retry")
    state = names[domain].get("state") or {}
    if state.get("operation") != "ForceDelete":
        client.request("POST", f"domains/{domain}/forceDelete", json={"disableUserAccounts": False})
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if domain not in {d["id"] for d in client.get("domains")["value"]}:
            return f"force-deleted ({left} references renamed to {initial})"
        sleep(2 if wait_seconds > 30 else 0.2)
    raise CutoverError(f"forceDelete of {domain} has not finished after {wait_seconds:.0f} s", where="20_release_domain",
                       hint="it runs asynchronously at Microsoft: rerun this phase later; it picks up where it stopped")


# --- phase 30: the domain and the users in the new tenant -------------------------------------------------
def add_domain(client: GraphClient, domain: str) -> str:
    names = {d["id"]: d for d in client.get("domains")["value"]}
    if domain in names:
        return "verified already" if names[domain]["isVerified"] else "added before"
    client.post("domains", {"id": domain}, idempotent=True)
    return "added"


def verification_records(client: GraphClient, domain: str) -> list[Record]:
    return [from_graph(r) for r in client.get(f"domains/{domain}/verificationDnsRecords")["value"]
            if r["recordType"].lower() == "txt"]


def verify_domain(client: GraphClient, domain: str, attempts: int = 5, pause: float = 2.0,
                  sleep: Callable[[float], None] = time.sleep) -> str:
    last: GraphError | None = None
    for i in range(attempts):
        if client.get(f"domains/{domain}")["isVerified"]:
            return "verified" if i else "verified already"
        try:
            client.post(f"domains/{domain}/verify", idempotent=True)
            return "verified"
        except GraphError as exc:
            last = exc
            if "another tenant" in exc.graph_message:
                raise CutoverError(f"{domain} is still verified in the old tenant", where="30_add_domain_and_users",
                                   hint="run phase 20 (release the domain) to completion first") from exc
            sleep(pause)
    raise CutoverError(f"verification of {domain} failed: {last.graph_message if last else ''}",
                       where="30_add_domain_and_users",
                       hint="check that the TXT record is served by every authoritative server, then rerun")


def service_records(client: GraphClient, domain: str, services: list[str]) -> list[Record]:
    current = client.get(f"domains/{domain}")
    if sorted(current.get("supportedServices") or []) != sorted(services):
        client.patch(f"domains/{domain}", {"supportedServices": services})
    return [from_graph(r) for r in client.get(f"domains/{domain}/serviceConfigurationRecords")["value"]]


def publish(ns: Nameservers, provider: Provider, present: list[Record], absent: list[Record], wait_seconds: float,
            poll_seconds: float, progress: Progress | None = None) -> tuple[RecordPlan, list[Record], list[str]]:
    """Plan against DNS, apply through the provider, wait until every authoritative server shows it."""
    plan = plan_changes(ns, present, absent)
    notes = provider.apply(plan) if not plan.empty else ["DNS already shows the plan; nothing to change"]
    left = wait_until_applied(ns, plan, wait_seconds, poll_seconds, progress) if not plan.empty else []
    return plan, left, notes


def ensure_groups(client: GraphClient, ledger: Ledger, phase: str, source: Inventory) -> pd.DataFrame:
    """Microsoft 365 and security groups are created (looked up by mail nickname first); distribution
    lists and mail-enabled security groups are Exchange objects Graph cannot create: listed as manual."""
    ledger.plan(phase, "group", [Planned(g["id"], g["displayName"], detail={"kind": g["kind"]})
                                 for _, g in source.groups.iterrows()])
    rows = []
    for _, g in source.groups.iterrows():
        item = ledger.get("group", g["id"])
        if item and item.state in ("done", "skipped"):
            rows.append({"group": g["displayName"], "kind": g["kind"], "result": f"{item.state} before",
                         "target_id": item.target_id})
            continue
        if g["kind"] in ("distribution", "mail-enabled security"):
            ledger.skipped("group", g["id"], "Exchange object: create it in the Exchange admin centre")
            rows.append({"group": g["displayName"], "kind": g["kind"], "result": "manual (Exchange admin centre)",
                         "target_id": None})
            continue
        ledger.attempt("group", g["id"])
        nickname = g["mailNickname"]
        try:
            found = client.get("groups", {"$filter": f"mailNickname eq '{nickname}'", "$select": "id"})["value"]
            if found:
                gid, how = found[0]["id"], "adopted"
            else:
                unified = g["kind"] == "Microsoft 365"
                body = {"displayName": g["displayName"], "mailNickname": nickname, "mailEnabled": unified,
                        "securityEnabled": not unified, "groupTypes": ["Unified"] if unified else []}
                if unified and g.get("visibility"):
                    body["visibility"] = g["visibility"]
                gid, how = client.post("groups", body)["id"], "created"
            ledger.done("group", g["id"], gid, note=how)
            rows.append({"group": g["displayName"], "kind": g["kind"], "result": how, "target_id": gid})
        except GraphError as exc:
            ledger.failed("group", g["id"], exc.one_line())
            rows.append({"group": g["displayName"], "kind": g["kind"], "result": f"failed: {exc.graph_message}",
                         "target_id": None})
    return pd.DataFrame(rows, columns=["group", "kind", "result", "target_id"])


def ensure_members(client: GraphClient, ledger: Ledger, phase: str, source: Inventory) -> dict[str, int]:
    groups = {i.source_id: i.target_id for i in ledger.items("group", ["done"])}
    users = {i.source_id: i.target_id for i in ledger.items("user", ["done"])}
    wanted = [m for _, m in source.memberships.iterrows()
              if m["group_id"] in groups and m["member_type"] == "user" and m["member_id"] in users]
    ledger.plan(phase, "member", [Planned(f"{m['group_id']}/{m['member_id']}", f"{m['group']}: {m['member']}")
                                  for m in wanted])
    added = before = failed = 0
    for m in wanted:
        key = f"{m['group_id']}/{m['member_id']}"
        item = ledger.get("member", key)
        if item and item.state == "done":
            before += 1
            continue
        ledger.attempt("member", key)
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{users[m['member_id']]}"}
        try:
            client.request("POST", f"groups/{groups[m['group_id']]}/members/$ref", json=ref, idempotent=True)
            added += 1
        except GraphError as exc:
            if "already exist" not in exc.graph_message:
                ledger.failed("member", key, exc.one_line())
                failed += 1
                continue
        ledger.done("member", key, users[m["member_id"]])
    return {"members added": added, "added before": before, "failed": failed,
            "not moved (group is manual, or member not mapped)": len(source.memberships) - len(wanted)}
