"""The sandbox's SharePoint sites: team sites of Microsoft 365 groups (which appear some time after the
group), communication and team sites without a group, subsites, document libraries (each a drive), lists
with typed columns and items, each site's User Information List, and a tenant's legacy public website.

Seed (per tenant, ``sites:``)::

    - name: sales                 # /sites/sales
      group: sales                # the team site of the group with this mailNickname
      template: sts | sitepagepublishing | public    # without a group
      libraries: [{name: Contracts, files: [...]}]   # files as in drives; "Documents" is always there
      lists: [{name: Customers, columns: [{name: Region, type: choice, choices: [...]}, ...], items: 40}]
      subsites: [{name: emea, title: EMEA, lists: [...]}]
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from . import siteaccess
from .drives import Drive
from .driveseed import fill
from .shapes import GraphFailure
from .state import Tenant, _stable_uuid, now_iso

COLUMN_TYPES = ("text", "number", "choice", "dateTime", "boolean", "currency", "personOrGroup", "lookup",
                "hyperlinkOrPicture", "calculated", "term")
HIDDEN_FACETS = ("hyperlinkOrPicture", "term")  # Graph returns no facet for these when reading a column


def host_of(tenant: Tenant, public: bool = False) -> str:
    return f"{tenant.initial_domain.split('.')[0]}{'-public' if public else ''}.sharepoint.com"


@dataclass
class SpList:
    id: str
    name: str
    title: str
    template: str  # genericList | documentLibrary
    columns: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    drive_id: str = ""
    hidden: bool = False
    created: str = field(default_factory=now_iso)
    roles: list[list[str]] | None = None  # its own role assignments (None: it inherits its site's)

    def column(self, name: str) -> dict[str, Any] | None:
        low = name.lower()
        return next((c for c in self.columns if c["name"].lower() == low or c["displayName"].lower() == low), None)


@dataclass
class Site:
    id: str
    tenant_id: str
    host: str
    path: str  # /sites/sales, /sites/sales/emea, or "" for a host's root
    title: str
    template: str  # group | sts | sitepagepublishing | public
    group_id: str = ""
    parent: str = ""
    ready_at: float = 0.0  # wall-clock seconds: a group's site answers 404 before this
    lists: dict[str, SpList] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)  # user id -> User Information List id
    created: str = field(default_factory=now_iso)
    access: Any = None  # the site collection's groups and permissions (:mod:`.siteaccess`), a subsite's its root's

    @property
    def web_url(self) -> str:
        return f"https://{self.host}{self.path}"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] if self.path else self.host.split(".")[0]

    def list_by(self, key: str) -> SpList:
        low = key.lower()
        for lst in self.lists.values():
            if lst.id == key or lst.name.lower() == low or lst.title.lower() == low:
                return lst
        raise GraphFailure(404, "itemNotFound", "The list could not be found.")

    def know(self, user_id: str) -> int:
        """The user's id in this site's User Information List (added once, never renumbered)."""
        if user_id not in self.users:
            self.users[user_id] = len(self.users) + 7  # SharePoint starts people after its own entries
        return self.users[user_id]


def site_id(tenant: Tenant, host: str, path: str) -> str:
    return f"{host},{_stable_uuid(tenant.id, 'sitecollection', host, path.split('/')[2] if path.count('/') >= 2 else '')}," \
           f"{_stable_uuid(tenant.id, 'web', host, path)}"


def new_site(tenant: Tenant, path: str, title: str, template: str, *, group_id: str = "", parent: str = "",
             public: bool = False, ready_at: float = 0.0) -> Site:
    host = host_of(tenant, public)
    return Site(site_id(tenant, host, path), tenant.id, host, path, title, template, group_id, parent, ready_at)


def new_list(site: Site, name: str, template: str = "genericList", title: str = "") -> SpList:
    lid = _stable_uuid(site.id, "list", name.lower())
    lst = SpList(lid, name, title or name, template)
    lst.columns.append({"name": "Title", "displayName": "Title", "type": "text", "facet": {}, "readOnly": False,
                        "hidden": False, "indexed": False, "required": template == "genericList"})
    site.lists[lid] = lst
    return lst


def add_column(lst: SpList, spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["type"]
    if kind not in COLUMN_TYPES:
        raise GraphFailure(400, "invalidRequest", f"Unknown column type '{kind}'.")
    name = spec.get("name") or spec["displayName"].replace(" ", "")
    if lst.column(name) is not None:
        raise GraphFailure(409, "nameAlreadyExists", f"A column named '{name}' already exists.")
    column = {"name": name, "displayName": spec.get("displayName", name), "type": kind,
              "facet": dict(spec.get("facet") or {}), "readOnly": kind == "calculated", "hidden": bool(spec.get("hidden")),
              "indexed": bool(spec.get("indexed")), "required": False}
    lst.columns.append(column)
    return column


def column_json(lst: SpList, column: dict[str, Any]) -> dict[str, Any]:
    out = {"id": _stable_uuid(lst.id, "column", column["name"]), "name": column["name"],
           "displayName": column["displayName"], "description": "", "hidden": column["hidden"],
           "indexed": column["indexed"], "readOnly": column["readOnly"], "required": column["required"],
           "enforceUniqueValues": False, "columnGroup": "Custom Columns"}
    if column["type"] not in HIDDEN_FACETS:
        out[column["type"]] = dict(column["facet"])
    return out


def list_json(site: Site, lst: SpList) -> dict[str, Any]:
    return {"id": lst.id, "name": lst.name, "displayName": lst.title, "description": "",
            "createdDateTime": lst.created, "lastModifiedDateTime": lst.created,
            "webUrl": f"{site.web_url}/{'Lists/' if lst.template == 'genericList' else ''}{lst.name}",
            "list": {"template": lst.template, "hidden": lst.hidden, "contentTypesEnabled": False}}


def site_json(site: Site) -> dict[str, Any]:
    out = {"id": site.id, "name": site.name, "displayName": site.title, "description": "", "webUrl": site.web_url,
           "createdDateTime": site.created, "lastModifiedDateTime": site.created,
           "siteCollection": {"hostname": site.host}}
    if not site.path:
        out["root"] = {}
    return out


def item_json(site: Site, lst: SpList, item: dict[str, Any], expand: bool,
              chosen: list[str] | None = None) -> dict[str, Any]:
    out = {"id": item["id"], "eTag": f'"{item["uid"]},{item["version"]}"', "createdDateTime": item["created"],
           "lastModifiedDateTime": item["modified"], "webUrl": f"{site.web_url}/Lists/{lst.name}/DispForm.aspx?ID="
                                                                f"{item['id']}",
           "createdBy": {"user": _who(item, "author")}, "lastModifiedBy": {"user": _who(item, "editor")},
           "contentType": {"id": "0x0100", "name": "Item"}}
    if expand:
        author = str(site.know(item["author_id"])) if item["author_id"] else "1"  # 1: the system account
        editor = str(site.know(item["editor_id"])) if item.get("editor_id") else "1"
        fields = {"@odata.etag": out["eTag"], "id": item["id"], "ContentType": "Item", "Created": item["created"],
                  "Modified": item["modified"], "AuthorLookupId": author, "EditorLookupId": editor,
                  "_UIVersionString": f"{item['version']}.0", "Attachments": bool(item.get("attachments"))}
        fields.update(computed(lst, item["fields"]))
        if chosen is not None:  # fields(select=...): those, with the item's id and etag
            wanted = {c.lower() for c in chosen} | {"id", "@odata.etag"}
            fields = {k: v for k, v in fields.items() if k.lower() in wanted}
        out["fields"] = fields
    return out


def bump(item: dict[str, Any]) -> None:
    """A new version of a list item: the current one joins its history first (Graph's ``versions`` lists both)."""
    item.setdefault("history", []).append({"label": f"{item['version']}.0", "fields": dict(item["fields"]),
                                           "editor": item["editor"], "editor_id": item.get("editor_id", ""),
                                           "editor_email": item.get("editor_email", ""), "modified": item["modified"]})
    item["version"] += 1


def versions_json(lst: SpList, item: dict[str, Any]) -> list[dict[str, Any]]:
    """Graph's ``listItemVersion``s of an item, newest first: the current one, then its history."""
    current = {"label": f"{item['version']}.0", "fields": item["fields"], "editor": item["editor"],
               "editor_id": item.get("editor_id", ""), "editor_email": item.get("editor_email", ""),
               "modified": item["modified"]}
    return [{"id": v["label"], "lastModifiedDateTime": v["modified"], "lastModifiedBy": {"user": _who(v, "editor")},
             "fields": {"id": item["id"], **computed(lst, v["fields"])}}
            for v in [current, *reversed(item.get("history") or [])]]


def _who(item: dict[str, Any], role: str) -> dict[str, Any]:
    """Graph's identity of an item's author or editor: the person's name, and their id and address when known."""
    out = {"displayName": item[role]}
    if item.get(f"{role}_id"):
        out["id"] = item[f"{role}_id"]
    if item.get(f"{role}_email"):
        out["email"] = item[f"{role}_email"]
    return out


def computed(lst: SpList, fields: dict[str, Any]) -> dict[str, Any]:
    """Stored values plus calculated columns (the sandbox knows the one formula shape it seeds: [A]/[B])."""
    out = dict(fields)
    for column in lst.columns:
        if column["type"] == "calculated":
            formula = str(column["facet"].get("formula", ""))
            names = [n.strip("[]") for n in formula.lstrip("=").split("/")] if "/" in formula else []
            values = [out.get(n.replace(" ", "")) for n in names]
            if len(values) == 2 and all(isinstance(v, int | float) for v in values) and values[1]:
                out[column["name"]] = f"{values[0] / values[1]:.2f}"
    return out


def check_fields(site: Site, lst: SpList, fields: dict[str, Any], tenant: Tenant) -> dict[str, Any]:
    """What a create or update may write, as SharePoint checks it."""
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        if key.endswith("LookupId"):
            column = lst.column(key[:-8])
            if column is None or column["type"] not in ("personOrGroup", "lookup"):
                raise GraphFailure(400, "invalidRequest", f"Field '{key}' is not recognized")
            if column["type"] == "personOrGroup" and value not in (None, "") and \
                    int(value) not in site.users.values():
                raise GraphFailure(400, "invalidRequest", f"The user with lookup id {value} is not known to the site "
                                                          "(User Information List).")
            if column["type"] == "lookup" and value not in (None, ""):
                target = site.list_by(column["facet"]["listId"])
                if str(value) not in target.items:
                    raise GraphFailure(400, "invalidRequest", f"Lookup id {value} does not exist in '{target.title}'.")
            clean[key] = str(value) if value not in (None, "") else None
            continue
        column = lst.column(key)
        if column is None or key in ("id", "Created", "Modified", "AuthorLookupId", "EditorLookupId"):
            raise GraphFailure(400, "invalidRequest", f"Field '{key}' is not recognized or is read-only")
        if column["readOnly"]:
            raise GraphFailure(400, "invalidRequest", f"Field '{key}' is read-only")
        kind = column["type"]
        if kind in ("number", "currency") and value is not None and not isinstance(value, int | float):
            raise GraphFailure(400, "invalidRequest", f"Field '{key}' takes a number")
        if kind == "boolean" and value is not None and not isinstance(value, bool):
            raise GraphFailure(400, "invalidRequest", f"Field '{key}' takes true or false")
        if kind == "choice" and value not in (None, *column["facet"].get("choices", [])):
            raise GraphFailure(400, "invalidRequest", f"'{value}' is not a choice of '{key}'")
        if kind == "term":
            raise GraphFailure(400, "invalidRequest", f"Field '{key}' (managed metadata) needs the tenant's term store")
        clean[column["name"]] = value
    return clean


def seed_sites(tenant: Tenant, tspec: dict[str, Any], drives: dict[str, Drive], make_drive: Any) -> list[Site]:
    """The tenant's sites from its seed, libraries as drives (added to ``drives``)."""
    rnd = random.Random(tenant.id)
    sites: list[Site] = []
    for spec in tspec.get("sites", []):
        sites += _seed_site(tenant, spec, "", drives, make_drive, rnd)
    return sites


def _seed_site(tenant: Tenant, spec: dict[str, Any], parent: Site | str, drives: dict[str, Drive], make_drive: Any,
               rnd: random.Random) -> list[Site]:
    template = spec.get("template", "group" if spec.get("group") else "sts")
    public = template == "public"
    path = "" if public else (f"{parent.path}/{spec['name']}" if isinstance(parent, Site) else f"/sites/{spec['name']}")
    group_id = ""
    if spec.get("group"):
        group_id = next((g["id"] for g in tenant.groups.values() if g["mailNickname"] == spec["group"]), "")
    site = new_site(tenant, path, spec.get("title", spec["name"].title()), template, group_id=group_id,
                    parent=parent.id if isinstance(parent, Site) else "", public=public)
    if isinstance(parent, Site):
        site.access = siteaccess.access_of(parent)
    for uid in tenant.members.get(group_id, []):
        site.know(uid)
    libraries = [{"name": "Documents"}] + [lib for lib in spec.get("libraries", []) if lib["name"] != "Documents"]
    for lib in libraries:
        files = next((x for x in spec.get("libraries", []) if x["name"] == lib["name"]), lib)
        lst = new_list(site, "Shared Documents" if lib["name"] == "Documents" else lib["name"], "documentLibrary",
                       lib["name"])
        drive = make_drive(site, lst)
        fill(drive, files, tenant)
        drives[drive.id] = drive
        lst.drive_id = drive.id
    lists = spec.get("lists", [])
    for lspec in lists:
        lst = new_list(site, lspec["name"])
        for cspec in lspec.get("columns", []):
            facet = {}
            if cspec["type"] == "choice":
                facet = {"choices": list(cspec.get("choices", [])), "displayAs": "dropDownMenu"}
            elif cspec["type"] == "lookup":
                facet = {"listId": site.list_by(cspec["list"]).id, "columnName": cspec.get("column", "Title")}
            elif cspec["type"] == "calculated":
                facet = {"formula": cspec["formula"], "outputType": "number"}
            elif cspec["type"] == "currency":
                facet = {"locale": "nl-NL"}
            elif cspec["type"] == "personOrGroup":
                facet = {"allowMultipleSelection": False, "chooseFromType": "peopleOnly"}
            add_column(lst, {"name": cspec.get("internal", cspec["name"].replace(" ", "")),
                             "displayName": cspec["name"], "type": cspec["type"], "facet": facet})
        for i in range(int(lspec.get("items", 0))):
            _seed_item(tenant, site, lst, i, rnd)
    siteaccess.seed(tenant, site, spec, drives)
    out = [site]
    for sub in spec.get("subsites", []):
        out += _seed_site(tenant, sub, site, drives, make_drive, rnd)
    return out


def _seed_item(tenant: Tenant, site: Site, lst: SpList, i: int, rnd: random.Random) -> None:
    users = sorted((u for u in tenant.users.values()  # the organisation's own people (no guest, no shared mailbox)
                    if u.get("userType") != "Guest" and not u.get("mailboxType")),
                   key=lambda u: u["userPrincipalName"])
    fields: dict[str, Any] = {"Title": f"{lst.title} {i + 1:03d}"}
    for column in lst.columns[1:]:
        kind, name = column["type"], column["name"]
        if kind == "text":
            fields[name] = f"note {i} for {lst.title} – ünïcode ✓"
        elif kind in ("number", "currency"):
            fields[name] = float(rnd.randint(1, 500) * (10 if kind == "currency" else 1))
        elif kind == "choice":
            fields[name] = column["facet"]["choices"][i % len(column["facet"]["choices"])]
        elif kind == "dateTime":
            fields[name] = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=i * 3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif kind == "boolean":
            fields[name] = i % 2 == 0
        elif kind == "personOrGroup":
            person = users[(i * 7) % len(users)]
            fields[name + "LookupId"] = str(site.know(person["id"]))
        elif kind == "lookup":
            target = site.lists[column["facet"]["listId"]]
            if target.items:
                fields[name + "LookupId"] = sorted(target.items, key=int)[i % len(target.items)]
        elif kind == "hyperlinkOrPicture":
            fields[name] = {"Description": f"site {i}", "Url": f"https://example.com/customers/{i}"}
        elif kind == "term":
            fields[name] = {"Label": ["Retail", "Public sector", "Industry"][i % 3], "TermGuid":
                            _stable_uuid("term", str(i % 3)), "WssId": i % 3 + 1}
    author, editor = users[i % len(users)], users[(i + 3) % len(users)]  # made by one person, changed by another
    site.know(author["id"])
    created = dt.datetime(2023, 5, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)
    item = add_item(lst, fields, author["displayName"], author["id"], created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    email=author["userPrincipalName"])
    if i % 10 == 2:  # a signed contract and a photo attached (SharePoint's REST API carries them, not Graph)
        item["attachments"] = {f"contract {i + 1}.pdf": _bytes(f"{lst.id}{i}pdf", 3000 + i),
                               "site photo.jpg": _bytes(f"{lst.id}{i}jpg", 1500)}
    if i == 4:  # made by someone who has left: no account any more, only the name and address SharePoint kept
        item.update(author=LEAVER["displayName"], author_id="", author_email=LEAVER["email"])
    item.update(editor=editor["displayName"], editor_id=editor["id"], editor_email=editor["userPrincipalName"],
                modified=(created + dt.timedelta(days=30, minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if i % 10 == 3:  # a draft, reviewed by someone else, then the version people see now
        reviewer = users[(i + 5) % len(users)]
        item["history"] = [
            {"label": "1.0", "fields": {**fields, "Title": f"{fields['Title']} (draft)"}, "editor": author["displayName"],
             "editor_id": author["id"], "editor_email": author["userPrincipalName"], "modified": item["created"]},
            {"label": "2.0", "fields": {**fields, "Title": f"{fields['Title']} (reviewed)"},
             "editor": reviewer["displayName"], "editor_id": reviewer["id"], "editor_email": reviewer["userPrincipalName"],
             "modified": (created + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")}]
        item["version"] = 3


def _bytes(seed: str, size: int) -> bytes:
    """Deterministic content of ``size`` bytes."""
    import hashlib

    out = b""
    while len(out) < size:
        out += hashlib.sha256((seed + str(len(out))).encode()).digest()
    return out[:size]


LEAVER = {"displayName": "Pat Leaver", "email": "pat.leaver@contoso.example"}  # left the company before the move


def add_item(lst: SpList, fields: dict[str, Any], author: str, author_id: str = "", created: str = "",
             email: str = "") -> dict[str, Any]:
    iid = str(lst.next_id)
    lst.next_id += 1
    stamp = created or now_iso()
    item = {"id": iid, "uid": _stable_uuid(lst.id, "item", iid), "fields": dict(fields), "created": stamp,
            "modified": stamp, "author": author, "author_id": author_id, "author_email": email, "editor": author,
            "editor_id": author_id, "editor_email": email, "version": 1}
    lst.items[iid] = item
    return item
