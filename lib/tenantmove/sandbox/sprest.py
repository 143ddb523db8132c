"""SharePoint's own REST API (``https://<host>/<site>/_api/...``), served at ``/_sp/<host>/<site>/_api/...``:
what Graph v1.0 cannot write (site groups, role assignments, authorship) is written here. The rules the runbook
depends on, as SharePoint documents them:

- a token for the SharePoint resource (``https://<name>.sharepoint.com``, or ``-my`` for OneDrives) of the
  site's own tenant; a Graph token is refused (401);
- an app-only token must come from a certificate: one an app got with a secret is refused with SharePoint's
  ``Unsupported app only token.`` (401), so a runbook signed in with a secret writes PnP commands instead;
- answers in ``odata=nometadata`` JSON.

Sites: team sites, and each OneDrive's personal site (``-my`` host). Routes: ``GET _api/web`` (the site: Title,
Url, ServerRelativeUrl, Id), ``GET _api/web/RegionalSettings`` and ``.../RegionalSettings/TimeZone`` (every
sandbox site: English (US), UTC), and ``POST _api/web/lists/GetByTitle('<list>')`` (or ``lists(guid'<id>')``)
``/items(<n>)/ValidateUpdateListItem`` on a list's item or a library's file (its item number is Graph's
``sharepointIds.listItemId``); a list item's ``AttachmentFiles`` (``GET``, ``add(FileName='...')`` with the
file as the body) and ``GetFileByServerRelativeUrl('...')/$value``: ``formValues`` set as an editor in the browser would,
people as claims (``[{'Key':'i:0#.f|membership|<upn>'}]``, someone the tenant does not have is that field's
exception), dates in the site's locale and time zone; with ``bNewDocumentUpdate: true`` no version is added and
Author, Editor, Created and Modified take the values given."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import unquote

from . import siteaccess
from .http import Request, Response
from .sites import bump
from .state import Store, now_iso
from .tokens import TokenError, TokenService

ITEM_RE = re.compile(r"^web/lists(?:/GetByTitle\('((?:[^']|'')*)'\)|\(guid'([0-9a-fA-F-]+)'\))/items\((\d+)\)"
                     r"/(ValidateUpdateListItem|AttachmentFiles|AttachmentFiles/add\(FileName='((?:[^']|'')*)'\))$", re.I)
FILE_RE = re.compile(r"^web/GetFileByServerRelativeUrl\('((?:[^']|'')*)'\)/\$value$", re.I)
CLAIM_RE = re.compile(r"'Key'\s*:\s*'([^']*)'")
PEOPLE = ("author", "editor")  # the form's field names, as the item keeps them
DATES = ("created", "modified")
US_FORMAT = "%m/%d/%Y %I:%M %p"  # how an English (US) site writes and reads a date: 5/1/2023 10:00 AM


MISSING = "Item does not exist. It may have been deleted by another user."


def _attachment_url(lst: Any, site: Any, item_id: str, name: str) -> str:
    return f"{site.path}/Lists/{lst.name}/Attachments/{item_id}/{name}"


def locate(sites: Any, tenant_id: str, url: str) -> tuple[Any, Any]:
    """(the team site at ``url``, None) or (None, the OneDrive whose personal site it is); (None, None): neither."""
    site = next((x for x in sites.sites.values() if x.tenant_id == tenant_id and x.web_url.lower() == url.lower()),
                None)
    personal = None if site is not None else next(
        (d for d in sites.files.drives.values() if d.tenant_id == tenant_id and d.site_url
         and d.site_url.lower() == url.lower()), None)
    return site, personal


def find_item(sites: Any, site: Any, personal: Any, ref: str, number: str) -> tuple[str, Any, Any] | str:
    """("list", the list, its item) or ("file", the drive, its item), for a list by title or id and an item's
    number; otherwise what SharePoint says is missing."""
    if site is not None:
        lst = next((x for x in site.lists.values() if ref.lower() in {x.id.lower(), x.title.lower()}), None)
        if lst is None:
            return f"List '{ref}' does not exist at site with URL '{site.web_url}'."
        drive = sites.files.drives.get(lst.drive_id) if lst.template == "documentLibrary" else None
        if drive is None:
            item = lst.items.get(number)
            return ("list", lst, item) if item is not None else MISSING
    else:
        drive = personal
        if ref.lower() not in {drive.list_id.lower(), "documents"}:
            return f"List '{ref}' does not exist at site with URL '{drive.site_url}'."
    found = next((i for i in drive.items.values() if str(i["list_item"]) == number and not i["deleted"]), None)
    return ("file", drive, found) if found is not None else MISSING


def set_person(kind: str, item: dict[str, Any], role: str, user: dict[str, Any]) -> None:
    """``role`` (author or editor) of a list item or a file becomes ``user``."""
    if kind == "file":
        item[role] = {"displayName": user["displayName"], "id": user["id"], "email": user["userPrincipalName"]}
    else:
        item.update({role: user["displayName"], f"{role}_id": user["id"], f"{role}_email": user["userPrincipalName"]})


def _error(status: int, message: str, code: str = "-2147024891, System.UnauthorizedAccessException") -> Response:
    return Response(status, {"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}},
                             "error_description": message})


class SharePointRest:
    def __init__(self, store: Store, tokens: TokenService, sites: Any) -> None:
        self.store, self.tokens, self.sites = store, tokens, sites

    def handle(self, req: Request, rest: str) -> Response:
        """``rest``: ``<host>/<site path>/_api/<call>``."""
        host, _, tail = rest.partition("/")
        site_path, found, call = ("/" + tail).partition("/_api/")
        if not found:
            return _error(404, "The sandbox serves SharePoint's REST API under <site>/_api/ only.", "-1, NotFound")
        tenant = next((t for t in self.store.tenants.values()
                       if host.lower() in {f"{t.initial_domain.split('.')[0]}.sharepoint.com".lower(),
                                           f"{t.initial_domain.split('.')[0]}-my.sharepoint.com".lower()}), None)
        if tenant is None:
            return _error(404, f"No tenant has the host {host}.", "-1, NotFound")
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return _error(401, "Access denied: no bearer token.")
        try:
            claims = self.tokens.check(auth.split(" ", 1)[1], audience=f"https://{host.lower()}")
        except TokenError as exc:
            return _error(401, f"Invalid audience or token: {exc.message}")
        if claims.get("tid") != tenant.id:
            return _error(401, "The token is for another tenant.")
        if "roles" in claims and "scp" not in claims and claims.get("appidacr") != "2":
            return _error(401, "Unsupported app only token.")
        site_path = unquote(site_path.rstrip("/"))
        site, personal = locate(self.sites, tenant.id, f"https://{host}{site_path}")
        if site is None and personal is None:
            return _error(404, f"The site {site_path} does not exist.", "-2147024894, System.IO.FileNotFoundException")
        call = unquote(call.split("?", 1)[0])  # names in the call arrive percent-encoded
        if call == "web" and req.method == "GET":
            if personal is not None:
                return Response(200, {"Id": personal.list_id, "Title": personal.owner_name,
                                      "Url": f"https://{host}{site_path}", "ServerRelativeUrl": site_path})
            return Response(200, {"Id": site.id, "Title": site.title, "Url": site.web_url,
                                  "ServerRelativeUrl": site.path or "/"})
        if call.lower() == "web/regionalsettings" and req.method == "GET":
            return Response(200, {"LocaleId": 1033, "Time24": False, "TimeZone": {"Id": 2}})
        if call.lower() == "web/regionalsettings/timezone" and req.method == "GET":
            return Response(200, {"Id": 2, "Description": "(UTC) Coordinated Universal Time",
                                  "Information": {"Bias": 0, "StandardBias": 0, "DaylightBias": 0}})
        match = ITEM_RE.match(call)
        if match:
            ref = (match.group(1) or match.group(2) or "").replace("''", "'")
            found = find_item(self.sites, site, personal, ref, match.group(3))
            if isinstance(found, str):
                return _error(404, found, "-2130575338, System.ArgumentException")
            action = match.group(4).lower()
            if action == "validateupdatelistitem" and req.method == "POST":
                return self._validate_update(tenant, found, req)
            if found[0] == "list" and action == "attachmentfiles" and req.method == "GET":
                return Response(200, {"value": [{"FileName": n, "ServerRelativeUrl": _attachment_url(
                    found[1], site, found[2]["id"], n)} for n in sorted(found[2].get("attachments") or {})]})
            if found[0] == "list" and action.startswith("attachmentfiles/add") and req.method == "POST":
                return self._attach(found[1], site, found[2], (match.group(5) or "").replace("''", "'"), req.body)
        if site is not None:
            granted = siteaccess.answer(self.sites, tenant, site, call, req)
            if granted is not None:
                return granted
        got = FILE_RE.match(call)
        if got and req.method == "GET" and site is not None:
            wanted = got.group(1).replace("''", "'").lower()
            for lst in site.lists.values():
                for item in lst.items.values():
                    for name, data in (item.get("attachments") or {}).items():
                        if _attachment_url(lst, site, item["id"], name).lower() == wanted:
                            return Response(200, data, {"Content-Type": "application/octet-stream"})
            return _error(404, "File Not Found.", "-2147024894, System.IO.FileNotFoundException")
        return _error(400, f"The sandbox does not serve {req.method} _api/{call}.", "-1, NotSupported")

    @staticmethod
    def _attach(lst: Any, site: Any, item: dict[str, Any], name: str, data: bytes) -> Response:
        """``AttachmentFiles/add(FileName='...')``: the body is the file; a name the item has already is refused."""
        if not name or any(c in name for c in '\\/:*?"<>|#%'):
            return _error(400, f"The file name '{name}' is not valid.", "-2130575245, System.ArgumentException")
        held = item.setdefault("attachments", {})
        if name.lower() in {n.lower() for n in held}:
            return _error(400, "A file with this name already exists.",
                          "-2130575257, Microsoft.SharePoint.SPException")
        held[name] = bytes(data or b"")
        bump(item)  # an attachment is a change of the item, by its caller
        item.update(editor="SharePoint App", editor_id="", editor_email="", modified=now_iso())
        return Response(200, {"FileName": name, "ServerRelativeUrl": _attachment_url(lst, site, item["id"], name)})

    def _validate_update(self, tenant: Any, found: tuple[str, Any, Any], req: Request) -> Response:
        kind, container, item = found
        item_id = str(item["id"] if kind == "list" else item["list_item"])
        body = json.loads(req.body or b"{}")
        results: list[dict[str, Any]] = []
        changes: dict[str, Any] = {}
        people: dict[str, dict[str, Any]] = {}
        for value in body.get("formValues") or []:
            name, raw = str(value.get("FieldName")), str(value.get("FieldValue") or "")
            problem = ""
            if name.lower() in PEOPLE:
                found = CLAIM_RE.findall(raw)
                user = tenant.find_user(found[0].rsplit("|", 1)[-1]) if found else None
                if user is None:
                    problem = "The user does not exist or is not unique."
                else:
                    people[name.lower()] = user
            elif name.lower() in DATES:
                try:
                    when = dt.datetime.strptime(raw, US_FORMAT).replace(tzinfo=dt.UTC)
                    changes[name.lower()] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
                except ValueError:
                    problem = f"'{raw}' is not a date in the site's format (English (US): M/d/yyyy h:mm AM)."
            elif kind == "list" and container.column(name) is not None:
                changes.setdefault("fields", {})[container.column(name)["name"]] = raw
            else:
                problem = f"Column '{name}' does not exist. It may have been deleted by another user."
            results.append({"ErrorCode": -2146232832 if problem else 0, "ErrorMessage": problem or None,
                            "FieldName": name, "FieldValue": raw, "HasException": bool(problem), "ItemId": int(item_id)})
        if not any(r["HasException"] for r in results):
            new_version = not body.get("bNewDocumentUpdate")
            if kind == "list" and new_version:
                bump(item)  # the version people saw joins the history
            elif new_version:
                item["version"] += 1
            if kind == "list":
                item["fields"].update(changes.pop("fields", {}))
            item.update(changes)
            for role, user in people.items():
                set_person(kind, item, role, user)
        return Response(200, {"value": results})
