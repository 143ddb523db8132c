"""Each recreated group's owners (``POST /groups/{id}/owners/$ref``), mapped to their new names. An owner who does
not move is a manual item on the group's owner row, read back once the group has an owner in the new tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import NotReady, TenantmoveError
from ..services.graph import GraphClient, GraphError, GraphNotFound, path
from .inventory import Inventory
from .users import find_user

# the old tenant's owners of a group, by the group's old id: their UPNs as the old tenant names them
OwnersOf = Callable[[str], list[str]]


def owners_from_inventory(inv: Inventory) -> OwnersOf:
    owners = inv.raw.get("owners")
    if owners is None:
        raise NotReady("the old tenant's inventory has no group owners (phase 00 of an earlier version)",
                       hint="rerun 00_prepare, then this phase")
    return lambda gid: list(owners.get(gid) or [])


def owners_from_tenant(client: GraphClient, inv: Inventory) -> OwnersOf:
    """The old tenant as it is now; owners named by the UPN phase 00 saw (phase 20 renamed them since)."""
    upns = {str(i): str(u) for u, i in zip(inv.users["userPrincipalName"], inv.users["id"], strict=True)}

    def read(gid: str) -> list[str]:
        return [upns.get(str(o["id"]), str(o.get("userPrincipalName")))
                for o in client.get_all(path("groups", gid, "owners"), {"$select": "id,userPrincipalName"})]
    return read


def owners_now(client: GraphClient, group_id: str) -> dict[str, str]:
    """The new group's owners: UPN (lower case) -> id."""
    return {str(o.get("userPrincipalName") or "").lower(): str(o["id"])
            for o in client.get_all(path("groups", group_id, "owners"), {"$select": "id,userPrincipalName"})}


class GroupOwners(Workload):
    kind = "group-owner"
    title = "group owners"
    manual_shell = "Exchange Online PowerShell (or the Microsoft 365 admin centre)"
    manual_preamble = ("Connect-ExchangeOnline",)

    def __init__(self, client: GraphClient, groups: pd.DataFrame, owners_of: OwnersOf, made: dict[str, str],
                 moving: pd.DataFrame) -> None:
        """``groups``: the old tenant's groups (inventory); ``made``: old group id -> new group id."""
        self.client, self.groups, self.owners_of, self.made = client, groups, owners_of, made
        self.target_of = {str(s).lower(): str(t) for s, t in zip(moving["source_upn"], moving["target_upn"],
                                                                  strict=True)}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, g in self.groups.iterrows():
            if str(g["id"]) not in self.made:
                continue
            for owner in self.owners_of(str(g["id"])):
                new = self.target_of.get(owner.lower(), "")
                yield Work(f"{g['id']}/{owner.lower()}", f"{g['displayName']}: {owner}",
                           detail={"group": g["displayName"], "owner": owner, "new owner": new},
                           data=(str(g["id"]), str(g["displayName"]), str(g.get("mailNickname") or ""), owner, new))

    def find(self, work: Work) -> dict[str, str] | None:
        gid = work.data[0]
        try:
            return owners_now(self.client, self.made[gid])
        except GraphNotFound:
            return None

    def differs(self, work: Work, existing: dict[str, str] | None) -> str:
        _, name, _, owner, new = work.data
        if existing is None:
            return f"{name} is not in the new tenant"
        if not new:
            return "" if existing else f"{name} has no owner in the new tenant ({owner} does not move)"
        return "" if new.lower() in existing else f"{new} is not an owner of {name}"

    def apply(self, work: Work, existing: dict[str, str] | None) -> Applied | ManualStep:
        gid, name, nick, owner, new = work.data
        if existing is None:
            raise TenantmoveError(f"the group {name} is not in the new tenant yet", hint="rerun phase 30: the groups "
                                  "workload creates it first")
        if not new:  # the owner does not move: someone must own the group, the admin says who
            if existing:
                return Applied(self.made[gid], "done by the admin, read back", detail=work.detail)
            return ManualStep(work.key, f"{name}: the owner {owner} is not in the user mapping", [
                f"# {owner} owned {name} and does not move: add them to the user mapping and rerun phase 30, or make "
                "someone who moves an owner:",
                f"Add-UnifiedGroupLinks -Identity {ps_quote(nick or name)} -LinkType Members -Links '<new owner UPN>'",
                f"Add-UnifiedGroupLinks -Identity {ps_quote(nick or name)} -LinkType Owners -Links '<new owner UPN>'"],
                check=f"{name} has an owner in the new tenant", target_id=self.made[gid])
        if new.lower() in existing:
            return Applied(existing[new.lower()], "already so", detail=work.detail)
        person = find_user(self.client, new)
        if person is None:
            raise TenantmoveError(f"{new} is not in the new tenant yet", hint="rerun phase 30: the users workload "
                                  "creates it first")
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{person['id']}"}
        try:
            self.client.request("POST", path("groups", self.made[gid], "owners", "$ref"), json=ref, idempotent=True)
        except GraphError as exc:  # a retry of a request that had arrived: the owner is there
            if "already exist" not in exc.graph_message:
                raise
        return Applied(str(person["id"]), "added", detail=work.detail)
