"""Who may do what in the team sites, as SharePoint keeps it and Graph v1.0 can neither read nor write: each site's
SharePoint groups (Owners, Members, Visitors, custom ones) with their members, and role assignments on the site, on
a list or library whose inheritance is broken, on a library's folder or file (its SharePoint groups; its people and
links are the sharing workload's, through Graph), and on a list item. Read through SharePoint's REST API in both
tenants (an app-only token there needs a certificate); written by the admin's PnP PowerShell commands (one item per
group and per object), which the next run reads back.

Holders are named as the new tenant will know them: a person by their mapped address, a Microsoft 365 or security
group by its copy's name (a group-connected site's Owners and Members hold its group's claims, so they follow the
group moved in phase 30), a site's own Owners, Members and Visitors by that role (their titles follow the site's
title), a custom group by its title, "everyone except external users" as itself. Someone who does not move is named
on the item and given nothing. The new side's extras are taken away (never more access than the old tenant gave);
a group made only in the new site, and access it gives nowhere, is left alone."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..services.sharing import PERMISSION_UNITS
from ..services.sprest import SharePointRest
from .sharing import Grantees
from .sites import SiteEntry, SiteMap

USER = "i:0#.f|membership|"
GROUP_CLAIM = "c:0o.c|federateddirectoryclaimprovider|"
SECURITY_CLAIM = "c:0t.c|tenant|"
EVERYONE_CLAIM = "c:0-.f|rolemanager|spo-grid-all-users/"
EVERYONE = "everyone except external users"
HIDDEN_ROLES = {"Limited Access", "Web-Only Limited Access"}  # given by SharePoint itself, never by hand
ROLE_ORDER = ["", "Read", "Contribute", "Edit", "Design", "Full Control"]
ASSOCIATED = (("Owner", "Owners"), ("Member", "Members"), ("Visitor", "Visitors"))
SITE_GROUP = 8


@dataclass(frozen=True)
class Holder:
    """Who holds access, as both tenants name them (``key``), and how PnP names them in the new tenant: ``-Group``
    with a group's title, or ``-User`` with an address or a claim (``value``); ``left``: not moving (their name)."""

    key: str
    kind: str = "User"  # Group | User
    value: str = ""
    left: str = ""


class Namer:
    """The holders of each side, through the user mapping and the groups moved in phase 30."""

    def __init__(self, who: Grantees, new_tenant_id: str) -> None:
        self.who, self.new_tenant_id = who, new_tenant_id

    def holder(self, member: dict[str, Any], associated: dict[int, str], side: str) -> Holder:
        login = str(member.get("LoginName") or "")
        if int(member.get("PrincipalType") or 0) == SITE_GROUP:
            role = associated.get(int(member["Id"]))
            return Holder(f"site group: the site's {role}" if role else f"site group {member['Title']}", "Group",
                          "" if role else str(member["Title"]))
        if login.startswith(EVERYONE_CLAIM):
            return Holder(EVERYONE, "User", f"{EVERYONE_CLAIM}{self.new_tenant_id}")
        if login.startswith((GROUP_CLAIM, SECURITY_CLAIM)):
            prefix = GROUP_CLAIM if login.startswith(GROUP_CLAIM) else SECURITY_CLAIM
            gid = login[len(prefix):]
            owners = gid.endswith("_o")
            gid = gid.removesuffix("_o")
            new = gid if side == "new" else self.who.groups.get(gid.lower())
            label = " (owners)" if owners else " (members)" if prefix == GROUP_CLAIM else ""
            if new is None:
                return Holder(f"group {member.get('Title') or gid}{label} (not moving)", left=str(member.get("Title")))
            return Holder(f"group {self.who.names.get(new, member.get('Title') or new)}{label}", "User",
                          f"{prefix}{new}{'_o' if owners else ''}")
        address = str(member.get("Email") or login.rsplit("|", 1)[-1]).lower()
        if side == "new":
            return Holder(address, "User", address)
        new_address = self.who.addresses.get(address) or self.who.addresses.get(login.rsplit("|", 1)[-1].lower())
        if new_address is None:
            return Holder(f"{address} (not moving)", left=str(member.get("Title") or address))
        return Holder(new_address, "User", new_address)


@dataclass
class Scope:
    """One securable object of a site: the site itself, a list or library, a library's folder or file, a list item;
    its role assignments (holder key -> roles) as read, and whether they are its own."""

    what: str  # site | list | folder | file | item
    label: str
    list_title: str = ""
    ref: str = ""  # a library item's path in its library; a list item's id (the old one on both sides)
    number: str = ""  # the item's id in this side's list (a list item or a library item)
    in_site: str = ""  # a library item's path in its site (the library's URL name first), as PnP takes a folder
    unique: bool = True
    roles: dict[str, set[str]] = field(default_factory=dict)
    holders: dict[str, Holder] = field(default_factory=dict)


@dataclass
class SiteSide:
    url: str
    path: str
    associated: dict[str, str]  # Owners/Members/Visitors -> that group's title
    associated_ids: dict[int, str]  # that group's id -> Owners/Members/Visitors
    groups: dict[str, tuple[str, str, list[Holder]]]  # holder key -> (title, description, members)
    scopes: dict[str, Scope]


def _quote(value: str) -> str:
    return value.replace("'", "''")


class SiteReader:
    """One tenant's SharePoint REST API, read into :class:`SiteSide` (counting its calls)."""

    def __init__(self, rest: SharePointRest, namer: Namer, side: str, count: Any) -> None:
        self.rest, self.namer, self.side, self.count = rest, namer, side, count

    def get(self, url: str, call: str) -> Any:
        self.count(self.side)
        return self.rest.get(url, call)

    def items(self, url: str, list_call: str) -> list[dict[str, Any]]:
        """A list's items with what says whether they have permissions of their own (every page)."""
        self.count(self.side)
        return self.rest.get_all(url, f"{list_call}/items?$select=Id,FileRef,FileSystemObjectType,"
                                      "HasUniqueRoleAssignments")

    def read(self, url: str, groups: bool, item_ids: dict[str, dict[str, str]]) -> SiteSide:
        """``groups``: the site collection's groups too (a subsite shares its root's); ``item_ids``: per list id,
        this side's item id -> the old one (list items are known by the old id on both sides)."""
        path = urlsplit(url).path.rstrip("/")
        associated: dict[int, str] = {}
        titles: dict[str, str] = {}
        for kind, name in ASSOCIATED:
            found = self.get(url, f"web/Associated{kind}Group")
            associated[int(found["Id"])] = name
            titles[name] = str(found["Title"])
        side = SiteSide(url, path, titles, associated, {}, {})
        if groups:
            for g in self.get(url, "web/sitegroups")["value"]:
                members = [self.namer.holder(m, associated, self.side)
                           for m in self.get(url, f"web/sitegroups/GetById({g['Id']})/users")["value"]]
                key = self.namer.holder(g, associated, self.side).key
                side.groups[key] = (str(g["Title"]), str(g.get("Description") or ""), members)
        if groups or self.get(url, "web/HasUniqueRoleAssignments")["value"]:
            side.scopes["site"] = self._scope(url, "web", Scope("site", "the site"), associated)
        for lst in self.get(url, "web/lists")["value"]:
            if lst.get("Hidden") or int(lst.get("BaseTemplate") or 0) not in (100, 101):
                continue
            title = str(lst["Title"])
            call = f"web/lists/GetByTitle('{_quote(title)}')"
            library = int(lst["BaseTemplate"]) == 101
            if lst.get("HasUniqueRoleAssignments"):
                side.scopes[f"list/{title}"] = self._scope(url, call, Scope("list", title, title), associated)
            ids = item_ids.get(str(lst["Id"]).lower(), {})
            for item in self.items(url, call):
                if not item.get("HasUniqueRoleAssignments"):
                    continue
                number = str(item["Id"])
                if library:
                    in_site = str(item["FileRef"])[len(path) + 1:]
                    rel = in_site.split("/", 1)[-1]
                    what = "folder" if int(item.get("FileSystemObjectType") or 0) == 1 else "file"
                    scope = Scope(what, f"{title}/{rel}", title, rel, number, in_site=in_site)
                    side.scopes[f"{what}/{title}/{rel}"] = self._scope(url, f"{call}/items({number})", scope,
                                                                      associated, only_groups=True)
                elif ids.get(number, number if self.side == "old" else ""):
                    old_id = ids.get(number, number)
                    scope = Scope("item", f"{title} #{old_id}", title, old_id, number)
                    side.scopes[f"item/{title}/{old_id}"] = self._scope(url, f"{call}/items({number})", scope,
                                                                       associated)
        return side

    def _scope(self, url: str, call: str, scope: Scope, associated: dict[int, str],
               only_groups: bool = False) -> Scope:
        for a in self.get(url, f"{call}/roleassignments")["value"]:
            member = a.get("Member") or {}
            if only_groups and int(member.get("PrincipalType") or 0) != SITE_GROUP:
                continue  # a library item's people and links are Graph's sharing (the sharing workload)
            roles = {str(r["Name"]) for r in a.get("RoleDefinitionBindings") or []} - HIDDEN_ROLES
            if roles:
                h = self.namer.holder(member, associated, self.side)
                scope.holders[h.key] = h
                scope.roles.setdefault(h.key, set()).update(roles)
        return scope

    def roles_of(self, url: str, scope: Scope, associated: dict[int, str]) -> Scope:
        """What ``scope`` (not its own in this side) inherits there now: the baseline its own assignments start from."""
        call = "web" if scope.what == "site" else f"web/lists/GetByTitle('{_quote(scope.list_title)}')"
        if scope.number:
            call += f"/items({scope.number})"
        return self._scope(url, call, Scope(scope.what, scope.label, scope.list_title, scope.ref, scope.number,
                                            unique=False, in_site=scope.in_site), associated,
                           only_groups=scope.what in ("folder", "file"))


@dataclass
class Pairing:
    """One site's old and new side."""

    entry: SiteEntry
    old: SiteSide
    new: SiteSide


def _version(parts: Iterable[str]) -> str:
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def compare(old: dict[str, set[str]], new: dict[str, set[str]], left: set[str]) -> list[dict[str, str]]:
    """Holder by holder: the old roles (those who do not move left out) against the new ones, with a verdict."""
    rows = []
    for key in sorted((set(old) - left) | set(new)):
        was, now = old.get(key, set()), new.get(key, set())
        if was == now:
            verdict = "same"
        elif not now:
            verdict = "missing"
        elif not was:
            verdict = "extra: the old tenant did not give it"
        else:
            top = (max((ROLE_ORDER.index(r) if r in ROLE_ORDER else 1) for r in was),
                   max((ROLE_ORDER.index(r) if r in ROLE_ORDER else 1) for r in now))
            verdict = "wider than before" if top[1] > top[0] else "narrower than before" if top[1] < top[0] \
                else "other roles"
        rows.append({"who": key, "old": ", ".join(sorted(was)), "new": ", ".join(sorted(now)), "verdict": verdict})
    return rows


class SiteAccess(Workload):
    kind = "site-access"
    title = "site groups and permissions"
    manual_shell = "PnP PowerShell"
    destructive = True  # takes away access the old tenant did not give

    def __init__(self, sites: SiteMap, who: Grantees, new_tenant_id: str, items: dict[str, str],
                 old: SharePointRest | None, new: SharePointRest | None) -> None:
        """``items``: old list item key (site id|list id|item id) -> the new item's id (the ledger's); ``old``,
        ``new``: SharePoint's REST API in each tenant, None where it will not take that app's tokens."""
        self.sites, self.items, self.old, self.new = sites, items, old, new
        self.namer = Namer(who, new_tenant_id)
        self.counted = {"old": 0, "new": 0}
        self.lock = threading.Lock()
        self.pairs: dict[str, Pairing] = {}
        self.baselines: dict[tuple[str, str, str], Scope] = {}
        self.listed: list[Work] = []

    def _count(self, side: str) -> None:
        with self.lock:
            self.counted[side] += 1

    @property
    def readable(self) -> bool:
        return self.old is not None and self.new is not None

    def pairings(self) -> list[Pairing]:
        """Each ready site's two sides, read once a pass."""
        if not self.pairs and self.readable:
            assert self.old is not None and self.new is not None
            old, new = SiteReader(self.old, self.namer, "old", self._count), SiteReader(self.new, self.namer, "new",
                                                                                         self._count)
            for e in self.sites.ready():
                ids = self._new_item_ids(e)
                groups = e.kind != "subsite"
                self.pairs[e.target_url] = Pairing(e, old.read(e.label, groups, {}), new.read(e.target_url, groups, ids))
        return list(self.pairs.values())

    def _new_item_ids(self, e: SiteEntry) -> dict[str, dict[str, str]]:
        """Per new list id: the new item's id -> the old one's (the new site's lists read once)."""
        new_lists = {str(lst.get("displayName")): str(lst["id"]).lower()
                     for lst in self.sites.new.lists(str((e.target or {}).get("id")))}
        new_of = {str(lst["id"]).lower(): new_lists.get(str(lst["displayName"]), "") for lst in e.lists}
        out: dict[str, dict[str, str]] = {}
        prefix = f"{e.source['id']}|"
        for key, new_id in self.items.items():
            if key.startswith(prefix):
                _, list_id, old_id = key.rsplit("|", 2)
                out.setdefault(new_of.get(list_id.lower(), ""), {})[str(new_id)] = old_id
        return out

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.pairs.clear()
        self.baselines.clear()
        self.listed = list(self._list())
        return self.listed

    def _list(self) -> Iterator[Work]:
        if not self.readable:
            for e in self.sites.ready():
                yield Work(f"{e.target_url}|*", f"{e.target_url}: its groups and permissions", scope=e.target_url,
                           data=(e, None, None))
            return
        for pair in self.pairings():
            url = pair.entry.target_url
            for key, (_, _, members) in sorted(pair.old.groups.items()):
                whom = sorted(m.key for m in members)
                left = self._left(pair, "group", key)
                yield Work(f"{url}|group|{key}", f"{url}: {key}", version=_version(whom), scope=url,
                           detail={"members": "; ".join(whom), **({"left": left} if left else {})},
                           data=(pair, "group", key))
            keys = sorted(set(pair.old.scopes) | {k for k, s in pair.new.scopes.items() if s.what in ("list", "item")})
            for key in keys:
                scope = pair.old.scopes.get(key) or pair.new.scopes[key]
                access = sorted(f"{k}: {', '.join(sorted(r))}" for k, r in (
                    pair.old.scopes[key].roles if key in pair.old.scopes else {}).items())
                left = self._left(pair, "scope", key)
                yield Work(f"{url}|{key}", f"{url}: {scope.label}", version=_version(
                    [*access, str(key in pair.old.scopes)]), scope=url,
                           detail={"access": "; ".join(access) or "inherits its parent's", **({"left": left} if left
                                                                                               else {})},
                           data=(pair, "scope", key))

    def find(self, work: Work) -> Any | None:
        pair, what, key = work.data
        if what is None:
            return None
        return pair.new.groups.get(key) if what == "group" else pair.new.scopes.get(key)

    def differs(self, work: Work, existing: Any | None) -> str:
        pair, what, key = work.data
        if what is None:
            return "not compared: SharePoint's REST API is needed in both tenants (an app certificate)"
        rows = self.rows(pair, what, key)
        return "; ".join(f"{r['who']}: {r['verdict']}" for r in rows if r["verdict"] != "same")

    def rows(self, pair: Pairing, what: str, key: str) -> list[dict[str, str]]:
        if what == "group":
            old = {m.key: {"member"} for m in pair.old.groups[key][2]}
            left = {m.key for m in pair.old.groups[key][2] if m.left}
            new = {m.key: {"member"} for m in pair.new.groups.get(key, ("", "", []))[2]}
            rows = compare(old, new, left)
            if key not in pair.new.groups:  # made even when none of its members move: it holds roles
                rows.insert(0, {"who": "(the group)", "old": "exists", "new": "", "verdict": "missing"})
            return rows
        before, after = pair.old.scopes.get(key), pair.new.scopes.get(key)
        if before is None:  # its own only in the new site: the old one inherits
            assert after is not None and self.new is not None
            rows = compare({}, after.roles, set())
            return rows + [{"who": "(inheritance)", "old": "inherits", "new": "its own",
                            "verdict": "extra: the old tenant did not give it"}]
        left = {k for k, h in before.holders.items() if h.left}
        now = after.roles if after is not None else self._baseline(pair, before).roles
        rows = compare(before.roles, now, left)
        if before.what == "list" and after is None:  # a library or list of its own, inheriting in the new site
            rows.append({"who": "(inheritance)", "old": "its own", "new": "inherits", "verdict": "missing"})
        return rows

    def _baseline(self, pair: Pairing, scope: Scope) -> Scope:
        """What the new object shows while it inherits: the assignments its own start from once it breaks away."""
        cache_key = (pair.new.url, scope.what, scope.label)
        if cache_key not in self.baselines:
            assert self.new is not None
            number, in_site = self._new_item(pair, scope)
            target = Scope(scope.what, scope.label, scope.list_title, scope.ref, number, in_site=in_site)
            if scope.what in ("folder", "file", "item") and not number:
                self.baselines[cache_key] = Scope(scope.what, scope.label, unique=False)  # not in the new site
            else:
                reader = SiteReader(self.new, self.namer, "new", self._count)
                self.baselines[cache_key] = reader.roles_of(pair.new.url, target, pair.new.associated_ids)
        return self.baselines[cache_key]

    def _parent_desired(self, pair: Pairing, scope: Scope) -> Scope | None:
        """What an object that inherits in the new site copies when its commands break its inheritance: its nearest
        parent's assignments as the old site has them (this pass's script sets the parents first, see
        :meth:`combine_manual`); None when the parent inherits too (a subsite's: what the new site shows now)."""
        groups_only = scope.what in ("folder", "file")
        parents = []
        if groups_only:
            parts = scope.ref.split("/")
            parents += [f"folder/{scope.list_title}/{'/'.join(parts[:i])}" for i in range(len(parts) - 1, 0, -1)]
        if scope.what != "list":
            parents.append(f"list/{scope.list_title}")
        parents.append("site")
        found = next((pair.old.scopes[k] for k in parents if k in pair.old.scopes), None)
        if found is None:
            return None
        keep = {k: h for k, h in found.holders.items() if not h.left and (h.kind == "Group" or not groups_only)}
        return Scope(scope.what, scope.label, unique=False, holders=keep,
                     roles={k: set(r) for k, r in found.roles.items() if k in keep})

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """Parents before children (groups, the site, lists, folders by depth, files, items), so that an object
        breaking its inheritance copies what its parent will hold."""
        rank = {"group": 0, "site": 1, "list": 2, "folder": 3, "file": 4, "item": 5}

        def order(step: ManualStep) -> tuple[str, int, int, str]:
            url, _, key = step.key.partition("|")
            kind = key.split("/", 1)[0].split("|", 1)[0]
            return url, rank.get(kind, 6), key.count("/"), key

        return sorted(steps, key=order)

    def _new_item(self, pair: Pairing, scope: Scope) -> tuple[str, str]:
        """The new item's id in its list, and (a library item) its path in the site; ("", "") when it is not there."""
        if scope.what == "item":
            return self.items.get(f"{pair.entry.source['id']}|{self._old_list_id(pair, scope.list_title)}|"
                                  f"{scope.ref}", ""), ""
        if scope.what in ("folder", "file"):
            assert self.new is not None
            reader = SiteReader(self.new, self.namer, "new", self._count)
            for item in reader.items(pair.new.url, f"web/lists/GetByTitle('{_quote(scope.list_title)}')"):
                in_site = str(item.get("FileRef", ""))[len(pair.new.path) + 1:]
                if in_site.split("/", 1)[-1].lower() == scope.ref.lower():
                    return str(item["Id"]), in_site
        return "", ""

    @staticmethod
    def _old_list_id(pair: Pairing, title: str) -> str:
        return next((str(lst["id"]) for lst in pair.entry.lists if str(lst["displayName"]) == title), "")

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        pair, what, key = work.data
        if what is None:
            e: SiteEntry = pair
            return ManualStep(work.key, f"{e.target_url}: groups and permissions not read", [
                f"# {e.label}'s SharePoint groups and permissions are read through SharePoint's REST API, which takes "
                "an app-only token only from a certificate: give both tenants' apps a certificate (certificate_file) "
                "and rerun this phase; or recreate them by hand (Site settings > Site permissions, and each library's "
                f"and list's permissions), then: python -m tenantmove done PARAMS.yaml '{work.key}' --note '...'"],
                check=f"{e.target_url}: its groups and permissions")
        rows = self.rows(pair, what, key)
        if all(r["verdict"] == "same" for r in rows):
            return Applied(key, "adopted", detail=work.detail)
        commands = self._group_commands(pair, key, rows) if what == "group" else self._scope_commands(pair, key)
        return ManualStep(work.key, f"{work.name}: as in the old site",
                          [f"Connect-PnPOnline -Url {ps_quote(pair.new.url)} -Interactive", *commands],
                          check=f"{work.name}: the next run reads it back")

    def _left(self, pair: Pairing, what: str, key: str) -> str:
        holders = pair.old.groups[key][2] if what == "group" else list(
            (pair.old.scopes[key].holders if key in pair.old.scopes else {}).values())
        return ", ".join(sorted(h.left for h in holders if h.left))

    def _who(self, pair: Pairing, holder: Holder) -> str:
        if holder.kind == "Group":
            title = holder.value or pair.new.associated[holder.key.rsplit(" ", 1)[-1]]
            return f"-Group {ps_quote(title)}"
        return f"-User {ps_quote(holder.value)}"

    def _group_commands(self, pair: Pairing, key: str, rows: list[dict[str, str]]) -> list[str]:
        title, description, members = pair.old.groups[key]
        out = []
        if key not in pair.new.groups:
            out.append(f"New-PnPGroup -Title {ps_quote(title)} -Description {ps_quote(description)}")
        else:
            title = pair.new.groups[key][0]
        old = {m.key: m for m in members}
        new = {m.key: m for m in pair.new.groups.get(key, ("", "", []))[2]}
        for r in rows:
            if r["who"] not in old and r["who"] not in new:
                continue  # the group itself: made above
            if r["verdict"] == "missing":
                out.append(f"Add-PnPGroupMember -Group {ps_quote(title)} -LoginName {ps_quote(old[r['who']].value)}")
            elif r["verdict"].startswith("extra"):
                login = new[r["who"]].value
                out.append(f"Remove-PnPGroupMember -Group {ps_quote(title)} -LoginName {ps_quote(login)}")
        return out

    def _scope_commands(self, pair: Pairing, key: str) -> list[str]:
        before, after = pair.old.scopes.get(key), pair.new.scopes.get(key)
        scope = before or after
        assert scope is not None
        number, in_site = (after.number, after.in_site) if after is not None else self._new_item(pair, scope)
        target = {"site": "Set-PnPWebPermission",
                  "list": f"Set-PnPListPermission -Identity {ps_quote(scope.list_title)}",
                  "folder": f"Set-PnPFolderPermission -List {ps_quote(scope.list_title)} -Identity "
                            f"{ps_quote(in_site)}",
                  "file": f"Set-PnPListItemPermission -List {ps_quote(scope.list_title)} -Identity {number}",
                  "item": f"Set-PnPListItemPermission -List {ps_quote(scope.list_title)} -Identity {number}"}[scope.what]
        if before is None:  # its own only in the new site: it inherits again, as it did in the old one
            if scope.what == "list":
                return [f"Set-PnPList -Identity {ps_quote(scope.list_title)} -ResetRoleInheritance"]
            return [f"{target} -InheritPermissions"]
        out = []
        if scope.what == "list" and after is None:
            out.append(f"Set-PnPList -Identity {ps_quote(scope.list_title)} -BreakRoleInheritance -CopyRoleAssignments")
        start = after or self._parent_desired(pair, before) or self._baseline(pair, before)
        holders, now = {**start.holders, **before.holders}, start.roles
        for key in sorted((set(before.roles) | set(now)) - {k for k, h in before.holders.items() if h.left}):
            holder = holders[key]
            was, has = before.roles.get(key, set()), now.get(key, set())
            out += [f"{target} {self._who(pair, holder)} -AddRole {ps_quote(role)}" for role in sorted(was - has)]
            out += [f"{target} {self._who(pair, holder)} -RemoveRole {ps_quote(role)}" for role in sorted(has - was)]
        return out

    def units(self) -> int:
        """Resource units the REST reads cost (each read of permissions is priced as a permission call)."""
        return sum(self.counted.values()) * PERMISSION_UNITS

    def budget(self) -> dict[str, Any]:
        calls = sum(self.counted.values())
        changes = sum(1 for w in self.listed if w.data[1] is not None)
        return {"site objects compared": changes, "SharePoint calls so far": calls,
                "resource units so far (5 per permission call)": calls * PERMISSION_UNITS}


def matrix(workload: SiteAccess) -> pd.DataFrame:
    """Every site's groups and objects with access of their own, who holds what on each side, and the verdict."""
    rows = []
    for work in workload.listed or workload.list(DeltaLinks(None, workload.kind)):
        pair, what, key = work.data
        if what is None:
            continue
        for row in workload.rows(pair, what, key):
            rows.append({"site": pair.entry.target_url, "object": work.name.split(": ", 1)[-1], **row, "key": work.key})
    return pd.DataFrame(rows, columns=["site", "object", "who", "old", "new", "verdict", "key"])


def old_table(sites: SiteMap, who: Grantees, new_tenant_id: str, old: SharePointRest) -> pd.DataFrame:
    """The plan's view: each old site's groups and objects with access of their own, holders named as the new
    tenant will know them (read in the old tenant only: the new sites may not exist yet)."""
    reader = SiteReader(old, Namer(who, new_tenant_id), "old", lambda side: None)
    rows = []
    for e in sites.entries:
        side = reader.read(e.label, e.kind != "subsite", {})
        for key, (_, _, members) in sorted(side.groups.items()):
            rows += [{"site": e.target_url, "object": key, "who": m.key, "role": "member"} for m in members]
        for scope in side.scopes.values():
            rows += [{"site": e.target_url, "object": scope.label, "who": k, "role": ", ".join(sorted(r))}
                     for k, r in sorted(scope.roles.items())]
    return pd.DataFrame(rows, columns=["site", "object", "who", "role"])
