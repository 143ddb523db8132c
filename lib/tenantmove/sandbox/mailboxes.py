"""The sandbox's Exchange mailboxes behind Graph v1.0's mailbox import/export API.

- ``GET /users/{id}/settings/exchange`` gives ``primaryMailboxId`` (``MBX:...@...``);
- ``/admin/exchange/mailboxes/{id}/folders`` (+ ``/{id}/childFolders``, ``/{id}/items``, ``/delta``) and
  ``POST .../folders`` (display name and folder class) for user folders;
- ``POST .../exportItems`` (at most 20 ids) answers each item as an opaque stream that carries every
  property; ``POST .../createImportSession`` gives a pre-authenticated ``importUrl`` that expires and takes
  one item at a time (``FolderId``, ``Mode`` create or update, ``Data``);
- Exchange's limits per app and mailbox: 4 requests at once, 10,000 per 10 minutes, 150 MB uploaded per
  5 minutes, each answered with 429 and ``Retry-After`` when passed.

Seed (per tenant, ``mailboxes:``): ``{owner, folders: ["Inbox/Projects"], messages: 20, events: 5,
contacts: 5, tasks: 3}``; ``generated.messages_per_user`` for the generated users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .shapes import GraphFailure
from .state import Tenant, _stable_uuid, now_iso

WELL_KNOWN = [("Inbox", "IPF.Note"), ("Sent Items", "IPF.Note"), ("Drafts", "IPF.Note"),
              ("Deleted Items", "IPF.Note"), ("Junk Email", "IPF.Note"), ("Archive", "IPF.Note"),
              ("Outbox", "IPF.Note"), ("Calendar", "IPF.Appointment"), ("Contacts", "IPF.Contact"),
              ("Tasks", "IPF.Task"), ("Notes", "IPF.StickyNote")]
ITEM_TYPES = {"IPF.Note": "IPM.Note", "IPF.Appointment": "IPM.Appointment", "IPF.Contact": "IPM.Contact",
              "IPF.Task": "IPM.Task", "IPF.StickyNote": "IPM.StickyNote"}
EXPORT_LIMIT = 20
STREAM_MAGIC = b"FTS1"  # stands in for the FastTransfer stream: opaque to clients, checked on import


@dataclass
class Folder:
    id: str
    name: str
    kind: str  # the folder class, IPF.*
    parent: str  # "" for the top of the information store
    well_known: bool = False


@dataclass
class Mailbox:
    id: str
    user_id: str
    folders: dict[str, Folder] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {folder, type, props, ...}
    seq: int = 0

    def folder(self, folder_id: str) -> Folder:
        found = self.folders.get(folder_id)
        if found is None:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")
        return found

    def add_folder(self, name: str, kind: str, parent: str, well_known: bool = False) -> Folder:
        if any(f.parent == parent and f.name.lower() == name.lower() for f in self.folders.values()):
            raise GraphFailure(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        fid = "AAMkA" + _stable_uuid(self.id, "folder", parent, name.lower()).replace("-", "")
        folder = Folder(fid, name, kind, parent, well_known)
        self.folders[fid] = folder
        return folder

    def add_item(self, folder: Folder, props: dict[str, Any], item_type: str | None = None) -> dict[str, Any]:
        self.seq += 1
        iid = "AAMkAI" + _stable_uuid(self.id, "item", str(self.seq), secrets.token_hex(4)).replace("-", "")
        item = {"id": iid, "folder": folder.id, "type": item_type or ITEM_TYPES.get(folder.kind, "IPM.Note"),
                "props": dict(props), "created": props.get("createdDateTime") or now_iso(),
                "modified": props.get("lastModifiedDateTime") or now_iso(), "change": 1, "seq": self.seq}
        self.items[iid] = item
        return item

    def touch(self, item: dict[str, Any]) -> None:
        self.seq += 1
        item.update(change=item["change"] + 1, seq=self.seq, modified=now_iso())


def mailbox_id(tenant: Tenant, user_id: str) -> str:
    digest = hashlib.sha256(f"{tenant.id}/{user_id}".encode()).hexdigest()
    return f"MBX:{digest[:8]}@{tenant.id[:8]}"


def new_mailbox(tenant: Tenant, user: dict[str, Any]) -> Mailbox:
    box = Mailbox(mailbox_id(tenant, user["id"]), user["id"])
    for name, kind in WELL_KNOWN:
        box.add_folder(name, kind, "", well_known=True)
    return box


def folder_json(box: Mailbox, folder: Folder) -> dict[str, Any]:
    return {"id": folder.id, "displayName": folder.name, "parentFolderId": folder.parent or None, "type": folder.kind,
            "childFolderCount": sum(1 for f in box.folders.values() if f.parent == folder.id),
            "totalItemCount": sum(1 for i in box.items.values() if i["folder"] == folder.id)}


def item_json(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "type": item["type"], "size": len(json.dumps(item["props"])),
            "createdDateTime": item["created"], "lastModifiedDateTime": item["modified"],
            "changeKey": f"CQAAAB{item['change']:06d}", "categories": list(item["props"].get("categories", []))}


class Streams:
    """Exported items: opaque to the client, signed so that only what export produced imports."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)

    def pack(self, item: dict[str, Any]) -> str:
        body = json.dumps({"type": item["type"], "props": item["props"]}, sort_keys=True).encode()
        mac = hmac.new(self.key, body, hashlib.sha256).digest()
        return base64.b64encode(STREAM_MAGIC + mac + body).decode()

    def unpack(self, data: str) -> dict[str, Any]:
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError as exc:
            raise GraphFailure(400, "ErrorInvalidRequest", "Data is not a base64 stream.") from exc
        magic, mac, body = raw[:4], raw[4:36], raw[36:]
        if magic != STREAM_MAGIC or not hmac.compare_digest(mac, hmac.new(self.key, body, hashlib.sha256).digest()):
            raise GraphFailure(400, "ErrorInvalidRequest", "Data is not a stream that exportItems produced.")
        return json.loads(body)


class ExchangeLimits:
    """Per app and mailbox: 4 requests at once, 10,000 per 10 minutes, 150 MB uploaded per 5 minutes."""

    def __init__(self, concurrent: int = 4, requests: int = 10_000, window: float = 600.0,
                 upload_bytes: int = 150_000_000, upload_window: float = 300.0) -> None:
        self.concurrent, self.requests, self.window = concurrent, requests, window
        self.upload_bytes, self.upload_window = upload_bytes, upload_window
        self.lock = threading.Lock()
        self.in_flight: dict[tuple[str, str], int] = {}
        self.recent: dict[tuple[str, str], deque[float]] = {}
        self.uploads: dict[tuple[str, str], deque[tuple[float, int]]] = {}

    def set(self, knobs: Any) -> None:
        """The limits the knobs say (the service's by default; a test shortens the windows)."""
        self.requests, self.upload_bytes = knobs.exchange_requests, knobs.exchange_upload_bytes
        self.window, self.upload_window = 600.0 * knobs.exchange_window_scale, 300.0 * knobs.exchange_window_scale

    def enter(self, app: str, mailbox: str, upload: int = 0) -> None:
        key, now = (app, mailbox), time.monotonic()
        with self.lock:
            if self.in_flight.get(key, 0) >= self.concurrent:
                raise GraphFailure(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                   {"Retry-After": "1"})
            recent = self.recent.setdefault(key, deque())
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if len(recent) >= self.requests:
                raise GraphFailure(429, "ApplicationThrottled", "Application is over its request limit for this "
                                   "mailbox.", {"Retry-After": str(max(1, int(self.window - (now - recent[0]))))})
            sent = self.uploads.setdefault(key, deque())
            while sent and now - sent[0][0] > self.upload_window:
                sent.popleft()
            if upload and sent and sum(n for _, n in sent) + upload > self.upload_bytes:  # (one item alone passes)
                raise GraphFailure(429, "ApplicationThrottled", "Application is over its upload limit for this "
                                   "mailbox.", {"Retry-After": str(max(1, int(self.upload_window - (now - sent[0][0]))))})
            recent.append(now)
            if upload:
                sent.append((now, upload))
            self.in_flight[key] = self.in_flight.get(key, 0) + 1

    def leave(self, app: str, mailbox: str) -> None:
        with self.lock:
            self.in_flight[(app, mailbox)] -= 1
