"""Microsoft 365 and security groups in the new tenant, and their members. Distribution lists and
mail-enabled security groups are Exchange objects Graph cannot create: see :mod:`.distribution`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, Work, Workload
from ..services.graph import GraphClient, GraphError, path
from .inventory import Inventory

GRAPH_KINDS = ("Microsoft 365", "security")
EXCHANGE_KINDS = ("distribution", "mail-enabled security")


def odata_quote(value: str) -> str:
    return str(value).replace("'", "''")


def find_group(client: GraphClient, nickname: str) -> dict[str, Any] | None:
    found = client.get("groups", {"$filter": f"mailNickname eq '{odata_quote(nickname)}'",
                                  "$select": "id,mail,mailNickname,displayName"})["value"]
    return found[0] if found else None


class Groups(Workload):
    kind = "group"
    title = "groups"

    def __init__(self, client: GraphClient, source: Inventory) -> None:
        self.client, self.source = client, source

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, g in self.source.groups.iterrows():
            if g["kind"] in GRAPH_KINDS:
                yield Work(g["id"], g["displayName"], detail={"kind": g["kind"], "mailNickname": g["mailNickname"]},
                           data=g)

    def find(self, work: Work) -> dict[str, Any] | None:
        return find_group(self.client, work.data["mailNickname"])

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        if existing is not None:
            return Applied(existing["id"], "adopted")
        g = work.data
        unified = g["kind"] == "Microsoft 365"
        body = {"displayName": g["displayName"], "mailNickname": g["mailNickname"], "mailEnabled": unified,
                "securityEnabled": not unified, "groupTypes": ["Unified"] if unified else []}
        if unified and g.get("visibility"):
            body["visibility"] = g["visibility"]
        return Applied(self.client.post("groups", body)["id"], "created")


class Members(Workload):
    """Memberships of moved users in the groups created above (source keys mapped to target ids)."""

    kind = "member"
    title = "memberships"

    def __init__(self, client: GraphClient, source: Inventory, groups: dict[str, str], users: dict[str, str]) -> None:
        self.client, self.source, self.groups, self.users = client, source, groups, users

    def wanted(self) -> list[dict[str, Any]]:
        return [dict(m) for _, m in self.source.memberships.iterrows()
                if m["group_id"] in self.groups and m["member_type"] == "user" and m["member_id"] in self.users]

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for m in self.wanted():
            yield Work(f"{m['group_id']}/{m['member_id']}", f"{m['group']}: {m['member']}", data=m)

    def apply(self, work: Work, existing: Any) -> Applied:
        m = work.data
        user = self.users[m["member_id"]]
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user}"}
        try:
            self.client.request("POST", path("groups", self.groups[m["group_id"]], "members", "$ref"), json=ref, idempotent=True)
        except GraphError as exc:
            if "already exist" not in exc.graph_message:
                raise
            return Applied(user, "adopted", note="already a member")
        return Applied(user, "added")
