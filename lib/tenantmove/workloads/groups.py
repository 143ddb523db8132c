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
                                  "$select": "id,mail,mailNickname,displayName,description,visibility"})["value"]
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
        g = work.data
        if existing is not None:  # made by an earlier run, or by hand: its description and visibility as the old one
            change, note = settings_change(g, existing)
            if change:
                self.client.patch(path("groups", existing["id"]), change)
            return Applied(existing["id"], "updated" if change else "adopted",
                           detail={**work.detail, **({"written": sorted(change)} if change else {}),
                                   **({"note": note} if note else {})})
        unified = g["kind"] == "Microsoft 365"
        body = {"displayName": g["displayName"], "mailNickname": g["mailNickname"], "mailEnabled": unified,
                "securityEnabled": not unified, "groupTypes": ["Unified"] if unified else []}
        if unified and _text(g.get("visibility")):  # hidden membership can be given only here, at creation
            body["visibility"] = g["visibility"]
        if _text(g.get("description")):
            body["description"] = g["description"]
        return Applied(self.client.post("groups", body)["id"], "created")


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


HIDDEN = "hiddenmembership"


def settings_change(old: Any, new: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What a group in the new tenant must be given to have the old group's description and visibility; a visibility
    that only creation can give (hidden membership, either way) is named, not written."""
    change: dict[str, Any] = {}
    if _text(old.get("description")) and _text(old.get("description")) != _text(new.get("description")):
        change["description"] = _text(old.get("description"))
    was, now = _text(old.get("visibility")), _text(new.get("visibility"))
    note = ""
    if was and was.lower() != now.lower():
        if HIDDEN in (was.lower(), now.lower()):
            note = (f"visibility is {now or 'unset'}, the old group's {was}: hidden membership is set only when a "
                    "group is created (delete and recreate the group to change it)")
        elif old.get("kind", "Microsoft 365") == "Microsoft 365":
            change["visibility"] = was
    return change, note


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
