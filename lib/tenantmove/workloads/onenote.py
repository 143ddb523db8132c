"""OneNote: every notebook of every mapped user, rebuilt in the new owner's OneDrive through the OneNote API
(``copyNotebook`` cannot cross tenants, and copied ``.one`` files do not make a working notebook).

- Access: OneNote takes only a person's sign-in. That person reaches a user's notebooks when they own them,
  were given them, or are a site collection admin of the user's OneDrive; a notebook the sign-in cannot reach
  (old side) or a OneDrive it cannot write into (new side) becomes a manual ``Set-SPOUser`` step.
- Structure: notebooks, section groups and sections, parents first, found by path on a rerun.
- Pages: in each section one after another in the section's order (a page is appended where it is made), each
  read as HTML with its images and files and made again by one multipart POST that keeps its creation time;
  read back afterwards (same words, same number of images and files). A page made before a crash is found by
  title and creation time and adopted."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload
from ..engine.manual import ps_quote
from ..errors import TenantmoveError
from ..pagetext import visible_text
from ..services.drives import DriveClient
from ..services.onenote import OneNoteClient

TAGS_RE = re.compile(r"<(img|object)\b", re.I)
PLURAL = {"notebook": "notebooks", "sectionGroup": "sectionGroups", "section": "sections"}


@dataclass
class NoteOwner:
    source_name: str  # old UPN (shown)
    source_key: str  # the old user's key (object id: phase 20 renamed them)
    target_name: str  # the new UPN
    packages: list[str]  # the notebooks in the old OneDrive (as the app sees the drive)
    old_site: str  # the old OneDrive's site URL
    new_site: str = ""  # the new OneDrive's site URL ("" while it does not exist)
    reached: list[dict[str, Any]] = field(default_factory=list)  # old notebooks the sign-in reaches
    writable: bool = False  # the new sign-in may make notebooks in the new OneDrive

    @property
    def scope(self) -> str:
        return self.source_name.lower()

    def unreached(self) -> list[str]:
        names = {str(n.get("displayName", "")).lower() for n in self.reached}
        return [p for p in self.packages if p.lower() not in names]

    @property
    def ready(self) -> bool:
        return self.writable and bool(self.reached)


def site_of(drive: dict[str, Any]) -> str:
    """A OneDrive's site URL from its webUrl (``.../personal/<name>/Documents`` -> ``.../personal/<name>``)."""
    return str(drive.get("webUrl", "")).rsplit("/", 1)[0]


def admin_centre(site: str) -> str:
    """``https://contoso-my.sharepoint.com/...`` -> ``https://contoso-admin.sharepoint.com``."""
    match = re.match(r"^https://([^/.]+?)-my\.sharepoint\.com", site)
    return f"https://{match.group(1)}-admin.sharepoint.com" if match else "https://<tenant>-admin.sharepoint.com"


def find_owners(old_drives: DriveClient, new_drives: DriveClient, old: OneNoteClient, new: OneNoteClient,
                pairs: list[tuple[str, str, str]]) -> list[NoteOwner]:
    """``pairs``: (old UPN, old user key, new UPN). Users with no notebook in their OneDrive are left out."""
    owners = []
    for name, old_key, new_key in pairs:
        drive = old_drives.user_drive(old_key)
        if drive is None:
            continue
        items, _ = old_drives.delta(str(drive["id"]), None)
        packages = [str(i["name"]) for i in items if (i.get("package") or {}).get("type") == "oneNote"
                    and "deleted" not in i]
        if not packages:
            continue
        owner = NoteOwner(name, old_key, new_key, sorted(packages), site_of(drive))
        owner.reached = old.notebooks(old_key) or []
        new_drive = new_drives.user_drive(new_key) if new_drives.user_exists(new_key) else None  # not made yet
        if new_drive is not None:
            owner.new_site = site_of(new_drive)
            owner.writable = new.notebooks(new_key) is not None
        owners.append(owner)
    return owners


class NoteCopy:
    """What the workloads share: the clients, the owners, the old structure, the new tree."""

    def __init__(self, old: OneNoteClient, new: OneNoteClient, owners: list[NoteOwner], accounts: dict[str, str]
                 ) -> None:
        self.old, self.new, self.owners = old, new, owners
        self.accounts = accounts  # side -> the UPN signed in there
        self.lock = threading.Lock()
        self.structure: dict[str, list[tuple[str, dict[str, Any], list[tuple[str, str]]]]] = {}
        self.trees: dict[str, dict[str, tuple[str, str]]] = {}  # owner -> path (lower) -> (kind, new id)
        self.owner_locks: dict[str, threading.Lock] = {}
        self.made: set[tuple[str, str]] = set()  # (owner, path) made by this copy (some as another's parent)

    def ready(self) -> list[NoteOwner]:
        return [o for o in self.owners if o.ready]

    def old_structure(self, owner: NoteOwner) -> list[tuple[str, dict[str, Any], list[tuple[str, str]]]]:
        """(id, entity, [(kind, name) from the notebook down]) for each reached notebook, section group and
        section, parents before children."""
        if owner.scope not in self.structure:
            reached = {str(n["id"]): n for n in owner.reached}
            groups = self.old.containers(owner.source_key, "sectionGroups")
            sections = self.old.containers(owner.source_key, "sections")
            self.structure[owner.scope] = chains(reached, groups, sections)
        return self.structure[owner.scope]

    def tree(self, owner: NoteOwner) -> dict[str, tuple[str, str]]:
        with self.lock:
            if owner.scope not in self.trees:
                notebooks = {str(n["id"]): n for n in self.new.notebooks(owner.target_name) or []}
                found = chains(notebooks, self.new.containers(owner.target_name, "sectionGroups"),
                               self.new.containers(owner.target_name, "sections"))
                self.trees[owner.scope] = {key(parts): (parts[-1][0], eid) for eid, _, parts in found}
                self.owner_locks[owner.scope] = threading.Lock()
            return self.trees[owner.scope]

    def ensure(self, owner: NoteOwner, parts: list[tuple[str, str]]) -> tuple[str, bool]:
        """The new id of the notebook, section group or section at ``parts``, made (parents first) if missing;
        and whether it was made now."""
        tree = self.tree(owner)
        parts = note_parts(parts)  # the names as the new tenant takes them
        with self.owner_locks[owner.scope]:
            for depth in range(1, len(parts) + 1):
                path = key(parts[:depth])
                if path in tree:
                    continue
                kind, name = parts[depth - 1]
                if kind == "notebook":
                    created = self.new.create_notebook(owner.target_name, name)
                else:
                    parent_kind, parent_id = tree[key(parts[:depth - 1])]
                    created = self.new.create_container(owner.target_name, PLURAL[parent_kind], parent_id,
                                                        PLURAL[kind], name)
                tree[path] = (kind, str(created["id"]))
                self.made.add((owner.scope, path))
            return tree[key(parts)][1], (owner.scope, key(parts)) in self.made


def same_time(a: Any, b: Any) -> bool:
    """Two ISO times the same to the second, however each is written."""
    try:
        return datetime.fromisoformat(str(a).replace("Z", "+00:00")).replace(microsecond=0) == \
            datetime.fromisoformat(str(b).replace("Z", "+00:00")).replace(microsecond=0)
    except ValueError:
        return False


# OneNote's own name rules (Microsoft's documentation of creating notebooks, section groups and sections)
NOTEBOOK_RULE = (set('?*\\/:<>|\'"'), 128)
SECTION_RULE = (set('?*\\/:<>|&#"%~\''), 50)


def note_name(kind: str, name: str) -> str:
    """``name`` as the new tenant accepts it for a ``kind`` (notebook, sectionGroup, section): each refused
    character as its fullwidth twin (as SharePoint's names are kept), and a name over the length cut with a short
    digest of the whole, so that two long names stay apart. The old name is kept in the ledger."""
    refused, most = NOTEBOOK_RULE if kind == "notebook" else SECTION_RULE
    out = "".join(chr(ord(c) + 0xFEE0) if c in refused else c for c in name).strip() or "Untitled"
    if len(out) > most:
        out = f"{out[:most - 9].rstrip()} {hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return out


def note_parts(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(kind, note_name(kind, name)) for kind, name in parts]


def key(parts: list[tuple[str, str]]) -> str:
    return "/".join(name.lower() for _, name in parts)


def chains(notebooks: dict[str, dict[str, Any]], groups: list[dict[str, Any]], sections: list[dict[str, Any]]
           ) -> list[tuple[str, dict[str, Any], list[tuple[str, str]]]]:
    """Each notebook, section group and section with its chain of (kind, name) from the notebook down, for the
    notebooks given; parents before children."""
    parent_of: dict[str, str] = {}
    entity: dict[str, tuple[str, dict[str, Any]]] = {i: ("notebook", n) for i, n in notebooks.items()}
    for kind, found in (("sectionGroup", groups), ("section", sections)):
        for c in found:
            up = c.get("parentSectionGroup") or c.get("parentNotebook") or {}
            parent_of[str(c["id"])] = str(up.get("id", ""))
            entity[str(c["id"])] = (kind, c)

    def chain(eid: str) -> list[tuple[str, str]] | None:
        parts: list[tuple[str, str]] = []
        while eid in entity:
            kind, ent = entity[eid]
            parts.append((kind, str(ent.get("displayName", ""))))
            if kind == "notebook":
                return list(reversed(parts))
            eid = parent_of.get(eid, "")
        return None  # in a notebook not given (not reached, or not this owner's)

    out = [(eid, ent, parts) for eid, (_, ent) in entity.items() if (parts := chain(eid)) is not None]
    return sorted(out, key=lambda e: len(e[2]))


class NotebookAccess(Workload):
    """Per owner and side: the signed-in person reaches the notebooks (old) and may write into the new OneDrive
    (new), or a ``Set-SPOUser`` step makes them a site collection admin of that OneDrive."""

    kind = "onenote-access"
    title = "notebook access"
    manual_shell = "SharePoint Online Management Shell (as a SharePoint admin)"

    def __init__(self, copy: NoteCopy) -> None:
        self.copy = copy

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.copy.owners:
            for side, what in (("old", "reads the old OneDrive's notebooks"), ("new", "writes into the new OneDrive")):
                yield Work(f"{side}|{owner.scope}", f"{owner.source_name}: {self.copy.accounts[side]} {what}",
                           scope=owner.scope, data=(side, owner))

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        side, owner = work.data
        if side == "new" and not owner.new_site:  # the notebooks wait for it, as phase 70's files do
            return ManualStep(work.key, f"{owner.target_name} has no OneDrive in the new tenant yet", [
                "Connect-SPOService -Url https://<new tenant>-admin.sharepoint.com",
                f"Request-SPOPersonalSite -UserEmails {ps_quote(owner.target_name)}"],
                check=f"{owner.target_name}'s OneDrive exists (then the next step makes {self.copy.accounts['new']} "
                      "its site collection admin)")
        missing = owner.unreached() if side == "old" else ([] if owner.writable else ["the new OneDrive"])
        if not missing:
            return Applied(None, "reachable")
        site = owner.old_site if side == "old" else owner.new_site
        account = self.copy.accounts[side]
        return ManualStep(work.key, f"{account} may not {'read ' + ', '.join(missing) if side == 'old' else 'write'}"
                                    f" in {site}", [
            f"Connect-SPOService -Url {admin_centre(site)}",
            f"Set-SPOUser -Site {ps_quote(site)} -LoginName {ps_quote(account)} -IsSiteCollectionAdmin $true",
            f"# when phase 80 is done: Set-SPOUser -Site {ps_quote(site)} -LoginName {ps_quote(account)} "
            "-IsSiteCollectionAdmin $false"],
            check=f"{account} lists the notebooks of {owner.source_name if side == 'old' else owner.target_name}")


class NotebookStructure(Workload):
    """Notebooks, section groups and sections of every owner whose both sides are reachable."""

    kind = "onenote-section"
    title = "notebooks, section groups and sections"

    def __init__(self, copy: NoteCopy) -> None:
        self.copy = copy

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.copy.ready():
            for eid, ent, parts in self.copy.old_structure(owner):
                renamed = [f"{a} -> {b}" for (_, a), (_, b) in zip(parts, note_parts(parts), strict=True) if a != b]
                yield Work(f"{owner.scope}|{eid}", f"{owner.source_name}: {'/'.join(n for _, n in parts)}",
                           scope=owner.scope, detail={"kind": parts[-1][0], "created": ent.get("createdDateTime"),
                                                      "renames": renamed}, data=(owner, parts))

    def apply(self, work: Work, existing: Any | None) -> Applied:
        owner, parts = work.data
        new_id, made = self.copy.ensure(owner, parts)
        return Applied(new_id, "created" if made else "adopted")


class NotebookPages(Workload):
    """Every page of every section reached, one after another within a section (its order is the order pages
    are made in), with images and attached files; checked by reading the new page back."""

    kind = "onenote-page"
    title = "OneNote pages"

    def __init__(self, copy: NoteCopy) -> None:
        self.copy = copy
        self.turn = threading.Condition()
        self.queues: dict[str, list[str]] = {}
        self.pages: dict[str, list[dict[str, Any]]] = {}  # new section id -> its pages (title, created)
        self.sections: list[tuple[NoteOwner, list[tuple[str, str]], list[dict[str, Any]]]] = []  # old pages
        self.claimed: set[str] = set()  # new pages that belong to an old one: never adopted by another

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.sections = []
        done = deltas.ledger.items(self.kind, ["done"]) if deltas.ledger is not None else []
        self.claimed = {str(i.target_id) for i in done if i.target_id}
        for owner in self.copy.ready():
            for eid, _, parts in self.copy.old_structure(owner):
                if parts[-1][0] != "section":
                    continue
                pages = self.copy.old.pages(owner.source_key, eid)
                self.sections.append((owner, parts, pages))
                where = "/".join(n for _, n in parts)
                for page in pages:
                    yield Work(f"{owner.scope}|{page['id']}", f"{owner.source_name}: {where}: {page.get('title')}",
                               version=str(page.get("lastModifiedDateTime") or ""), scope=f"{owner.scope}|{eid}",
                               detail={"title": page.get("title"), "created": page.get("createdDateTime"),
                                       "section": where, "level": page.get("level", 0), "order": page.get("order")},
                               data=(owner, parts, page))

    def begin(self, todo: list[Work]) -> None:
        self.queues = {}
        for work in todo:
            self.queues.setdefault(work.scope, []).append(work.key)

    def apply(self, work: Work, existing: Any | None) -> Applied:
        """Waits for the pages before it in its section (they were handed out first: no deadlock), then makes
        it; the next one's turn comes however this one ends."""
        with self.turn:
            while self.queues[work.scope][0] != work.key:
                self.turn.wait()
        try:
            return self._copy(work)
        finally:
            with self.turn:
                self.queues[work.scope].pop(0)
                self.turn.notify_all()

    def _copy(self, work: Work) -> Applied:
        owner, parts, page = work.data
        section_id, _ = self.copy.ensure(owner, parts)
        there = self._target_pages(owner, section_id)
        created = str(page.get("createdDateTime") or "")
        before = work.before.target_id if work.before is not None and work.before.state == "done" else None
        with self.copy.lock:  # a page made or adopted for one old page is never adopted for another (twins)
            same = next((p for p in there if p.get("title") == page.get("title")
                         and same_time(p.get("createdDateTime"), created) and p.get("id") != before
                         and str(p.get("id")) not in self.claimed), None)
            if same is not None:
                self.claimed.add(str(same["id"]))
        if same is not None:
            return Applied(str(same["id"]), "adopted")
        copy = self.copy.old.read_page(owner.source_key, page)
        replaced = False
        if before and any(p.get("id") == before for p in there):  # changed since it was copied: made anew
            self.copy.new.delete_page(owner.target_name, before)
            there[:] = [p for p in there if p.get("id") != before]
            replaced = True
        made = self.copy.new.create_page(owner.target_name, section_id, copy)
        with self.copy.lock:
            self.claimed.add(str(made["id"]))
            there.append(made)
        problem = self._check(owner, str(made["id"]), copy.body, len(copy.parts))
        if problem:
            raise TenantmoveError(f"the new page {page.get('title')!r} differs: {problem}",
                                  hint="rerun phase 80: the page is compared again and made anew if it still differs")
        size = sum(len(p.data) for p in copy.parts)
        return Applied(str(made["id"]), "replaced" if replaced else "created", size=size,
                       detail={"images and files": len(copy.parts), "created": created})

    def _target_pages(self, owner: NoteOwner, section_id: str) -> list[dict[str, Any]]:
        with self.copy.lock:
            if section_id not in self.pages:
                self.pages[section_id] = self.copy.new.pages(owner.target_name, section_id)
            return self.pages[section_id]

    def _check(self, owner: NoteOwner, page_id: str, body: str, parts: int) -> str | None:
        markup = self.copy.new.page_content(owner.target_name, page_id)
        if visible_text(markup).find(visible_text(body)) < 0:
            return "its text is not the old page's"
        shown = len(TAGS_RE.findall(markup))
        if shown != parts and shown != len(TAGS_RE.findall(body)):
            return f"{shown} images and files instead of {parts}"
        return None
