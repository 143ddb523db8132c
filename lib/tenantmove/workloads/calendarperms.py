"""Who may see or manage each moving calendar (``/users/{id}/calendar/calendarPermissions``): the people it is
shared with and the delegates, by their mapped address and role, made directly (no sharing invitation is sent), and
the organisation's own entry (free/busy by default) given the old role. A person outside the organisation, or one
who does not move, is a manual item with the Exchange command, read back on the next run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphError, GraphNotFound, path
from .addresses import MAPPED, Addresses, Owner

ORGANIZATION = "organization"
# Graph's calendar roles as Exchange's folder permissions (Add-MailboxFolderPermission)
EXCHANGE_RIGHTS = {"freeBusyRead": ("AvailabilityOnly", ""), "limitedRead": ("LimitedDetails", ""),
                   "read": ("Reviewer", ""), "write": ("Editor", ""),
                   "delegateWithoutPrivateEventAccess": ("Editor", "Delegate"),
                   "delegateWithPrivateEventAccess": ("Editor", "Delegate,CanViewPrivateItems")}


def permissions_of(client: GraphClient, user: str) -> list[dict[str, Any]] | None:
    try:
        return client.get_all(path("users", user, "calendar", "calendarPermissions"))
    except GraphNotFound:
        return None


def who(perm: dict[str, Any]) -> str:
    """A permission's person (lower-case address), or the organisation's entry."""
    address = str((perm.get("emailAddress") or {}).get("address") or "")
    return address.lower() if address else ORGANIZATION


class CalendarPermissions(Workload):
    kind = "calendar-permission"
    title = "calendar sharing and delegates"
    manual_shell = "Exchange Online PowerShell"
    manual_preamble = ("Connect-ExchangeOnline",)

    def __init__(self, old: GraphClient, new: GraphClient, owners: list[Owner], addresses: Addresses) -> None:
        self.old, self.new, self.owners, self.addresses = old, new, owners, addresses

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.owners:
            for perm in permissions_of(self.old, owner.old) or []:
                person = who(perm)
                new, how = (ORGANIZATION, MAPPED) if person == ORGANIZATION else self.addresses.rewrite(person)
                yield Work(f"{owner.name.lower()}/{person}", f"{owner.name}: {person}", version=str(perm.get("role")),
                           detail={"calendar of": owner.new, "who": new, "role": perm.get("role"),
                                   **({"note": how} if how != MAPPED else {})},
                           data=(owner, new.lower(), how, str(perm.get("role"))))

    def find(self, work: Work) -> dict[str, Any] | None:
        owner, new, _, _ = work.data
        held = permissions_of(self.new, owner.new)
        if held is None:
            return None
        return next((p for p in held if who(p) == new), {})

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        _, new, _, role = work.data
        if existing is None:
            return "no mailbox in the new tenant"
        if not existing:
            return f"{new} has no permission on the new calendar"
        return "" if existing.get("role") == role else f"{new} has {existing.get('role')}, not {role}"

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        owner, new, how, role = work.data
        if existing is None:
            raise TenantmoveError(f"{owner.new} has no mailbox in the new tenant yet", hint="assign a licence with "
                                  "Exchange (phase 30) and rerun this phase once the mailbox exists")
        base = path("users", owner.new, "calendar", "calendarPermissions")
        if existing and existing.get("role") == role:
            return Applied(str(existing["id"]), "already so" if how == MAPPED else "done by the admin, read back",
                           detail=work.detail)
        if existing:
            self.new.patch(f"{base}/{existing['id']}", {"role": role})
            return Applied(str(existing["id"]), "updated", detail=work.detail)
        if how != MAPPED:
            rights, flags = EXCHANGE_RIGHTS.get(role, ("Reviewer", ""))
            folder = ps_quote(owner.new + ":\\Calendar")
            return ManualStep(work.key, f"{owner.new}'s calendar: {new} ({how}) had {role}", [
                f"# {new} is {how}: share only if that is still wanted (no invitation is sent by this command)",
                f"Add-MailboxFolderPermission -Identity {folder} -User {ps_quote(new)} "
                f"-AccessRights {rights}" + (f" -SharingPermissionFlags {flags}" if flags else "")],
                check=f"{new} has {role} on {owner.new}'s calendar")
        try:
            made = self.new.post(base, {"emailAddress": {"address": new}, "role": role,
                                        "isInsideOrganization": True}, idempotent=False)
        except GraphError as exc:
            if exc.status != 409:
                raise
            return Applied(new, "already so", detail=work.detail)  # a killed run's grant: found, not made twice
        return Applied(str(made.get("id")), "added", detail=work.detail)
