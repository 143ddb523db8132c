"""Who may open what in a drive (a OneDrive or a document library), moved after its files: one item per shared
object (a file or folder with permissions of its own; inherited ones follow from the structure, a OneDrive's
owner from the drive), whose apply makes the new object's own permissions what the old object's were, through
the mapping:

- a grant to a person, guest or group: ``invite`` by the mapped address (a group by its copy's id), nobody
  mailed; a role that differs is set back; a grant the old object did not have is taken away (never more access
  than the old tenant gave);
- a sharing link: ``createLink`` with its type, scope (``users``: the mapped people) and expiry; the new link has
  a new URL, kept in the link map (old URL -> new URL) in the state folder and shown per owner;
- what no API can do is a manual item: a password-protected link (Graph reads no password and sets one only in
  OneDrive personal: ``Add-PnPFileAnonymousSharingLink``/``Add-PnPFolderAnonymousSharingLink``, read back by the
  next run), a grantee who does not move (named, never given to somebody else).

Objects shared only in the new tenant are reported on items of their own and left for the admin: people may
have shared them on purpose after the cutover. The access matrix (:func:`matrix`) lists who holds which role
on each shared object on both sides; phase 90 compares them."""

from __future__ import annotations

import csv
import hashlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import GraphError
from ..services.sharing import PERMISSION_UNITS, Permission, SharingClient
from .files import DriveCopy, paths_of, target_path
from .inventory import Inventory
from .onedrive import Pair

LINK_ROLE = {"view": "read", "edit": "write", "embed": "read"}
WHO_LINK = {"anonymous": "anyone with the link", "organization": "anyone in the organisation with the link"}
LINK_MAP = "link-map.csv"
LINK_COLUMNS = ["owner", "drive", "path", "link", "old url", "new url", "people"]


@dataclass
class Grantees:
    """The old tenant's people and groups as the new tenant knows them (through the user mapping)."""

    users: dict[str, str]  # old user object id -> the new address (moving people and guests)
    groups: dict[str, str]  # old group object id -> the new group's id
    names: dict[str, str]  # new group id -> its name
    addresses: dict[str, str] = field(default_factory=dict)  # old address -> new address

    def recipient(self, p: Permission) -> dict[str, str] | None:
        """Whom to grant ``p`` to in the new tenant; None when they do not move."""
        if p.kind == "user":
            new = self.users.get(p.principal.lower()) or self.addresses.get(p.address)
            return {"email": new} if new else None
        if p.kind == "group":
            gid = self.groups.get(p.principal.lower())
            return {"objectId": gid} if gid else None
        return None

    def people(self, p: Permission) -> list[str | None]:
        """A users-scope link's people in the new tenant (None: does not move), by object id, else by address."""
        ids = p.recipient_ids or ("",) * len(p.recipients)
        return [(self.users.get(i.lower()) or self.addresses.get(a) or "").lower() or None
                for a, i in zip(p.recipients, ids, strict=True)]

    def who_old(self, p: Permission) -> str:
        """The old permission's holder, named as the new tenant will name them."""
        if p.kind == "link":
            return link_who(p.scope, [new or f"{old} (not moving)" for old, new in zip(p.recipients, self.people(p),
                                                                                       strict=True)])
        found = self.recipient(p)
        if found is None:
            return f"{'group ' if p.kind == 'group' else ''}{p.address or p.name or p.principal} (not moving)"
        return found["email"].lower() if "email" in found else f"group {self.names.get(found['objectId'], p.name)}"

    def who_new(self, p: Permission) -> str:
        if p.kind == "link":
            return link_who(p.scope, list(p.recipients))
        if p.kind == "group":
            return f"group {self.names.get(p.principal, p.name)}"
        return p.address or p.name


def link_who(scope: str, people: list[str]) -> str:
    return WHO_LINK.get(scope) or f"people with the link: {', '.join(sorted(people)) or 'nobody'}"


def role_of(p: Permission) -> str:
    return LINK_ROLE.get(p.link_type, p.role) if p.kind == "link" else p.role


def grantees(src: Inventory, tgt: Inventory, rows: pd.DataFrame) -> Grantees:
    """From phase 00's inventory, the target's and the mapping's rows (people and guests moving)."""
    new_of = {str(s).lower(): str(t) for s, t in zip(rows["source_upn"], rows["target_upn"], strict=True)}
    users, addresses = {}, {}
    for uid, upn, mail in zip(src.users["id"], src.users["userPrincipalName"], src.users["mail"], strict=True):
        new = new_of.get(str(upn).lower())
        if new:
            users[str(uid).lower()] = new
            for old in (str(upn).lower(), str(mail or "").lower()):
                if old:
                    addresses[old] = new.lower()
    new_groups = {str(n).lower(): str(i) for n, i in zip(tgt.groups["mailNickname"], tgt.groups["id"], strict=True)}
    groups = {str(g).lower(): new_groups[str(n).lower()] for g, n in zip(src.groups["id"], src.groups["mailNickname"],
                                                                        strict=True) if str(n).lower() in new_groups}
    names = {str(i): str(d) for i, d in zip(tgt.groups["id"], tgt.groups["displayName"], strict=True)}
    return Grantees(users, groups, names, addresses)


@dataclass
class Side:
    """One drive's shared objects: path -> (item id, its own permissions, the owner's included)."""

    objects: dict[str, tuple[str, list[Permission]]]
    paths: dict[str, str]  # every item: path (lower) -> id

    def item_id(self, path: str) -> str | None:
        return self.paths.get(path.lower())


def read_side(client: SharingClient, drive_id: str) -> Side:
    listed = [i for i in client.shared_items(drive_id) if not i.get("deleted")]
    live = {str(i["id"]): i for i in listed}
    paths = paths_of(live)
    objects = {}
    for item_id, item in live.items():
        if "shared" in item and "root" not in item:
            own = [p for p in client.permissions(drive_id, item_id) if _carried(p)]
            if own:
                objects[paths[item_id]] = (item_id, own)
    return Side(objects, {p.lower(): i for i, p in paths.items()})


def _carried(p: Permission) -> bool:
    """An item's own grant or link: not inherited, not the OneDrive's owner, not a SharePoint group's role (the site
    access workload's, through SharePoint's REST API)."""
    return not p.inherited and p.kind not in ("owner", "siteGroup")


def _version(perms: list[Permission]) -> str:
    text = "|".join(sorted(f"{p.kind}:{p.principal}:{p.address}:{p.link_type}:{p.scope}:{','.join(p.recipients)}:"
                           f"{p.role}:{p.expires[:10]}:{p.password}" for p in perms))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Shared:
    pair: Pair
    old_path: str
    new_path: str
    perms: list[Permission]  # the old object's own; empty for an object shared only in the new tenant


class LinkMap:
    """Old link -> new link, kept in the state folder (every run's links, one row per old link) and copied into
    each run folder with one file per owner."""

    def __init__(self, path: Path) -> None:
        self.path, self.lock = path, threading.Lock()

    def rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def record(self, row: dict[str, str]) -> None:
        with self.lock:
            rows = [r for r in self.rows() if r["old url"] != row["old url"]] + [row]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=LINK_COLUMNS)
                writer.writeheader()
                writer.writerows(sorted(rows, key=lambda r: (r["owner"], r["path"], r["link"])))

    def write_run_copy(self, folder: Path) -> list[Path]:
        """The map, and per owner the links they can forward, into a run's phase folder."""
        rows = self.rows()
        if not rows:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(rows, columns=LINK_COLUMNS)
        table.to_csv(folder / LINK_MAP, index=False)
        out = [folder / LINK_MAP]
        for owner, mine in table.groupby("owner"):
            safe = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in str(owner))
            target = folder / "links" / f"{safe}.csv"
            target.parent.mkdir(exist_ok=True)
            mine.drop(columns=["owner"]).to_csv(target, index=False)
            out.append(target)
        return out


class Sharing(Workload):
    kind = "sharing"
    title = "who may open what (shares and links)"
    manual_shell = "PnP PowerShell"
    destructive = True  # takes away access the old tenant did not give
    scope_limit = 2  # per drive: permission calls cost 5 resource units each

    def __init__(self, copy: DriveCopy, who: Grantees, links: LinkMap, kind: str = "", owner_of: Any = None) -> None:
        """``owner_of(pair)``: whom a drive's changed links are listed for (a OneDrive's owner by default)."""
        self.copy, self.who, self.links = copy, who, links
        self.old, self.new = SharingClient(copy.old.graph), SharingClient(copy.new.graph)
        if kind:
            self.kind = kind
        self.owner_of = owner_of or (lambda pair: str(pair.target_name))
        self.sides: dict[tuple[str, str], Side] = {}
        self.lock = threading.Lock()
        self.counted = {"old": 0, "new": 0}  # permission calls this pass, per tenant: each 5 resource units
        self.listed: list[Work] = []

    def side(self, pair: Pair, which: str) -> Side:
        drive = pair.source if which == "old" else pair.target
        assert drive is not None
        key = (which, str(drive["id"]))
        if key not in self.sides:
            side = read_side(self.old if which == "old" else self.new, str(drive["id"]))
            with self.lock:
                self.sides[key] = side
            self._count(which, len(side.objects))
        return self.sides[key]

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.sides.clear()  # every pass reads both sides afresh: a permission has no delta of its own
        self.listed = list(self._list())
        return self.listed

    def _list(self) -> Iterator[Work]:
        for pair in self.copy.ready():
            old, new = self.side(pair, "old"), self.side(pair, "new")
            accounted = set()
            for old_path, (item_id, perms) in sorted(old.objects.items()):
                new_path = target_path(pair, old_path)[0]
                accounted.add(new_path.lower())
                whom = sorted(f"{self.who.who_old(p)}: {role_of(p)}" for p in perms)
                yield Work(f"{pair.scope}|{item_id}", f"{pair.target_name}: {new_path}", version=_version(perms),
                           scope=pair.scope, detail={"access": "; ".join(whom)},
                           data=Shared(pair, old_path, new_path, perms))
            for new_path, (item_id, perms) in sorted(new.objects.items()):
                if new_path.lower() not in accounted:
                    whom = sorted(f"{self.who.who_new(p)}: {role_of(p)}" for p in perms)
                    yield Work(f"{pair.scope}|new|{item_id}", f"{pair.target_name}: {new_path} (shared only in the "
                               "new tenant)", version=_version(perms), scope=pair.scope,
                               detail={"access": "; ".join(whom)}, data=Shared(pair, "", new_path, []))

    def find(self, work: Work) -> tuple[str, list[Permission]] | None:
        """The new object and its own permissions now (None: it has not arrived)."""
        shared: Shared = work.data
        assert shared.pair.target is not None
        drive_id = str(shared.pair.target["id"])
        item_id = self.side(shared.pair, "new").item_id(shared.new_path)
        if item_id is None:
            found = self.copy.new.item_by_path(drive_id, shared.new_path)
            if found is None:
                return None
            item_id = str(found["id"])
        perms = [p for p in self.new.permissions(drive_id, item_id) if _carried(p)]
        self._count()
        return item_id, perms

    def differs(self, work: Work, existing: tuple[str, list[Permission]] | None) -> str:
        if existing is None:
            return "the object is not in the new drive"
        rows = compare(self.who, work.data.perms, existing[1])
        return "; ".join(f"{r['who']}: {r['verdict']}" for r in rows if r["verdict"] != "same")

    def apply(self, work: Work, existing: tuple[str, list[Permission]] | None) -> Applied | ManualStep:
        shared: Shared = work.data
        if existing is None:
            raise TenantmoveError(f"{shared.new_path} is not in the new drive yet", where=work.name,
                                  hint="rerun this phase once its files arrived (the copy makes it first)")
        item_id, now = existing
        assert shared.pair.target is not None
        drive_id = str(shared.pair.target["id"])
        if not shared.perms:
            return self._shared_only_here(work, shared, now)
        done: list[str] = []
        manual: list[str] = []
        failures: list[str] = []
        matched: set[str] = set()
        for p in shared.perms:
            try:
                outcome = self._one(shared, drive_id, item_id, p, now, matched)
            except TenantmoveError as exc:
                failures.append(f"{exc} ({exc.hint})" if exc.hint else str(exc))
                continue
            (manual if outcome.startswith("#") or outcome.startswith("Add-PnP") else done).append(outcome)
        for extra in now:
            if extra.id not in matched:
                self._count()
                self.new.remove(drive_id, item_id, extra.id)
                done.append(f"took away {self.who.who_new(extra)}: {role_of(extra)} (the old tenant did not give it)")
        if failures:
            raise TenantmoveError(f"{shared.new_path}: " + "; ".join(failures), where=work.name,
                                  hint="each reason names its fix; the rest of this object's access was carried")
        if manual:
            return ManualStep(work.key, f"{shared.new_path}: what no API carries", [
                f"Connect-PnPOnline -Url {ps_quote(self._site_url(shared.pair))} -Interactive", *manual],
                check=f"{shared.new_path}: the next run reads its permissions back")
        kept = sum(d.startswith("kept") for d in done)
        action = "adopted" if kept == len(done) else "created" if not now else "updated"
        return Applied(item_id, action, detail={**work.detail, "done": "; ".join(done)})

    def _one(self, shared: Shared, drive_id: str, item_id: str, p: Permission, now: list[Permission],
             matched: set[str]) -> str:
        """Carry one old permission; say what was done (a manual line starts with ``#`` or is the command)."""
        if p.kind == "link":
            return self._link(shared, drive_id, item_id, p, now, matched)
        recipient = self.who.recipient(p)
        who = self.who.who_old(p)
        if recipient is None:
            return (f"# {shared.new_path}: {who} had {p.role} and is not in the user mapping: add them to it and "
                    "rerun this phase, or share it with whoever took over")
        same = next((q for q in now if q.kind == p.kind and q.id not in matched and (
            q.principal == recipient.get("objectId") if p.kind == "group" else q.address == recipient["email"].lower())),
            None)
        roles = [p.role] if p.role in ("read", "write") else list(p.roles)
        if same is not None:
            matched.add(same.id)
            if same.role == p.role:
                return f"kept {who}: {p.role}"
            self.new.set_roles(drive_id, item_id, same.id, roles)
            self._count()
            return f"set {who} back to {p.role} (was {same.role})"
        try:
            made = self.new.invite(drive_id, item_id, recipient, roles)
        except GraphError as exc:
            if exc.status in (400, 403):
                raise TenantmoveError(f"{who} could not be given {p.role}: {exc.graph_message}",
                                      hint="a guest must be invited first (phase 30, a guest row of the mapping)"
                                      if "guest" in exc.graph_message or "organization" in exc.graph_message
                                      else "see the service's reason") from exc
            raise
        self._count()
        matched.add(made.id)
        return f"gave {who}: {p.role}"

    def _link(self, shared: Shared, drive_id: str, item_id: str, p: Permission, now: list[Permission],
              matched: set[str]) -> str:
        people = self.who.people(p)
        label = f"{p.link_type} link, {WHO_LINK.get(p.scope, 'people with the link')}"
        if any(x is None for x in people):
            return (f"# {shared.new_path}: the {label} was for {', '.join(p.recipients)}, not all of whom move: "
                    "share it with those who took over")
        wanted = tuple(sorted(str(x) for x in people))
        same = next((q for q in now if q.kind == "link" and q.id not in matched and q.link_type == p.link_type
                     and q.scope == p.scope and q.recipients == wanted and q.password == p.password), None)
        if same is not None:
            matched.add(same.id)
            self._map(shared, p, same)
            return f"kept the {label}"
        if p.password:  # Graph sets a password only in OneDrive personal, and reads none
            cmdlet = "Add-PnPFolderAnonymousSharingLink -Folder" if self._folder(shared, item_id) \
                else "Add-PnPFileAnonymousSharingLink -FileUrl"
            expiry = f" -ExpirationDateTime {ps_quote(p.expires)}" if p.expires else ""
            return (f"{cmdlet} {ps_quote(self._server_path(shared))} -Type {p.link_type.capitalize()} -Password "
                    f"'<choose a password and tell the people who had the old link>'{expiry}")
        try:
            made, _ = self.new.create_link(drive_id, item_id, p.link_type, p.scope, p.expires, wanted)
        except GraphError as exc:
            if exc.status in (400, 403):
                raise TenantmoveError(f"the {label} could not be made: {exc.graph_message}",
                                      hint="allow such links in the new tenant (phase 40's sharepoint area, "
                                           "sharingCapability) and rerun; no narrower link is made in its place"
                                      if p.scope == "anonymous" else "see the service's reason") from exc
            raise
        self._count()
        matched.add(made.id)
        self._map(shared, p, made)
        return f"made the {label}"

    def _shared_only_here(self, work: Work, shared: Shared, now: list[Permission]) -> Applied | ManualStep:
        if not now:
            return Applied(work.key, "adopted", note="no longer shared in the new tenant")
        whom = ", ".join(sorted(f"{self.who.who_new(p)} ({role_of(p)})" for p in now))
        return ManualStep(work.key, f"{shared.new_path}: shared only in the new tenant", [
            f"# {shared.new_path} gives {whom}, which the old tenant did not: if nobody shared it on purpose since "
            "the cutover, take it away (the item's Manage access), then rerun this phase"],
            check=f"{shared.new_path}: no access the old tenant did not give")

    def _map(self, shared: Shared, old: Permission, new: Permission) -> None:
        self.links.record({"owner": self.owner_of(shared.pair), "drive": str(shared.pair.target_name),
                           "path": shared.new_path, "link": f"{old.link_type}/{old.scope}", "old url": old.url,
                           "new url": new.url, "people": ", ".join(new.recipients)})

    def _count(self, tenant: str = "new", n: int = 1) -> None:
        with self.lock:
            self.counted[tenant] += n

    @property
    def calls(self) -> int:
        return sum(self.counted.values())

    def _folder(self, shared: Shared, item_id: str) -> bool:
        assert shared.pair.target is not None
        got = self.copy.new.graph.get(f"drives/{shared.pair.target['id']}/items/{item_id}")
        return "folder" in got

    @staticmethod
    def _server_path(shared: Shared) -> str:
        base = str((shared.pair.target or {}).get("webUrl", "")).split("://", 1)[-1]
        return "/" + base.split("/", 1)[-1].rstrip("/") + shared.new_path

    @staticmethod
    def _site_url(pair: Pair) -> str:
        url = str((pair.target or {}).get("webUrl", ""))
        scheme, _, rest = url.partition("://")
        host, _, tail = rest.partition("/")
        parts = tail.split("/")
        return f"{scheme}://{host}/" + "/".join(parts[:2])  # personal/<name> or sites/<name>

    def units(self, tenant: str = "") -> int:
        """Resource units the permission calls cost (SharePoint's budget is per tenant: ``tenant`` old or new)."""
        return (self.counted[tenant] if tenant else self.calls) * PERMISSION_UNITS

    def budget(self) -> dict[str, Any]:
        """What carrying the access costs in SharePoint's resource units: the permission reads the plan made, and
        at most one read and one write per permission still to carry."""
        objects = len(self.listed)
        permissions = sum(len(w.data.perms) for w in self.listed)
        calls = self.calls + objects + permissions
        return {"shared objects": objects, "permissions to carry": permissions,
                "permission calls read so far": self.calls, "permission calls at most": calls,
                "resource units at most (5 per call)": calls * PERMISSION_UNITS}


def compare(who: Grantees, old: list[Permission], new: list[Permission]) -> list[dict[str, str]]:
    """One object's access, who by who: the old role (as the mapping names the holder) against the new one."""
    before: dict[str, str] = {}
    for p in old:
        before[who.who_old(p)] = _stronger(before.get(who.who_old(p), ""), role_of(p))
    after: dict[str, str] = {}
    for p in new:
        after[who.who_new(p)] = _stronger(after.get(who.who_new(p), ""), role_of(p))
    rows = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name, ""), after.get(name, "")
        verdict = ("same" if was == now else "missing" if not now else "extra: the old tenant did not give it"
                   if not was else "wider than before" if now == "write" else "narrower than before")
        rows.append({"who": name, "old": was, "new": now, "verdict": verdict})
    return rows


def _stronger(a: str, b: str) -> str:
    order = ["", "read", "write", "owner"]
    return a if order.index(a) >= order.index(b if b in order else "read") else b


def matrix(sharing: Sharing) -> pd.DataFrame:
    """Every shared object of every pair of drives, who holds which role on each side, and the verdict."""
    rows = []
    for pair in sharing.copy.ready():
        old, new = sharing.side(pair, "old"), sharing.side(pair, "new")
        seen = set()
        for old_path, (item_id, perms) in sorted(old.objects.items()):
            new_path = target_path(pair, old_path)[0]
            seen.add(new_path.lower())
            there = new.objects.get(next((p for p in new.objects if p.lower() == new_path.lower()), ""), ("", []))
            for row in compare(sharing.who, perms, there[1]):
                rows.append({"drive": pair.target_name, "object": new_path, **row,
                             "key": f"{pair.scope}|{item_id}"})
        for new_path, (item_id, perms) in sorted(new.objects.items()):
            if new_path.lower() not in seen:
                for row in compare(sharing.who, [], perms):
                    rows.append({"drive": pair.target_name, "object": new_path, **row,
                                 "key": f"{pair.scope}|new|{item_id}"})
    return pd.DataFrame(rows, columns=["drive", "object", "who", "old", "new", "verdict", "key"])
