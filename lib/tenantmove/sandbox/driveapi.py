"""Graph's drive routes in the sandbox (``/drives/{id}``, ``/users/{id}/drive``, ``/me/drive``), the
pre-authenticated download and upload-session URLs, OneDrive provisioning, and SharePoint's resource-unit
throttling over all of them.

Addressing as Graph does it: by id (``items/{id}``) or by path (``root:/a/b.txt:``, ``items/{id}:/sub:``),
then ``children``, ``content``, ``delta``, ``createUploadSession``, ``versions``. Paths arrive still
percent-encoded; a ``:`` inside a name must be encoded, a literal ``:`` ends the path."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from . import sharing
from .blobs import Blob, BlobStore
from .drives import Drive, Provisioning, item_json, new_onedrive, not_found
from .driveseed import seed_drives
from .http import Request, Response, content_host
from .knobs import Governor
from .resunits import ResourceUnits, budget_for_licences
from .shapes import GraphFailure
from .state import Store, Tenant, now_iso

READ = {"Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
        "Sites.FullControl.All"}
WRITE = {"Files.ReadWrite.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All"}
FRAGMENT_UNIT = 320 * 1024
FRAGMENT_MAX = 60 * 1024 * 1024  # a fragment must be smaller than this
SIMPLE_UPLOAD_MAX = 250 * 1024 * 1024
RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
def spelled_out(raw_rest: str) -> str:
    """``items/root%3A%2Fa%2Fb%3A/content`` (the whole path address in one percent-encoded segment, as the SDKs
    send it) as ``items/root:/a/b:/content``, each name still encoded: one form for the routes below."""
    head, sep, tail = raw_rest.partition("/items/")
    segment, slash, after = tail.partition("/")
    decoded = unquote(segment)
    if not sep or ":" in segment or ":" not in decoded:
        return raw_rest
    ident, _, more = decoded.partition(":")
    path, _, verb = more.partition(":")
    encoded = "/".join(quote(name, safe="") for name in path.split("/"))
    return f"{head}/items/{ident}:{encoded}:{verb}{slash}{after}"


DRIVE_RE = re.compile(r"^(?:drives/([^/]+)|users/([^/]+)/drive|me/drive)(?:/(.*))?$")


@dataclass
class Session:
    id: str
    tenant_id: str
    drive_id: str
    parent_id: str
    name: str
    behaviour: str
    fsi: dict[str, Any]
    app: str
    file: Path
    expires: float
    total: int | None = None
    received: int = 0
    defer: bool = False  # deferCommit: the file is made by an empty POST once every byte is in


@dataclass
class Download:
    drive_id: str
    blob: Blob
    expires: float
    tenant_id: str
    app: str
    item_id: str = ""  # a file deleted since the URL was given answers 404


class FilesApi:
    def __init__(self, store: Store, governor: Governor, stats: Callable[[str], None], blob_dir: Path) -> None:
        self.store, self.governor, self.count = store, governor, stats
        self.blobs = BlobStore(blob_dir)
        self.units = ResourceUnits()
        self.lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.downloads: dict[str, Download] = {}
        self.completed: dict[str, tuple[str, str, str, float]] = {}  # sid -> (last Content-Range, drive, item, until)
        # the tenant's SharePoint sharingCapability (the server wires it to the settings API)
        self.sharing_policy: Callable[[Tenant], str] = lambda tenant: sharing.ANYONE
        self.reset()

    def reset(self) -> None:
        with self.store.lock:
            self.drives: dict[str, Drive] = {}
            self.user_drives: dict[tuple[str, str], str] = {}  # (tenant, user id) -> drive id
            self.provisioning: dict[tuple[str, str], Provisioning] = {}
            self.sessions, self.downloads, self.completed = {}, {}, {}
            self.units = ResourceUnits()  # a fresh service: no resource units spent yet
            self.blobs.clear()
            for drive in seed_drives(self.store):
                self.drives[drive.id] = drive
                if drive.owner_kind == "user":
                    self.user_drives[(drive.tenant_id, drive.owner_id)] = drive.id

    # --- which requests are ours -------------------------------------------------------------------------
    @staticmethod
    def owns(raw_rest: str) -> bool:
        return DRIVE_RE.match(raw_rest.split("?", 1)[0]) is not None

    def mounts(self, rest: str, method: str) -> bool:
        return self.owns(rest)

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        return self.handle(req, rest, tenant, claims)

    # --- throttling -------------------------------------------------------------------------------------
    def charge(self, tenant: Tenant, app: str, cost: int) -> dict[str, str]:
        knobs = self.governor.knobs
        licences = sum(int(s["prepaidUnits"]["enabled"]) for s in tenant.skus.values())
        per_minute = knobs.ru_per_minute or budget_for_licences(licences)
        window = knobs.ru_window_seconds
        verdict = self.units.charge(tenant.id, app, cost, max(1, round(per_minute * window / 60)), window)
        self.count(f"ru_{tenant.key}")
        self.count(f"ru_spent_{tenant.key}", cost)
        if "RateLimit-Remaining" in verdict.headers:
            self.count(f"ru_warned_{tenant.key}")  # an answer from the budget's last fifth on
        if not verdict.allowed:
            self.count("throttled")
            self.count(f"ru_throttled_{tenant.key}")
            raise GraphFailure(429, "activityLimitReached", "The request has been throttled: the application "
                               "exceeded its resource units for this tenant.", verdict.headers)
        return verdict.headers

    # --- Graph routes -------------------------------------------------------------------------------------
    def call(self, method: str, raw_rest: str, query: dict[str, str], body: Any, headers: dict[str, str],
             tenant: Tenant, claims: dict[str, Any], base: str) -> Response:
        """One Graph request on a drive (direct or inside ``$batch``); ``body`` is bytes for content uploads."""
        match = DRIVE_RE.match(raw_rest)
        assert match
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        if not granted & (READ if method == "GET" else WRITE):
            raise GraphFailure(403, "accessDenied", "Either scp or roles claim need to be present in the token "
                                                    "with the permissions this request needs.")
        app = str(claims.get("appid", ""))
        tail = match.group(3) or ""
        with self.store.lock:
            drive = self._drive(tenant, claims, match.group(1), match.group(2))
            target, verb = self._address(drive, tail)
        cost = _cost(method, verb, query)
        rate_headers = self.charge(tenant, app, cost)
        with self.store.lock:
            status, out, extra = self._serve(method, verb, query, body, headers, tenant, drive, target, base, app,
                                             claims)
        extra.update(rate_headers)
        return Response(status, out, extra)

    def _drive(self, tenant: Tenant, claims: dict[str, Any], drive_id: str | None, user_key: str | None) -> Drive:
        if drive_id is not None:
            drive = self.drives.get(unquote(drive_id))
            if drive is None or drive.tenant_id != tenant.id:
                raise GraphFailure(404, "itemNotFound", "The drive could not be found.")
            return drive
        if user_key is None:  # me/drive
            user = tenant.users.get(str(claims.get("oid", "")))
            if user is None:
                raise GraphFailure(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            self.request_personal_site(tenant, [user["userPrincipalName"]], seconds=0)  # a sign-in provisions
        else:
            user = tenant.find_user(unquote(user_key))
            if user is None:
                raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{unquote(user_key)}' does not exist.")
        drive = self._user_drive(tenant, user)
        if drive is None:
            raise GraphFailure(404, "ResourceNotFound", "User's mysite not found.")
        return drive

    def _user_drive(self, tenant: Tenant, user: dict[str, Any]) -> Drive | None:
        key = (tenant.id, user["id"])
        if key not in self.user_drives:
            pending = self.provisioning.get(key)
            if pending is None or not pending.ready():
                return None
            drive = new_onedrive(tenant, user, pending.upn)
            self.drives[drive.id] = drive
            self.user_drives[key] = drive.id
        return self.drives[self.user_drives[key]]

    def request_personal_site(self, tenant: Tenant, emails: list[str], seconds: float | None = None) -> list[str]:
        """``Request-SPOPersonalSite``: each user's OneDrive appears after the provisioning delay."""
        delay = self.governor.knobs.onedrive_provision_seconds if seconds is None else seconds
        done = []
        for email in emails:
            user = tenant.find_user(email)
            if user is None:
                raise ValueError(f"user {email} not found in {tenant.initial_domain}")
            key = (tenant.id, user["id"])
            if key not in self.user_drives and key not in self.provisioning:
                self.provisioning[key] = Provisioning(time.monotonic() + delay, user["userPrincipalName"])
            done.append(user["userPrincipalName"])
        return done

    def _address(self, drive: Drive, tail: str) -> tuple[dict[str, Any] | None, str]:
        """(item or None for the drive itself, what follows: '', children, content, delta, ...)."""
        if not tail:
            return None, ""
        if tail.startswith("root"):
            start, rest = drive.root_id, tail[4:]
        elif tail.startswith("items/"):
            ident, _, rest = tail[6:].partition("/")
            if ":" in ident:  # items/{id}:/a/b: written out
                ident, colon, more = ident.partition(":")
                rest = colon + more + ("/" + rest if rest else "")
            start = unquote(ident)
            start = drive.root_id if start == "root" else start  # items/root is the root, as /root is
        else:
            raise GraphFailure(400, "invalidRequest", f"Unsupported segment '{tail.split('/')[0]}'.")
        item = drive.item(start)
        if rest.startswith(":"):  # path syntax: root:/a/b: or root:/a/b
            path, colon, after = rest[1:].partition(":")
            rest = after if colon else ""
            item = drive.by_path(item["id"], unquote(path)) if path.strip("/") else item
        verb = rest.lstrip("/")
        return item, verb[:-2] if verb.endswith("()") else verb  # delta() is the function's full name

    def _serve(self, method: str, verb: str, query: dict[str, str], body: Any, headers: dict[str, str],
               tenant: Tenant, drive: Drive, item: dict[str, Any] | None, base: str, app: str,
               claims: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if item is None:
            if method == "GET":
                return 200, self.drive_json(drive, base), {}
            raise GraphFailure(405, "invalidRequest", "The drive itself cannot be changed.")
        if verb == "" and method == "GET":
            return 200, self.item_out(drive, item, base, app, select=query.get("$select", "")), {}
        if verb == "" and method == "PATCH":
            return 200, self.patch_item(drive, item, body or {}, base, app), {}
        if verb == "" and method == "DELETE":
            drive.delete(item)
            return 204, None, {}
        if verb == "children" and method == "GET":
            kids = sorted(drive.live_children(item["id"]), key=lambda i: i["name"].lower())
            return 200, self._page([self.item_out(drive, k, base, app) for k in kids], query, base,
                                   f"drives/{drive.id}/items/{item['id']}/children"), {}
        if verb == "children" and method == "POST":
            return 201, self.create_folder(drive, item, body or {}, base, app), {}
        if verb == "delta" and method == "GET":
            return 200, self.delta(drive, item, query, base, app), {}
        if verb == "content" and method == "GET":
            if item["folder"] or item["package"]:
                raise GraphFailure(400, "invalidRequest", "A folder has no content to download.")
            return 302, None, {"Location": self.download_url(tenant, drive, item["blob"], base, app, item["id"])}
        if verb in ("content", "createUploadSession"):
            raise GraphFailure(400, "invalidRequest", "Upload by parent and name: PUT parent:/name:/content, or "
                                                      "POST parent:/name:/createUploadSession.")
        if verb == "versions" and method == "GET":
            versions = [{"id": v["id"], "lastModifiedDateTime": v["modified"], "size": v["blob"].size,
                         "lastModifiedBy": {"user": {"displayName": v["by"] or drive.owner_name}}}
                        for v in item["versions"]]
            versions.append({"id": f"{item['version']}.0", "lastModifiedDateTime": item["modified"],
                             "size": item["blob"].size if item["blob"] else 0,
                             "lastModifiedBy": {"user": {"displayName": item["by"] or drive.owner_name}}})
            return 200, {"value": list(reversed(versions))}, {}
        if verb in ("permissions", "invite", "createLink") or verb.startswith("permissions/"):
            return self._sharing(method, verb, body or {}, tenant, drive, item, claims)
        parts = verb.split("/")
        if len(parts) == 3 and parts[0] == "versions" and parts[2] == "content" and method == "GET":
            blob = item["blob"] if parts[1] == f"{item['version']}.0" else next(
                (v["blob"] for v in item["versions"] if v["id"] == parts[1]), None)
            if blob is None:
                raise not_found("The version could not be found.")
            return 302, None, {"Location": self.download_url(tenant, drive, blob, base, app, item["id"])}
        raise GraphFailure(400, "invalidRequest", f"The sandbox does not support {method} on '{verb or 'the item'}'.")

    def _sharing(self, method: str, verb: str, body: dict[str, Any], tenant: Tenant, drive: Drive,
                 item: dict[str, Any], claims: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """An item's permissions (:mod:`.sharing`)."""
        if verb == "permissions" and method == "GET":
            return 200, {"value": sharing.listed(tenant, drive, item)}, {}
        if verb == "invite" and method == "POST":
            app_only = "scp" not in claims
            return 200, {"value": sharing.invite(tenant, drive, item, body, app_only, self.count)}, {}
        if verb == "createLink" and method == "POST":
            status, out = sharing.create_link(tenant, drive, item, body, self.sharing_policy(tenant))
            return status, out, {}
        perm_id = unquote(verb.split("/", 1)[1]) if "/" in verb else ""
        if perm_id and method == "GET":
            found = next((p for p in sharing.listed(tenant, drive, item) if p["id"] == perm_id), None)
            if found is None:
                raise GraphFailure(404, "itemNotFound", "The permission could not be found.")
            return 200, found, {}
        if perm_id and method == "DELETE":
            sharing.delete(drive, item, perm_id)
            return 204, None, {}
        if perm_id and method == "PATCH":
            return 200, sharing.update(tenant, drive, item, perm_id, body), {}
        raise GraphFailure(405, "invalidRequest", f"{method} is not supported on {verb}.")

    def upload_simple(self, tenant: Tenant, drive: Drive, parent: dict[str, Any], name: str, data: bytes,
                      query: dict[str, str], base: str, app: str, by: str) -> tuple[int, dict[str, Any]]:
        if len(data) > SIMPLE_UPLOAD_MAX:
            raise GraphFailure(413, "requestEntityTooLarge", "A simple upload takes at most 250 MB: use an upload "
                                                             "session.")
        behaviour = query.get("@microsoft.graph.conflictBehavior", "replace")
        self.count("uploads")
        item, created = drive.store_file(parent, name, Blob.of(data), behaviour, None, by)
        return (201 if created else 200), self.item_out(drive, item, base, app)

    # --- items ------------------------------------------------------------------------------------------------
    def drive_json(self, drive: Drive, base: str) -> dict[str, Any]:
        used = drive.used()
        return {"id": drive.id, "driveType": drive.drive_type, "name": drive.name, "webUrl": drive.web_url,
                "createdDateTime": drive.created, "description": "",
                "owner": {"user" if drive.owner_kind == "user" else "group":
                          {"id": drive.owner_id, "displayName": drive.owner_name}},
                "quota": {"total": drive.quota_total, "used": used, "remaining": drive.quota_total - used,
                          "deleted": 0, "state": "normal" if used < 0.9 * drive.quota_total else "nearing"}}

    def item_out(self, drive: Drive, item: dict[str, Any], base: str, app: str, with_path: bool = True,
                 select: str = "") -> dict:
        url = None
        if item["blob"] is not None and not item["deleted"]:
            url = self.download_url(self._tenant(drive), drive, item["blob"], base, app, item["id"])
        return item_json(drive, item, base, with_path=with_path, download_url=url, select=select)

    def _tenant(self, drive: Drive) -> Tenant:
        return self.store.tenants[drive.tenant_id]

    def create_folder(self, drive: Drive, parent: dict[str, Any], body: dict[str, Any], base: str, app: str) -> dict:
        name = str(body.get("name") or "")
        if "folder" not in body:
            raise GraphFailure(400, "invalidRequest", "Only folders are created this way; upload files to content.")
        if not parent["folder"]:
            raise GraphFailure(400, "invalidRequest", "The parent is not a folder.")
        drive.check_writable(parent)
        drive.check_name(parent, name)
        name, existing = drive.place(parent, name, str(body.get("@microsoft.graph.conflictBehavior", "rename")))
        if existing is not None:  # replace on a folder: keep the folder
            return self.item_out(drive, existing, base, app)
        fsi = body.get("fileSystemInfo") or {}
        item = drive.new_item(parent["id"], name, folder=True, created=fsi.get("createdDateTime"),
                              modified=fsi.get("lastModifiedDateTime"))
        return self.item_out(drive, item, base, app)

    def patch_item(self, drive: Drive, item: dict[str, Any], body: dict[str, Any], base: str, app: str) -> dict:
        drive.check_writable(item)
        parent = drive.items[item["parent"]] if item["parent"] else None
        ref = body.get("parentReference") or {}
        if ref.get("id") and parent is not None:
            parent = drive.item(ref["id"])
            if any(n["id"] == parent["id"] for n in drive.subtree(item)):
                raise GraphFailure(400, "invalidRequest", "An item cannot be moved into itself.")
        name = str(body.get("name") or item["name"])
        if parent is not None and (name != item["name"] or parent["id"] != item["parent"]):
            drive.check_name(parent, name)
            other = drive.child(parent["id"], name)
            if other is not None and other["id"] != item["id"]:
                raise GraphFailure(409, "nameAlreadyExists", "The specified item name already exists.")
            item["name"], item["parent"] = name, parent["id"]
        fsi = body.get("fileSystemInfo") or {}
        if fsi.get("createdDateTime"):
            item["fs_created"] = fsi["createdDateTime"]
        if fsi.get("lastModifiedDateTime"):
            item["fs_modified"] = fsi["lastModifiedDateTime"]
        item["modified"] = now_iso()
        drive.touch(item)
        for node in drive.subtree(item):  # a move changes every path below it
            drive.touch(node)
        return self.item_out(drive, item, base, app)

    def delta(self, drive: Drive, item: dict[str, Any], query: dict[str, str], base: str, app: str) -> dict:
        if item["parent"] is not None:
            raise GraphFailure(400, "invalidRequest", "delta is supported on the root of a drive only.")
        token = query.get("token")
        size = self.governor.knobs.drive_page_size
        link = f"{base}/v1.0/drives/{drive.id}/root/delta"
        if token == "latest":
            return {"value": [], "@odata.deltaLink": f"{link}?token={_token(drive, drive.seq, 0)}"}
        since, offset = (0, 0)
        stamp = _timestamp(token)
        if stamp is not None:  # OneDrive for Business and SharePoint (every drive here) take a time for a token
            since, token = drive.seq_at(stamp), None
        elif token:
            try:
                since, offset, epoch = _untoken(token)
            except (ValueError, KeyError) as exc:
                raise GraphFailure(400, "invalidRequest", "The delta token is not valid.") from exc
            if epoch != drive.epoch:  # the documented 410: an error code and, in Location, a fresh enumeration
                raise GraphFailure(410, "resyncChangesApplyDifferences", "Resync required. Replace any local items "
                                   "with the server's version (including deletes) if you're sure that the service "
                                   "was up to date with your local changes when you last synched.",
                                   {"Location": link})
        changed = [i for i in drive.items.values() if i["seq"] > since and (since or not i["deleted"])]
        changed.sort(key=lambda i: (len(drive.path_of(i).split("/")) if not i["deleted"] else 10**6, i["seq"]))
        page = changed[offset:offset + size]
        body: dict[str, Any] = {"value": [self.item_out(drive, i, base, app, with_path=False) for i in page]}
        if offset + size < len(changed):
            body["@odata.nextLink"] = f"{link}?token={_token(drive, since, offset + size, drive.seq)}"
        else:
            body["@odata.deltaLink"] = f"{link}?token={_token(drive, _pinned(token) or drive.seq, 0)}"
        return body

    def _page(self, values: list[dict[str, Any]], query: dict[str, str], base: str, path: str) -> dict[str, Any]:
        top = int(query.get("$top") or self.governor.knobs.drive_page_size)
        offset = int(query.get("$skiptoken") or 0)
        body: dict[str, Any] = {"value": values[offset:offset + top]}
        if offset + top < len(values):
            body["@odata.nextLink"] = f"{base}/v1.0/{path}?$top={top}&$skiptoken={offset + top}"
        return body

    # --- pre-authenticated URLs ------------------------------------------------------------------------------
    def download_url(self, tenant: Tenant, drive: Drive, blob: Blob, base: str, app: str, item_id: str = "") -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            now = time.monotonic()
            if len(self.downloads) > 10000:
                self.downloads = {k: v for k, v in self.downloads.items() if v.expires > now}
            self.downloads[token] = Download(drive.id, blob, now + 3600, tenant.id, app, item_id)
        return f"{content_host(base)}/_dl/{token}"

    def serve_download(self, req: Request, token: str) -> Response:
        with self.lock:
            found = self.downloads.get(token)
        if found is None or found.expires < time.monotonic():
            return Response(401, {"error": {"code": "unauthenticated", "message": "The download URL expired."}})
        if req.headers.get("authorization"):
            return Response(401, {"error": {"code": "unauthenticated",
                                            "message": "A pre-authenticated URL takes no Authorization header."}})
        with self.store.lock:
            item = self.drives[found.drive_id].items.get(found.item_id) if found.item_id else None
            if item is not None and item["deleted"]:
                return _err(404, "itemNotFound", "The item was deleted.")
        tenant = self.store.tenants[found.tenant_id]
        fault = self._fault(f"_dl/{token}", tenant.id, req.method)
        if fault is not None:
            return fault
        try:
            rate = self.charge(tenant, found.app, 1)
        except GraphFailure as failure:
            return Response(failure.status, {"error": {"code": failure.code, "message": failure.message}},
                            failure.headers)
        self.count("downloads")
        blob = found.blob
        start, end = 0, blob.size
        status = 200
        match = re.match(r"bytes=(\d+)-(\d*)$", req.headers.get("range", ""))
        if match:
            start = int(match.group(1))
            end = min(blob.size, int(match.group(2)) + 1) if match.group(2) else blob.size
            status = 206
            rate["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        rate["Content-Type"] = "application/octet-stream"
        return Response(status, headers=rate, stream=blob.chunks(start, end), length=end - start)

    def open_session(self, tenant: Tenant, drive: Drive, parent: dict[str, Any], name: str, body: dict[str, Any],
                     base: str, app: str) -> dict[str, Any]:
        spec = body.get("item") or {}
        behaviour = str(spec.get("@microsoft.graph.conflictBehavior", "replace"))
        drive.check_writable(parent)
        drive.check_name(parent, name)
        name_used, existing = drive.place(parent, name, behaviour)
        if existing is not None:
            drive.check_writable(existing)
        sid = secrets.token_urlsafe(18)
        expires = time.monotonic() + self.governor.knobs.upload_session_seconds
        with self.lock:
            self.sessions[sid] = Session(sid, tenant.id, drive.id, parent["id"], name_used, behaviour,
                                         spec.get("fileSystemInfo") or {}, app, self.blobs.new_file(), expires,
                                         defer=bool(body.get("deferCommit")))
        return {"uploadUrl": f"{content_host(base)}/_up/{sid}", "expirationDateTime": _iso_in(expires),
                "nextExpectedRanges": ["0-"]}

    def serve_upload(self, req: Request, sid: str, base: str) -> Response:
        with self.lock:
            session = self.sessions.get(sid)
            done = self.completed.get(sid)
        if session is None and done is not None and done[3] > time.monotonic() and req.method == "PUT" \
                and req.headers.get("content-range") == done[0] and not req.headers.get("authorization"):
            # the last fragment sent again after the file was committed (Microsoft's Python SDK's upload task does
            # so): the same answer again, the file unchanged
            with self.store.lock:
                drive = self.drives[done[1]]
                return Response(200, self.item_out(drive, drive.item(done[2]), base, ""))
        if session is None or session.expires < time.monotonic():
            if session is not None:
                session.file.unlink(missing_ok=True)
            return Response(404, {"error": {"code": "itemNotFound", "message": "The upload session was not found "
                                                                               "or has expired."}})
        if req.headers.get("authorization"):
            return Response(401, {"error": {"code": "unauthenticated", "message": "The upload URL is "
                                            "pre-authenticated: send no Authorization header."}})
        if req.method == "DELETE":
            with self.lock:
                self.sessions.pop(sid, None)
            session.file.unlink(missing_ok=True)
            return Response(204)
        if req.method == "GET":
            return Response(200, self._session_state(session))
        if req.method == "POST" and not req.body:  # deferCommit: an empty POST makes the file
            if not session.defer or session.total is None or session.received != session.total:
                return _err(400, "invalidRequest", "Only a session opened with deferCommit, with every byte "
                                                   "uploaded, is committed by an empty POST.")
            return self._commit(sid, session, "", base, {})
        if req.method != "PUT":
            return Response(405, {"error": {"code": "invalidRequest", "message": "PUT fragments to an upload URL."}})
        tenant = self.store.tenants[session.tenant_id]
        lost = False  # the "lost" fault: the fragment is kept, its answer never arrives
        fault = self.governor.decide(f"_up/{sid}", tenant.id, method=req.method)
        if fault is not None and fault.status == "lost":
            lost, fault = True, None
        if fault is not None:
            return self._fault_answer(fault)
        try:
            rate = self.charge(tenant, session.app, 2)
        except GraphFailure as failure:
            return Response(failure.status, {"error": {"code": failure.code, "message": failure.message}},
                            failure.headers)
        match = RANGE_RE.match(req.headers.get("content-range", ""))
        if not match:
            return _err(400, "invalidRequest", "Content-Range must be 'bytes start-end/total'.")
        start, end, total = (int(g) for g in match.groups())
        size = end - start + 1
        if size != len(req.body):
            return _err(400, "invalidRequest", "The fragment's length does not match its Content-Range.")
        if session.total is not None and total != session.total:
            return _err(400, "invalidRequest", "The total size changed within the upload session.")
        if size >= FRAGMENT_MAX:
            return _err(400, "invalidRequest", "A fragment must be smaller than 60 MiB.")
        last = end == total - 1
        if not last and size % FRAGMENT_UNIT:
            return _err(400, "invalidRequest", "A fragment that is not the last must be a multiple of 320 KiB.")
        if start != session.received:
            return Response(416, {"error": {"code": "invalidRange", "message": "The fragment does not start where "
                                            "the session expects the next bytes.",
                                            "nextExpectedRanges": self._session_state(session)["nextExpectedRanges"]}})
        with open(session.file, "ab") as fh:
            fh.write(req.body)
        session.total = total
        session.received = end + 1
        session.expires = time.monotonic() + self.governor.knobs.upload_session_seconds
        self.count("fragments")
        if lost:
            self.count("failed")
            return Response(0, drop=True)
        if not last:
            return Response(202, self._session_state(session), rate)
        if session.defer:  # every byte is in; the file waits for the empty POST
            return Response(202, {"expirationDateTime": _iso_in(session.expires), "nextExpectedRanges": []}, rate)
        return self._commit(sid, session, req.headers.get("content-range", ""), base, rate)

    def _commit(self, sid: str, session: Session, last_range: str, base: str, rate: dict[str, str]) -> Response:
        """The uploaded bytes become the file (201 new, 200 replaced); the session is gone."""
        assert session.total is not None
        blob = self.blobs.finish(session.file, session.total)
        with self.lock:
            self.sessions.pop(sid, None)
        with self.store.lock:
            drive = self.drives[session.drive_id]
            try:
                parent = drive.item(session.parent_id)
                item, created = drive.store_file(parent, session.name, blob, session.behaviour, session.fsi,
                                                 "tenantmove (app)")
            except GraphFailure as failure:
                return Response(failure.status, {"error": {"code": failure.code, "message": failure.message}})
            with self.lock:
                self.completed[sid] = (last_range, drive.id, item["id"], session.expires)
            return Response(201 if created else 200, self.item_out(drive, item, base, session.app), rate)

    def _fault(self, path: str, tenant_id: str, method: str) -> Response | None:
        """The knobs' faults on a pre-authenticated URL (the fragment or download is not taken)."""
        fault = self.governor.decide(path, tenant_id, method=method)
        return None if fault is None else self._fault_answer(fault)

    def _fault_answer(self, fault: Any) -> Response:
        if fault.status in ("drop", "lost"):
            return Response(0, drop=True)
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        self.count("failed" if fault.status != 429 else "throttled")
        return Response(int(fault.status), {"error": {"code": "serviceNotAvailable" if fault.status != 429
                                                      else "activityLimitReached", "message": "injected fault"}},
                        headers)

    @staticmethod
    def _session_state(session: Session) -> dict[str, Any]:
        """What the session still expects: ``start-end`` once the total is known (the documented format, e.g.
        ``0-26``), ``start-`` before; SDKs that read the end of a range need it."""
        end = f"{session.total - 1}" if session.total else ""
        return {"expirationDateTime": _iso_in(session.expires), "nextExpectedRanges": [f"{session.received}-{end}"]}

    # --- the direct entry: content uploads and the rest -------------------------------------------------------
    def handle(self, req: Request, raw_rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        """A direct request: content uploads (raw bytes) and upload sessions take the path's last name."""
        raw_rest = spelled_out(raw_rest)
        upload = re.match(r"^(.+?):(/[^:]+):/(content|createUploadSession)$", raw_rest)
        if upload and req.method in ("PUT", "POST"):
            return self._upload_by_path(req, upload, tenant, claims)
        body = req.json() if req.body else None
        return self.call(req.method, raw_rest, req.query, body, req.headers, tenant, claims, req.base_url)

    def _upload_by_path(self, req: Request, match: re.Match[str], tenant: Tenant, claims: dict[str, Any]) -> Response:
        """``{item or root}:/a/b/name:/content`` (or ``createUploadSession``): the folders on the way are made when
        they are missing, as OneDrive makes them."""
        parent_rest, verb = match.group(1), match.group(3)
        *folders, name = [unquote(p) for p in match.group(2).split("/") if p]
        if (verb == "content") != (req.method == "PUT"):
            return _err(405, "invalidRequest", "PUT content, POST createUploadSession.")
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        if not granted & WRITE:
            raise GraphFailure(403, "accessDenied", "The token lacks a permission to write files.")
        head = DRIVE_RE.match(parent_rest)
        if head is None or not head.group(3):
            raise GraphFailure(400, "invalidRequest", "Malformed path.")
        app = str(claims.get("appid", ""))
        with self.store.lock:
            drive = self._drive(tenant, claims, head.group(1), head.group(2))
            parent, _ = self._address(drive, head.group(3))
            assert parent is not None
            for folder in folders:
                found = drive.child(parent["id"], folder)
                if found is None:
                    drive.check_name(parent, folder)
                    found = drive.new_item(parent["id"], folder, folder=True)
                parent = found
        rate = self.charge(tenant, app, 2)
        with self.store.lock:
            if verb == "content":
                status, out = self.upload_simple(tenant, drive, parent, name, req.body, req.query, req.base_url, app,
                                                 str(claims.get("name") or "tenantmove (app)"))
            else:
                status, out = 200, self.open_session(tenant, drive, parent, name, req.json() if req.body else {},
                                                     req.base_url, app)
        return Response(status, out, rate)


def _cost(method: str, verb: str, query: dict[str, str]) -> int:
    if "permissions" in verb or verb in ("invite", "createLink") or "permissions" in query.get("$expand", ""):
        return 5
    if method != "GET":
        return 2
    if verb == "delta":
        return 1 if query.get("token") else 2
    if verb in ("children", "versions"):
        return 2
    return 1


def _token(drive: Drive, since: int, offset: int, pinned: int | None = None) -> str:
    raw = json.dumps({"s": since, "o": offset, "p": pinned, "e": drive.epoch}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> tuple[int, int, int]:
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return int(data["s"]), int(data["o"]), int(data["e"])


def _timestamp(token: str | None) -> float | None:
    """A token that is an ISO 8601 time (``2021-09-29T20:00:00Z``, ``...+08:00``), as seconds; else None."""
    import datetime as dt

    if not token or not re.match(r"^\d{4}-\d{2}-\d{2}T", token):
        return None
    try:
        when = dt.datetime.fromisoformat(token.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphFailure(400, "invalidRequest", f"The token is not a valid timestamp: {token}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _pinned(token: str | None) -> int | None:
    if not token:
        return None
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return data.get("p")


def _iso_in(monotonic_deadline: float) -> str:
    import datetime as dt

    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max(0.0, monotonic_deadline - time.monotonic()))
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _err(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})

