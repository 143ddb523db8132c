"""Who may open a drive item, through Graph: the items a drive shares (a delta listing asked for hierarchical
sharing: only the items with permissions of their own carry the ``shared`` facet), an item's permissions (each
call costs SharePoint 5 resource units, as do ``invite`` and ``createLink``), grants without a mail to anyone,
and sharing links. Graph's ``permission`` is read into :class:`Permission`, one shape for both tenants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .graph import GraphClient, GraphError, path

PERMISSION_UNITS = 5  # SharePoint's resource units per permission call
HIERARCHICAL = "hierarchicalsharing"


@dataclass(frozen=True)
class Permission:
    """One permission of an item: a grant to a person or group, or a sharing link."""

    id: str
    roles: tuple[str, ...]
    kind: str  # user | group | link | owner | siteGroup (a SharePoint group: not Graph's to write)
    principal: str = ""  # the object id of a user or group; a SharePoint group's name
    address: str = ""  # a user's (or group's) address as the tenant shows it
    name: str = ""
    link_type: str = ""  # view | edit | embed
    scope: str = ""  # anonymous | organization | users
    url: str = ""
    recipients: tuple[str, ...] = ()  # a users-scope link's people, by address
    recipient_ids: tuple[str, ...] = ()  # the same people's object ids, in the same order
    expires: str = ""
    password: bool = False
    inherited: bool = False

    @property
    def role(self) -> str:
        """The strongest role: owner, write or read."""
        return next((r for r in ("owner", "write", "read") if r in self.roles), ",".join(self.roles))


def parse(raw: dict[str, Any]) -> Permission:
    roles = tuple(sorted(str(r) for r in raw.get("roles") or []))
    common = {"id": str(raw.get("id")), "roles": roles, "inherited": bool(raw.get("inheritedFrom")),
              "expires": str(raw.get("expirationDateTime") or "")}
    link = raw.get("link")
    if link:
        people = sorted((str((i.get("user") or {}).get("email") or "").lower(), str((i.get("user") or {}).get("id") or ""))
                        for i in raw.get("grantedToIdentitiesV2") or raw.get("grantedToIdentities") or [])
        return Permission(kind="link", link_type=str(link.get("type") or ""), scope=str(link.get("scope") or ""),
                          url=str(link.get("webUrl") or ""), recipients=tuple(a for a, _ in people),
                          recipient_ids=tuple(i for _, i in people), password=bool(raw.get("hasPassword")), **common)
    granted = raw.get("grantedToV2") or raw.get("grantedTo") or {}
    login = str((granted.get("siteUser") or {}).get("loginName") or "")  # i:0#.f|membership|upn
    for kind in ("user", "group", "siteGroup", "siteUser"):
        who = granted.get(kind)
        if who:
            person = kind in ("user", "siteUser")
            found = "owner" if "owner" in roles and person else ("user" if kind == "siteUser" else kind)
            address = str(who.get("email") or (login.rsplit("|", 1)[-1] if "|" in login else "")).lower()
            return Permission(kind=found, principal=str(who.get("id") or who.get("loginName") or ""),
                              address=address, name=str(who.get("displayName") or ""), **common)
    return Permission(kind="unknown", **common)


class SharingClient:
    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph

    def shared_items(self, drive_id: str) -> list[dict[str, Any]]:
        """Every item of the drive (a delta listing from the start, asking for hierarchical sharing); the caller
        keeps those with the ``shared`` facet: the roots of sharing, whose own permissions it reads."""
        url: str = f"{path('drives', drive_id)}/root/delta"
        items: list[dict[str, Any]] = []
        while True:
            body = self.graph.request("GET", url, headers={"Prefer": HIERARCHICAL}).json()
            items.extend(body.get("value", []))
            if not body.get("@odata.nextLink"):
                return items
            url = body["@odata.nextLink"]

    def permissions(self, drive_id: str, item_id: str) -> list[Permission]:
        return [parse(p) for p in self.graph.iter_all(path("drives", drive_id, "items", item_id, "permissions"))]

    def invite(self, drive_id: str, item_id: str, recipient: dict[str, str], roles: list[str]) -> Permission:
        """A grant, mailing nobody: ``requireSignIn`` and no invitation."""
        body = {"recipients": [recipient], "roles": roles, "requireSignIn": True, "sendInvitation": False}
        answer = self.graph.request("POST", path("drives", drive_id, "items", item_id, "invite"), json=body,
                                    idempotent=True).json()
        return parse(answer["value"][0])

    def create_link(self, drive_id: str, item_id: str, link_type: str, scope: str, expires: str = "",
                    recipients: tuple[str, ...] = ()) -> tuple[Permission, bool]:
        """(the link, whether it was made now): the service answers an existing link of that type and scope."""
        body: dict[str, Any] = {"type": link_type, "scope": scope}
        if expires:
            body["expirationDateTime"] = expires
        if recipients:
            body["recipients"] = [{"email": r} for r in recipients]
        resp = self.graph.request("POST", path("drives", drive_id, "items", item_id, "createLink"), json=body,
                                  idempotent=True)
        return parse(resp.json()), resp.status_code == 201

    def set_roles(self, drive_id: str, item_id: str, perm_id: str, roles: list[str]) -> None:
        self.graph.patch(path("drives", drive_id, "items", item_id, "permissions", perm_id), {"roles": roles})

    def remove(self, drive_id: str, item_id: str, perm_id: str) -> bool:
        """Take a permission away; False when it was gone already."""
        try:
            self.graph.request("DELETE", path("drives", drive_id, "items", item_id, "permissions", perm_id),
                               idempotent=True, expected=(404,))
        except GraphError as exc:
            if exc.status != 404:
                raise
            return False
        return True
