"""Who may open what in a SharePoint site, as SharePoint keeps it: the site collection's groups (the site's Owners,
Members and Visitors, and custom ones, each with its members), role assignments (a principal and a permission level:
Full Control, Edit, Contribute, Read...) on the site, a list or library, a folder or file, a list item; and
inheritance: an object without role assignments of its own shows its parent's (``HasUniqueRoleAssignments``
false). A group-connected site's Owners and Members hold the Microsoft 365 group's claims (its owners, its members);
another site's groups start empty.

Served through SharePoint's REST API (``GET``): ``web/sitegroups``, ``web/sitegroups/GetById(n)/users`` (or
``GetByName('...')``), ``web/AssociatedOwnerGroup`` (Member, Visitor), ``web/lists`` (each list's
``HasUniqueRoleAssignments``), and ``HasUniqueRoleAssignments`` and ``roleassignments`` (Member and
RoleDefinitionBindings always expanded) of ``web``, ``web/lists/GetByTitle('...')`` and its ``items(n)``;
``.../items`` lists a list's items (``Id``, ``HasUniqueRoleAssignments``, and in a library ``FileRef`` and
``FileSystemObjectType``). Written through PnP PowerShell: ``New-PnPGroup``, ``Add-PnPGroupMember``,
``Remove-PnPGroupMember``, ``Set-PnPWebPermission``, ``Set-PnPList -BreakRoleInheritance [-CopyRoleAssignments]``
or ``-ResetRoleInheritance``, ``Set-PnPListPermission`` (refused on a list that inherits, as PnP documents),
``Set-PnPFolderPermission`` and ``Set-PnPListItemPermission`` (these break inheritance themselves, copying the
parent's assignments unless ``-ClearExisting``; ``-InheritPermissions`` resets).

A library's folders and files keep their assignments where Graph's sharing keeps them (the item's ``perms``): a
SharePoint group's as a ``siteGroup`` permission, which Graph lists with ``grantedToV2.siteGroup``; the sandbox's
Graph sharing adds to what an item inherits, so breaking a library item's inheritance copies only the SharePoint
groups' assignments of its parent.

Seed, per site (``access:``): ``owners``/``members``/``visitors`` (addresses, ``everyone``, or ``{login, name}`` of
someone the directory no longer has), ``groups: [{title, description, members, role}]`` (custom groups, ``role`` on
the site); per library or list ``access: {roles: [...], folders|items: [{path|id, roles: [...]}]}``, a role being
``{group: owners|members|visitors|<title>, role}`` or ``{user|security: address or nickname, role}``."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .http import Request, Response
from .state import Tenant

ROLE_DEFS = {"Full Control": (1073741829, 5), "Design": (1073741828, 4), "Edit": (1073741830, 6),
             "Contribute": (1073741827, 3), "Read": (1073741826, 2), "Limited Access": (1073741825, 1)}
GRAPH_ROLE = {"Full Control": "owner", "Design": "write", "Edit": "write", "Contribute": "write", "Read": "read"}
ASSOCIATED = {"owner": ("Owners", "Full Control"), "member": ("Members", "Edit"), "visitor": ("Visitors", "Read")}
USER = "i:0#.f|membership|"
GROUP_CLAIM = "c:0o.c|federateddirectoryclaimprovider|"
SECURITY_CLAIM = "c:0t.c|tenant|"
EVERYONE_CLAIM = "c:0-.f|rolemanager|spo-grid-all-users/"
INHERITS = "This operation is not allowed on an object that inherits permissions."
LIST_PART = r"lists(?:/GetByTitle\('((?:[^']|'')*)'\)|\(guid'([0-9a-fA-F-]+)'\))"
SCOPE_RE = re.compile(rf"^web(?:/{LIST_PART}(?:/items(?:\((\d+)\))?)?)?(?:/(HasUniqueRoleAssignments|roleassignments))?$",
                      re.I)
GROUP_RE = re.compile(r"^web/sitegroups/(?:GetById\((\d+)\)|GetByName\('((?:[^']|'')*)'\))/users$", re.I)


@dataclass
class SiteGroup:
    id: int
    title: str
    description: str = ""
    owner: str = ""
    members: list[str] = field(default_factory=list)  # login names (people, or a directory group's claim)


@dataclass
class Access:
    """A site collection's groups and the role assignments of its webs (the root's, and each subsite's own)."""

    groups: dict[int, SiteGroup] = field(default_factory=dict)
    associated: dict[str, int] = field(default_factory=dict)  # owner | member | visitor -> group id
    webs: dict[str, list[list[str]]] = field(default_factory=dict)  # site id -> [principal, role] pairs
    names: dict[str, str] = field(default_factory=dict)  # login -> name of someone the directory no longer has

    def group(self, ref: str) -> SiteGroup:
        low = ref.strip().lower()
        found = next((g for g in self.groups.values() if g.title.lower() == low or str(g.id) == low), None)
        if found is None:
            raise ValueError(f"Group cannot be found: {ref}")
        return found


def access_of(site: Any) -> Access:
    """The site collection's access (a subsite shares its root's, set when it is made); a new collection starts
    with its three associated groups holding Full Control, Edit and Read on the site."""
    if site.access is None:
        acc = Access()
        for kind, (suffix, role) in ASSOCIATED.items():
            gid = site.know(f"sitegroup|{kind}")
            acc.groups[gid] = SiteGroup(gid, f"{site.title} {suffix}", owner=f"{site.title} Owners")
            acc.associated[kind] = gid
            acc.webs.setdefault(site.id, []).append([f"group:{gid}", role])
        if site.group_id:  # the Microsoft 365 group's owners and members, through its claims
            acc.groups[acc.associated["owner"]].members.append(f"{GROUP_CLAIM}{site.group_id}_o")
            acc.groups[acc.associated["member"]].members.append(f"{GROUP_CLAIM}{site.group_id}")
        site.access = acc
    return site.access


def new_group(site: Any, title: str, description: str = "", owner: str = "") -> SiteGroup:
    acc = access_of(site)
    if any(g.title.lower() == title.lower() for g in acc.groups.values()):
        raise ValueError("The specified name is already in use.")
    gid = site.know(f"sitegroup|{uuid.uuid4()}")
    acc.groups[gid] = SiteGroup(gid, title, description, owner or acc.groups[acc.associated["owner"]].title)
    return acc.groups[gid]


def login_of(tenant: Tenant, who: str) -> str:
    """A login name for an address, a UPN, ``everyone`` or a claim; a person or group the tenant does not have is
    SharePoint's "does not exist"."""
    if "|" in who:
        if who.startswith(USER) and _directory(tenant, who[len(USER):]) is None:
            raise ValueError(f"The user does not exist or is not unique: {who}")
        return who
    if who.lower() == "everyone":
        return f"{EVERYONE_CLAIM}{tenant.id}"
    found = _directory(tenant, who)
    if found is None:
        raise ValueError(f"The user does not exist or is not unique: {who}")
    kind, obj = found
    if kind == "user":
        return USER + str(obj["userPrincipalName"]).lower()
    return (GROUP_CLAIM if "Unified" in obj.get("groupTypes", []) else SECURITY_CLAIM) + obj["id"]


def _directory(tenant: Tenant, key: str) -> tuple[str, dict[str, Any]] | None:
    low = key.strip().lower()
    for user in tenant.users.values():
        if low in {str(user.get("mail") or "").lower(), str(user["userPrincipalName"]).lower()}:
            return "user", user
    for group in tenant.groups.values():
        if low in {str(group.get("mail") or "").lower(), str(group.get("mailNickname") or "").lower(), group["id"]}:
            return "group", group
    return None


def principal_json(tenant: Tenant, site: Any, key: str) -> dict[str, Any]:
    """SharePoint's principal for an assignment's holder: ``group:<id>`` (a site group), ``oid:<object id>`` (a
    person or group Graph's sharing granted), or a login name."""
    acc = access_of(site)
    if key.startswith("group:"):
        g = acc.groups[int(key[6:])]
        return {"Id": g.id, "Title": g.title, "LoginName": g.title, "PrincipalType": 8, "Description": g.description,
                "OwnerTitle": g.owner}
    if key.startswith("oid:"):
        oid = key[4:]
        user = tenant.users.get(oid)
        key = USER + str(user["userPrincipalName"]).lower() if user else \
            (GROUP_CLAIM if "Unified" in tenant.groups.get(oid, {}).get("groupTypes", []) else SECURITY_CLAIM) + oid
    if key.startswith(USER):
        found = _directory(tenant, key[len(USER):])
        user = found[1] if found and found[0] == "user" else None
        return {"Id": site.know(user["id"] if user else key), "Title": user["displayName"] if user else
                acc.names.get(key, key[len(USER):]), "LoginName": key, "PrincipalType": 1, "IsSiteAdmin": False,
                "Email": str((user or {}).get("mail") or key[len(USER):])}
    if key.startswith(EVERYONE_CLAIM):
        title = "Everyone except external users"
    else:
        gid = key.rsplit("|", 1)[-1]
        group = tenant.groups.get(gid.removesuffix("_o"), {})
        title = f"{group.get('displayName', gid)}{' Owners' if gid.endswith('_o') else ''}"
    return {"Id": site.know(key), "Title": title, "LoginName": key, "PrincipalType": 4, "Email": ""}


def assignments_json(tenant: Tenant, site: Any, pairs: list[list[str]]) -> list[dict[str, Any]]:
    """Role assignments as SharePoint lists them: one per principal, with its permission levels."""
    by: dict[str, list[str]] = {}
    for principal, role in pairs:
        by.setdefault(principal, []).append(role)
    out = []
    for principal, roles in by.items():
        member = principal_json(tenant, site, principal)
        out.append({"PrincipalId": member["Id"], "Member": member, "RoleDefinitionBindings": [
            {"Id": ROLE_DEFS[r][0], "Name": r, "RoleTypeKind": ROLE_DEFS[r][1], "Hidden": r == "Limited Access"}
            for r in roles]})
    return out


def web_roles(sites: Any, site: Any) -> tuple[bool, list[list[str]]]:
    acc, cur = access_of(site), site
    while cur.id not in acc.webs:
        cur = sites.sites[cur.parent]
    return cur.id == site.id, acc.webs[cur.id]


def list_roles(sites: Any, site: Any, lst: Any) -> tuple[bool, list[list[str]]]:
    return (True, lst.roles) if lst.roles is not None else (False, web_roles(sites, site)[1])


def _from_perms(perms: list[dict[str, Any]]) -> list[list[str]]:
    """A library item's Graph permissions as role assignments (links are SharePoint's sharing groups: left out)."""
    out = []
    for p in perms:
        if p["kind"] == "siteGroup":
            out.append([f"group:{p['principal']}", p["sp_role"]])
        elif p["kind"] in ("user", "group"):
            out.append([f"oid:{p['principal']}", "Contribute" if "write" in p["roles"] else "Read"])
    return out


def item_roles(sites: Any, site: Any, lst: Any, item: dict[str, Any]) -> tuple[bool, list[list[str]]]:
    """A list item's or library item's assignments, its own (True) or inherited."""
    drive = sites.files.drives.get(lst.drive_id) if lst.drive_id else None
    if drive is None:
        return (True, item["roles"]) if item.get("roles") is not None else (False, list_roles(sites, site, lst)[1])
    cur = item
    while cur["parent"] is not None:
        if cur.get("perms"):
            return cur is item, _from_perms(cur["perms"])
        cur = drive.items[cur["parent"]]
    return False, list_roles(sites, site, lst)[1]


def _list(site: Any, title: str, guid: str) -> Any:
    ref = (guid or title.replace("''", "'")).lower()
    found = next((x for x in site.lists.values() if ref in {x.id.lower(), x.title.lower(), x.name.lower()}), None)
    if found is None:
        raise LookupError(f"List '{ref}' does not exist at site with URL '{site.web_url}'.")
    return found


def _library_item(sites: Any, lst: Any, number: str) -> tuple[Any, dict[str, Any]]:
    drive = sites.files.drives[lst.drive_id]
    found = next((i for i in drive.items.values() if str(i["list_item"]) == number and not i["deleted"]
                  and i["parent"] is not None), None)
    if found is None:
        raise LookupError("Item does not exist. It may have been deleted by another user.")
    return drive, found


def server_path(drive: Any, item: dict[str, Any]) -> str:
    return unquote(urlsplit(drive.web_url).path).rstrip("/") + drive.path_of(item)


def _items(sites: Any, site: Any, lst: Any) -> list[dict[str, Any]]:
    if not lst.drive_id:
        return [{"Id": int(i["id"]), "FileSystemObjectType": 0, "HasUniqueRoleAssignments": i.get("roles") is not None}
                for i in sorted(lst.items.values(), key=lambda x: int(x["id"]))]
    drive = sites.files.drives[lst.drive_id]
    return [{"Id": i["list_item"], "FileRef": server_path(drive, i), "FileSystemObjectType": int(i["blob"] is None),
             "HasUniqueRoleAssignments": bool(i.get("perms"))}
            for i in sorted(drive.items.values(), key=lambda x: x["list_item"]) if i["parent"] is not None
            and not i["deleted"]]


SAFE = "/'()"  # what a call's path keeps unquoted in a next link
PAGE, MOST = 100, 5000  # SharePoint's REST API: 100 items a page unless $top says more, 5,000 at most


def _page(items: list[dict[str, Any]], req: Request, url: str) -> Response:
    """One page of a list's items; ``odata.nextLink`` (an absolute URL, ``$skiptoken=Paged=TRUE&p_ID=<last id>``)
    names the next while there is one."""
    top = min(int(req.query.get("$top") or PAGE), MOST)
    after = int(str(req.query.get("$skiptoken") or "p_ID=0").rsplit("p_ID=", 1)[-1] or 0)
    rest = [i for i in items if int(i["Id"]) > after]
    out: dict[str, Any] = {"value": rest[:top]}
    if len(rest) > top:
        out["odata.nextLink"] = f"{url}?%24top={top}&%24skiptoken=" + quote(f"Paged=TRUE&p_ID={rest[top - 1]['Id']}")
    return Response(200, out)


def answer(sites: Any, tenant: Tenant, site: Any, call: str, req: Request) -> Response | None:
    """The REST API's reads of groups and role assignments (None: not one of them)."""
    if req.method != "GET":
        return None
    acc = access_of(site)
    low = call.lower()
    try:
        if low == "web/sitegroups":
            return Response(200, {"value": [principal_json(tenant, site, f"group:{g}") for g in sorted(acc.groups)]})
        got = GROUP_RE.match(call)
        if got:
            group = acc.group(got.group(1) or got.group(2).replace("''", "'"))
            return Response(200, {"value": [principal_json(tenant, site, m) for m in group.members]})
        for kind in ASSOCIATED:
            if low == f"web/associated{kind}group":
                return Response(200, principal_json(tenant, site, f"group:{acc.associated[kind]}"))
        if low == "web/lists":
            return Response(200, {"value": [{"Id": x.id, "Title": x.title, "BaseTemplate": 101 if x.drive_id else 100,
                                             "Hidden": x.hidden, "HasUniqueRoleAssignments": x.roles is not None}
                                            for x in site.lists.values()]})
        got = SCOPE_RE.match(call)
        if not got or (got.group(4) is None and not low.endswith("/items")):
            return None
        title, guid, number, what = got.groups()
        if title is None and guid is None:
            unique, pairs = web_roles(sites, site)
        else:
            lst = _list(site, title or "", guid or "")
            if low.endswith("/items"):
                return _page(_items(sites, site, lst), req, f"{site.web_url}/_api/{quote(call, safe=SAFE)}")
            if number is None:
                unique, pairs = list_roles(sites, site, lst)
            elif lst.drive_id:
                unique, pairs = item_roles(sites, site, lst, _library_item(sites, lst, number)[1])
            else:
                item = lst.items.get(number)
                if item is None:
                    raise LookupError("Item does not exist. It may have been deleted by another user.")
                unique, pairs = item_roles(sites, site, lst, item)
        if what.lower() == "hasuniqueroleassignments":
            return Response(200, {"value": unique})
        return Response(200, {"value": assignments_json(tenant, site, pairs)})
    except (LookupError, ValueError) as exc:
        return Response(404, {"odata.error": {"code": "-2130575338, System.ArgumentException",
                                              "message": {"lang": "en-US", "value": str(exc)}}})


def _role(name: str) -> str:
    found = next((r for r in ROLE_DEFS if r.lower() == name.strip().lower() and r != "Limited Access"), None)
    if found is None:
        raise ValueError(f"Role definition '{name}' does not exist (Get-PnPRoleDefinition lists them).")
    return found


def _change(pairs: list[list[str]], principal: str, params: dict[str, str]) -> str:
    done = []
    if params.get("addrole"):
        role = _role(params["addrole"])
        if [principal, role] not in pairs:
            pairs.append([principal, role])
        done.append(f"added {role}")
    if params.get("removerole"):
        role = _role(params["removerole"])
        if [principal, role] in pairs:
            pairs.remove([principal, role])
        done.append(f"removed {role}")
    if not done:
        raise ValueError("give -AddRole or -RemoveRole")
    return ", ".join(done)


class AccessCmdlets:
    """The PnP cmdlets that change a site's groups and permissions, in the site of ``Connect-PnPOnline``."""

    def __init__(self, sites: Any, connected: Any) -> None:
        """``connected()``: the URL ``Connect-PnPOnline`` last named."""
        self.sites, self.connected = sites, connected

    def cmdlets(self) -> dict[str, Any]:
        return {"New-PnPGroup": self._new_group, "Add-PnPGroupMember": self._member,
                "Remove-PnPGroupMember": self._member, "Set-PnPWebPermission": self._web,
                "Set-PnPList": self._set_list, "Set-PnPListPermission": self._list_permission,
                "Set-PnPFolderPermission": self._item_permission, "Set-PnPListItemPermission": self._item_permission}

    def _site(self, tenant: Tenant) -> Any:
        url = self.connected().rstrip("/").lower()
        site = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id and s.web_url.lower() == url), None)
        if site is None:
            raise ValueError(f"Connect-PnPOnline first to an existing site (not {url or 'none'})")
        return site

    def _principal(self, tenant: Tenant, site: Any, params: dict[str, str]) -> str:
        if params.get("group"):
            return f"group:{access_of(site).group(params['group']).id}"
        if params.get("user"):
            return login_of(tenant, params["user"])
        raise ValueError("give -Group or -User")

    def _new_group(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        if not params.get("title"):
            raise ValueError("New-PnPGroup needs -Title")
        group = new_group(self._site(tenant), params["title"], params.get("description", ""), params.get("owner", ""))
        return f"made the group {group.title}"

    def _member(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        site = self._site(tenant)
        group = access_of(site).group(params.get("group") or params.get("identity") or "")
        login = login_of(tenant, params.get("loginname") or params.get("emailaddress") or "")
        if line.lstrip().lower().startswith("remove-"):
            if login in group.members:
                group.members.remove(login)
            return f"{login} left {group.title}"
        if login not in group.members:
            group.members.append(login)
        return f"{login} joined {group.title}"

    def _web(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        site = self._site(tenant)
        unique, pairs = web_roles(self.sites, site)
        if not unique:
            raise ValueError(INHERITS)
        return f"site {site.web_url}: " + _change(pairs, self._principal(tenant, site, params), params)

    def _set_list(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        site = self._site(tenant)
        lst = _list(site, params.get("identity", ""), "")
        if params.get("resetroleinheritance") == "$true":
            lst.roles = None
            return f"{lst.title} inherits its site's permissions"
        if params.get("breakroleinheritance") == "$true":
            if lst.roles is None:
                copy = params.get("copyroleassignments") == "$true"
                lst.roles = [list(p) for p in web_roles(self.sites, site)[1]] if copy else []
            return f"{lst.title} has its own permissions"
        raise ValueError("the sandbox's Set-PnPList takes -BreakRoleInheritance or -ResetRoleInheritance")

    def _list_permission(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        site = self._site(tenant)
        lst = _list(site, params.get("identity", ""), "")
        if lst.roles is None:
            raise ValueError(f"{INHERITS} Break the list's inheritance first: Set-PnPList -Identity "
                             f"'{lst.title}' -BreakRoleInheritance -CopyRoleAssignments")
        return f"{lst.title}: " + _change(lst.roles, self._principal(tenant, site, params), params)

    def _item_permission(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``Set-PnPFolderPermission -List L -Identity <folder, site-relative or server-relative>`` or
        ``Set-PnPListItemPermission -List L -Identity <item id>``: adding or removing a role breaks the item's
        inheritance first (a copy of its parent's, none with ``-ClearExisting``)."""
        site = self._site(tenant)
        lst = _list(site, params.get("list", ""), "")
        ident = params.get("identity", "")
        if lst.drive_id:
            drive = self.sites.files.drives[lst.drive_id]
            if line.lstrip().lower().startswith("set-pnpfolderpermission"):
                wanted = ident.strip("/").lower()
                item = next((i for i in drive.items.values() if i["parent"] is not None and not i["deleted"] and
                             i["blob"] is None and wanted in {server_path(drive, i).strip("/").lower(),
                                                              server_path(drive, i).strip("/").lower().split(
                                                                  site.path.strip("/").lower() + "/", 1)[-1]}), None)
                if item is None:
                    raise ValueError(f"Folder '{ident}' does not exist in {lst.title}")
            else:
                item = _library_item(self.sites, lst, ident)[1]
            return f"{ident}: " + self._drive_item(tenant, site, lst, drive, item, params)
        item = lst.items.get(ident)
        if item is None:
            raise ValueError("Item does not exist. It may have been deleted by another user.")
        if params.get("inheritpermissions") == "$true":
            item.pop("roles", None)
            return f"item {ident} inherits"
        if item.get("roles") is None:
            item["roles"] = [] if params.get("clearexisting") == "$true" else \
                [list(p) for p in list_roles(self.sites, site, lst)[1]]
        elif params.get("clearexisting") == "$true":
            item["roles"] = []
        return f"item {ident}: " + _change(item["roles"], self._principal(tenant, site, params), params)

    def _drive_item(self, tenant: Tenant, site: Any, lst: Any, drive: Any, item: dict[str, Any],
                    params: dict[str, str]) -> str:
        perms = item.setdefault("perms", [])
        if params.get("inheritpermissions") == "$true":
            item["perms"] = [p for p in perms if p["kind"] == "link"]
            return "inherits"
        unique, inherited = item_roles(self.sites, site, lst, item)
        if params.get("clearexisting") == "$true":
            perms[:] = [p for p in perms if p["kind"] == "link"]
        elif not unique:
            for principal, role in inherited:
                if principal.startswith("group:"):
                    perms.append(site_group_perm(access_of(site).groups[int(principal[6:])], role))
        principal = self._principal(tenant, site, params)
        if not principal.startswith("group:"):
            raise ValueError("the sandbox sets a library item's people through Graph's sharing (invite): use -Group")
        gid = int(principal[6:])
        pairs = [[f"group:{p['principal']}", p["sp_role"]] for p in perms if p["kind"] == "siteGroup"]
        done = _change(pairs, principal, params)
        perms[:] = [p for p in perms if p["kind"] != "siteGroup" or int(p["principal"]) != gid] + \
                   [site_group_perm(access_of(site).groups[gid], role) for who, role in pairs if who == principal]
        for node in drive.subtree(item):
            drive.touch(node)
        return done


def copied_on_break(sites: Any, site: Any, lst: Any, drive: Any, item: dict[str, Any]) -> list[dict[str, Any]]:
    """What a library item copies when it first gets permissions of its own (sharing breaks its inheritance): its
    parent's SharePoint groups' roles."""
    cur = drive.items[item["parent"]] if item["parent"] is not None else None
    pairs = None
    while cur is not None and cur["parent"] is not None:
        if cur.get("perms"):
            pairs = _from_perms(cur["perms"])
            break
        cur = drive.items[cur["parent"]]
    acc = access_of(site)
    return [site_group_perm(acc.groups[int(p[6:])], role)
            for p, role in (pairs if pairs is not None else list_roles(sites, site, lst)[1]) if p.startswith("group:")]


def site_group_perm(group: SiteGroup, role: str) -> dict[str, Any]:
    """A SharePoint group's role on a library item, kept with the item's Graph permissions."""
    return {"id": f"sg{group.id}-{ROLE_DEFS[role][0]}", "roles": [GRAPH_ROLE[role]], "kind": "siteGroup",
            "principal": str(group.id), "sp_role": role, "title": group.title}


def seed(tenant: Tenant, site: Any, spec: dict[str, Any], drives: dict[str, Any]) -> None:
    """A site's seeded groups and permissions (see the module's doc)."""
    acc = access_of(site)
    access = spec.get("access") or {}

    def who(value: Any) -> str | None:
        """A seeded member's login; None for a person this seed's tenant was made without (a smaller scale)."""
        if isinstance(value, dict):  # someone who left: SharePoint keeps their login and name
            login = USER + str(value["login"]).lower()
            acc.names[login] = str(value["name"])
            return login
        return login_of(tenant, str(value)) if str(value).lower() == "everyone" or _directory(tenant, str(value)) \
            else None

    def principal(role: dict[str, Any]) -> str:
        if "group" in role:
            ref = str(role["group"])
            return f"group:{acc.associated[ref[:-1]]}" if ref in ("owners", "members", "visitors") \
                else f"group:{acc.group(ref).id}"
        return login_of(tenant, str(role.get("user") or role.get("security")))

    for kind in ("owners", "members", "visitors"):
        acc.groups[acc.associated[kind[:-1]]].members += [x for x in map(who, access.get(kind, [])) if x]
    for g in access.get("groups", []):
        group = new_group(site, g["title"], g.get("description", ""))
        group.members += [x for x in map(who, g.get("members", [])) if x]
        if g.get("role"):
            acc.webs[site.id].append([f"group:{group.id}", g["role"]])
    for lspec in spec.get("libraries", []) + spec.get("lists", []):
        laccess = lspec.get("access")
        if not laccess:
            continue
        lst = _list(site, "Documents" if lspec["name"] == "Documents" else lspec["name"], "")
        if "roles" in laccess:
            lst.roles = [[principal(r), r["role"]] for r in laccess["roles"]]
        drive = drives.get(lst.drive_id) if lst.drive_id else None
        for f in laccess.get("folders", []):
            item = drive.by_path(drive.root_id, f["path"])
            item.setdefault("perms", []).extend(
                site_group_perm(acc.groups[int(principal(r)[6:])], r["role"]) for r in f["roles"])
        for i in laccess.get("items", []):
            lst.items[str(i["id"])]["roles"] = [[principal(r), r["role"]] for r in i["roles"]]
