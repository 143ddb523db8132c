"""Shared, room and equipment mailboxes: mailboxes without a person, which Graph cannot create. Each is a manual item
with the Exchange commands (``New-Mailbox -Shared|-Room|-Equipment``; a room's place with ``Set-Place``: capacity,
building, floor, as the old tenant's ``places`` API shows them; the booking rules read from the old mailbox with
``Get-CalendarProcessing`` and set with ``Set-CalendarProcessing``). The next run reads each back: the mailbox by its
address and kind (``mailboxSettings.userPurpose``), a room's place through ``GET /places/microsoft.graph.room``. Once
a mailbox exists, its content moves in phase 60 like any other (the booking rules have no Graph API: the script's
word stands for them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..services.graph import GraphClient, GraphNotFound, path
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

    def __init__(self, old: GraphClient, new: GraphClient, rows: pd.DataFrame, src: Inventory, new_org: str) -> None:
        self.old, self.new, self.rows, self.new_org = old, new, rows, new_org
        self.old_org = src.initial_domain
        self.ids = {str(u).lower(): str(i) for u, i in zip(src.users["userPrincipalName"], src.users["id"],
                                                            strict=True)}
        self.names = {str(u).lower(): str(n) for u, n in zip(src.users["userPrincipalName"], src.users["displayName"],
                                                              strict=True)}
        self._old_rooms: dict[str, dict[str, Any]] | None = None

    def old_rooms(self) -> dict[str, dict[str, Any]]:
        """The old tenant's rooms by their old UPN (phase 20 renamed their addresses; the id is kept)."""
        if self._old_rooms is None:
            by_id = {str(r.get("id")): r for r in self.old.get_all("places/microsoft.graph.room")}
            self._old_rooms = {upn: by_id[i] for upn, i in self.ids.items() if i in by_id}
        return self._old_rooms

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, row in self.rows.iterrows():
            old, new, kind = str(row["source_upn"]), str(row["target_upn"]), str(row["action"])
            place = place_of(self.old_rooms().get(old.lower())) if kind == "room" else {}
            yield Work(old.lower(), old, version=f"{kind} {sorted(place.items())}",
                       detail={"mailbox": new, "kind": kind, **({"place": place} if place else {})},
                       data=(old, new, kind, place, str(row.get("display_name") or self.names.get(old.lower(), old))))

    def find(self, work: Work) -> dict[str, Any] | None:
        _, new, kind, _, _ = work.data
        found = purpose(self.new, new)
        if found is None:
            return None
        return {"purpose": found, "place": place_of(rooms(self.new).get(new.lower())) if kind == "room" else {}}

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
