"""The sandbox's admin side of the drives: what users and admins do outside Graph.

- SharePoint Online PowerShell for manual scripts: ``Request-SPOPersonalSite -UserEmails 'a','b' [-NoWait]``
  (at most 200 users per call; the OneDrives appear after the provisioning delay);
- ``POST /_sandbox/files/{tenant}/{user}`` ``{"op": ...}``: a user changing their files between passes
  (``put`` path size|office, ``rename`` path name, ``move`` path to, ``delete`` path, ``lock`` path locked,
  ``widen`` path link scope: a sharing link's scope changed in place),
  an admin setting a ``quota``, or ``provision`` now;
- the same on a document library: ``/_sandbox/files/{tenant}/drive:{drive id}``;
- ``POST /_sandbox/files/{tenant}/expire-deltas``: every delta token of the tenant answers 410 from now on;
- ``GET /_sandbox/files/{tenant}/{user}``: the drive's files by path with size and quickXorHash."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import unquote

from . import sharing, siteaccess
from .blobs import Blob
from .driveapi import FilesApi
from .drives import Drive, office_document
from .driveseed import ensure_folder, parse_size
from .http import Request, Response
from .shapes import GraphFailure
from .sites import bump
from .state import Tenant

PERSONAL_SITE_LIMIT = 200


class FilesAdmin:
    def __init__(self, files: FilesApi, sites: Any = None) -> None:
        self.files = files
        self.sites = sites  # for the PnP cmdlet that makes a subsite
        self.store = files.store

    def cmdlets(self, tenant: Tenant) -> dict[str, Any]:
        self.pnp_site = ""  # Connect-PnPOnline's site, for New-PnPWeb
        self.session_tenant = tenant
        return {"Request-SPOPersonalSite": self._request_personal_site, "New-SPOSite": self._new_site,
                "Connect-PnPOnline": self._connect_pnp, "New-PnPWeb": self._new_web, "Add-SPOUser": self._add_user,
                "Add-PnPField": self._add_field, "Set-SPOUser": self._set_user,
                "Add-PnPFileAnonymousSharingLink": self._anonymous_link, "Set-PnPListItem": self._set_list_item,
                "Add-PnPFolderAnonymousSharingLink": self._anonymous_link,
                **siteaccess.AccessCmdlets(self.sites, lambda: self.pnp_site).cmdlets()}

    def connect(self, url: str) -> Tenant:
        """``Connect-SPOService -Url https://<name>-admin.sharepoint.com``: the tenant of that admin centre (a
        placeholder left in ``<...>`` keeps the session's tenant)."""
        match = re.match(r"^https://([^/]+)-admin\.sharepoint\.com/?$", url)
        if match is None:
            raise ValueError(f"Connect-SPOService -Url must be https://<tenant>-admin.sharepoint.com, not {url}")
        if "<" in match.group(1):
            return self.session_tenant
        found = next((t for t in self.store.tenants.values() if t.initial_domain.split(".")[0] == match.group(1)),
                     None)
        if found is None:
            raise ValueError(f"no tenant has the admin centre {url}")
        self.session_tenant = found
        return found

    def _set_user(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``Set-SPOUser -Site <a OneDrive's URL> -LoginName <upn> -IsSiteCollectionAdmin $true``."""
        site = params.get("site", "").rstrip("/").lower()
        drives = (self.files._user_drive(tenant, user) for user in list(tenant.users.values()))  # provisioned ones too
        drive = next((d for d in drives if d is not None and d.web_url.lower().rsplit("/", 1)[0] == site), None)
        if drive is None:
            raise ValueError(f"no OneDrive at {params.get('site')} in {tenant.initial_domain}")
        user = tenant.find_user(params.get("loginname", ""))
        if user is None:
            raise ValueError(f"no user {params.get('loginname')} in {tenant.initial_domain}")
        if params.get("issitecollectionadmin", "").lower() in ("$true", "true"):
            drive.admins.add(user["id"])
        else:
            drive.admins.discard(user["id"])
        return f"{user['userPrincipalName']} site collection admin of {params.get('site')}"

    def _set_list_item(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``Set-PnPListItem -List L -Identity N -Values @{'Author'='upn'; 'Editor'='upn'; 'Created'='iso';
        'Modified'='iso'} [-UpdateType UpdateOverwriteVersion]`` in the site of ``Connect-PnPOnline``: who made and
        last changed an item, and when (no new version with UpdateOverwriteVersion)."""
        from .sprest import find_item, locate, set_person

        site, personal = locate(self.sites, tenant.id, self.pnp_site.rstrip("/"))
        if site is None and personal is None:
            raise ValueError(f"Connect-PnPOnline first to an existing site (not {self.pnp_site or 'none'})")
        found = find_item(self.sites, site, personal, params.get("list", ""), params.get("identity", ""))
        if isinstance(found, str):
            raise ValueError(f"Set-PnPListItem: {found}")
        kind, _, item = found
        overwrite = params.get("updatetype", "").lower() == "updateoverwriteversion"
        if not overwrite and kind == "list":  # a new version: the one people saw joins the history
            bump(item)
        elif not overwrite:  # a file's versions are its own
            item["version"] += 1
        values = dict(re.findall(r"'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'", params.get("values", "")))
        for name, value in values.items():
            key = name.lower()
            if key in ("author", "editor"):
                user = tenant.find_user(value)
                if user is None:
                    raise ValueError(f"Set-PnPListItem: the user {value} does not exist or is not unique")
                set_person(kind, item, key, user)
            elif key in ("created", "modified"):
                when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                item[key] = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                raise ValueError(f"Set-PnPListItem: the sandbox sets Author, Editor, Created and Modified, not {name}")
        return f"item {params.get('identity')} of {params.get('list')}: {', '.join(values)} set"

    def _anonymous_link(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``Add-PnPFileAnonymousSharingLink -FileUrl <server-relative> -Type View|Edit [-Password p]
        [-ExpirationDateTime d]`` (a folder: ``Add-PnPFolderAnonymousSharingLink -Folder``): a link that works for
        anyone, a password on it as PnP sets one."""
        target = params.get("fileurl") or params.get("folder") or ""
        for drive in self.files.drives.values():
            base = "/" + unquote(drive.web_url.split("://", 1)[-1].split("/", 1)[-1]).rstrip("/")
            if drive.tenant_id == tenant.id and target.lower().startswith(base.lower() + "/"):
                item = drive.by_path(drive.root_id, target[len(base):])
                if item["folder"] != ("folder" in params):
                    raise ValueError(f"{target} is {'a folder' if item['folder'] else 'a file'}: use the cmdlet for it")
                return sharing.password_link(tenant, drive, item, params.get("type", "View").lower(),
                                             params.get("password", ""), params.get("expirationdatetime"),
                                             self.files.sharing_policy(tenant))
        raise ValueError(f"no document library or OneDrive holds {target}")

    def _add_field(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``Add-PnPField -List -DisplayName -InternalName -Type`` in the site of ``Connect-PnPOnline``."""
        from .sites import add_column

        site = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id and s.web_url.lower()
                     == self.pnp_site.lower()), None)
        if site is None:
            raise ValueError(f"Connect-PnPOnline first to an existing site (not {self.pnp_site or 'none'})")
        kinds = {"taxonomyfieldtype": "term", "text": "text", "url": "hyperlinkOrPicture", "note": "text"}
        kind = kinds.get(params.get("type", "").lower())
        if kind is None:
            raise ValueError(f"unsupported -Type {params.get('type')}")
        lst = site.list_by(params.get("list", ""))
        add_column(lst, {"name": params.get("internalname"), "displayName": params.get("displayname"), "type": kind})
        return f"added {params.get('displayname')} to {lst.title}"

    def _add_user(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``Add-SPOUser -Site -LoginName -Group``: the user joins a site group, so the site knows them."""
        site = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id
                     and s.web_url.lower() == params.get("site", "").lower()), None)
        if site is None:
            raise ValueError(f"no site {params.get('site')}")
        user = tenant.find_user(params.get("loginname", ""))
        if user is None:
            raise ValueError(f"no user {params.get('loginname')}")
        site.know(user["id"])
        return f"added {user['userPrincipalName']} to {params.get('group', 'the site')}"

    def _new_site(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``New-SPOSite -Url -Owner -StorageQuota -Title -Template`` (SITEPAGEPUBLISHING#0, STS#3)."""
        from .sites import host_of, new_site

        for required in ("url", "owner", "title", "template", "storagequota"):
            if required not in params:
                raise ValueError(f"New-SPOSite needs -{required}")
        match = re.match(rf"^https://{re.escape(host_of(tenant))}(/sites/[^/]+)$", params["url"])
        if not match:
            raise ValueError(f"-Url must be https://{host_of(tenant)}/sites/<name>")
        if tenant.find_user(params["owner"]) is None:
            raise ValueError(f"the owner {params['owner']} is not a user of this tenant")
        if any(s.tenant_id == tenant.id and s.path.lower() == match.group(1).lower() for s in self.sites.sites.values()):
            raise ValueError(f"A site already exists at url {params['url']}")
        template = {"sitepagepublishing#0": "sitepagepublishing", "sts#3": "sts"}.get(params["template"].lower())
        if template is None:
            raise ValueError(f"unknown template {params['template']}")
        self.sites._add(new_site(tenant, match.group(1), params["title"], template))
        return f"created {params['url']}"

    def _connect_pnp(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        self.pnp_site = params.get("url", "")
        return f"connected to {self.pnp_site}"

    def _new_web(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        """``New-PnPWeb -Title -Url <leaf> -Template STS#3`` below the site of ``Connect-PnPOnline``."""
        from .sites import new_site

        parent = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id and s.web_url.lower()
                       == self.pnp_site.lower()), None)
        if parent is None:
            raise ValueError(f"Connect-PnPOnline first to an existing site (not {self.pnp_site or 'none'})")
        path = f"{parent.path}/{params.get('url', '')}"
        if any(s.tenant_id == tenant.id and s.path.lower() == path.lower() for s in self.sites.sites.values()):
            raise ValueError(f"A web already exists at {path}")
        web = new_site(tenant, path, params.get("title", params.get("url", "")), "sts", parent=parent.id)
        web.access = siteaccess.access_of(parent)  # a subsite shares its site collection's groups
        self.sites._add(web)
        return f"created {parent.web_url}/{params.get('url')}"

    def _request_personal_site(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        if "useremails" not in params:
            raise ValueError("Request-SPOPersonalSite needs -UserEmails")
        emails = [e.replace("''", "'") for e in re.findall(r"'((?:[^']|'')*)'", line.split("-UserEmails", 1)[-1])]
        if not emails:
            raise ValueError("Request-SPOPersonalSite: -UserEmails names no user")
        if len(emails) > PERSONAL_SITE_LIMIT:
            raise ValueError(f"Request-SPOPersonalSite takes at most {PERSONAL_SITE_LIMIT} users per call")
        done = self.files.request_personal_site(tenant, emails)
        return f"requested OneDrive for {len(done)} user(s)"

    def handle(self, req: Request, rest: str) -> Response:
        parts = [unquote(p) for p in rest.split("/") if p]
        tenant = self.store.tenant_by_name(parts[0]) if parts else None
        if tenant is None:
            return Response(404, {"error": "no such tenant"})
        with self.store.lock:
            if parts[1:] == ["expire-deltas"] and req.method == "POST":
                for drive in self.files.drives.values():
                    if drive.tenant_id == tenant.id:
                        drive.epoch += 1
                return Response(200, {"ok": True})
            if len(parts) != 2:
                return Response(404, {"error": "use files/{tenant}/{user} or files/{tenant}/drive:{id}"})
            if parts[1].startswith("drive:"):  # a document library (or any drive) by its id
                drive = self.files.drives.get(parts[1][len("drive:"):])
                if drive is None or drive.tenant_id != tenant.id:
                    return Response(404, {"error": f"no drive {parts[1]}"})
                return self._answer(req, drive)
            user = tenant.find_user(parts[1])
            if user is None:
                return Response(404, {"error": f"no user {parts[1]}"})
            body = req.json() if req.body else {}
            if body.get("op") == "provision":
                self.files.request_personal_site(tenant, [user["userPrincipalName"]], float(body.get("seconds", 0)))
                return Response(200, {"ok": True})
            drive = self.files._user_drive(tenant, user)
            if drive is None:
                return Response(404, {"error": "User's mysite not found."})
            return self._answer(req, drive)

    def _answer(self, req: Request, drive: Drive) -> Response:
        if req.method == "GET":
            return Response(200, listing(drive))
        try:
            return Response(200, {"ok": True, "done": self._change(drive, req.json() if req.body else {})})
        except (GraphFailure, KeyError, ValueError) as exc:
            return Response(400, {"error": str(exc)})

    def change_list(self, req: Request, tenant_name: str) -> Response:
        """``{"site": "/sites/sales", "list": "Customers", "op": "update"|"delete", "id": "3", "fields": {...}}``"""
        tenant = self.store.tenant_by_name(tenant_name)
        body = req.json() if req.body else {}
        with self.store.lock:
            site = next((s for s in self.sites.sites.values() if tenant is not None and s.tenant_id == tenant.id
                         and s.path == body.get("site")), None)
            if site is None:
                return Response(404, {"error": "no such site"})
            lst = site.list_by(str(body.get("list")))
            item = lst.items.get(str(body.get("id")))
            if item is None:
                return Response(404, {"error": "no such item"})
            if body.get("op") == "delete":
                del lst.items[item["id"]]
            else:
                bump(item)
                item["fields"].update(body.get("fields") or {})
        return Response(200, {"ok": True})

    @staticmethod
    def _change(drive: Drive, body: dict[str, Any]) -> str:
        op = body.get("op")
        if op == "quota":
            drive.quota_total = parse_size(body["quota"])
            return f"quota {drive.quota_total}"
        path = str(body["path"])
        if op == "put":
            parent_path, _, name = path.rpartition("/")
            parent = ensure_folder(drive, parent_path)
            blob = (Blob.of(office_document(str(body.get("seed", path)))) if body.get("office")
                    else Blob.generated(parse_size(body.get("size", 0)), str(body.get("seed", path))))
            existing = drive.child(parent["id"], name)
            if existing is None:
                drive.new_item(parent["id"], name, blob=blob)
                return f"added {path}"
            existing["versions"].append({"id": f"{existing['version']}.0", "blob": existing["blob"],
                                         "modified": existing["modified"], "by": existing["by"]})
            existing.update(blob=blob, version=existing["version"] + 1, hashless=False)
            drive.touch(existing)
            return f"modified {path}"
        item = drive.by_path(drive.root_id, path)
        if op == "rename":
            item["name"] = str(body["name"])
        elif op == "move":
            item["parent"] = ensure_folder(drive, str(body["to"]))["id"]
        elif op == "delete":
            drive.delete(item)
            return f"deleted {path}"
        elif op == "widen":  # someone changes a link's settings in the web: its scope, in place
            sharing.widen(drive, drive.by_path(drive.root_id, body["path"]), str(body["link"]), str(body["scope"]))
        elif op == "lock":
            item["locked"] = bool(body.get("locked", True))
            return f"locked {path}" if item["locked"] else f"unlocked {path}"
        else:
            raise ValueError(f"unknown op {op!r}")
        for node in drive.subtree(item):
            drive.touch(node)
        return f"{op}d {path}"


def listing(drive: Drive) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in drive.subtree(drive.items[drive.root_id]):
        if item["parent"] is None:
            continue
        path = drive.path_of(item)
        if item["blob"] is not None:
            out[path] = {"size": item["blob"].size, "quickXorHash": item["blob"].quick_xor,
                         "created": item["fs_created"], "modified": item["fs_modified"], "versions": item["version"]}
        else:
            out[path] = {"folder": True, "package": item["package"]}
    return out
