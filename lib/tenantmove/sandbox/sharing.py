"""Who may open a drive item, as Graph shows and changes it: ``GET .../permissions`` (an item's own permissions,
then each ancestor's marked with ``inheritedFrom``, and the owner of a OneDrive on every item of it), ``POST
.../invite`` (people and groups of the tenant, existing guests included, by address; roles ``read`` or
``write``), ``POST .../createLink`` (``view`` or ``edit``, scope ``anonymous``, ``organization`` or ``users``, an
expiry) and ``DELETE``/``PATCH .../permissions/{id}``. The service's rules, as documented:

- an invitation with ``sendInvitation`` true (or left out) mails each recipient: counted as ``sharing mails``;
- a new guest cannot be made by sharing with an app-only token: an address nobody in the tenant has is refused;
- the permissions of a OneDrive's root cannot be changed;
- ``embed`` links and link passwords exist only in OneDrive personal, never here;
- an ``anonymous`` link needs the tenant's SharePoint settings to allow sharing with anyone;
- ``createLink`` answers the existing link of that type and scope (200) instead of making a second one (201).

A permission is kept on its item: ``{"id", "roles", "kind": "user"|"group"|"link", "principal": object id,
"link": {"type", "scope", "webUrl", "recipients"}, "expires", "password"}``. The seed's ``shares:`` (per drive)
makes an old tenant's shares, passwords included."""

from __future__ import annotations

import secrets
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from .drives import Drive
from .shapes import GraphFailure
from .state import Tenant

ROLES = ("read", "write")
LINK_ROLES = {"view": "read", "edit": "write"}
SCOPES = ("anonymous", "organization", "users")
ANYONE = "externalUserAndGuestSharing"  # the SharePoint setting under which anonymous links work


def _own(item: dict[str, Any], drive: Drive | None = None) -> list[dict[str, Any]]:
    """The item's own permissions; ``drive``: about to add one, so a library item that had none breaks its
    inheritance first, as SharePoint does, keeping a copy of its parent's SharePoint groups' roles."""
    if drive is not None and not item.get("perms") and drive.breaks is not None:
        item["perms"] = drive.breaks(item)
    return item.setdefault("perms", [])


def _principal(tenant: Tenant, address: str) -> tuple[str, dict[str, Any]] | None:
    key = address.strip().lower()
    for user in tenant.users.values():
        if key in {str(user.get("mail") or "").lower(), str(user["userPrincipalName"]).lower()}:
            return "user", user
    for group in tenant.groups.values():
        if key == str(group.get("mail") or "").lower():
            return "group", group
    return None


def _identity(tenant: Tenant, kind: str, oid: str) -> dict[str, Any]:
    """A sharePointIdentitySet: the directory object (with its address, as the service adds it) and, for a
    person, the site user with its claims login name."""
    obj = (tenant.users if kind == "user" else tenant.groups).get(oid) or {}
    out = {"id": oid, "displayName": obj.get("displayName")}
    if kind == "user":
        out["email"] = obj.get("mail") or obj.get("userPrincipalName")
        return {"user": out, "siteUser": {"id": str(zlib.crc32(oid.encode()) % 10000), "displayName": obj.get("displayName"),
                                          "loginName": f"i:0#.f|membership|{str(obj.get('userPrincipalName', '')).lower()}"}}
    out["email"] = obj.get("mail")
    return {kind: out}


def permission_json(tenant: Tenant, drive: Drive, perm: dict[str, Any], source: dict[str, Any] | None) -> dict:
    """Graph's ``permission``; ``source``: the ancestor it is inherited from (None: the item's own)."""
    out: dict[str, Any] = {"id": perm["id"], "roles": list(perm["roles"]),
                           "shareId": "s!" + perm["id"].replace("-", "")[:22]}
    if perm["kind"] == "link":
        link = perm["link"]
        out["link"] = {"type": link["type"], "scope": link["scope"], "webUrl": link["webUrl"],
                       "preventsDownload": False}
        out["hasPassword"] = bool(perm.get("password"))
        out["grantedToIdentitiesV2"] = [_identity(tenant, "user", r) for r in link.get("recipients", [])]
    elif perm["kind"] == "siteGroup":  # a SharePoint group's role on the item (see siteaccess)
        out["grantedToV2"] = {"siteGroup": {"id": perm["principal"], "displayName": perm["title"],
                                            "loginName": perm["title"]}}
    else:
        out["grantedToV2"] = _identity(tenant, perm["kind"], perm["principal"])
        out["grantedTo"] = out["grantedToV2"]
    if perm.get("expires"):
        out["expirationDateTime"] = perm["expires"]
    if source is not None:
        out["inheritedFrom"] = {"driveId": drive.id, "id": source["id"], "path": f"/drives/{drive.id}/root:"
                                + drive.path_of(source)}
    return out


def listed(tenant: Tenant, drive: Drive, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The item's permissions: its own, then those it inherits, nearest ancestor first; a OneDrive's owner last."""
    out = [permission_json(tenant, drive, p, None) for p in _own(item)]
    cur = item
    while cur["parent"] is not None:
        cur = drive.items[cur["parent"]]
        out += [permission_json(tenant, drive, p, cur) for p in _own(cur)]
    if drive.owner_kind == "user":
        owner = {"id": "owner-" + drive.owner_id, "roles": ["owner"], "kind": "user", "principal": drive.owner_id}
        out.append(permission_json(tenant, drive, owner, None if item["parent"] is None else drive.items[drive.root_id]))
    return out


def is_shared(item: dict[str, Any]) -> bool:
    """The item carries permissions of its own (Graph's ``shared`` facet, as hierarchical sharing reports it)."""
    return bool(item.get("perms"))


def _writable(drive: Drive, item: dict[str, Any]) -> None:
    if drive.owner_kind == "user" and item["parent"] is None:
        raise GraphFailure(403, "accessDenied", "The permissions of the root of a OneDrive cannot be changed.")


def _expiry(value: Any) -> str | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphFailure(400, "invalidRequest", f"expirationDateTime {value!r} is not a date and time.") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when <= datetime.now(UTC):
        raise GraphFailure(400, "invalidRequest", "expirationDateTime must be in the future.")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def invite(tenant: Tenant, drive: Drive, item: dict[str, Any], body: dict[str, Any], app_only: bool,
           count: Any) -> list[dict[str, Any]]:
    """``POST .../invite``: each recipient given the roles directly (an existing grant takes the roles added)."""
    _writable(drive, item)
    roles = [str(r) for r in body.get("roles") or []]
    if not roles or any(r not in ROLES for r in roles):
        raise GraphFailure(400, "invalidRequest", "roles must be read or write.")
    recipients = body.get("recipients") or []
    if not recipients:
        raise GraphFailure(400, "invalidRequest", "recipients is required.")
    found = []
    for r in recipients:
        address = str(r.get("email") or r.get("alias") or r.get("objectId") or "")
        principal = _principal(tenant, address) or next(
            ((k, o) for k, objs in (("user", tenant.users), ("group", tenant.groups)) for o in objs.values()
             if o["id"] == address), None)
        if principal is None:
            raise GraphFailure(400, "invalidRequest", f"{address} is not in this organization: a new guest cannot "
                               "be invited by sharing " + ("with application permissions" if app_only else
                                                          "in the sandbox") + "; invite them first (POST /invitations)")
        found.append(principal)
    mails = body.get("sendInvitation", True) is not False
    out = []
    for kind, obj in found:
        perm = next((p for p in _own(item) if p["kind"] == kind and p["principal"] == obj["id"]), None)
        if perm is None:
            perm = {"id": str(uuid.uuid4()), "roles": [], "kind": kind, "principal": obj["id"]}
            _own(item, drive).append(perm)
        perm["roles"] = sorted(set(perm["roles"]) | set(roles))
        if body.get("expirationDateTime"):
            perm["expires"] = _expiry(body["expirationDateTime"])
        if mails:
            count("sharing mails")
        out.append(permission_json(tenant, drive, perm, None))
    return out


def create_link(tenant: Tenant, drive: Drive, item: dict[str, Any], body: dict[str, Any],
                policy: str) -> tuple[int, dict[str, Any]]:
    """``POST .../createLink``: (201, the new link) or (200, the existing one of that type and scope)."""
    _writable(drive, item)
    kind, scope = str(body.get("type") or ""), str(body.get("scope") or "organization")
    if kind == "embed":
        raise GraphFailure(400, "invalidRequest", "embed links are available only in OneDrive personal.")
    if kind not in LINK_ROLES:
        raise GraphFailure(400, "invalidRequest", "type must be view, edit or embed.")
    if scope not in SCOPES:
        raise GraphFailure(400, "invalidRequest", "scope must be anonymous, organization or users.")
    if body.get("password"):
        raise GraphFailure(400, "invalidRequest", "A password on a sharing link is available only in OneDrive "
                                                  "personal.")
    if scope == "anonymous" and policy != ANYONE:
        raise GraphFailure(403, "accessDenied", "The organization's sharing settings do not allow links that work "
                                                "for anyone (sharingCapability is " + policy + ").")
    recipients = []
    for r in body.get("recipients") or []:
        principal = _principal(tenant, str(r.get("email") or ""))
        if principal is None or principal[0] != "user":
            raise GraphFailure(400, "invalidRequest", f"{r.get('email')} is not a person of this organization.")
        recipients.append(principal[1]["id"])
    for perm in _own(item):
        link = perm.get("link") or {}
        if link.get("type") == kind and link.get("scope") == scope and (
                scope != "users" or sorted(link.get("recipients", [])) == sorted(recipients)):
            return 200, permission_json(tenant, drive, perm, None)
    host = drive.web_url.split("://", 1)[-1].split("/", 1)[0]
    perm = {"id": str(uuid.uuid4()), "roles": [LINK_ROLES[kind]], "kind": "link",
            "link": {"type": kind, "scope": scope, "recipients": recipients,
                     "webUrl": f"https://{host}/:{'f' if item['folder'] else 'u'}:/g/{secrets.token_urlsafe(18)}"},
            "expires": _expiry(body.get("expirationDateTime"))}
    _own(item, drive).append(perm)
    return 201, permission_json(tenant, drive, perm, None)


def password_link(tenant: Tenant, drive: Drive, item: dict[str, Any], kind: str, password: str,
                  expires: str | None, policy: str) -> str:
    """What PnP's ``Add-PnPFileAnonymousSharingLink -Password`` makes: a link for anyone, with a password."""
    _writable(drive, item)
    if kind not in LINK_ROLES:
        raise ValueError(f"-Type must be View or Edit, not {kind}")
    if policy != ANYONE:
        raise ValueError(f"the organization's sharing settings do not allow links for anyone ({policy})")
    host = drive.web_url.split("://", 1)[-1].split("/", 1)[0]
    perm = {"id": str(uuid.uuid4()), "roles": [LINK_ROLES[kind]], "kind": "link", "password": password or None,
            "link": {"type": kind, "scope": "anonymous", "recipients": [],
                     "webUrl": f"https://{host}/:{'f' if item['folder'] else 'u'}:/g/{secrets.token_urlsafe(18)}"},
            "expires": _expiry(expires)}
    _own(item, drive).append(perm)
    return f"made an anonymous {kind} link{' with a password' if password else ''} on {drive.path_of(item)}"


def widen(drive: Drive, item: dict[str, Any], perm_id: str, scope: str) -> None:
    """A link's scope changed in place, as SharePoint's "link settings" do (no API of Graph's does it)."""
    perm = _find(drive, item, perm_id)
    if perm["kind"] != "link" or scope not in SCOPES:
        raise ValueError("widen takes a link and a scope: anonymous, organization or users")
    perm["link"]["scope"] = scope


def _find(drive: Drive, item: dict[str, Any], perm_id: str) -> dict[str, Any]:
    perm = next((p for p in _own(item) if p["id"] == perm_id), None)
    if perm is None:
        inherited = any(p["id"] == perm_id for i in drive.items.values() for p in i.get("perms", []))
        raise GraphFailure(400 if inherited or perm_id.startswith("owner-") else 404,
                           "invalidRequest" if inherited else "itemNotFound",
                           "An inherited permission cannot be changed on this item." if inherited
                           else "The permission could not be found.")
    return perm


def delete(drive: Drive, item: dict[str, Any], perm_id: str) -> None:
    _writable(drive, item)
    perm = _find(drive, item, perm_id)
    item["perms"] = [p for p in _own(item) if p is not perm]


def update(tenant: Tenant, drive: Drive, item: dict[str, Any], perm_id: str, body: dict[str, Any]) -> dict:
    """``PATCH .../permissions/{id}``: only the roles may change."""
    _writable(drive, item)
    perm = _find(drive, item, perm_id)
    other = sorted(set(body) - {"roles"})
    if other:
        raise GraphFailure(400, "invalidRequest", f"Only roles can be changed on a permission, not {other[0]}.")
    roles = [str(r) for r in body.get("roles") or []]
    if not roles or any(r not in ROLES for r in roles) or perm["kind"] == "link":
        raise GraphFailure(400, "invalidRequest", "roles must be read or write (a link's role is its type).")
    perm["roles"] = roles
    return permission_json(tenant, drive, perm, None)


def seed(tenant: Tenant, drive: Drive, specs: list[dict[str, Any]]) -> None:
    """The seed's shares of one drive: ``{path, with: address, role}`` a grant, ``{path, link: view|edit, scope,
    expires, password}`` a link (as the old tenant made them, passwords too)."""
    for spec in specs:
        item = drive.by_path(drive.root_id, str(spec["path"]))
        if "with" in spec:
            principal = _principal(tenant, str(spec["with"]))
            if principal is None:
                raise ValueError(f"seed share of {spec['path']}: nobody has the address {spec['with']}")
            _own(item, drive).append({"id": str(uuid.uuid4()), "roles": [str(spec.get("role", "read"))],
                               "kind": principal[0], "principal": principal[1]["id"]})
            continue
        host = drive.web_url.split("://", 1)[-1].split("/", 1)[0]
        token = uuid.uuid5(uuid.NAMESPACE_URL, f"{drive.id}{spec['path']}{spec['link']}{spec.get('scope')}").hex
        recipients = [p[1]["id"] for a in spec.get("recipients", []) if (p := _principal(tenant, a))]
        _own(item, drive).append({"id": str(uuid.uuid4()), "roles": [LINK_ROLES[str(spec["link"])]], "kind": "link",
                           "link": {"type": spec["link"], "scope": spec.get("scope", "organization"),
                                    "recipients": recipients,
                                    "webUrl": f"https://{host}/:{'f' if item['folder'] else 'u'}:/g/{token[:24]}"},
                           "expires": spec.get("expires"), "password": spec.get("password")})
