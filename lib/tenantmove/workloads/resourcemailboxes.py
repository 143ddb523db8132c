"""Shared, room and equipment mailboxes: mailboxes without a person, which Graph cannot create. Phase 30 makes them
with the users (so that phase 60 finds them like any mailbox): each is a manual item with the Exchange commands
(``New-Mailbox -Shared|-Room|-Equipment``; a room's place with ``Set-Place``: capacity, building, floor, as phase 00
read them from the old tenant's ``places`` API; the booking rules read from the old mailbox with
``Get-CalendarProcessing`` and set with ``Set-CalendarProcessing``). The next run reads each back: the mailbox by its
address and kind (``mailboxSettings.userPurpose``), a room's place through ``GET /places/microsoft.graph.room`` (the
booking rules have no Graph API: the script's word stands for them). Their group memberships follow in phase 60,
once they exist (:class:`ResourceMemberships`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..services.graph import GraphClient, GraphError, GraphNotFound, path
from .groups import EXCHANGE_KINDS
from .inventory import Inventory

PLACE = {"capacity": "Capacity", "building": "Building", "floorNumber": "Floor", "floorLabel": "FloorLabel",
         "city": "City", "isWheelChairAccessible": "IsWheelChairAccessible"}
BOOKING = ("AutomateProcessing", "BookingWindowInDays", "MaximumDurationInMinutes", "AllowConflicts")


def rooms(client: GraphClient) -> dict[str, dict[str, Any]]:
    """The tenant's rooms by address (lower case), with their place."""
    return {str(r.get("emailAddress") or "").lower(): r for r in client.get_all("places/microsoft.graph.room")}


def purpose(client: GraphClient, user: str) -> str | None:
    """What kind of mailbox ``user`` has (None: no such user or no mailbox)."""
    try:
        return str(client.get(path("users", user, "mailboxSettings"), {"$select": "userPurpose"},
                              expected=(404,)).get("userPurpose") or "user")
    except GraphNotFound:
        return None


def place_of(room: dict[str, Any] | None) -> dict[str, Any]:
    return {k: room[k] for k in PLACE if room and room.get(k) not in (None, "")}


class ResourceMailboxes(Workload):
    kind = "resource-mailbox"
    title = "shared, room and equipment mailboxes"
    manual_shell = "Exchange Online PowerShell, as an Exchange administrator of both tenants"

    def __init__(self, new: GraphClient, rows: pd.DataFrame, src: Inventory, new_org: str) -> None:
        """``rows``: the mapping's shared, room and equipment mailboxes; ``src``: phase 00's inventory of the old
        tenant (its rooms' places)."""
        self.new, self.rows, self.new_org = new, rows, new_org
        self.old_org = src.initial_domain
        self.ids = {str(u).lower(): str(i) for u, i in zip(src.users["userPrincipalName"], src.users["id"],
                                                            strict=True)}
        self.names = {str(u).lower(): str(n) for u, n in zip(src.users["userPrincipalName"], src.users["displayName"],
                                                              strict=True)}
        places = src.raw.get("rooms") or {}
        self.old_rooms = {upn: places[i] for upn, i in self.ids.items() if i in places}
        self._new_rooms: dict[str, dict[str, Any]] | None = None  # the new tenant's rooms, read once a pass

    def new_rooms(self) -> dict[str, dict[str, Any]]:
        if self._new_rooms is None:
            self._new_rooms = rooms(self.new)
        return self._new_rooms

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self._new_rooms = None  # a new pass reads the new tenant's rooms afresh
        for _, row in self.rows.iterrows():
            old, new, kind = str(row["source_upn"]), str(row["target_upn"]), str(row["action"])
            place = place_of(self.old_rooms.get(old.lower())) if kind == "room" else {}
            yield Work(old.lower(), old, version=f"{kind} {sorted(place.items())}",
                       detail={"mailbox": new, "kind": kind, **({"place": place} if place else {})},
                       data=(old, new, kind, place, str(row.get("display_name") or self.names.get(old.lower(), old))))

    def find(self, work: Work) -> dict[str, Any] | None:
        _, new, kind, _, _ = work.data
        found = purpose(self.new, new)
        if found is None:
            return None
        return {"purpose": found, "place": place_of(self.new_rooms().get(new.lower())) if kind == "room" else {}}

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        _, new, kind, place, _ = work.data
        if existing is None:
            return f"no {kind} mailbox {new} in the new tenant"
        if existing["purpose"] != kind:
            return f"{new} is a {existing['purpose']} mailbox, not a {kind} mailbox"
        lacking = sorted(k for k, v in place.items() if existing["place"].get(k) != v)
        return f"the room's {', '.join(lacking)} differ{'s' if len(lacking) == 1 else ''}" if lacking else ""

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        old, new, kind, place, name = work.data
        why = self.differs(work, existing)
        if not why:
            return Applied(new, "done by the admin, read back", detail=work.detail)
        commands = []
        if existing is None:
            commands.append(f"New-Mailbox -{kind.capitalize()} -Name {ps_quote(name)} -Alias "
                            f"{ps_quote(new.split('@')[0])} -PrimarySmtpAddress {ps_quote(new)}")
        elif existing["purpose"] != kind:
            commands.append(f"Set-Mailbox -Identity {ps_quote(new)} -Type {kind.capitalize()}")
        if place:
            commands.append(f"Set-Place -Identity {ps_quote(new)} " + " ".join(
                f"-{PLACE[k]} " + (("$true" if v else "$false") if isinstance(v, bool) else
                                   str(v) if isinstance(v, int) else ps_quote(str(v))) for k, v in place.items()))
        if kind in ("room", "equipment") and existing is None:  # the booking rules, read from the old mailbox
            commands += [f"$booking = (Get-CalendarProcessing -Identity {ps_quote(self.ids.get(old.lower(), old))})."
                         f"{b}" for b in BOOKING]
            commands.append(f"Set-CalendarProcessing -Identity {ps_quote(new)} " + " ".join(
                f"-{b} $booking" for b in BOOKING))
        return ManualStep(work.key, f"{kind} mailbox {new}: {why}", commands,
                          check=f"{new} is a {kind} mailbox" + (" with its place" if place else ""))

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """One session per tenant: every booking rule read in the old tenant first, then each mailbox made."""
        reads, writes = [], []
        for i, step in enumerate(steps, start=1):
            names = iter(BOOKING)
            for line in step.commands:
                if line.startswith("$booking = "):
                    reads.append(line.replace("$booking", f"$booking{i}{next(names)}", 1))
                elif line.startswith("Set-CalendarProcessing"):
                    for b in BOOKING:
                        line = line.replace(f"-{b} $booking", f"-{b} $booking{i}{b}", 1)
                    writes.append(line)
                else:
                    writes.append(line)
            writes.append("")
        keys = f"{steps[0].key} ... {steps[-1].key}" if len(steps) > 1 else steps[0].key
        out = []
        if reads:
            out.append(ManualStep(keys, "read the booking rules of the old rooms and equipment",
                                  [f"Connect-ExchangeOnline -Organization {ps_quote(self.old_org)}", *reads]))
        out.append(ManualStep(keys, "make the shared, room and equipment mailboxes in the new tenant",
                              [f"Connect-ExchangeOnline -Organization {ps_quote(self.new_org)}", *writes],
                              check="; ".join(s.check for s in steps)))
        return out


class ResourceMemberships(Workload):
    """The groups the shared, room and equipment mailboxes were members of, once phase 30's script made them: a
    Microsoft 365 or security group through Graph; a distribution list (an Exchange object) as a manual item with
    ``Add-DistributionGroupMember``, read back through the list's members."""

    kind = "resource-member"
    title = "memberships of shared, room and equipment mailboxes"
    manual_shell = "Exchange Online PowerShell"
    manual_preamble = ("Connect-ExchangeOnline",)

    def __init__(self, new: GraphClient, src: Inventory, rows: pd.DataFrame, groups: dict[str, dict[str, Any]]) -> None:
        """``groups``: old group id -> the new group ({id, kind, mail}), matched by mail nickname."""
        self.new, self.src, self.groups = new, src, groups
        self.target_of = {str(s).lower(): str(t) for s, t in zip(rows["source_upn"], rows["target_upn"], strict=True)}
        self.upn_of = {str(i): str(u).lower() for u, i in zip(src.users["userPrincipalName"], src.users["id"],
                                                               strict=True)}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, m in self.src.memberships.iterrows():
            new = self.target_of.get(self.upn_of.get(str(m["member_id"]), ""))
            if new and str(m["group_id"]) in self.groups:
                group = self.groups[str(m["group_id"])]
                yield Work(f"{m['group_id']}/{m['member_id']}", f"{m['group']}: {m['member']}",
                           detail={"group": m["group"], "member": new, "kind": group["kind"]}, data=(group, new))

    def find(self, work: Work) -> tuple[dict[str, Any] | None, set[str]]:
        group, new = work.data
        members = {str(x.get("userPrincipalName") or "").lower()
                   for x in self.new.get_all(path("groups", group["id"], "members"), {"$select": "id,userPrincipalName"})}
        try:
            user = self.new.get(path("users", new), {"$select": "id,userPrincipalName"}, expected=(404,))
        except GraphNotFound:
            user = None
        return user, members

    def differs(self, work: Work, existing: tuple[dict[str, Any] | None, set[str]]) -> str:
        group, new = work.data
        user, members = existing
        if user is None:
            return f"{new} is not in the new tenant (phase 30's script makes it)"
        return "" if new.lower() in members else f"{new} is not a member of {work.detail['group']}"

    def apply(self, work: Work, existing: tuple[dict[str, Any] | None, set[str]]) -> Applied | ManualStep:
        group, new = work.data
        user, members = existing
        exchange = group["kind"] in EXCHANGE_KINDS
        if user is not None and new.lower() in members:
            return Applied(str(user["id"]), "done by the admin, read back" if exchange else "already so",
                           detail=work.detail)
        if exchange or user is None:
            commands = [f"Add-DistributionGroupMember -Identity {ps_quote(group['mail'])} -Member {ps_quote(new)}"] \
                if exchange else [f"# {new} joins {work.detail['group']} through Graph on the next run, once phase "
                                  "30's script made the mailbox"]
            return ManualStep(work.key, f"{work.detail['group']}: add {new}", commands,
                              check=f"{new} is a member of {work.detail['group']}")
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"}
        try:
            self.new.request("POST", path("groups", group["id"], "members", "$ref"), json=ref, idempotent=True)
        except GraphError as exc:
            if "already exist" not in exc.graph_message:
                raise
        return Applied(str(user["id"]), "added", detail=work.detail)


def groups_by_old_id(src: Inventory, tgt: Inventory) -> dict[str, dict[str, Any]]:
    """Old group id -> the new group of the same mail nickname: its id, kind and address."""
    new = {str(n).lower(): {"id": str(i), "kind": str(k), "mail": str(m or "")}
           for n, i, k, m in zip(tgt.groups["mailNickname"], tgt.groups["id"], tgt.groups["kind"], tgt.groups["mail"],
                                 strict=True)}
    return {str(g): new[str(n).lower()] for g, n in zip(src.groups["id"], src.groups["mailNickname"], strict=True)
            if str(n).lower() in new}
