"""Graph's site routes in the sandbox: sites (search, by path, subsites), a group's team site (404 until
SharePoint has made it), document libraries (as drives), lists, columns and items (``$expand=fields``,
``$filter=fields/X eq 'v'``), each site's User Information List, and beta ``POST /sites`` with its
long-running operation. Charged in SharePoint's resource units like the drive routes."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote

from . import siteaccess
from .driveapi import READ, WRITE, FilesApi
from .drives import Drive
from .http import Request, Response
from .shapes import GraphFailure
from .sites import (
    Site,
    SpList,
    add_column,
    add_item,
    bump,
    check_fields,
    column_json,
    computed,
    host_of,
    item_json,
    list_json,
    new_list,
    new_site,
    seed_sites,
    site_json,
    versions_json,
)
from .state import Tenant, _stable_uuid, now_iso

SITE_RE = re.compile(r"^(?:sites(?:/|$|\?)|groups/[^/]+/sites/root)")
CREATE = {"Sites.Create.All", "Sites.FullControl.All"}
MANAGE = {"Sites.Manage.All", "Sites.FullControl.All"}
UIL = "User Information List"
FILTER_RE = re.compile(r"^fields/(\w+) eq '((?:[^']|'')*)'$")
TEMPLATES = {"sts": "sts", "sitepagepublishing": "sitepagepublishing", "group": "group"}


class SitesApi:
    def __init__(self, files: FilesApi) -> None:
        self.files = files
        self.store = files.store
        self.operations: dict[str, dict[str, Any]] = {}
        self.reset()

    def reset(self) -> None:
        self.sites: dict[str, Site] = {}
        self.operations = {}
        specs = {t["id"]: t for t in self.store.seed["tenants"]}
        for tenant in self.store.tenants.values():
            root = new_site(tenant, "", f"{tenant.display_name} communication site", "sitepagepublishing")
            self._add(root)
            for site in seed_sites(tenant, specs.get(tenant.id, {}), self.files.drives, self._library_drive):
                self._add(site)

    def _add(self, site: Site) -> Site:
        self.sites[site.id] = site
        if not any(lst.template == "documentLibrary" for lst in site.lists.values()):
            lst = new_list(site, "Shared Documents", "documentLibrary", "Documents")
            drive = self._library_drive(site, lst)
            self.files.drives[drive.id] = drive
            lst.drive_id = drive.id
        return site

    def _library_drive(self, site: Site, lst: SpList) -> Drive:
        drive = Drive(id="b!" + _stable_uuid(site.id, "drive", lst.id).replace("-", ""), tenant_id=site.tenant_id,
                      owner_kind="site", owner_id=site.id, owner_name=site.title, drive_type="documentLibrary",
                      name=lst.title, web_url=f"{site.web_url}/{lst.name}", list_id=lst.id, site_url=site.web_url)
        drive.root_id = drive.new_item(None, "root", folder=True)["id"]
        drive.breaks = lambda item: siteaccess.copied_on_break(self, site, lst, drive, item)
        return drive

    @staticmethod
    def owns(raw_rest: str) -> bool:
        return SITE_RE.match(raw_rest) is not None

    def mounts(self, rest: str, method: str) -> bool:
        return self.owns(rest)

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        library = self._library_path(rest, tenant)
        if library is not None:  # sites/{id}/drive/... is that site's default library, served as the drive it is
            return self.files.serve(req, library, tenant, claims)
        return self.call(req.method, rest, req.query, req.json() if req.body else None, tenant, claims, req.base_url)

    def _library_path(self, rest: str, tenant: Tenant) -> str | None:
        """``sites/{site-id}/drive/{more}`` as ``drives/{library}/{more}`` (and ``sites/{id}/drives/{id}/{more}``
        when that library is the site's); None for everything else."""
        parts = rest.split("?", 1)[0].split("/")
        if len(parts) < 4 or parts[0] != "sites" or ":" in unquote(parts[1]):
            return None
        with self.store.lock:
            if parts[2] == "drive":
                site = self._site(tenant, parts)
                lib = next((lst for lst in site.lists.values() if lst.template == "documentLibrary"), None)
                return None if lib is None else "/".join(["drives", str(lib.drive_id), *parts[3:]])
            if parts[2] == "drives" and len(parts) > 4:
                site = self._site(tenant, parts)
                if any(lst.drive_id == unquote(parts[3]) for lst in site.lists.values()):
                    return "/".join(["drives", *parts[3:]])
        return None

    # --- entry ----------------------------------------------------------------------------------------
    def call(self, method: str, raw_rest: str, query: dict[str, str], body: Any, tenant: Tenant,
             claims: dict[str, Any], base: str, beta: bool = False) -> Response:
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        needed = READ if method == "GET" else (CREATE if beta and method == "POST" else WRITE)
        if not granted & needed:
            raise GraphFailure(403, "accessDenied", "The token lacks the permission this request needs.")
        if raw_rest.startswith("sites/") and raw_rest.split("/")[2:3] == ["lists"] and method == "POST" \
                and len(raw_rest.split("/")) == 3 and not granted & MANAGE:
            raise GraphFailure(403, "accessDenied", "Creating lists needs Sites.Manage.All.")
        parts = raw_rest.split("?", 1)[0].split("/")
        cost = 2 if method != "GET" or parts[-1] in ("sites", "lists", "columns", "items", "drives") or \
            parts == ["sites"] else 1
        rate = self.files.charge(tenant, str(claims.get("appid", "")), cost)
        with self.store.lock:
            status, out, headers = self._route(method, parts, query, body or {}, tenant, base, beta, claims)
        headers.update(rate)
        return Response(status, out, headers)

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any], tenant: Tenant,
               base: str, beta: bool, claims: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if parts[0] == "groups":
            return 200, site_json(self._group_site(tenant, unquote(parts[1]))), {}
        if parts == ["sites"] and method == "GET" or parts == ["sites", "getAllSites"]:
            found = [s for s in self.sites.values() if s.tenant_id == tenant.id]
            term = query.get("search", "").strip("*").lower()
            return 200, {"value": [site_json(s) for s in found if not term or term in s.title.lower()]}, {}
        if parts == ["sites"] and method == "POST" and beta:
            return self._create_site(tenant, body, base, claims)
        if beta and len(parts) == 2 and parts[1].startswith("getOperationStatus("):
            op = self.operations.get(re.sub(r"^getOperationStatus\(operationId='(.*)'\)$", r"\1", unquote(parts[1])))
            if op is None:
                raise GraphFailure(404, "itemNotFound", "The operation could not be found.")
            return 200, self._operation(op), {}
        site = self._site(tenant, parts)
        rest = parts[2:] if ":" not in unquote(parts[1]) else self._after_path(parts)
        if not rest:
            return 200, site_json(site), {}
        head = rest[0]
        if head == "sites" and len(rest) == 1:
            subs = [site_json(s) for s in self.sites.values() if s.parent == site.id]
            return 200, {"value": subs}, {}
        if head == "drives" and len(rest) == 1:
            return 200, {"value": [self.files.drive_json(self.files.drives[lst.drive_id], base)
                                   for lst in site.lists.values() if lst.template == "documentLibrary"]}, {}
        if head == "drive" and len(rest) == 1:
            lib = next(lst for lst in site.lists.values() if lst.template == "documentLibrary")
            return 200, self.files.drive_json(self.files.drives[lib.drive_id], base), {}
        if head == "lists":
            return self._lists(method, site, rest[1:], query, body, tenant, base)
        raise GraphFailure(400, "invalidRequest", f"The sandbox does not support '{'/'.join(rest)}' on a site.")

    # --- sites ------------------------------------------------------------------------------------------
    def _site(self, tenant: Tenant, parts: list[str]) -> Site:
        if len(parts) < 2:
            raise GraphFailure(400, "invalidRequest", "Name a site.")
        key = unquote(parts[1])
        if key == "root":
            return next(s for s in self.sites.values() if s.tenant_id == tenant.id and not s.path
                        and not s.host.split(".")[0].endswith("-public"))
        if ":" in key:  # sites/{hostname}:/{server-relative path}[:]
            host, _, rest = key.partition(":")
            path = "/" + "/".join(unquote(p) for p in [rest.lstrip("/")] + parts[2:]).rstrip(":").strip("/")
            path = path.split(":", 1)[0].rstrip("/")
            found = next((s for s in self.sites.values() if s.tenant_id == tenant.id and s.host == host
                          and s.path.lower() == ("" if path == "/" else path.lower())), None)
        elif "," not in key:  # sites/{hostname}: the host's root site
            found = next((s for s in self.sites.values() if s.tenant_id == tenant.id and s.host == key
                          and not s.path), None)
        else:
            found = self.sites.get(key)
        if found is None or found.tenant_id != tenant.id or found.ready_at > time.time():
            raise GraphFailure(404, "itemNotFound", "Requested site could not be found")
        return found

    @staticmethod
    def _after_path(parts: list[str]) -> list[str]:
        for i, part in enumerate(parts):
            if i >= 2 and part.endswith(":"):
                return parts[i + 1:]
        return []

    def _group_site(self, tenant: Tenant, group_id: str) -> Site:
        group = tenant.groups.get(group_id)
        if group is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist.")
        if "Unified" not in (group.get("groupTypes") or []):
            raise GraphFailure(404, "itemNotFound", "Only Microsoft 365 groups have a team site.")
        site = next((s for s in self.sites.values() if s.group_id == group_id), None)
        if site is None:
            created = dt.datetime.fromisoformat(str(group["createdDateTime"]).replace("Z", "+00:00")).timestamp()
            if time.time() < created + self.files.governor.knobs.group_site_seconds:
                raise GraphFailure(404, "itemNotFound", "Requested site could not be found")  # not made yet
            site = self._add(new_site(tenant, f"/sites/{group['mailNickname']}", group["displayName"], "group",
                                      group_id=group_id))
            for uid in tenant.members.get(group_id, []):
                site.know(uid)
        return site

    def _create_site(self, tenant: Tenant, body: dict[str, Any], base: str,
                     claims: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        template = str(body.get("template", "sts"))
        if template not in TEMPLATES or template == "group":
            raise GraphFailure(400, "invalidRequest", f"Template '{template}' cannot be created this way.")
        url = str(body.get("webUrl") or "")
        match = re.match(rf"^https://{re.escape(host_of(tenant))}(/sites/[^/]+)$", url)
        if not match:
            raise GraphFailure(400, "invalidRequest", f"webUrl must be https://{host_of(tenant)}/sites/<name>.")
        if any(s.tenant_id == tenant.id and s.path.lower() == match.group(1).lower() for s in self.sites.values()):
            raise GraphFailure(409, "nameAlreadyExists", f"A site already exists at {url}.")
        site = new_site(tenant, match.group(1), str(body.get("name") or body.get("displayName") or "Site"), template,
                        ready_at=time.time() + self.files.governor.knobs.group_site_seconds)
        self._add(site)
        oid = str(uuid.uuid4())
        self.operations[oid] = {"id": oid, "site": site.id, "created": time.time()}
        location = f"{base}/beta/sites/getOperationStatus(operationId='{oid}')"
        return 202, None, {"Location": location}

    def _operation(self, op: dict[str, Any]) -> dict[str, Any]:
        site = self.sites[op["site"]]
        done = site.ready_at <= time.time()
        return {"id": op["id"], "createdDateTime": dt.datetime.fromtimestamp(op["created"], dt.UTC).isoformat(),
                "status": "succeeded" if done else "running", "resourceId": site.id if done else None,
                "resourceLocation": site.web_url if done else None, "type": "siteCreation"}

    # --- lists, columns, items ----------------------------------------------------------------------------
    def _lists(self, method: str, site: Site, rest: list[str], query: dict[str, str], body: dict[str, Any],
               tenant: Tenant, base: str) -> tuple[int, Any, dict[str, str]]:
        if not rest:
            if method == "GET":
                return 200, {"value": [list_json(site, lst) for lst in site.lists.values()]}, {}
            return 201, self._create_list(site, body), {}
        key = unquote(rest[0])
        if key == UIL:
            return 200, self._uil(site, tenant, rest[1:]), {}
        lst = site.list_by(key)
        tail = rest[1:]
        if not tail:
            return 200, list_json(site, lst), {}
        if tail == ["columns"]:
            if method == "GET":
                return 200, {"value": [column_json(lst, c) for c in lst.columns]}, {}
            facet_type = next((t for t in body if t in ("text", "number", "choice", "dateTime", "boolean",
                                                        "currency", "personOrGroup", "lookup",
                                                        "hyperlinkOrPicture", "calculated")), None)
            if facet_type is None:
                raise GraphFailure(400, "invalidRequest", "A column needs its type facet (text, number, ...).")
            if facet_type == "lookup":
                site.list_by(str(body["lookup"].get("listId")))
            return 201, column_json(lst, add_column(lst, {"name": body.get("name"), "displayName": body.get(
                "displayName", body.get("name")), "type": facet_type, "facet": body[facet_type],
                "hidden": body.get("hidden"), "indexed": body.get("indexed")})), {}
        if tail[0] == "items":
            return self._items(method, site, lst, tail[1:], query, body, tenant, base)
        raise GraphFailure(400, "invalidRequest", f"The sandbox does not support '{'/'.join(tail)}' on a list.")

    def _create_list(self, site: Site, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("displayName") or "")
        template = str((body.get("list") or {}).get("template", "genericList"))
        if not name or template not in ("genericList", "documentLibrary"):
            raise GraphFailure(400, "invalidRequest", "A list needs a displayName and a template genericList or "
                                                      "documentLibrary.")
        if any(lst.title.lower() == name.lower() for lst in site.lists.values()):
            raise GraphFailure(409, "nameAlreadyExists", f"A list named '{name}' already exists.")
        lst = new_list(site, name.replace(" ", ""), template, name)
        for column in body.get("columns") or []:
            facet_type = next((t for t in column if t in ("text", "number", "choice", "dateTime", "boolean",
                                                          "currency", "personOrGroup", "hyperlinkOrPicture",
                                                          "calculated")), None)
            if facet_type is None:
                raise GraphFailure(400, "invalidRequest", f"Column '{column.get('name')}' has no type facet it can "
                                                          "be created with.")
            add_column(lst, {"name": column.get("name"), "displayName": column.get("displayName", column.get("name")),
                             "type": facet_type, "facet": column[facet_type], "indexed": column.get("indexed")})
        if template == "documentLibrary":
            drive = self._library_drive(site, lst)
            self.files.drives[drive.id] = drive
            lst.drive_id = drive.id
        return list_json(site, lst)

    def _uil(self, site: Site, tenant: Tenant, rest: list[str]) -> dict[str, Any]:
        if rest != ["items"]:
            raise GraphFailure(400, "invalidRequest", "Read the User Information List's items.")
        values = []
        for uid, lookup in sorted(site.users.items(), key=lambda kv: kv[1]):
            user = tenant.users.get(uid)
            if user is not None:
                values.append({"id": str(lookup), "fields": {"id": str(lookup), "Title": user["displayName"],
                                                             "EMail": user["mail"] or user["userPrincipalName"],
                                                             "UserName": user["userPrincipalName"]}})
        return {"value": values}

    def _items(self, method: str, site: Site, lst: SpList, rest: list[str], query: dict[str, str],
               body: dict[str, Any], tenant: Tenant, base: str) -> tuple[int, Any, dict[str, str]]:
        raw_expand = query.get("expand", query.get("$expand", ""))
        expand, chosen = fields_expand(raw_expand)
        if not rest and method == "GET":
            items = sorted(lst.items.values(), key=lambda i: int(i["id"]))
            raw = query.get("$filter")
            if raw:
                match = FILTER_RE.match(raw)
                if not match:
                    raise GraphFailure(400, "invalidRequest", f"Unsupported filter: {raw}")
                column = lst.column(match.group(1))
                if column is None:
                    raise GraphFailure(400, "invalidRequest", f"Field '{match.group(1)}' is not recognized")
                value = match.group(2).replace("''", "'")
                items = [i for i in items if str(computed(lst, i["fields"]).get(column["name"], "")) == value]
            top = int(query.get("$top") or 200)
            offset = int(query.get("$skiptoken") or 0)
            page = items[offset:offset + top]
            out: dict[str, Any] = {"value": [item_json(site, lst, i, expand, chosen) for i in page]}
            if offset + top < len(items):
                keep = f"&$filter={quote(raw)}" if raw else ""
                out["@odata.nextLink"] = (f"{base}/v1.0/sites/{site.id}/lists/{lst.id}/items?"
                                          f"$expand={quote(raw_expand or 'fields')}&$top={top}"
                                          f"&$skiptoken={offset + top}{keep}")
            return 200, out, {}
        if not rest and method == "POST":
            fields = check_fields(site, lst, body.get("fields") or {}, tenant)
            if lst.column("Title") and lst.columns[0]["required"] and not fields.get("Title"):
                raise GraphFailure(400, "invalidRequest", "Field 'Title' is required.")
            item = add_item(lst, fields, "tenantmove (app)")
            return 201, item_json(site, lst, item, True), {}
        item = lst.items.get(rest[0])
        if item is None:
            raise GraphFailure(404, "itemNotFound", "The item could not be found.")
        if len(rest) == 1 and method == "GET":
            return 200, item_json(site, lst, item, expand, chosen), {}
        if len(rest) == 1 and method == "DELETE":
            del lst.items[item["id"]]
            return 204, None, {}
        if rest[1:] == ["versions"] and method == "GET":
            return 200, {"value": versions_json(lst, item)}, {}
        if rest[1:] == ["fields"] and method == "PATCH":
            changed = check_fields(site, lst, body, tenant)
            bump(item)
            item["fields"].update(changed)
            item.update(modified=now_iso(), editor="tenantmove (app)", editor_id="", editor_email="")
            return 200, computed(lst, item["fields"]), {}
        raise GraphFailure(400, "invalidRequest", "The sandbox does not support this on a list item.")


def fields_expand(raw: str) -> tuple[bool, list[str] | None]:
    """``$expand=fields`` or ``fields(select=A,B)`` (also ``fields($select=A,B)``): are the fields expanded, and
    which of them were chosen (None: all)."""
    if not raw:
        return False, None
    match = re.fullmatch(r"\s*fields\s*(?:\(\s*\$?select\s*=\s*([^)]*)\))?\s*", raw)
    if match is None:
        raise GraphFailure(400, "invalidRequest", f"The sandbox expands only fields on list items, not '{raw}'.")
    chosen = [c.strip() for c in match.group(1).split(",") if c.strip()] if match.group(1) is not None else None
    return True, chosen
