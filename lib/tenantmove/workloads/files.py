"""Folders and files from each old OneDrive (or library) into the new one: two workloads on the engine,
folders first. Both list the source by delta (the link kept per user, so a later pass sees only what was
added, changed, renamed, moved or deleted; an expired link, 410, falls back to a full listing whose missing
items count as deleted), keep names SharePoint refuses by the documented rule of :mod:`tenantmove.spnames`,
and look for the target by path before writing, so a rerun adopts instead of copying twice.

A file is streamed (never held whole), uploaded with its dates, and proven by ``quickXorHash``: the hash the
source reports (when it has one), the hash of the bytes that went through, and the hash the new tenant
reports must agree. An Office document that SharePoint rewrote on upload gets its own verdict, after its
parts are compared one by one. OneNote notebooks are packages, left to phase 80."""

from __future__ import annotations

import hashlib
import io
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import spnames
from ..engine import Applied, DeltaLinks, Work, Workload
from ..engine.workload import REMOVED
from ..errors import TenantmoveError
from ..quickxor import QuickXorHash
from ..services.drives import DeltaExpired, DriveClient
from ..services.graph import GraphError, GraphNotFound
from .onedrive import Pair

LONG_PATHS = "Long paths (tenantmove)"  # where a file whose new path would pass 400 characters goes
OFFICE = (".docx", ".xlsx", ".pptx")
PROMOTED = ("docProps/custom.xml",)  # the part SharePoint writes into Office files it stores
VERDICT_HASH = "verified: size and quickXorHash match"
VERDICT_EMPTY = "verified: empty file"
VERDICT_OFFICE = "changed by SharePoint (property promotion): every part but its metadata is identical"


@dataclass
class SourceItem:
    """A listed source item with its path rebuilt from parent ids (delta sends no paths)."""

    raw: dict[str, Any]
    path: str

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def is_folder(self) -> bool:
        return "folder" in self.raw or "root" in self.raw


@dataclass
class Listing:
    items: list[SourceItem]
    deleted: list[str]  # source ids gone since the last pass
    packages: list[SourceItem]  # OneNote notebooks: phase 80
    full: bool  # a full listing (first pass, or the delta link expired)
    expired: bool = False


def _with_suffix(path: str, n: int) -> str:
    """``/a/report (2).pdf``: the n-th claimant of a name, the suffix before the extension (a folder's at the end)."""
    parent, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    return f"{parent}/{stem} ({n}){'.' + ext if ext else ''}"


def assign_paths(pair: Pair, entries: list[SourceItem], held: dict[str, dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    """Every listed item's path in the new drive, unique per folder by construction (case-insensitively, as
    SharePoint compares names): SharePoint's name rules can make two source names one (``CON`` becomes ``ＣON``
    beside a ``ＣON`` already there), and a name already held by an item of an earlier pass (``held``: the
    ledger's details by key) stays with it. The first claimant keeps a name (an unrenamed name before a renamed
    one, then by path); the others get `` (2)``, `` (3)``... and the rule is recorded with the item. Children
    follow their folder's final path. Returns key -> (target path, renames)."""
    keys = {e.id: f"{pair.scope}|{e.id}" for e in entries}
    listed = set(keys.values())
    claimed: dict[str, str] = {}
    folders: dict[str, str] = {}  # source folder path -> its target path
    for key, detail in held.items():
        if key not in listed and detail.get("target_path"):
            claimed[str(detail["target_path"]).casefold()] = key
            if detail.get("path"):
                folders[str(detail["path"])] = str(detail["target_path"])
    out: dict[str, tuple[str, list[str]]] = {}

    def order(e: SourceItem) -> tuple[int, int, str]:
        name = e.path.rsplit("/", 1)[-1]
        return e.path.count("/"), int(spnames.encode(name) != name), e.path.casefold()

    for entry in sorted(entries, key=order):
        key = keys[entry.id]
        wanted, notes = target_path(pair, entry.path)
        parent = entry.path.rsplit("/", 1)[0]
        if parent in folders and not wanted.startswith(f"/{LONG_PATHS}/"):
            wanted = f"{folders[parent]}/{wanted.rsplit('/', 1)[1]}"
        final, n = wanted, 2
        while claimed.get(final.casefold(), key) != key:
            final, n = _with_suffix(wanted, n), n + 1
        if final != wanted:
            notes = [*notes, f"{wanted.rsplit('/', 1)[1]} -> {final.rsplit('/', 1)[1]} (the name is taken in the "
                             f"folder by {claimed[wanted.casefold()].split('|', 1)[1]})"]
        claimed[final.casefold()] = key
        if entry.is_folder:
            folders[entry.path] = final
        out[key] = (final, notes)
    return out


def target_path(pair: Pair, source_path: str) -> tuple[str, list[str]]:
    """The path in the new drive, and the renames applied (each ``old -> new``, or the long-path move)."""
    segments = [s for s in source_path.strip("/").split("/") if s]
    encoded = [spnames.encode(s) for s in segments]
    notes = [f"{a} -> {b}" for a, b in zip(segments, encoded, strict=True) if a != b]
    path = "/" + "/".join(encoded)
    base = unquote(urlsplit(str((pair.target or {}).get("webUrl", ""))).path)
    if spnames.path_too_long(base + path):
        digest = hashlib.sha256(source_path.encode()).hexdigest()[:10]
        moved = f"/{LONG_PATHS}/{digest}/{encoded[-1]}"
        notes.append(f"path of {len(base + path)} characters (over {spnames.MAX_PATH}) -> {moved}")
        path = moved
    return path, notes


class TargetTree:
    """What one new drive holds, by path (case-insensitive, as SharePoint compares names): looked up item by
    item, or loaded once by a full listing when many items are to be written."""

    def __init__(self, client: DriveClient, drive_id: str) -> None:
        self.client, self.drive_id = client, drive_id
        self.by_path: dict[str, dict[str, Any] | None] = {}
        self.loaded = False
        self.lock = threading.Lock()

    def load(self) -> None:
        items, _ = self.client.delta(self.drive_id, None)
        live = {i["id"]: i for i in items if not i.get("deleted")}
        paths = paths_of(live)
        with self.lock:
            self.by_path = {paths[item_id].lower(): item for item_id, item in live.items()}
            self.loaded = True

    def lookup(self, path: str) -> dict[str, Any] | None:
        key = path.lower()
        with self.lock:
            if key in self.by_path or self.loaded:
                return self.by_path.get(key)
        found = self.client.item_by_path(self.drive_id, path)
        with self.lock:
            self.by_path[key] = found
        return found

    def remember(self, path: str, item: dict[str, Any] | None) -> None:
        with self.lock:
            self.by_path[path.lower()] = item

    def folder_id(self, path: str) -> str:
        """The id of the folder at ``path``, creating what is missing (an existing folder is adopted)."""
        if not path.strip("/"):
            root = self.lookup("")
            assert root is not None
            return str(root["id"])
        with self.lock:  # one writer of folders per drive: no race creates a folder twice
            known = self.by_path.get(path.lower())
        if known is not None:
            return str(known["id"])
        parent_path, _, name = path.rstrip("/").rpartition("/")
        parent_id = self.folder_id(parent_path)
        existing = self.lookup(path)
        if existing is not None:
            return str(existing["id"])
        with self.lock:
            item, _ = self.client.create_folder(self.drive_id, parent_id, name)
            self.by_path[path.lower()] = item
        return str(item["id"])


def paths_of(by_id: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each item's path ("" for the root) from parent ids; an entry with ``_path`` (a parent read on its own)
    brings its path along."""
    out: dict[str, str] = {}

    def walk(item_id: str) -> str:
        if item_id in out:
            return out[item_id]
        item = by_id[item_id]
        parent = (item.get("parentReference") or {}).get("id")
        if "_path" in item:
            out[item_id] = item["_path"]
        elif "root" in item or not parent or parent not in by_id:
            out[item_id] = "" if "root" in item else "/" + str(item.get("name"))
        else:
            out[item_id] = walk(parent) + "/" + str(item["name"])
        return out[item_id]

    for item_id in by_id:
        walk(item_id)
    return out


@dataclass
class DriveCopy:
    """What the folder and file workloads share in one pass: clients, pairs, the new drives' trees."""

    old: DriveClient
    new: DriveClient
    pairs: list[Pair]
    versions: str = "latest"
    trees: dict[str, TargetTree] = field(default_factory=dict)
    parents: dict[tuple[str, str], str] = field(default_factory=dict)  # (drive, folder id) -> path, per pass
    listed: dict[tuple[str, str, str | None], tuple[Listing, str]] = field(default_factory=dict)  # plan, then apply

    def ready(self) -> list[Pair]:
        """The users whose files can move now: an old OneDrive to read and a new one to write."""
        return [p for p in self.pairs if p.source is not None and p.target is not None]

    def tree(self, pair: Pair) -> TargetTree:
        assert pair.target is not None
        drive_id = str(pair.target["id"])
        if drive_id not in self.trees:
            self.trees[drive_id] = TargetTree(self.new, drive_id)
        return self.trees[drive_id]

    def listing(self, kind: str, pair: Pair, link: str | None, known: set[str]) -> tuple[Listing, str]:
        """The source's changes since ``link`` (or everything), with paths, and the link for next time; the
        same for the apply that follows a plan (``kind``: whose links and ledger keys these are)."""
        assert pair.source is not None
        drive_id = str(pair.source["id"])
        key = (kind, drive_id, link)
        if key not in self.listed:  # the plan's listing, reused by the apply that follows it
            self.listed[key] = self._list(pair, drive_id, link, known)
        return self.listed[key]

    def _list(self, pair: Pair, drive_id: str, link: str | None, known: set[str]) -> tuple[Listing, str]:
        expired = False
        try:
            raw, new_link = self.old.delta(drive_id, link)
        except DeltaExpired as gone:
            raw, new_link = self.old.delta(drive_id, gone.restart)
            expired = True
        full = link is None or expired
        by_id = {i["id"]: i for i in raw}
        root = next((i for i in raw if "root" in i), None)
        if root is None:
            root = self.old.item_by_path(drive_id, "")
            assert root is not None
        by_id.setdefault(root["id"], root)
        paths = self._source_paths(drive_id, by_id)
        items, packages, deleted = [], [], []
        package_ids = {i["id"] for i in raw if "package" in i}
        for item in raw:
            if item.get("deleted"):
                deleted.append(str(item["id"]))
                continue
            if "root" in item:
                continue
            path = paths[item["id"]]
            entry = SourceItem(item, path)
            if item["id"] in package_ids:
                packages.append(entry)
            elif not self._inside(item, by_id, package_ids):
                items.append(entry)
        if full:  # whatever the ledger knew that is no longer listed was deleted at the source
            listed = {str(i["id"]) for i in raw}
            deleted = sorted({k.split("|", 1)[1] for k in known} - listed)
        return Listing(items, deleted, packages, full, expired), new_link

    @staticmethod
    def _inside(item: dict[str, Any], by_id: dict[str, dict[str, Any]], packages: set[str]) -> bool:
        parent = (item.get("parentReference") or {}).get("id")
        while parent and parent in by_id:
            if parent in packages:
                return True
            parent = (by_id[parent].get("parentReference") or {}).get("id")
        return False

    def _source_paths(self, drive_id: str, by_id: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Paths from parent ids; a parent outside this listing (a delta pass) is read once by id."""
        missing = {(i.get("parentReference") or {}).get("id") for i in by_id.values()} - set(by_id) - {None}
        for parent_id in missing:
            key = (drive_id, str(parent_id))
            if key not in self.parents:
                got = self.old.graph.get(f"drives/{drive_id}/items/{parent_id}")
                ref = (got.get("parentReference") or {}).get("path") or ""
                base = ref.split("root:", 1)[1] if "root:" in ref else ""
                self.parents[key] = "" if "root" in got else f"{base}/{got['name']}"
            by_id[str(parent_id)] = {"id": parent_id, "name": self.parents[key].rsplit("/", 1)[-1],
                                     "_path": self.parents[key]}
        return paths_of(by_id)


class _DriveWorkload(Workload):
    destructive = True  # writes into the new OneDrives: replaces files there, removes what the source removed
    scope_limit = 4  # per user: SharePoint serves one drive's writes best a few at a time
    folders: bool

    def __init__(self, copy: DriveCopy, kind: str = "", title: str = "") -> None:
        """``kind`` and ``title`` name another use of the same copy (document libraries: phase 50)."""
        self.copy = copy
        self.kind = kind or self.kind
        self.title = title or self.title
        self.skipped_packages: list[tuple[str, str]] = []  # (user, path) of OneNote notebooks
        self.full_comparisons: list[str] = []  # drives whose delta link had expired (410): compared in full
        self.listed: list[Work] = []  # what the last list() gave, for the plan's and the results' tables

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.listed, self.skipped_packages, self.full_comparisons = [], [], []
        for work in self._list(deltas):
            self.listed.append(work)
            yield work

    def _list(self, deltas: DeltaLinks) -> Iterator[Work]:
        sibling = self.kind.replace("-file", "-folder") if not self.folders else self.kind.replace("-folder", "-file")
        for pair in self.copy.ready():
            known = deltas.known(pair.scope)
            listing, link = self.copy.listing(self.kind, pair, deltas.get(pair.scope), known)
            if listing.expired:
                self.full_comparisons.append(pair.source_name)
            deltas.stage(pair.scope, link)
            self.skipped_packages += [(pair.source_name, p.path) for p in listing.packages]
            paths = assign_paths(pair, listing.items, deltas.details((self.kind, sibling), pair.scope))
            for entry in listing.items:
                if entry.is_folder == self.folders:
                    yield self._work(pair, entry, paths[f"{pair.scope}|{entry.id}"])
            for item_id in listing.deleted:
                key = f"{pair.scope}|{item_id}"
                if key in known:
                    yield Work(key, f"(deleted) {item_id}", version=REMOVED, scope=pair.scope, data=(pair, None),
                               detail={"deleted": True})

    def _work(self, pair: Pair, entry: SourceItem, assigned: tuple[str, list[str]]) -> Work:
        raw = entry.raw
        tpath, renames = assigned
        fsi = raw.get("fileSystemInfo") or {}
        parent = (raw.get("parentReference") or {}).get("id")
        hashes = (raw.get("file") or {}).get("hashes") or {}
        detail = {"path": entry.path, "target_path": tpath, "renames": renames,
                  "created": fsi.get("createdDateTime"), "modified": fsi.get("lastModifiedDateTime"),
                  "author": ((raw.get("createdBy") or {}).get("user") or {}).get("displayName"),
                  "editor": ((raw.get("lastModifiedBy") or {}).get("user") or {}).get("displayName")}
        content = raw.get("cTag") or raw.get("eTag") or ""
        version = f"{parent}|{raw.get('name')}" if self.folders else f"{content}|{parent}|{raw.get('name')}"
        return Work(f"{pair.scope}|{raw['id']}", entry.path, version=version,
                    size=None if self.folders else int(raw.get("size") or 0),
                    hash=hashes.get("quickXorHash"), scope=pair.scope, detail=detail, data=(pair, entry))

    def begin(self, todo: list[Work]) -> None:
        per_drive: dict[str, tuple[Pair, int]] = {}
        for work in todo:
            pair = work.data[0]
            per_drive[pair.scope] = (pair, per_drive.get(pair.scope, (pair, 0))[1] + 1)
        for pair, count in per_drive.values():
            if count > 100 and pair.target is not None and not self.copy.tree(pair).loaded:
                self.copy.tree(pair).load()  # one listing beats a lookup per item

    def find(self, work: Work) -> dict[str, Any] | None:
        pair, entry = work.data
        if entry is None:
            return None
        return self.copy.tree(pair).lookup(work.detail["target_path"])

    def _remove(self, work: Work) -> Applied:
        pair = work.data[0]
        before = work.before
        if before is None or not before.target_id:
            return Applied(None, "removed (nothing had been copied)")
        gone = self.copy.new.delete_item(str(pair.target["id"]), before.target_id)
        path = (before.detail or {}).get("target_path")
        if path:
            self.copy.tree(pair).remember(path, None)
        return Applied(None, "removed" if gone else "removed (was gone already)", detail={"removed": path})

    def _moved(self, work: Work) -> Applied | None:
        """A renamed or moved item whose content the new tenant has already: move it there too."""
        pair, entry = work.data
        before = work.before
        if before is None or before.state != "done" or not before.target_id:
            return None
        old_path = (before.detail or {}).get("target_path")
        new_path = work.detail["target_path"]
        if not old_path or old_path == new_path:
            return None
        if not self.folders and (before.planned_hash != work.hash or before.size != work.size):
            return None  # the content changed as well: copied again below
        parent_path, _, name = new_path.rpartition("/")
        tree = self.copy.tree(pair)
        try:
            moved = self.copy.new.patch_item(str(pair.target["id"]), before.target_id,
                                             {"name": name, "parentReference": {"id": tree.folder_id(parent_path)}})
        except GraphError as exc:
            if exc.status == 404:
                return None  # the old copy is gone: copy again
            raise
        tree.remember(old_path, None)
        tree.remember(new_path, moved)
        return Applied(moved["id"], "moved", copied_hash=before.copied_hash, size=before.size,
                       detail={**work.detail, "from": old_path})


class DriveFolders(_DriveWorkload):
    kind = "drive-folder"
    title = "OneDrive folders"
    folders = True

    def apply(self, work: Work, existing: Any | None) -> Applied:
        if work.version == REMOVED:
            return self._remove(work)
        pair, entry = work.data
        if existing is not None:
            return Applied(existing["id"], "adopted", detail=work.detail)
        moved = self._moved(work)
        if moved is not None:
            return moved
        tree = self.copy.tree(pair)
        path = work.detail["target_path"]
        parent_path, _, name = path.rpartition("/")
        item, created = self.copy.new.create_folder(str(pair.target["id"]), tree.folder_id(parent_path), name,
                                                    _dates(work))
        tree.remember(path, item)
        return Applied(item["id"], "created" if created else "adopted", detail=work.detail)


def remote_files(signin: Any, kind: str, title: str, versions: str) -> DriveFiles:
    """The files workload as a worker process makes it: its own clients (SharePoint's budget shared, see
    :class:`~tenantmove.services.remote.RemoteSignIn`); the drive pairs come with the works, the new drive's tree is
    read afresh for each drive it is handed."""
    copy = DriveCopy(DriveClient(signin.client("source")), DriveClient(signin.client("target")), [], versions)
    return DriveFiles(copy, kind, title)


class DriveFiles(_DriveWorkload):
    kind = "drive-file"
    title = "OneDrive files"
    folders = False
    distributable = True  # a drive is a task for a worker process (the cluster parameter)
    shared_budget = True  # SharePoint's resource units are per app and tenant: every worker process spends them

    def remote_scope(self, signin: Any) -> Callable[[], Workload]:
        """A drive's files in a worker process, which signs in itself (:mod:`tenantmove.engine.cluster`). Its folders
        were made by the kernel before (:class:`DriveFolders`), so the worker only looks them up."""
        return partial(remote_files, signin, self.kind, self.title, self.copy.versions)

    def apply(self, work: Work, existing: Any | None) -> Applied:
        if work.version == REMOVED:
            return self._remove(work)
        pair, entry = work.data
        if existing is not None and _same(existing, work):
            return Applied(existing["id"], "adopted (already copied)", copied_hash=work.hash, size=work.size,
                           detail={**work.detail, "verdict": VERDICT_HASH if work.size else VERDICT_EMPTY})
        if existing is not None and "file" in existing:
            adopted = self._adopt(work, existing, pair)
            if adopted is not None:
                return adopted
        moved = self._moved(work)
        if moved is not None:
            return moved
        return self._copy(work, pair, entry)

    def _adopt(self, work: Work, existing: dict[str, Any], pair: Pair) -> Applied | None:
        """A file at the target path that the size and hash cannot tell (a killed run's upload the ledger never
        heard of): the same content is adopted, so that it is not uploaded again as a second version. An Office
        document is compared by its parts (SharePoint rewrote it); a source without a quickXorHash is hashed
        while read."""
        target_hash = ((existing.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        size = int(existing.get("size") or 0)
        if work.name.lower().endswith(OFFICE):
            if self._compare_office(work, existing, pair) is None:
                return Applied(existing["id"], "adopted (already copied)", copied_hash=target_hash, size=size,
                               detail={**work.detail, "verdict": VERDICT_OFFICE})
            return None
        if work.hash or not target_hash or size != (work.size or 0):
            return None
        hasher = QuickXorHash()
        for piece in self.copy.old.stream(work.data[1].raw, str(pair.source["id"])):
            hasher.update(piece)
        if hasher.b64digest() != target_hash:
            return None
        return Applied(existing["id"], "adopted (already copied)", copied_hash=target_hash, size=size,
                       detail={**work.detail, "verdict": "verified: quickXorHash computed while reading (the source "
                                                         "reports none) matches the new tenant's"})

    def _copy(self, work: Work, pair: Pair, entry: SourceItem) -> Applied:
        tree = self.copy.tree(pair)
        path = work.detail["target_path"]
        parent_path, _, name = path.rpartition("/")
        parent_id = tree.folder_id(parent_path)
        drive_id, source_drive = str(pair.target["id"]), str(pair.source["id"])
        fsi = _dates(work)
        replayed = 0
        if self.copy.versions == "all":
            for version in self._older_versions(source_drive, entry.id):
                self.copy.new.upload(drive_id, parent_id, name, int(version.get("size") or 0),
                                     lambda off, v=version: self._version_stream(source_drive, entry.id, v, off), fsi)
                replayed += 1
        raw = entry.raw
        size = int(raw.get("size") or 0)
        copied = self.copy.new.upload(drive_id, parent_id, name, size,
                                      lambda off: self._source(raw, source_drive, off, work.name), fsi)
        tree.remember(path, copied.item)
        verdict = self._verdict(work, copied, pair)
        detail = {**work.detail, "verdict": verdict, "versions replayed": replayed}
        target_hash = ((copied.item.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        return Applied(copied.item["id"], "copied", copied_hash=target_hash or copied.sent_hash,
                       size=int(copied.item.get("size") or 0), detail=detail)

    def _source(self, raw: dict[str, Any], drive_id: str, offset: int, name: str) -> Iterator[bytes]:
        try:
            yield from self.copy.old.stream(raw, drive_id, offset)
        except GraphNotFound as exc:
            raise TenantmoveError(f"{name} was deleted in the old OneDrive after it was listed",
                                  hint="rerun the phase: the next pass sees the deletion and drops it") from exc

    def _older_versions(self, drive_id: str, item_id: str) -> list[dict[str, Any]]:
        versions = self.copy.old.graph.get_all(f"drives/{drive_id}/items/{item_id}/versions")
        return list(reversed(versions[1:]))  # newest first from Graph; the current one is copied last

    def _version_stream(self, drive_id: str, item_id: str, version: dict[str, Any], offset: int) -> Iterator[bytes]:
        resp = self.copy.old.graph.request("GET", f"drives/{drive_id}/items/{item_id}/versions/{version['id']}/content",
                                           allow_redirects=False)
        url = resp.headers["Location"]
        resp.close()
        yield from self.copy.old.stream({"@microsoft.graph.downloadUrl": url}, drive_id, offset)

    def _verdict(self, work: Work, copied: Any, pair: Pair) -> str:
        name = work.name
        if copied.size != work.size:
            raise TenantmoveError(f"{name}: read {copied.size} bytes, the source reports {work.size}",
                                  hint="the file changed while it was copied; rerun the phase")
        if work.hash and copied.sent_hash != work.hash:
            raise TenantmoveError(f"{name}: the bytes read do not match the source's quickXorHash",
                                  hint="the file changed while it was copied; rerun the phase")
        target_hash = ((copied.item.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        target_size = int(copied.item.get("size") or 0)
        if target_size == 0 and work.size == 0:
            return VERDICT_EMPTY
        if target_hash == copied.sent_hash and target_size == work.size:
            return VERDICT_HASH if work.hash else "verified: quickXorHash computed while copying (the source " \
                                                  "reports none) matches the new tenant's"
        if name.lower().endswith(OFFICE):
            problem = self._compare_office(work, copied.item, pair)
            if problem is None:
                return VERDICT_OFFICE
            raise TenantmoveError(f"{name}: changed on upload and its content differs: {problem}",
                                  hint="open both copies; rerun the phase to copy it again")
        raise TenantmoveError(f"{name}: the new tenant reports size {target_size} and hash {target_hash}, "
                              f"the bytes sent were {copied.size} with hash {copied.sent_hash}",
                              hint="rerun the phase to copy it again")

    def _compare_office(self, work: Work, target: dict[str, Any], pair: Pair) -> str | None:
        """Compare the source's package with ``target`` (the new tenant's item) part by part, leaving out the
        metadata SharePoint writes; spooled to temporary files, never held in memory."""
        pair_, entry = work.data
        with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
            for piece in self.copy.old.stream(entry.raw, str(pair.source["id"])):
                src.write(piece)
            for piece in self.copy.new.stream(target, str(pair.target["id"])):
                dst.write(piece)
            try:
                a, b = zipfile.ZipFile(src), zipfile.ZipFile(dst)
            except zipfile.BadZipFile:
                return "not an Office package"
            with a, b:
                parts_a = {n for n in a.namelist() if n not in PROMOTED}
                parts_b = {n for n in b.namelist() if n not in PROMOTED}
                if parts_a != parts_b:
                    return f"parts differ: {sorted(parts_a ^ parts_b)[:5]}"
                for part in sorted(parts_a):
                    if not _same_stream(a.open(part), b.open(part)):
                        return f"part {part} differs"
        return None


def _dates(work: Work) -> dict[str, str]:
    """The source's created and modified times as ``fileSystemInfo`` (Graph lets a client set these)."""
    return {k: v for k, v in (("createdDateTime", work.detail["created"]),
                              ("lastModifiedDateTime", work.detail["modified"])) if v}


def _same(existing: dict[str, Any], work: Work) -> bool:
    """The new tenant already holds this content: same size, and the same hash where both report one."""
    if "file" not in existing or int(existing.get("size") or 0) != (work.size or 0):
        return False
    theirs = ((existing.get("file") or {}).get("hashes") or {}).get("quickXorHash")
    if work.size == 0:
        return True
    return bool(work.hash and theirs == work.hash)


def _same_stream(a: io.BufferedIOBase | Any, b: io.BufferedIOBase | Any) -> bool:
    with a, b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def reconcile(copy: DriveCopy) -> list[dict[str, Any]]:
    """Per folder of every ready drive pair: files and bytes in the old drive (as their new paths) against the
    new drive, from full listings of both. Office documents count by number only: SharePoint rewrites them."""
    rows: list[dict[str, Any]] = []
    for pair in copy.ready():
        expected = _tally(copy.old, str(pair.source["id"]), lambda p, pair=pair: target_path(pair, p)[0])
        got = _tally(copy.new, str(pair.target["id"]), lambda p: p)
        for folder in sorted(set(expected) | set(got)):
            old, new = expected.get(folder, [0, 0, 0]), got.get(folder, [0, 0, 0])
            verdict = "match" if old[:2] == new[:2] else ("more in the new drive (added there)" if new[0] > old[0]
                                                          and new[1] >= old[1] else "MISMATCH")
            rows.append({"drive": pair.source_name, "folder": folder, "old files": old[0], "new files": new[0],
                         "old bytes (not Office)": old[1], "new bytes (not Office)": new[1],
                         "Office files": old[2], "verdict": verdict})
    return rows


def _tally(client: DriveClient, drive_id: str, where: Any) -> dict[str, list[int]]:
    """A full listing of one drive as folder -> [files, bytes not in Office files, Office files]; ``where`` maps
    a file's path to the path it is compared at. OneNote notebooks (packages) are left out."""
    raw, _ = client.delta(drive_id, None)
    live = {i["id"]: i for i in raw if not i.get("deleted")}
    packages = {i["id"] for i in live.values() if "package" in i}
    paths = paths_of(live)
    out: dict[str, list[int]] = {}
    for item_id, item in live.items():
        if "file" not in item or DriveCopy._inside(item, live, packages):
            continue
        entry = out.setdefault(where(paths[item_id]).rsplit("/", 1)[0].lower() or "/", [0, 0, 0])
        office = str(item.get("name", "")).lower().endswith(OFFICE)
        entry[0] += 1
        entry[1] += 0 if office else int(item.get("size") or 0)
        entry[2] += office
    return out
