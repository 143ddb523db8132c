"""Distribution lists and mail-enabled security groups: Exchange objects that Graph can read but not
create. Each becomes a manual step with its exact Exchange Online PowerShell commands (the group, then
each member); the next run reads the new tenant and marks the list done once it exists with all of
its members, or writes only what is still missing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..services.graph import GraphClient, path
from .groups import EXCHANGE_KINDS, find_group
from .inventory import Inventory


class DistributionLists(Workload):
    kind = "distribution-list"
    title = "distribution lists"
    manual_shell = "Exchange Online PowerShell (Install-Module ExchangeOnlineManagement)"

    def __init__(self, client: GraphClient, source: Inventory, moving: pd.DataFrame, domains: str | list[str],
                 new_initial: str, admin: str = "", later: pd.DataFrame | None = None) -> None:
        """``domains``: the custom domains that move (a list's address keeps its domain if it is one of them);
        ``later``: the mapping's shared, room and equipment mailboxes (a script makes them; phase 60 adds them
        to their lists): named so, not as people the mapping leaves behind."""
        self.client, self.source, self.new_initial = client, source, new_initial
        self.domains = {d.lower() for d in ([domains] if isinstance(domains, str) else domains)}
        self.manual_preamble = (f"# sign in as an Exchange administrator of the new tenant ({new_initial})",
                                f"Connect-ExchangeOnline{' -UserPrincipalName ' + ps_quote(admin) if admin else ''}")
        upn_of = dict(zip(source.users["id"], source.users["userPrincipalName"].str.lower(), strict=True))
        target_of = dict(zip(moving["source_upn"].str.lower(), moving["target_upn"], strict=True))
        made_later = {} if later is None else dict(zip(later["source_upn"].str.lower(), later["target_upn"],
                                                              strict=True))
        self.members: dict[str, list[str]] = {}
        self.not_moved: dict[str, list[str]] = {}
        self.after: dict[str, list[str]] = {}
        for _, m in source.memberships.iterrows():
            target = target_of.get(upn_of.get(m["member_id"], ""))
            if target:
                self.members.setdefault(m["group_id"], []).append(target)
            elif upn_of.get(m["member_id"], "") in made_later:
                self.after.setdefault(m["group_id"], []).append(made_later[upn_of[m["member_id"]]])
            else:
                self.not_moved.setdefault(m["group_id"], []).append(str(m["member"]))

    def address(self, group: pd.Series) -> str:
        mail = str(group.get("mail") or "")
        if mail.lower().rpartition("@")[2] in self.domains:
            return mail
        return f"{group['mailNickname']}@{self.new_initial}"

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, g in self.source.groups.iterrows():
            if g["kind"] in EXCHANGE_KINDS:
                members = sorted(self.members.get(g["id"], []))
                yield Work(g["id"], g["displayName"], detail={"kind": g["kind"], "address": self.address(g),
                                                              "members": len(members)}, data=(g, members))

    def find(self, work: Work) -> tuple[dict[str, Any], set[str]] | None:
        group = find_group(self.client, work.data[0]["mailNickname"])
        if group is None:
            return None
        members = self.client.get_all(path("groups", group["id"], "members"), {"$select": "id,userPrincipalName",
                                                                         "$top": "999"})
        return group, {str(m.get("userPrincipalName") or "").lower() for m in members}

    def apply(self, work: Work, existing: tuple[dict[str, Any], set[str]] | None) -> Applied | ManualStep:
        g, members = work.data
        address = self.address(g)
        have = existing[1] if existing else set()
        missing = [m for m in members if m.lower() not in have]
        if existing is not None and not missing:
            return Applied(existing[0]["id"], "created by the admin", note=f"{address} exists with its {len(members)} members")
        commands = []
        if existing is None:
            kind = " -Type Security" if g["kind"] == "mail-enabled security" else ""
            commands.append(f"New-DistributionGroup -Name {ps_quote(g['displayName'])} -Alias {ps_quote(g['mailNickname'])}"
                            f" -PrimarySmtpAddress {ps_quote(address)}{kind}")
        commands += [f"Add-DistributionGroupMember -Identity {ps_quote(address)} -Member {ps_quote(m)}" for m in missing]
        if self.not_moved.get(work.key):  # members the mapping does not move: said, not silently dropped
            commands.append(f"# not added (not moved by the user mapping): {', '.join(sorted(self.not_moved[work.key]))}")
        for member in sorted(self.after.get(work.key, [])):  # a mailbox this phase's other script makes
            commands.append(f"# {member} is added by phase 60, once this phase's resource-mailbox script made it")
        state = "create it" if existing is None else f"add {len(missing)} missing member(s)"
        return ManualStep(work.key, f"{g['kind']} {g['displayName']} <{address}>: {state}", commands,
                          check=f"{address} exists with members {', '.join(members) or '(none)'}")
