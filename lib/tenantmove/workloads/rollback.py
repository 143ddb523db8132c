"""The way back's items that are not DNS: the old tenant's users renamed back to the names phase 20 took from them
(the ledger knows each: its ``rename-user`` items), and the old tenant's groups given back their addresses on the
domain (forceDelete moved them to the onmicrosoft domain; Graph cannot write a group's address, so each is an
Exchange Online PowerShell step, checked on the next run)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, Item, ManualStep, Work, Workload, ps_quote
from ..services.graph import GraphClient, GraphNotFound, path
from .inventory import Inventory

RENAMED = "rename-user"  # phase 20's kind: a user renamed off the domain
COLUMNS = ["type", "id", "name", "from", "to", "mail", "how"]


def renames_back(items: list[Item], src: Inventory) -> pd.DataFrame:
    """Each user phase 20 renamed (a done ``rename-user`` item: the user's id, the name it had, the name it got),
    back to the name it had; the address is the one phase 00's inventory saw (the name, when it had none)."""
    mails = {str(i): str(m or "") for i, m in zip(src.users["id"], src.users["mail"], strict=True)}
    rows = [{"type": "user", "id": item.source_id, "name": item.name, "from": str(item.detail.get("to") or ""),
             "to": str(item.name), "mail": mails.get(item.source_id) or str(item.name),
             "how": "PATCH userPrincipalName and mail"}
            for item in items if item.kind == RENAMED and item.state == "done" and item.name]
    return pd.DataFrame(rows, columns=COLUMNS)


def groups_on(src: Inventory, domain: str) -> pd.DataFrame:
    """The old tenant's mail-enabled groups that had an address on ``domain`` when phase 00 looked."""
    mail = src.groups["mail"].fillna("").astype(str).str.lower()
    return src.groups[mail.str.endswith("@" + domain.lower())]


class GroupAddresses(Workload):
    """Each old group back on its address on the domain: adopted when Exchange shows it already, otherwise the
    ``Set-UnifiedGroup`` (a Microsoft 365 group) or ``Set-DistributionGroup`` line for the admin."""

    kind = "rollback-group-address"
    title = "group addresses (back on the domain)"
    destructive = True
    manual_shell = "Exchange Online PowerShell (Install-Module ExchangeOnlineManagement)"

    def __init__(self, client: GraphClient, groups: pd.DataFrame, old_initial: str) -> None:
        self.client, self.groups = client, groups
        self.manual_preamble = (f"# sign in as an Exchange administrator of the old tenant ({old_initial})",
                                f"Connect-ExchangeOnline -Organization {ps_quote(old_initial)}")

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, g in self.groups.iterrows():
            yield Work(str(g["id"]), str(g["mail"]), detail={"kind": str(g["kind"]), "nickname": str(g["mailNickname"])},
                       data=g)

    def find(self, work: Work) -> dict[str, Any] | None:
        try:
            return self.client.get(path("groups", work.key), {"$select": "id,mail,mailNickname,groupTypes"},
                                   expected=(404,))
        except GraphNotFound:
            return None

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        want = str(work.data["mail"])
        if existing is None:
            return ManualStep(work.key, f"group {work.data['displayName']} <{want}>: not in the old tenant any more",
                              [f"# {work.data['displayName']} ({work.key}) was deleted after phase 00: restore it "
                               "from the deleted items in the Entra admin centre, then rerun"],
                              check=f"the group {work.key} exists with {want}")
        now = str(existing.get("mail") or "")
        if now.lower() == want.lower():
            return Applied(work.key, "adopted", note=f"{want} is its address")
        cmdlet = "Set-UnifiedGroup" if "Unified" in (existing.get("groupTypes") or []) else "Set-DistributionGroup"
        return ManualStep(work.key, f"group {work.data['displayName']}: {now or 'no address'} -> {want}",
                          [f"{cmdlet} -Identity {ps_quote(work.key)} -PrimarySmtpAddress {ps_quote(want)}"],
                          check=f"the group's address is {want}", target_id=work.key)
