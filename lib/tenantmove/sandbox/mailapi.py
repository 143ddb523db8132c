"""Graph's mailbox import/export routes in the sandbox, and the pre-authenticated import URL. A user has a
mailbox once a licence with Exchange is assigned; the routes hold clients to Exchange's per-mailbox limits."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from .http import Request, Response, content_host
from .knobs import Governor
from .mailboxes import (
    EXPORT_LIMIT,
    ExchangeLimits,
    Folder,
    Mailbox,
    Streams,
    folder_json,
    item_json,
    mailbox_id,
    new_mailbox,
)
from .notes import png
from .outlookapi import OutlookApi
from .shapes import GraphFailure
from .state import SKU_CATALOG, Store, Tenant, now_iso

MAIL_RE = re.compile(r"^(?:admin/exchange/mailboxes/([^/]+)(?:/(.*))?|users/([^/]+)/settings/exchange)$")
SEND_RE = re.compile(r"^users/([^/]+)/sendMail$")
FOLDER_READ = {"MailboxFolder.Read.All", "MailboxFolder.ReadWrite.All"}
FOLDER_WRITE = {"MailboxFolder.ReadWrite.All"}
ITEM_READ = {"MailboxItem.Read.All", "MailboxItem.Export.All", "MailboxItem.ImportExport.All"}
EXPORT = {"MailboxItem.Export.All", "MailboxItem.ImportExport.All"}
IMPORT = {"MailboxItem.ImportExport.All"}
EXCHANGE_PLANS = {"EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"}


@dataclass
class ImportSession:
    token: str
    tenant_id: str
    mailbox_id: str
    app: str
    expires: float


class MailApi:
    def __init__(self, store: Store, governor: Governor, stats: Any) -> None:
        self.store, self.governor, self.count = store, governor, stats
        self.streams = Streams()
        self.limits = ExchangeLimits()
        self.sessions: dict[str, ImportSession] = {}
        self.outlook = OutlookApi(self.mailbox_of, stats)
        self.reset()

    def reset(self) -> None:
        self.boxes: dict[str, Mailbox] = {}
        self.sessions = {}
        specs = {t["id"]: t for t in self.store.seed["tenants"]}
        for tenant in self.store.tenants.values():
            seed_mailboxes(self, tenant, specs.get(tenant.id, {}))

    @staticmethod
    def owns(raw_rest: str) -> bool:
        rest = raw_rest.split("?", 1)[0]
        return MAIL_RE.match(rest) is not None or SEND_RE.match(rest) is not None or OutlookApi.owns(rest)

    def mounts(self, rest: str, method: str) -> bool:
        return self.owns(rest)

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        return self.call(req.method, rest, req.query, req.json() if req.body else None, tenant, claims, req.base_url)

    # --- mailboxes ------------------------------------------------------------------------------------
    def mailbox_of(self, tenant: Tenant, user: dict[str, Any]) -> Mailbox | None:
        """The user's mailbox: there once a licence with Exchange is assigned (made on first look)."""
        mid = mailbox_id(tenant, user["id"])
        if mid not in self.boxes and has_exchange(tenant, user):
            self.boxes[mid] = new_mailbox(tenant, user)
        return self.boxes.get(mid)

    def _box(self, tenant: Tenant, mid: str) -> Mailbox:
        box = self.boxes.get(mid)
        if box is None:
            for user in tenant.users.values():  # a licence assigned since: the mailbox exists now
                if mailbox_id(tenant, user["id"]) == mid:
                    box = self.mailbox_of(tenant, user)
        if box is None or not mid.endswith(tenant.id[:8]):
            raise GraphFailure(404, "ErrorMailboxNotFound", f"The mailbox {mid} could not be found.")
        return box

    # --- Graph -------------------------------------------------------------------------------------------
    def call(self, method: str, raw_rest: str, query: dict[str, str], body: Any, tenant: Tenant,
             claims: dict[str, Any], base: str) -> Response:
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        app = str(claims.get("appid", ""))
        if OutlookApi.owns(raw_rest.split("?", 1)[0]):  # the ordinary endpoints: Exchange's limits per mailbox too
            rest = raw_rest.split("?", 1)[0]
            with self.store.lock:
                box_id = self.outlook.mailbox(rest, tenant).id
            self.limits.set(self.governor.knobs)
            self.limits.enter(app, box_id)
            try:
                with self.store.lock:
                    return self.outlook.call(method, rest, query, body, tenant, granted, base)
            finally:
                self.limits.leave(app, box_id)
        sending = SEND_RE.match(raw_rest.split("?", 1)[0])
        if sending is not None:
            if method != "POST":
                raise GraphFailure(405, "Request_BadRequest", "sendMail takes a POST.")
            if "Mail.Send" not in granted:
                raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            with self.store.lock:
                return self.send_mail(tenant, unquote(sending.group(1)), body or {})
        match = MAIL_RE.match(raw_rest.split("?", 1)[0])
        assert match
        with self.store.lock:
            if match.group(3) is not None:  # users/{id}/settings/exchange
                user = tenant.find_user(unquote(match.group(3)))
                if user is None:
                    raise GraphFailure(404, "Request_ResourceNotFound", "The user does not exist.")
                box = self.mailbox_of(tenant, user)
                if box is None:
                    raise GraphFailure(404, "ErrorMailboxNotFound", "The user has no mailbox: no Exchange licence "
                                                                     "is assigned, or it is still being provisioned.")
                return Response(200, {"id": user["id"], "primaryMailboxId": box.id})
            box = self._box(tenant, unquote(match.group(1)))
        tail = [unquote(p) for p in (match.group(2) or "").split("/") if p]
        self.limits.set(self.governor.knobs)
        self.limits.enter(app, box.id)
        try:
            if self.governor.knobs.mailbox_latency_ms:
                time.sleep(self.governor.knobs.mailbox_latency_ms / 1000)
            with self.store.lock:
                status, out = self._route(method, box, tail, query, body or {}, granted, tenant, app, base)
        finally:
            self.limits.leave(app, box.id)
        return Response(status, out)

    def _route(self, method: str, box: Mailbox, tail: list[str], query: dict[str, str], body: dict[str, Any],
               granted: set[str], tenant: Tenant, app: str, base: str) -> tuple[int, Any]:
        def need(perms: set[str]) -> None:
            if not granted & perms:
                raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

        if tail == ["exportItems"] and method == "POST":
            need(EXPORT)
            ids = body.get("itemIds") or body.get("ItemIds") or []
            if not isinstance(ids, list) or not ids or len(ids) > EXPORT_LIMIT:
                raise GraphFailure(400, "ErrorInvalidRequest", f"exportItems takes 1 to {EXPORT_LIMIT} item ids.")
            out = []
            for iid in ids:
                item = box.items.get(str(iid))
                if item is None:
                    out.append({"itemId": iid, "error": {"code": "ErrorItemNotFound", "message": "Not found."}})
                else:
                    out.append({"itemId": iid, "changeKey": item_json(item)["changeKey"], "data": self.streams.pack(item)})
            self.count("mail_exported", len(ids))
            self.count("mail_export_calls")
            return 200, {"value": out}
        if tail == ["createImportSession"] and method == "POST":
            need(IMPORT)
            token = secrets.token_urlsafe(24)
            expires = time.monotonic() + self.governor.knobs.import_session_seconds
            self.sessions[token] = ImportSession(token, tenant.id, box.id, app, expires)
            return 200, {"importUrl": f"{content_host(base)}/_mi/{token}", "expirationDateTime": _iso_in(expires)}
        if tail[:1] == ["folders"]:
            return self._folders(method, box, tail[1:], query, body, need, base)
        raise GraphFailure(400, "BadRequest", f"The sandbox does not support {method} on this mailbox path.")

    def _folders(self, method: str, box: Mailbox, tail: list[str], query: dict[str, str], body: dict[str, Any],
                 need: Any, base: str) -> tuple[int, Any]:
        if not tail or tail == ["delta"]:
            if method == "POST" and not tail:
                need(FOLDER_WRITE)
                return 201, folder_json(box, self._new_folder(box, "", body))
            need(FOLDER_READ)
            tops = [f for f in box.folders.values() if not f.parent] if not tail else list(box.folders.values())
            return 200, folder_page([folder_json(box, f) for f in tops], query,
                                    f"{base}/v1.0/admin/exchange/mailboxes/{box.id}/folders" + ("/delta" * bool(tail)))
        folder = box.folder(tail[0])
        rest = tail[1:]
        if not rest:
            need(FOLDER_READ)
            return 200, folder_json(box, folder)
        if rest == ["childFolders"]:
            if method == "POST":
                need(FOLDER_WRITE)
                return 201, folder_json(box, self._new_folder(box, folder.id, body))
            need(FOLDER_READ)
            return 200, folder_page([folder_json(box, f) for f in box.folders.values() if f.parent == folder.id],
                                    query, f"{base}/v1.0/admin/exchange/mailboxes/{box.id}/folders/{folder.id}/childFolders")
        if rest in (["items"], ["items", "delta"]):
            need(ITEM_READ)
            items = sorted((i for i in box.items.values() if i["folder"] == folder.id), key=lambda i: i["seq"])
            since = 0
            if rest[-1] == "delta" and query.get("token"):
                since = int(json.loads(base64.urlsafe_b64decode(query["token"] + "==")).get("s", 0))
            items = [i for i in items if i["seq"] > since]
            top = int(query.get("$top") or 100)
            offset = int(query.get("$skiptoken") or 0)
            page: dict[str, Any] = {"value": [item_json(i) for i in items[offset:offset + top]]}
            path = f"{base}/v1.0/admin/exchange/mailboxes/{box.id}/folders/{folder.id}/items"
            if offset + top < len(items):
                suffix = "/delta" if rest[-1] == "delta" else ""
                token = f"&token={query['token']}" if query.get("token") else ""
                page["@odata.nextLink"] = f"{path}{suffix}?$top={top}&$skiptoken={offset + top}{token}"
            elif rest[-1] == "delta":
                mark = base64.urlsafe_b64encode(json.dumps({"s": box.seq}).encode()).decode().rstrip("=")
                page["@odata.deltaLink"] = f"{path}/delta?token={mark}"
            return 200, page
        raise GraphFailure(400, "BadRequest", "The sandbox does not support this on a mailbox folder.")

    @staticmethod
    def _new_folder(box: Mailbox, parent: str, body: dict[str, Any]) -> Folder:
        name = str(body.get("displayName") or "")
        kind = str(body.get("type") or "IPF.Note")
        if not name or not kind.startswith("IPF."):
            raise GraphFailure(400, "ErrorInvalidRequest", "A folder needs a displayName and a folder class (IPF.*).")
        return box.add_folder(name, kind, parent)

    def deliver(self, req: Request, rest: str) -> Response:
        """``POST /_sandbox/mail/{tenant}/{user}`` ``{"count": 3, "folder": "Inbox"}``: new mail arrives;
        ``{"alter": "text"}``: the folder's first message gets ``text`` added to its subject; ``{"make_folder": name,
        "parent": "Inbox"}``: a folder is made; ``{"delete": id}``: the owner deletes that item."""
        tenant_name, _, user_key = rest.partition("/")
        tenant = self.store.tenant_by_name(tenant_name)
        body = req.json() if req.body else {}
        with self.store.lock:
            user = tenant.find_user(unquote(user_key)) if tenant else None
            box = self.mailbox_of(tenant, user) if tenant and user else None
            if box is None:
                return Response(404, {"error": "no such mailbox"})
            if body.get("make_folder"):  # a user makes a folder (any name, a "/" in it too) under another
                parent = next((f for f in box.folders.values() if f.name == body.get("parent", "Inbox")), None)
                if parent is None:
                    return Response(404, {"error": "no such parent folder"})
                made = box.add_folder(str(body["make_folder"]), "IPF.Note", parent.id)
                return Response(200, {"ok": True, "id": made.id})
            if body.get("delete"):  # the mailbox's owner deletes an item
                if box.items.pop(str(body["delete"]), None) is None:
                    return Response(404, {"error": "no such item"})
                return Response(200, {"ok": True})
            folder = next((f for f in box.folders.values() if f.name == body.get("folder", "Inbox")), None)
            if folder is None:
                return Response(404, {"error": "no such folder"})
            if body.get("alter"):  # someone changes a message (a test's seeded discrepancy)
                item = next(i for i in box.items.values() if i["folder"] == folder.id)
                item["props"]["subject"] = f"{item['props'].get('subject')} {body['alter']}"
                box.touch(item)
                return Response(200, {"ok": True, "altered": item["id"]})
            for i in range(int(body.get("count", 1))):
                stamp = now_iso()
                box.add_item(folder, {"subject": f"New mail {i + 1} {secrets.token_hex(3)}", "isRead": False,
                                      "isDraft": False, "receivedDateTime": stamp, "createdDateTime": stamp,
                                      "lastModifiedDateTime": stamp, "body": {"contentType": "text", "content": "new"}})
        return Response(200, {"ok": True})

    def send_mail(self, tenant: Tenant, sender_key: str, body: dict[str, Any]) -> Response:
        """``POST users/{id}/sendMail``: a copy in the sender's Sent Items (unless ``saveToSentItems`` is false), and
        each recipient in this tenant gets it in their Inbox. Mail to anyone else is counted, never delivered: the
        sandbox sends nothing outside. The caller holds the store's lock."""
        sender = tenant.find_user(sender_key)
        if sender is None:
            raise GraphFailure(404, "ErrorInvalidUser", f"The requested user '{sender_key}' is invalid.")
        box = self.mailbox_of(tenant, sender)
        if box is None:
            raise GraphFailure(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or "
                                                                   "is hosted on-premise.")
        # the action's parameters are "Message" and "SaveToSentItems" in Graph's metadata (what the SDK sends), and
        # "message" and "saveToSentItems" in its documentation: Graph reads them in either case
        body = {str(k)[:1].lower() + str(k)[1:]: v for k, v in body.items()}
        message = body.get("message") or {}
        recipients = [str((r.get("emailAddress") or {}).get("address") or "")
                      for key in ("toRecipients", "ccRecipients", "bccRecipients") for r in message.get(key) or []]
        if not [r for r in recipients if "@" in r]:
            raise GraphFailure(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        subject = str(message.get("subject") or "")
        content = str((message.get("body") or {}).get("content") or "")
        stamp = now_iso()
        if body.get("saveToSentItems", True):
            sent = next(f for f in box.folders.values() if f.well_known and f.name == "Sent Items")
            box.add_item(sent, {"subject": subject, "isRead": True, "isDraft": False, "sentDateTime": stamp,
                                "createdDateTime": stamp, "lastModifiedDateTime": stamp,
                                "toRecipients": [{"emailAddress": {"address": r}} for r in recipients],
                                "from": {"emailAddress": {"address": sender.get("mail") or sender["userPrincipalName"]}},
                                "body": dict(message.get("body") or {"contentType": "text", "content": ""})})
        self.count("sendMail messages")
        for address in recipients:
            user = next((u for u in tenant.users.values() if address.lower() in
                         {str(u.get("mail") or "").lower(), str(u["userPrincipalName"]).lower(),
                          *(str(x).split(":", 1)[-1].lower() for x in u.get("proxyAddresses") or [])}), None)
            if user is None or not self.receive(tenant, user, subject, content,
                                                str(sender.get("mail") or sender["userPrincipalName"])):
                self.count("sendMail recipients outside the tenant (not delivered)")
            else:
                self.count("sendMail recipients delivered")
        return Response(202)

    def receive(self, tenant: Tenant, user: dict[str, Any], subject: str, text: str, sender: str = "") -> bool:
        """Mail from outside (Exchange Online Protection's delivery) into the user's Inbox; False: no mailbox.
        The caller holds the store's lock."""
        box = self.mailbox_of(tenant, user)
        inbox = next((f for f in box.folders.values() if f.well_known and f.name == "Inbox"), None) if box else None
        if box is None or inbox is None:
            return False
        stamp = now_iso()
        item = {"subject": subject, "isRead": False, "isDraft": False, "receivedDateTime": stamp,
                "sentDateTime": stamp, "createdDateTime": stamp, "lastModifiedDateTime": stamp,
                "body": {"contentType": "text", "content": text}}
        if sender:
            item["from"] = item["sender"] = {"emailAddress": {"address": sender}}
        box.add_item(inbox, item)
        return True

    # --- the import URL --------------------------------------------------------------------------------------
    def serve_import(self, req: Request, token: str) -> Response:
        session = self.sessions.get(token)
        if session is None or session.expires < time.monotonic():
            return Response(401, {"error": {"code": "ErrorExpiredSession", "message": "The import session expired: "
                                            "create a new one."}})
        if req.headers.get("authorization"):
            return Response(401, {"error": {"code": "ErrorInvalidRequest",
                                            "message": "The import URL is pre-authenticated: send no Authorization."}})
        if req.method != "POST":
            return Response(405, {"error": {"code": "ErrorInvalidRequest", "message": "POST one item."}})
        fault = self.governor.decide(f"_mi/{token}", session.tenant_id, method="POST")
        if fault is not None:
            self.count("failed")
            if fault.status in ("drop", "lost"):
                return Response(0, drop=True)
            return Response(int(fault.status), {"error": {"code": "ErrorServerBusy", "message": "injected fault"}},
                            {"Retry-After": f"{fault.retry_after or 1:g}"})
        try:
            self.limits.set(self.governor.knobs)
            self.limits.enter(session.app, session.mailbox_id, upload=len(req.body))
        except GraphFailure as failure:
            self.count("throttled")
            return Response(failure.status, {"error": {"code": failure.code, "message": failure.message}},
                            failure.headers)
        try:
            if self.governor.knobs.mailbox_latency_ms:
                time.sleep(self.governor.knobs.mailbox_latency_ms / 1000)
            with self.store.lock:
                return self._import(req, session)
        except GraphFailure as failure:
            return Response(failure.status, {"error": {"code": failure.code, "message": failure.message}})
        finally:
            self.limits.leave(session.app, session.mailbox_id)

    def _import(self, req: Request, session: ImportSession) -> Response:
        body = req.json()
        box = self.boxes[session.mailbox_id]
        folder = box.folder(str(body.get("FolderId") or ""))
        mode = str(body.get("Mode") or "create").lower()
        stream = self.streams.unpack(str(body.get("Data") or ""))
        props = dict(stream["props"], isDraft=False) if stream["type"] == "IPM.Note" else dict(stream["props"])
        if mode == "update":  # Exchange's UploadItems "Update": the item must be in that folder, unchanged since
            if not body.get("ItemId"):
                raise GraphFailure(400, "ErrorInvalidRequest", "Mode update needs the ItemId of the item to update.")
            item = box.items.get(str(body["ItemId"]))
            if item is None or item["folder"] != folder.id:
                raise GraphFailure(404, "ErrorItemNotFound", "The item to update is not in the folder.")
            if body.get("ChangeKey") and body["ChangeKey"] != item_json(item)["changeKey"]:
                raise GraphFailure(409, "ErrorIrresolvableConflict", "The item was changed since the change key "
                                                                      "was read: read it again.")
            item["props"] = props
            box.touch(item)
        elif mode == "create":
            if body.get("ItemId"):
                raise GraphFailure(400, "ErrorInvalidRequest", "Mode create makes a new item: send no ItemId.")
            item = box.add_item(folder, props, stream["type"])
        else:
            raise GraphFailure(400, "ErrorInvalidRequest", "Mode is create or update.")
        self.count("mail_imported")
        return Response(200, {"itemId": item["id"], "changeKey": item_json(item)["changeKey"]})


FOLDER_FILTER_RE = re.compile(r"^\s*(displayName|parentFolderId|type)\s+eq\s+'((?:[^']|'')*)'\s*$")


def folder_page(folders: list[dict[str, Any]], query: dict[str, str], url: str) -> dict[str, Any]:
    """A folder listing with ``$filter`` (``prop eq 'value'`` on displayName, parentFolderId or type), ``$skip``
    and ``$top`` (the rest behind ``@odata.nextLink``), as the mailbox folder APIs take them."""
    raw = query.get("$filter")
    if raw is not None:
        match = FOLDER_FILTER_RE.match(raw)
        if match is None:
            raise GraphFailure(400, "ErrorInvalidUrlQueryFilter", f"The filter expression is not supported: {raw}")
        value = match.group(2).replace("''", "'").lower()
        folders = [f for f in folders if str(f.get(match.group(1)) or "").lower() == value]
    try:
        skip = int(query.get("$skip") or 0)
        top = int(query["$top"]) if "$top" in query else None
    except ValueError as exc:
        raise GraphFailure(400, "ErrorInvalidUrlQuery", "$top and $skip are whole numbers.") from exc
    if skip < 0 or (top is not None and top < 1):
        raise GraphFailure(400, "ErrorInvalidUrlQuery", "$top is at least 1 and $skip at least 0.")
    end = len(folders) if top is None else skip + top
    page: dict[str, Any] = {"value": folders[skip:end]}
    if end < len(folders):
        keep = {k: v for k, v in query.items() if k in ("$filter", "$select")}
        keep.update({"$top": str(top), "$skip": str(end)})
        page["@odata.nextLink"] = url + "?" + urlencode(keep, quote_via=quote)
    return page


def has_exchange(tenant: Tenant, user: dict[str, Any]) -> bool:
    """A mailbox: a licence with Exchange, or a shared, room or equipment mailbox (which needs none)."""
    if user.get("mailboxType"):
        return True
    plans = {name for lic in user["assignedLicenses"] for sku in SKU_CATALOG.values()
             if sku["skuId"] == lic["skuId"] for name, _ in sku["plans"]}
    return bool(plans & EXCHANGE_PLANS)


def seed_mailboxes(api: MailApi, tenant: Tenant, tspec: dict[str, Any]) -> None:
    """The seed's mail, calendar, contacts and tasks; every licensed user of the old tenant has a mailbox."""
    listed = {str(m["owner"]).lower(): m for m in tspec.get("mailboxes", [])}
    per_user = int((tspec.get("generated") or {}).get("messages_per_user", 0))
    large_per_scale = int((tspec.get("generated") or {}).get("large_mailbox_messages_per_scale", 0))
    first_generated = next((u for u in tenant.users.values() if u.get("jobTitle") == "Staff"), None)
    rnd = random.Random(tenant.id)
    for user in tenant.users.values():
        spec = listed.get(user["userPrincipalName"].lower())
        generated = user.get("jobTitle") == "Staff" and per_user
        if spec is None and not generated:
            continue
        box = api.mailbox_of(tenant, user)
        if box is None:
            continue
        spec = spec or {"messages": per_user}
        by_name = {f.name: f for f in box.folders.values() if f.well_known}
        inbox = by_name["Inbox"]
        targets = [inbox]
        for path in spec.get("folders", []):
            parent = ""
            for name in path.split("/"):
                found = next((f for f in box.folders.values() if f.parent == parent and f.name == name), None)
                found = found or box.add_folder(name, "IPF.Note", parent)
                parent = found.id
            targets.append(box.folders[parent])
        messages = int(spec.get("messages", 0))
        if generated and user is first_generated:  # the large end: thousands of messages above scale 1
            messages += round(large_per_scale * (api.store.scale - 1))
        for i in range(messages):
            folder = targets[i % len(targets)]
            stamp = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{8 + i % 10:02d}:15:{i // 1000 % 60:02d}Z"
            props: dict[str, Any] = {
                "subject": f"Message {i + 1} for {user['displayName']}", "isRead": i % 3 != 0, "isDraft": False,
                "receivedDateTime": stamp, "sentDateTime": stamp, "createdDateTime": stamp,
                "lastModifiedDateTime": stamp, "from": {"emailAddress": {"address": f"sender{i % 7}@example.org"}},
                "body": {"contentType": "html", "content": f"<p>message {i} ✓</p>"},
                "categories": ["Blue"] if i % 4 == 0 else []}
            if i % 5 == 0:  # attachments of several sizes, as real bytes
                size = rnd.choice([2_000, 40_000, 300_000])
                props["attachments"] = [_attachment(f"report-{i + 1}.pdf", "application/pdf", size,
                                                    f"{box.id}/{i}")]
            box.add_item(folder, props)
        for i in range(int(spec.get("events", 0))):
            event: dict[str, Any] = {
                "subject": f"Weekly meeting {i + 1}", "start": {"dateTime": f"2026-03-{2 + i:02d}T09:00:00",
                                                                "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": f"2026-03-{2 + i:02d}T10:00:00", "timeZone": "W. Europe Standard Time"},
                "recurrence": {"pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                                           "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday", "index": "first"},
                               "range": {"type": "endDate", "startDate": "2026-03-02", "endDate": "2026-06-29",
                                         "recurrenceTimeZone": "W. Europe Standard Time",
                                         "numberOfOccurrences": 0}} if i == 0 else None,
                "attendees": [{"emailAddress": {"address": "alex.wilber@contoso.example"}, "type": "required"}],
                "createdDateTime": "2025-12-01T10:00:00Z", "lastModifiedDateTime": "2025-12-01T10:00:00Z"}
            if i == 0:  # a series with one occurrence moved and one cancelled
                event["exceptionOccurrences"] = [{"type": "exception", "originalStart": "2026-03-09T08:00:00Z",
                                                  "subject": "Weekly meeting 1 (moved to the afternoon)",
                                                  "start": {"dateTime": "2026-03-09T14:00:00",
                                                            "timeZone": "W. Europe Standard Time"}}]
                event["cancelledOccurrences"] = ["OID.2026-03-16"]
            box.add_item(by_name["Calendar"], event)
        for i in range(int(spec.get("contacts", 0))):
            contact: dict[str, Any] = {"displayName": f"Contact {i + 1}", "emailAddresses": [
                {"address": f"contact{i + 1}@example.org"}], "createdDateTime": "2024-06-01T10:00:00Z",
                "lastModifiedDateTime": "2024-06-01T10:00:00Z"}
            if i % 2 == 0:
                contact["photo"] = base64.b64encode(png(24, 24, f"{box.id}/contact/{i}")).decode()
            box.add_item(by_name["Contacts"], contact)
        lists = [by_name["Tasks"]] + [box.add_folder(name, "IPF.Task", "") for name in spec.get("task_lists", [])]
        for i in range(int(spec.get("tasks", 0))):
            task: dict[str, Any] = {
                "title": f"Task {i + 1}", "status": "notStarted" if i % 2 else "completed",
                "checklistItems": [{"displayName": "step one", "isChecked": bool(i % 2)},
                                   {"displayName": "step two", "isChecked": False}],
                "createdDateTime": f"2026-01-{1 + i:02d}T08:00:00Z", "lastModifiedDateTime": now_iso()}
            if i % 2 == 0:
                task["linkedResources"] = [{"webUrl": f"https://crm.contoso.example/deal/{i + 1}",
                                            "applicationName": "CRM", "displayName": f"Deal {i + 1}"}]
            if i == 0:
                task["attachments"] = [_attachment("quote.pdf", "application/pdf", 12_000, f"{box.id}/task/{i}")]
            box.add_item(lists[i % len(lists)], task)


def _attachment(name: str, content_type: str, size: int, seed: str) -> dict[str, Any]:
    data = (hashlib.sha256(seed.encode()).digest() * (size // 32 + 1))[:size]
    return {"name": name, "contentType": content_type, "size": size, "contentBytes": base64.b64encode(data).decode()}


def _iso_in(deadline: float) -> str:
    import datetime as dt

    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max(0.0, deadline - time.monotonic()))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
