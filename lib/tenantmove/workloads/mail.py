"""Mailboxes: folders, then every item, through the import/export API (nothing is sent, nothing becomes a
draft). Well-known folders map to their counterparts by name, user folders are made with their nesting.
Items are listed per folder by delta (a later pass sees only new and changed items), exported 20 to a
request as they are needed (at most a few batches held per mailbox), and imported one by one; at most 4
requests are in flight per mailbox (Exchange's limit).

An import is not idempotent and an item has no key a client can read, so an item whose import may have
happened (an earlier attempt that did not finish) is looked for first in its new folder by type, creation
time and size, and adopted when found; everything else is imported once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..engine import Applied, DeltaLinks, Work, Workload
from ..errors import TenantmoveError
from ..services.graph import GraphNotFound
from ..services.mailboxes import EXPORT_BATCH, MailboxClient

log = logging.getLogger("tenantmove.mail")

WELL_KNOWN = {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive", "Outbox", "Calendar",
              "Contacts", "Tasks", "Notes"}
MAILBOX_CONCURRENCY = 4


@dataclass
class MailboxPair:
    source_name: str
    target_name: str
    source: str | None  # the old mailbox id
    target: str | None  # the new mailbox id (None: not there yet)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)  # old folder id -> folder
    paths: dict[str, str] = field(default_factory=dict)  # old folder id -> "Inbox/Projects"
    target_ids: dict[str, str] = field(default_factory=dict)  # folder path (lower) -> new folder id
    under: str = ""  # a merge: the folder of the new mailbox the old one's folders go under (another migration's
                     # person's mailbox, e.g. "Fabrikam"); empty: the old folders are the new mailbox's own

    @property
    def scope(self) -> str:
        return self.source_name.lower()

    def new_path(self, old_path: str) -> str:
        """Where an old folder goes in the new mailbox."""
        return f"{escape_name(self.under)}/{old_path}" if self.under else old_path

    def well_known(self, old_path: str) -> bool:
        """Whether the old folder maps to the new mailbox's own folder of that name (not under a merge's folder)."""
        return not self.under and old_path in WELL_KNOWN

    def target_of(self, fid: str) -> str | None:
        """The new folder id of the old folder ``fid`` (None: not made yet)."""
        return self.target_ids.get(self.new_path(self.paths[fid]).lower())


def find_mailboxes(old: MailboxClient, new: MailboxClient, pairs: list[tuple[str, str, str]],
                   under: dict[str, str] | None = None) -> list[MailboxPair]:
    """``pairs``: (name shown, old user key, new user key); ``under``: name shown -> the folder its old folders go
    under in the new mailbox (a merge's person whose mailbox another migration made)."""
    out = []
    for name, old_key, new_key in pairs:
        out.append(MailboxPair(name, new_key, old.mailbox_id(old_key), new.mailbox_id(new_key),
                               under=(under or {}).get(name, "")))
    return out


def escape_name(name: str) -> str:
    """A folder name as one segment of a path: a ``/`` (or ``\\``) in the name is escaped, never a separator."""
    return name.replace("\\", "\\\\").replace("/", "\\/")


def split_path(path: str) -> tuple[str, str]:
    """(parent path, the last folder's own name) of a path :func:`folder_paths` made."""
    parts, current, escaped = [], "", False
    for ch in path:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == "/":
            parts.append(current)
            current = ""
        else:
            current += ch
    return "/".join(escape_name(p) for p in parts), current


def folder_paths(folders: list[dict[str, Any]]) -> dict[str, str]:
    """Each folder's path from the mailbox's root: names joined by ``/``, a ``/`` inside a name escaped, so that
    "Q1/Q2 reports" stays one folder and never becomes two nested ones."""
    by_id = {f["id"]: f for f in folders}
    out: dict[str, str] = {}

    def walk(fid: str) -> str:
        if fid not in out:
            folder = by_id[fid]
            parent = folder.get("parentFolderId")
            out[fid] = (walk(parent) + "/" if parent in by_id else "") + escape_name(str(folder["displayName"]))
        return out[fid]

    for fid in by_id:
        walk(fid)
    return out


class MailCopy:
    """What the folder and item workloads share: clients, pairs, the export buffer."""

    def __init__(self, old: MailboxClient, new: MailboxClient, pairs: list[MailboxPair]) -> None:
        self.old, self.new, self.pairs = old, new, pairs
        self.lock = threading.Lock()
        self.buffer: dict[str, dict[str, Any]] = {}  # old item id -> exported stream (used once)
        self.queue: dict[str, list[str]] = {}  # old mailbox -> item ids still to export, in order
        self.pending: dict[str, threading.Event] = {}  # item ids in a batch being exported now
        self.owner: dict[str, str] = {}  # buffered item id -> its old mailbox
        self.room = threading.Condition(self.lock)
        self.landed: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (new mailbox, folder) -> items there

    def ready(self) -> list[MailboxPair]:
        return [p for p in self.pairs if p.source and p.target]

    def prefetch(self, ahead: int = 2 * EXPORT_BATCH) -> None:
        """Export ahead of the workers, per old mailbox, so that an import seldom waits for its export: one
        thread per mailbox keeps up to ``ahead`` streams ready (memory stays bounded) until its queue is empty."""

        def keep_ahead(mailbox: str) -> None:
            while True:
                with self.room:
                    queue = self.queue.get(mailbox, [])
                    self.room.wait_for(lambda q=queue: not q or self._buffered(mailbox) < ahead, timeout=5)
                    batch = [i for i in queue if i not in self.pending][:EXPORT_BATCH]
                    if not batch:
                        return
                    done = threading.Event()
                    for i in batch:
                        self.pending[i] = done
                        queue.remove(i)
                exported: dict[str, dict[str, Any]] = {}
                try:
                    exported = self.old.export(mailbox, batch)
                except Exception:  # noqa: BLE001 - the workers export these again themselves and report the error
                    log.info("prefetch of %d item(s) failed; the workers export them", len(batch), exc_info=True)
                with self.room:
                    for i in batch:
                        if i in exported:
                            self.buffer[i] = exported[i]
                            self.owner[i] = mailbox
                        self.pending.pop(i, None)
                done.set()

        for mailbox in list(self.queue):
            threading.Thread(target=keep_ahead, args=(mailbox,), daemon=True, name="tm-mail-prefetch").start()

    def _buffered(self, mailbox: str) -> int:
        return sum(1 for i in self.buffer if self.owner.get(i) == mailbox)

    def load_folders(self) -> None:
        for pair in self.ready():
            folders = self.old.folders(str(pair.source))
            pair.folders = {f["id"]: f for f in folders}
            pair.paths = folder_paths(folders)
            new = self.new.folders(str(pair.target))
            pair.target_ids = {p.lower(): fid for fid, p in folder_paths(new).items()}

    def stream(self, pair: MailboxPair, item_id: str) -> dict[str, Any]:
        """The exported stream of ``item_id``: from the buffer, from a batch another worker is exporting, or
        exported now together with the next 19 still to come (each item is exported once)."""
        with self.lock:
            if item_id in self.buffer:
                self.owner.pop(item_id, None)
                self.room.notify_all()  # room for the next batch ahead
                return self.buffer.pop(item_id)
            waiting = self.pending.get(item_id)
            if waiting is None:
                queue = self.queue.get(str(pair.source), [])
                batch = [item_id] + [i for i in queue if i != item_id and i not in self.pending][:EXPORT_BATCH - 1]
                done = threading.Event()
                for i in batch:
                    self.pending[i] = done
                    if i in queue:
                        queue.remove(i)
        if waiting is not None:
            waiting.wait()
            with self.lock:
                self.owner.pop(item_id, None)
                self.room.notify_all()
                if item_id in self.buffer:
                    return self.buffer.pop(item_id)
            return self.stream(pair, item_id)  # its batch failed: export it now (and report any error)
        exported: dict[str, dict[str, Any]] = {}
        try:
            exported = self.old.export(str(pair.source), batch)
        finally:  # a failed export frees its items for another try; the waiting workers see them missing
            with self.lock:
                for i in batch[1:]:
                    if i in exported:
                        self.buffer[i] = exported[i]
                    self.pending.pop(i, None)
                self.pending.pop(item_id, None)
            done.set()
        return exported.get(item_id) or {"error": {"code": "ErrorItemNotFound", "message": "not exported"}}


class MailFolders(Workload):
    kind = "mail-folder"
    title = "mailbox folders"

    def __init__(self, copy: MailCopy) -> None:
        self.copy = copy
        self.made: set[str] = set()  # folder paths made in this pass (some as the parent of another)

    def list(self, deltas: object) -> Iterable[Work]:
        for pair in self.copy.ready():
            for fid, folder_path in sorted(pair.paths.items(), key=lambda kv: kv[1].count("/")):
                folder = pair.folders[fid]
                yield Work(f"{pair.scope}|{fid}", f"{pair.source_name}: {folder_path}", scope=pair.scope,
                           version=f"{folder.get('parentFolderId')}|{folder['displayName']}",
                           detail={"path": folder_path, "class": folder.get("type"),
                                   "well-known": pair.well_known(folder_path),
                                   **({"in the new mailbox": pair.new_path(folder_path)} if pair.under else {})},
                           data=(pair, fid))

    def find(self, work: Work) -> str | None:
        pair, fid = work.data
        return pair.target_of(fid)

    def apply(self, work: Work, existing: Any | None) -> Applied:
        pair, fid = work.data
        folder_path = pair.paths[fid]
        if existing is not None:  # made as another folder's parent in this pass, or there before
            made_now = pair.new_path(folder_path).lower() in self.made
            return Applied(existing, "mapped" if pair.well_known(folder_path) else "created" if made_now else "ready",
                           detail=work.detail)
        if pair.well_known(folder_path):
            raise TenantmoveError(f"the new mailbox has no {folder_path} folder", hint="check that it is an "
                                  "Exchange Online mailbox; rerun the phase")
        with self.copy.lock:  # one folder maker per pass: parents first, whatever order the workers take
            created = self._ensure(pair, pair.new_path(folder_path))
        return Applied(created, "created", detail=work.detail)

    def _ensure(self, pair: MailboxPair, folder_path: str) -> str:
        """The new folder at ``folder_path`` (a path in the new mailbox), made with its parents if missing."""
        known = pair.target_ids.get(folder_path.lower())
        if known is not None:
            return known
        parent_path, name = split_path(folder_path)
        parent = self._ensure(pair, parent_path) if parent_path else None
        kind = next((str(pair.folders[fid].get("type")) for fid, p in pair.paths.items()
                     if pair.new_path(p) == folder_path), "IPF.Note")
        made = self.copy.new.create_folder(str(pair.target), parent, name, kind)
        pair.target_ids[folder_path.lower()] = made["id"]
        self.made.add(folder_path.lower())
        return str(made["id"])


def remote_items(signin: Any, claimed: frozenset[str]) -> MailItems:
    """The items workload as a worker process makes it: its own clients, paced per mailbox (a mailbox is one task,
    so its Exchange budget is this process's alone); the mailbox pairs come with the works."""
    items = MailItems(MailCopy(MailboxClient(signin.client("source")), MailboxClient(signin.client("target")), []))
    items.claimed = set(claimed)
    return items


class MailItems(Workload):
    kind = "mail-item"
    title = "mailbox items"
    scope_limit = MAILBOX_CONCURRENCY  # Exchange answers 429 beyond 4 requests at once per mailbox
    distributable = True  # a mailbox is a task for a worker process (the cluster parameter)

    def __init__(self, copy: MailCopy) -> None:
        self.copy = copy
        self.listed: list[Work] = []  # what the last list() gave, for the tables
        self.claimed: set[str] = set()

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.listed = []
        done = deltas.ledger.items(self.kind, ["done"]) if deltas.ledger is not None else []
        self.claimed = {i.target_id for i in done if i.target_id}  # new items the ledger gives to an old one
        for work in self._list(deltas):
            self.listed.append(work)
            yield work

    def _list(self, deltas: DeltaLinks) -> Iterable[Work]:
        """Every folder's changes, mailboxes listed side by side (one folder at a time within a mailbox)."""
        def one(pair: MailboxPair) -> list[tuple[str, str, list[dict[str, Any]], str]]:
            out = []
            for fid, folder_path in pair.paths.items():
                items, link = self.copy.old.items_delta(str(pair.source), fid, deltas.get(f"{pair.scope}|{fid}"))
                out.append((fid, folder_path, items, link))
            return out

        pairs = self.copy.ready()
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(pairs))), thread_name_prefix="tm-mail-list") as pool:
            listed = list(pool.map(one, pairs))
        for pair, folders in zip(pairs, listed, strict=True):
            for fid, folder_path, items, link in folders:
                deltas.stage(f"{pair.scope}|{fid}", link)
                for item in items:
                    yield Work(f"{pair.scope}|{item['id']}", f"{pair.source_name}: {folder_path}: {item['type']}",
                               version=str(item.get("changeKey")), size=int(item.get("size") or 0), scope=pair.scope,
                               detail={"folder": folder_path, "type": item["type"],
                                       "created": item.get("createdDateTime"), "size": item.get("size")},
                               data=(pair, fid, item))

    def begin(self, todo: list[Work]) -> None:
        """Before any import of this pass: the new folders where an earlier attempt may have landed an item are
        read (so nothing this pass imports can be mistaken for it); then the exports start."""
        for work in todo:
            if self._in_doubt(work):
                pair, fid, _ = work.data
                folder = pair.target_of(fid)
                if folder is not None and (str(pair.target), folder) not in self.copy.landed:
                    self.copy.landed[(str(pair.target), folder)] = self.copy.new.items(str(pair.target), folder)
        for work in todo:  # the export order follows the work order, so batches of 20 fill up
            pair, _, item = work.data
            self.copy.queue.setdefault(str(pair.source), []).append(item["id"])
        self.copy.prefetch()

    @staticmethod
    def _in_doubt(work: Work) -> bool:
        """An earlier attempt may have imported it: one of an earlier pass that did not finish, or one of this pass
        whose worker process was lost."""
        return work.retried or (work.before is not None and work.before.attempts > 0 and not work.before.target_id)

    def remote_scope(self, signin: Any) -> Callable[[], Workload]:
        """A mailbox's items in a worker process, which signs in itself (:mod:`tenantmove.engine.cluster`)."""
        return partial(remote_items, signin, frozenset(self.claimed))

    def find(self, work: Work) -> dict[str, Any] | None:
        """Only for an item an earlier attempt may have imported: the same type, creation time and size in its
        new folder, not claimed by another item."""
        if not self._in_doubt(work):
            return None
        pair, fid, item = work.data
        folder = pair.target_of(fid)
        with self.copy.lock:
            for candidate in self.copy.landed.get((str(pair.target), str(folder)), []):
                if (candidate["type"], candidate.get("createdDateTime"), candidate.get("size")) == \
                        (item["type"], item.get("createdDateTime"), item.get("size")) and not candidate.get("_taken") \
                        and candidate["id"] not in self.claimed:
                    candidate["_taken"] = True
                    return candidate
        return None

    def apply(self, work: Work, existing: Any | None) -> Applied:
        pair, fid, item = work.data
        folder = pair.target_of(fid)
        if folder is None:
            raise TenantmoveError(f"{work.name}: its folder is not in the new mailbox", hint="rerun the phase")
        if existing is not None:
            return Applied(existing["id"], "adopted", size=work.size, detail=work.detail)
        exported = self.copy.stream(pair, item["id"])
        if "data" not in exported:
            error = (exported.get("error") or {}).get("message", "not exported")
            raise TenantmoveError(f"{work.name}: export failed: {error}", hint="rerun the phase")
        update = work.before.target_id if work.before is not None and work.before.state == "done" else None
        detail = work.detail
        try:
            landed = self.copy.new.import_item(str(pair.target), folder, exported["data"], update)
        except GraphNotFound:
            if update is None:
                raise
            # the earlier copy is no longer in its folder: its owner moved or deleted it in the new mailbox
            landed = self.copy.new.import_item(str(pair.target), folder, exported["data"])
            detail = {**detail, "earlier copy": f"not in its folder any more (moved or deleted in the new "
                                                f"mailbox); imported again as a new item, {update} left alone"}
            update = None
        return Applied(str(landed.get("itemId") or landed.get("ItemId")), "updated" if update else "imported",
                       size=work.size, detail=detail)
