"""Inventory of a tenant through Graph, as pandas tables: what there is to move."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import NotReady
from ..graphperson import PERSON_ATTRIBUTES, attributes, plans_off
from ..report import Report
from ..services.graph import BatchRequest, GraphClient, GraphError, path

USER_FIELDS = ["id", "userPrincipalName", "displayName", "mail", "usageLocation", "accountEnabled",
               "assignedLicenses", "proxyAddresses", "userType", *PERSON_ATTRIBUTES]
GROUP_FIELDS = ["id", "displayName", "mail", "mailNickname", "groupTypes", "mailEnabled", "securityEnabled",
                "visibility", "description"]


@dataclass
class Inventory:
    organization: dict[str, Any]
    domains: pd.DataFrame
    users: pd.DataFrame
    groups: pd.DataFrame
    memberships: pd.DataFrame
    licences: pd.DataFrame
    dns_records: pd.DataFrame
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def initial_domain(self) -> str:
        return next((d["name"] for d in self.organization.get("verifiedDomains", []) if d.get("isInitial")), "")

    def summary(self) -> dict[str, int]:
        licensed = int((self.users["licences"].fillna("") != "").sum()) if "licences" in self.users else 0
        return {"users": len(self.users), "licensed users": licensed, "groups": len(self.groups),
                "memberships": len(self.memberships),
                "domains": len(self.domains), "licence SKUs": len(self.licences),
                "DNS records": len(self.dns_records)}

    def save(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("domains", "users", "groups", "memberships", "licences", "dns_records"):
            out = folder / f"{name}.csv"
            getattr(self, name).to_csv(out, index=False)
            written.append(out)
        out = folder / "inventory.json"
        out.write_text(json.dumps({"organization": self.organization, **self.raw}, indent=1, default=str))
        written.append(out)
        return written


def load(folder: Path) -> Inventory:
    """An inventory saved by :meth:`Inventory.save` (phase 00 saves one per tenant in the state folder)."""
    if not (folder / "inventory.json").is_file():
        raise NotReady(f"no inventory in {folder}", where=str(folder),
                       hint="run 00_prepare with the same state_dir first")
    data = json.loads((folder / "inventory.json").read_text())
    frames = {}
    for name in ("domains", "users", "groups", "memberships", "licences", "dns_records"):
        frames[name] = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
    for name, cols in (("licences", ["enabled", "consumed", "available"]), ("groups", ["members"])):
        for col in cols:
            if col in frames[name]:
                frames[name][col] = pd.to_numeric(frames[name][col]).astype(int)
    for col in ("verified", "default", "initial"):
        frames["domains"][col] = frames["domains"][col].map({"True": True, "False": False})
    raw = {k: v for k, v in data.items() if k != "organization"}
    return Inventory(data["organization"], raw=raw, **frames)


def group_kind(group: dict[str, Any]) -> str:
    if "Unified" in (group.get("groupTypes") or []):
        return "Microsoft 365"
    if group.get("mailEnabled") and group.get("securityEnabled"):
        return "mail-enabled security"
    if group.get("mailEnabled"):
        return "distribution"
    return "security"


def collect(client: GraphClient, people: bool = False) -> Inventory:
    """Read the directory: organization, domains (+ DNS records), licences, users, groups, members; with
    ``people``, also each person's attributes, manager and the service plans turned off for them, and each group's
    owners (the old tenant's, for phase 30: a batch of reads per 20 people and groups, which the new tenant's many
    inventories need not pay)."""
    org = client.get("organization")["value"][0]
    domains = client.get("domains")["value"]
    skus = client.get("subscribedSkus")["value"]
    users = client.get_all("users", {"$select": ",".join(USER_FIELDS), "$top": "999"})
    groups = client.get_all("groups", {"$select": ",".join(GROUP_FIELDS), "$top": "999"})
    sku_names = {s["skuId"]: s["skuPartNumber"] for s in skus}

    members: list[dict[str, Any]] = []
    requests_ = [BatchRequest(id=g["id"], method="GET",
                              url="/" + path("groups", g["id"], "members") + "?$select=id,userPrincipalName&$top=999")
                 for g in groups]
    answers = client.batch(requests_) if requests_ else {}
    for group in groups:
        resp = answers[group["id"]]
        if not resp.ok:
            raise resp.error("GET", f"groups/{group['id']}/members")
        page = resp.body
        items = list(page.get("value", []))
        if page.get("@odata.nextLink"):
            items += client.get_all(page["@odata.nextLink"])
        for m in items:
            members.append({"group_id": group["id"], "group": group["displayName"], "member_id": m["id"],
                            "member_type": m.get("@odata.type", "").rsplit(".", 1)[-1],
                            "member": m.get("userPrincipalName") or m.get("displayName")})

    custom = [d["id"] for d in domains if d.get("isVerified") and not d.get("isInitial")]
    dns_rows: list[dict[str, Any]] = []
    if custom:
        answers = client.batch([BatchRequest(id=str(i), method="GET", url=f"/domains/{name}/serviceConfigurationRecords")
                                for i, name in enumerate(custom)])
        for i, name in enumerate(custom):
            resp = answers[str(i)]
            if not resp.ok:
                raise resp.error("GET", f"domains/{name}/serviceConfigurationRecords")
            for rec in resp.body.get("value", []):
                dns_rows.append({"domain": name, "type": rec["recordType"], "label": rec["label"],
                                 "service": rec.get("supportedService"), "value": record_value(rec),
                                 "ttl": rec.get("ttl")})

    persons = {str(u["userPrincipalName"]).lower(): {"attributes": attributes(u), "manager": None,
                                                      "plans off": plans_off(u, skus),
                                                      "addresses": list(u.get("proxyAddresses") or [])}
               for u in users} if people else {}
    unread = ""
    if people and users:  # what kind of mailbox each has (a 404: none): shared, room and equipment move as such
        answers = client.batch([BatchRequest(id=u["id"], method="GET",
                                             url="/" + path("users", u["id"], "mailboxSettings") + "?$select=userPurpose")
                                for u in users])
        for u in users:
            resp = answers[u["id"]]
            if resp.status == 403:  # MailboxSettings.Read is not granted: every mailbox is taken for a person's
                unread = "mailbox kinds not read (grant MailboxSettings.Read to tell shared, room and equipment " \
                         "mailboxes apart; until then set their action in the user mapping)"
                break
            if not resp.ok and resp.status != 404:
                raise resp.error("GET", f"users/{u['id']}/mailboxSettings")
            persons[str(u["userPrincipalName"]).lower()]["purpose"] = \
                str(resp.body.get("userPurpose") or "user") if resp.ok else "none"
    rooms: dict[str, dict[str, Any]] = {}
    if people:  # the rooms' places (capacity, building, floor), by the room mailbox's user id
        try:
            rooms = {str(r["id"]): r for r in client.get_all("places/microsoft.graph.room")}
        except GraphError as exc:
            if exc.status != 403:
                raise
            unread = (unread + "; " if unread else "") + "rooms' places not read (grant Place.Read.All to carry " \
                                                          "their capacity, building and floor)"
    owners: dict[str, list[str]] = {}
    if people and groups:  # each group's owners (Microsoft 365 and security groups: the ones Graph recreates)
        answers = client.batch([BatchRequest(id=g["id"], method="GET",
                                             url="/" + path("groups", g["id"], "owners") + "?$select=id,userPrincipalName")
                                for g in groups])
        for g in groups:
            resp = answers[g["id"]]
            if not resp.ok:
                raise resp.error("GET", f"groups/{g['id']}/owners")
            owners[g["id"]] = [str(o["userPrincipalName"]) for o in resp.body.get("value", [])
                               if o.get("userPrincipalName")]
    if people and users:  # each person's manager (a 404: none)
        answers = client.batch([BatchRequest(id=u["id"], method="GET",
                                             url="/" + path("users", u["id"], "manager") + "?$select=id,userPrincipalName")
                                for u in users])
        for u in users:
            resp = answers[u["id"]]
            if resp.ok:
                persons[str(u["userPrincipalName"]).lower()]["manager"] = resp.body.get("userPrincipalName")
            elif resp.status != 404:
                raise resp.error("GET", f"users/{u['id']}/manager")

    member_count: dict[str, int] = {}
    for m in members:
        member_count[m["group_id"]] = member_count.get(m["group_id"], 0) + 1
    users_df = pd.DataFrame([{
        "id": u["id"], "userPrincipalName": u["userPrincipalName"], "displayName": u.get("displayName"),
        "mail": u.get("mail"), "usageLocation": u.get("usageLocation"), "accountEnabled": u.get("accountEnabled"),
        "licences": " ".join(sku_names.get(a["skuId"], a["skuId"]) for a in u.get("assignedLicenses") or []),
        "aliases": len(u.get("proxyAddresses") or []), "department": u.get("department"),
        "jobTitle": u.get("jobTitle"), "userType": u.get("userType"),
    } for u in users], columns=["id", "userPrincipalName", "displayName", "mail", "usageLocation", "accountEnabled",
                                "licences", "aliases", "department", "jobTitle", "userType"])
    groups_df = pd.DataFrame([{
        "id": g["id"], "displayName": g["displayName"], "kind": group_kind(g), "mail": g.get("mail"),
        "mailNickname": g.get("mailNickname"), "members": member_count.get(g["id"], 0),
        "visibility": g.get("visibility"), "description": g.get("description"),
    } for g in groups], columns=["id", "displayName", "kind", "mail", "mailNickname", "members", "visibility",
                                 "description"])
    licences_df = pd.DataFrame([{
        "skuPartNumber": s["skuPartNumber"], "skuId": s["skuId"], "status": s.get("capabilityStatus"),
        "enabled": s["prepaidUnits"]["enabled"], "consumed": s["consumedUnits"],
        "available": s["prepaidUnits"]["enabled"] - s["consumedUnits"],
    } for s in skus], columns=["skuPartNumber", "skuId", "status", "enabled", "consumed", "available"])
    domains_df = pd.DataFrame([{
        "domain": d["id"], "verified": d.get("isVerified"), "default": d.get("isDefault"),
        "initial": d.get("isInitial"), "services": ", ".join(d.get("supportedServices") or []),
    } for d in domains], columns=["domain", "verified", "default", "initial", "services"])
    return Inventory(org, domains_df, users_df, groups_df,
                     pd.DataFrame(members, columns=["group_id", "group", "member_id", "member_type", "member"]),
                     licences_df, pd.DataFrame(dns_rows, columns=["domain", "type", "label", "service", "value", "ttl"]),
                     raw={"domains": domains, "subscribedSkus": skus, **({"people": persons, "owners": owners, "rooms": rooms} if people else {}),
                          **({"unread": unread} if unread else {})})


def record_value(rec: dict[str, Any]) -> str:
    """A Graph domainDnsRecord's data in zone-file form."""
    kind = rec["recordType"].lower()
    if kind == "mx":
        return f"{rec['preference']} {rec['mailExchange']}"
    if kind == "cname":
        return rec["canonicalName"]
    if kind == "txt":
        return rec["text"]
    if kind == "srv":
        return f"{rec['service']}.{rec['protocol']} {rec['priority']} {rec['weight']} {rec['port']} {rec['nameTarget']}"
    return json.dumps({k: v for k, v in rec.items() if not k.startswith("@")})


def show(inv: Inventory, title: str, full: bool = True) -> Report:
    """The inventory as tables (all rows are in the run folder)."""
    org = inv.organization
    report = Report().facts(title, {"organization": org.get("displayName"), "tenant id": org.get("id"),
                                    "initial domain": inv.initial_domain, **inv.summary()})
    if inv.raw.get("unread"):
        report.banner("warn", str(inv.raw["unread"]))
    report.table(inv.domains, "Domains").table(inv.licences, "Licences (subscribedSkus)")
    if full:
        report.table(inv.dns_records, "DNS records the custom domains need")
        report.table(inv.users.drop(columns=["id"]), "Users")
        report.table(inv.groups.drop(columns=["id"]), "Groups")
    return report
