"""The people as they were, not only their accounts: each moving person's attributes (job title, department,
phones, address, employee data ... every one Graph lets an app write) and their manager, once both exist in the
new tenant. An attribute is written only where the new value differs; a manager who does not move is named on the
person's own item with the fix, never a silent blank."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload
from ..errors import NotReady, TenantmoveError
from ..graphperson import PERSON_ATTRIBUTES, attributes, plans_off
from ..services.graph import GraphClient, GraphNotFound, path
from .inventory import Inventory

SELECT = ",".join(["id", "userPrincipalName", *PERSON_ATTRIBUTES])


def version_of(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def differing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What the new side must be given to hold the old side's values (an attribute the old side left empty is
    left as the new side has it)."""
    return {a: v for a, v in old.items() if new.get(a) != v}


@dataclass(frozen=True)
class Person:
    """What the old tenant says of a person: their attributes, their manager's UPN, the service plans turned off."""

    attributes: dict[str, Any]
    manager: str | None
    plans_off: tuple[str, ...] = ()


# what the old tenant says of a person, by old UPN
Source = Callable[[str], Person]


def from_inventory(inv: Inventory) -> Source:
    """The old tenant as phase 00 read it (its inventory keeps every person's attributes, manager and plans)."""
    people = inv.raw.get("people")
    if people is None:
        raise NotReady("the old tenant's inventory has no people's attributes (phase 00 of an earlier version)",
                       hint="rerun 00_prepare, then this phase")

    def read(upn: str) -> Person:
        found = people.get(upn.lower()) or {}
        return Person(dict(found.get("attributes") or {}), found.get("manager"), tuple(found.get("plans off") or ()))
    return read


def from_tenant(client: GraphClient, inv: Inventory) -> Source:
    """The old tenant as it is now (phase 90's fresh reads). People are found by the object id phase 00 saw, and a
    manager named by the UPN phase 00 saw: phase 20 renamed them all to the onmicrosoft domain since."""
    ids = {str(u).lower(): str(i) for u, i in zip(inv.users["userPrincipalName"], inv.users["id"], strict=True)}
    upns = {i: u for u, i in ids.items()}
    skus: list[dict[str, Any]] = []

    def read(upn: str) -> Person:
        if not skus:
            skus.extend(client.get("subscribedSkus")["value"])
        key = ids.get(upn.lower(), upn)
        user = client.get(path("users", key), {"$select": SELECT + ",assignedLicenses"})
        boss = manager_of(client, key)
        return Person(attributes(user), upns.get(str(boss["id"]), str(boss.get("userPrincipalName"))) if boss else None,
                      tuple(plans_off(user, skus)))
    return read


def manager_of(client: GraphClient, upn_or_id: str) -> dict[str, Any] | None:
    try:
        return client.get(path("users", upn_or_id, "manager"), {"$select": "id,userPrincipalName"}, expected=(404,))
    except GraphNotFound:
        return None


class People:
    """Each moving person on both sides: what the old tenant says (``source``) and the new user, read when asked."""

    def __init__(self, new: GraphClient, moving: pd.DataFrame, source: Source,
                 elsewhere: pd.DataFrame | None = None) -> None:
        """``elsewhere``: a merge's people another migration makes (source_upn, target_upn): a manager among them
        is that person in the new tenant; their own attributes are the other migration's to carry."""
        self.new, self.source = new, source
        self.moving = [(str(r["source_upn"]), str(r["target_upn"])) for _, r in moving.iterrows()]
        self.target_of = {s.lower(): t for s, t in self.moving}
        if elsewhere is not None:
            self.target_of.update({str(s).lower(): str(t) for s, t in zip(elsewhere["source_upn"],
                                                                          elsewhere["target_upn"], strict=True)})

    def target(self, upn: str) -> dict[str, Any] | None:
        try:
            return self.new.get(path("users", upn), {"$select": SELECT}, expected=(404,))
        except GraphNotFound:
            return None


class PersonAttributes(Workload):
    """One item per moving person: the attributes Graph lets an app write, carried where they differ."""

    kind = "person-attributes"
    title = "people's attributes"

    def __init__(self, people: People) -> None:
        self.people = people

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for source_upn, target_upn in self.people.moving:
            values = self.people.source(source_upn).attributes
            yield Work(source_upn.lower(), source_upn, version=version_of(values),
                       detail={"upn": target_upn, "attributes": sorted(values)}, data=(target_upn, values))

    def find(self, work: Work) -> dict[str, Any] | None:
        target_upn, _ = work.data
        return self.people.target(target_upn)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        target_upn, values = work.data
        if existing is None:
            raise TenantmoveError(f"{target_upn} is not in the new tenant yet", hint="rerun phase 30: the users "
                                  "workload creates it first")
        change = differing(values, existing)
        if not change:
            return Applied(str(existing["id"]), "already so", detail=work.detail)
        self.people.new.patch(path("users", str(existing["id"])), change)
        return Applied(str(existing["id"]), "updated", detail={**work.detail, "written": sorted(change)})


class Managers(Workload):
    """One item per moving person who has a manager: the manager's reference, once both are in the new tenant. A
    manager who does not move is a manual item naming the person and the fix, read back on the next run."""

    kind = "manager"
    title = "managers"
    manual_shell = "the Microsoft 365 admin centre (or Microsoft Graph PowerShell)"

    def __init__(self, people: People) -> None:
        self.people = people

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for source_upn, target_upn in self.people.moving:
            boss = self.people.source(source_upn).manager
            if boss is None:
                continue
            yield Work(source_upn.lower(), source_upn, version=boss.lower(),
                       detail={"upn": target_upn, "manager": boss,
                               "new manager": self.people.target_of.get(boss.lower(), "")},
                       data=(target_upn, boss))

    def find(self, work: Work) -> dict[str, Any] | None:
        target_upn, _ = work.data
        return manager_of(self.people.new, target_upn)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        target_upn, boss = work.data
        wanted = self.people.target_of.get(boss.lower())
        if wanted is None:  # the manager does not move: nobody to point at until the admin decides
            if existing is not None:
                return Applied(str(existing["id"]), "done by the admin, read back", detail=work.detail)
            return ManualStep(work.key, f"{target_upn}: the manager {boss} is not in the user mapping", [
                f"# {target_upn} reported to {boss}, who does not move: add {boss} to the user mapping and rerun "
                f"phase 30, or set {target_upn}'s manager in the Microsoft 365 admin centre (the next run reads it "
                "back)"], check=f"{target_upn} has a manager in the new tenant")
        person, manager = self.people.target(target_upn), self.people.target(wanted)
        if person is None or manager is None:
            raise TenantmoveError(f"{target_upn if person is None else wanted} is not in the new tenant yet",
                                  hint="rerun phase 30: the users workload creates them first")
        if existing is not None and str(existing.get("id")) == str(manager["id"]):
            return Applied(str(manager["id"]), "already so", detail=work.detail)
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{manager['id']}"}
        self.people.new.request("PUT", path("users", str(person["id"]), "manager", "$ref"), json=ref, idempotent=True)
        return Applied(str(manager["id"]), "updated" if existing is not None else "added", detail=work.detail)


def reconcile(people: People) -> list[dict[str, Any]]:
    """Attribute by attribute and manager by mapped person, from what ``people.source`` says and a fresh read of
    the new tenant: a row per person, with what differs."""
    rows = []
    for source_upn, target_upn in people.moving:
        person = people.source(source_upn)
        old, boss = person.attributes, person.manager
        new = people.target(target_upn)
        wanted = people.target_of.get(boss.lower()) if boss else None
        if new is None:
            rows.append({"person": source_upn, "new person": target_upn, "attributes": len(old),
                         "differing": sorted(old), "manager": wanted or boss or "", "manager differs": bool(boss),
                         "missing": True})
            continue
        has = manager_of(people.new, target_upn)
        has_upn = str((has or {}).get("userPrincipalName") or "").lower()
        rows.append({"person": source_upn, "new person": target_upn, "attributes": len(old),
                     "differing": sorted(differing(old, new)), "manager": wanted or boss or "",
                     "manager differs": (wanted or "").lower() != has_upn if wanted else False, "missing": False})
    return rows


def plan_table(people: People, owners: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Per moving person, what phase 30 carries of them and what becomes a manual item: their attributes, their
    manager (named manual when the manager does not move), the service plans turned off, the groups they own."""
    owned: dict[str, int] = {}
    for upns in (owners or {}).values():
        for upn in upns:
            owned[upn.lower()] = owned.get(upn.lower(), 0) + 1
    rows = []
    for source_upn, target_upn in people.moving:
        person = people.source(source_upn)
        boss = person.manager
        rows.append({"person": source_upn, "new person": target_upn, "attributes": len(person.attributes),
                     "manager": "" if not boss else people.target_of.get(boss.lower(),
                                                                         f"manual: {boss} does not move"),
                     "plans off": ", ".join(person.plans_off), "groups owned": owned.get(source_upn.lower(), 0)})
    return pd.DataFrame(rows, columns=["person", "new person", "attributes", "manager", "plans off", "groups owned"])
