"""Who made and last changed each list item and each file, and when, carried after the items and files: Graph sets ``createdBy`` and
``lastModifiedBy`` to the caller and cannot change them, so the new item's Author, Editor, Created and Modified
are set through SharePoint's REST API (``ValidateUpdateListItem`` with ``bNewDocumentUpdate: true``: no version
is added; people as claims, dates in the site's locale and time zone) when SharePoint takes the runbook's tokens
(an app with a certificate), and otherwise by the admin's PnP script (``Set-PnPListItem ... -UpdateType
UpdateOverwriteVersion``), read back by the next run. A person the mapping does not move (someone who left) keeps
the migration account in that field, reported on the item, never someone else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import path
from ..services.sprest import SharePointRest
from .files import DriveCopy, paths_of, target_path
from .inventory import Inventory
from .lists import ListPlan, moved_items

US_LOCALE = 1033
US_FORMAT = "%m/%d/%Y %I:%M %p"  # English (US): 5/1/2023 10:00 AM
FIELDS = (("Author", "createdBy"), ("Editor", "lastModifiedBy"))
DATES = (("Created", "createdDateTime"), ("Modified", "lastModifiedDateTime"))


def mapped_people(src: Inventory, rows: pd.DataFrame) -> Callable[[dict[str, str]], str | None]:
    """An old author or editor (id, email, name) -> their new UPN through the mapping's rows (by object id, else by
    any of their old addresses: UPN, mail, the onmicrosoft alias phase 20 renamed them to); None: not moving."""
    new_of = {str(s).lower(): str(t) for s, t in zip(rows["source_upn"], rows["target_upn"], strict=True)}
    by_id: dict[str, str] = {}
    by_address: dict[str, str] = {}
    for uid, upn, mail in zip(src.users["id"], src.users["userPrincipalName"], src.users["mail"], strict=True):
        new = new_of.get(str(upn).lower())
        if new:
            by_id[str(uid).lower()] = new
            for old in (str(upn), str(mail or ""), f"{str(upn).split('@')[0]}@{src.initial_domain}"):
                if old:
                    by_address[old.lower()] = new
    return lambda who: by_id.get(who["id"].lower()) or by_address.get(who["email"].lower())


def person(item: dict[str, Any], facet: str) -> dict[str, str]:
    user = (item.get(facet) or {}).get("user") or {}
    return {"id": str(user.get("id") or ""), "email": str(user.get("email") or "").lower(),
            "name": str(user.get("displayName") or "")}


def _minute(stamp: str) -> str:
    return str(stamp or "")[:16]  # yyyy-mm-ddThh:mm: SharePoint's forms keep no seconds


class Authorship(Workload):
    """What list items and files share: who made and last changed an item, and when, set through SharePoint's REST
    API or written as one PnP command per item (grouped per site), and compared by address and minute."""

    manual_shell = "PnP PowerShell"
    scope_limit = 4

    where = "the new list"  # what holds the item: named when it is missing
    made_first = "the item is made first"

    def __init__(self, new_person: Callable[[dict[str, str]], str | None], rest: SharePointRest | None,
                 rewritten: set[str] | None = None) -> None:
        """``rewritten``: the items (or files) this pass wrote: an app's write makes it their editor again, so they
        are set again whatever the ledger says."""
        self.new_person, self.rest = new_person, rest
        self.regional: dict[str, tuple[int, int]] = {}  # site url -> (locale id, bias in minutes)
        self.rewritten = rewritten or set()
        self.pass_mark = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%f")

    def version(self, key: str, version: str) -> str:
        """The old item's version; for one this pass wrote, one the ledger has not seen (it is planned again)."""
        return f"{version}|rewritten {self.pass_mark}" if key in self.rewritten else version

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        return f"not in {self.where}" if existing is None else self.compare(work.data[2], existing)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        """Adopted when the new one already says so; otherwise set (:meth:`set`). Someone who did not move is named."""
        left = work.data[3]
        note = (f"{', '.join(left)} did not move (not in the user mapping): the new one shows the migration account "
                "there") if left else ""
        if existing is None:
            raise TenantmoveError(f"{work.name}: not in {self.where}", where=work.name,
                                  hint=f"rerun this phase: {self.made_first}")
        if not self.differs(work, existing):
            return Applied(str(existing["id"]), "adopted", detail=work.detail, note=note)
        done = self.set(work, existing)
        return done if isinstance(done, ManualStep) else Applied(str(existing["id"]), "updated", detail=work.detail,
                                                                 note=note)

    def set(self, work: Work, existing: dict[str, Any]) -> ManualStep | None:
        """Set the new one's author, editor and dates through SharePoint's REST API, or say how (PnP)."""
        raise NotImplementedError

    def wanted(self, item: dict[str, Any]) -> tuple[dict[str, str | None], list[str]]:
        """The new Author, Editor (None: does not move), Created and Modified of an old item; who did not move
        (a system account, with neither id nor address, is not a person to carry)."""
        found: dict[str, str | None] = {}
        left = []
        for name, facet in FIELDS:
            who = person(item, facet)
            found[name] = self.new_person(who) if who["id"] or who["email"] else None
            if found[name] is None and (who["id"] or who["email"]):
                left.append(who["name"] or who["email"])
        found.update({name: str(item.get(facet) or "") for name, facet in DATES})
        return found, sorted(set(left))

    def compare(self, wanted: dict[str, str | None], existing: dict[str, Any]) -> str:
        wrong = [name for name, facet in FIELDS if wanted[name] is not None
                 and person(existing, facet)["email"] != str(wanted[name]).lower()]
        wrong += [name for name, facet in DATES if _minute(str(existing.get(facet))) != _minute(str(wanted[name]))]
        return f"{', '.join(wrong)} differ" if wrong else ""

    def set_by_rest(self, site: str, list_ref: str, number: str, wanted: dict[str, str | None]) -> None:
        """``ValidateUpdateListItem`` on item ``number`` of the list ``list_ref`` (``GetByTitle('...')`` or
        ``(guid'...')``) of ``site``: no version added."""
        assert self.rest is not None
        _, bias = self._regional(site)
        values = [{"FieldName": name, "FieldValue": f"[{{'Key':'i:0#.f|membership|{who}'}}]"}
                  for name, who in wanted.items() if name in ("Author", "Editor") and who]
        for name, stamp in ((n, wanted[n]) for n, _ in DATES):
            if stamp:
                when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) - dt.timedelta(minutes=bias)
                values.append({"FieldName": name, "FieldValue": when.strftime(US_FORMAT)})
        answer = self.rest.post(site, f"web/lists{list_ref}/items({number})/ValidateUpdateListItem",
                                {"formValues": values, "bNewDocumentUpdate": True})
        problems = [f"{r.get('FieldName')}: {r.get('ErrorMessage')}" for r in answer.get("value", [])
                    if r.get("HasException")]
        if problems:
            raise TenantmoveError(f"SharePoint refused {'; '.join(problems)}",
                                  hint="a person must exist in the new tenant (phase 30); rerun this phase")

    @staticmethod
    def pnp_step(work: Work, site: str, list_name: str, number: str, wanted: dict[str, str | None]) -> ManualStep:
        values = "; ".join(f"{ps_quote(k)}={ps_quote(str(v))}" for k, v in wanted.items() if v)
        return ManualStep(work.key, f"{work.name}: its author, editor and dates",
                          [f"Connect-PnPOnline -Url {ps_quote(site)} -Interactive",
                           f"Set-PnPListItem -List {ps_quote(list_name)} -Identity {number} -Values @{{{values}}} "
                           "-UpdateType UpdateOverwriteVersion"],
                          check=f"{work.name}: Author, Editor, Created and Modified as in the old tenant",
                          target_id=number)

    def _regional(self, site: str) -> tuple[int, int]:
        """The site's locale and time zone bias (UTC = local + bias): dates are written as the site reads them."""
        assert self.rest is not None
        if site not in self.regional:
            locale = int(self.rest.get(site, "web/RegionalSettings").get("LocaleId", US_LOCALE))
            bias = int((self.rest.get(site, "web/RegionalSettings/TimeZone").get("Information") or {}).get("Bias", 0))
            if locale != US_LOCALE:
                raise TenantmoveError(f"{site} writes dates in locale {locale}, which this runbook does not format",
                                      hint="run the PnP script instead (sign in with a secret, or set the dates "
                                           "with Set-PnPListItem), or set the site's locale to English (US)")
            self.regional[site] = (locale, bias)
        return self.regional[site]

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """One step per site: its Connect-PnPOnline, then every item's Set-PnPListItem."""
        by_site: dict[str, list[ManualStep]] = {}
        for step in steps:
            by_site.setdefault(step.commands[0], []).append(step)
        return [ManualStep(f"{mine[0].key} ... {mine[-1].key}" if len(mine) > 1 else mine[0].key,
                           f"{connect.split(' -Url ', 1)[1].split(' -Interactive')[0]}: the author, editor and dates "
                           f"of {len(mine)} item(s)", [connect, *[line for s in mine for line in s.commands[1:]]],
                           check="; ".join(s.check for s in mine[:2]) + (" ..." if len(mine) > 2 else ""))
                for connect, mine in by_site.items()]


class ListAuthorship(Authorship):
    kind = "list-authorship"
    title = "who made and last changed each list item, and when"

    def __init__(self, plan: ListPlan, lists: dict[str, str], items: dict[str, str],
                 new_person: Callable[[dict[str, str]], str | None], rest: SharePointRest | None = None,
                 rewritten: set[str] | None = None) -> None:
        """``lists``: old list key -> new list id; ``items``: old item key -> new item id; ``new_person``: an old
        author or editor (id, email, name) -> their new UPN, None when they do not move; ``rest``: SharePoint's
        REST API when it takes the runbook's tokens (None: the admin's PnP script does it); ``rewritten``: the
        items this pass wrote (an app's write makes it their editor again, so they are set again)."""
        super().__init__(new_person, rest, rewritten)
        self.plan, self.lists, self.items = plan, lists, items

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for e, item, key in moved_items(self.plan, self.lists, self.items):
            wanted, left = self.wanted(item)
            fields = item.get("fields") or {}
            yield Work(key, f"{e.label} #{item['id']}: {fields.get('Title', '')}",
                       version=self.version(key, str(item.get("eTag") or fields.get("Modified"))), scope=e.key,
                       detail={"author": person(item, "createdBy")["name"], "editor": person(item, "lastModifiedBy")[
                           "name"], "created": wanted["Created"], "modified": wanted["Modified"],
                               **({"left": ", ".join(left)} if left else {})},
                       data=(e, self.items[key], wanted, left))

    def find(self, work: Work) -> dict[str, Any] | None:
        e, new_id, _, _ = work.data
        assert e.site.target is not None
        return self.plan.sites.new.graph.get(path("sites", e.site.target["id"], "lists", self.lists[e.key], "items",
                                                  new_id))

    def set(self, work: Work, existing: dict[str, Any]) -> ManualStep | None:
        e, new_id, wanted, _ = work.data
        if self.rest is None:
            return self.pnp_step(work, e.site.target_url, str(e.source["displayName"]), new_id, wanted)
        title = str(e.source["displayName"]).replace("'", "''")
        self.set_by_rest(e.site.target_url, f"/GetByTitle('{title}')", new_id, wanted)
        return None


class FileAuthorship(Authorship):
    """Who made and last changed each copied file, and when, on the file's item in its drive's list (Graph's
    ``sharepointIds`` name the list and the item), for OneDrives and document libraries alike."""

    kind = "file-authorship"
    title = "who made and last changed each file, and when"
    where = "the new drive"
    made_first = "the file is copied first"

    def __init__(self, copy: DriveCopy, new_person: Callable[[dict[str, str]], str | None],
                 rest: SharePointRest | None = None, kind: str = "", rewritten: set[str] | None = None) -> None:
        super().__init__(new_person, rest, rewritten)
        self.copy = copy
        if kind:
            self.kind = kind

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for pair in self.copy.ready():
            assert pair.source is not None
            listed, _ = self.copy.old.delta(str(pair.source["id"]), None)
            live = {str(i["id"]): i for i in listed if not i.get("deleted")}
            paths = paths_of(live)
            packages = {i for i, x in live.items() if "package" in x}
            self.copy.tree(pair).load()  # the new drive, by path: what each file shows now
            for item_id, item in sorted(live.items(), key=lambda kv: paths[kv[0]]):
                if "file" not in item or any(paths[item_id].startswith(paths[p] + "/") for p in packages):
                    continue
                wanted, left = self.wanted(item)
                new_path = target_path(pair, paths[item_id])[0]
                key, version = f"{pair.scope}|{item_id}", str(item.get("cTag") or item.get("eTag"))
                yield Work(key, f"{pair.target_name}: {new_path}", version=self.version(key, version),
                           scope=pair.scope,
                           detail={"author": person(item, "createdBy")["name"],
                                   "editor": person(item, "lastModifiedBy")["name"],
                                   **({"left": ", ".join(left)} if left else {})},
                           data=(pair, new_path, wanted, left))

    def find(self, work: Work) -> dict[str, Any] | None:
        """The new file as the new drive's listing shows it (one listing a drive a pass)."""
        pair, new_path, _, _ = work.data
        return self.copy.tree(pair).lookup(new_path)

    def _list_ids(self, pair: Any, item_id: str) -> dict[str, Any]:
        """The file's site, list and item number (``sharepointIds``: returned only when selected)."""
        assert pair.target is not None
        return self.copy.new.graph.get(path("drives", pair.target["id"], "items", item_id),
                                       {"$select": "id,sharepointIds"}).get("sharepointIds") or {}

    def set(self, work: Work, existing: dict[str, Any]) -> ManualStep | None:
        pair, _, wanted, _ = work.data
        ids = self._list_ids(pair, str(existing["id"]))
        site, list_id, number = str(ids.get("siteUrl")), str(ids.get("listId")), str(ids.get("listItemId"))
        if self.rest is None:
            return self.pnp_step(work, site, list_id, number, wanted)
        self.set_by_rest(site, f"(guid'{list_id}')", number, wanted)
        return None
