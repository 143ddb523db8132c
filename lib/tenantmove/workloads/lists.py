"""Lists, their columns and their items, rebuilt in the new sites.

- **Lists** are created with one extra, indexed text column, ``tmSourceId``: the old item's id, so that a
  rerun finds an item it made before instead of making a second one.
- **Columns** follow, all lists first so that a lookup column can name the new list it points to, and
  calculated columns last (their formulas name other columns). Graph returns no facet for hyperlink/picture
  and managed-metadata (term) columns: a hyperlink column is recognised by its values and created; a term
  column needs the new tenant's term store and becomes a manual step, as does a column with no facet and no
  value to tell its type.
- **Items** go list by list in dependency order (a list that others look up first). A person is written as
  ``<Field>LookupId`` from the new site's User Information List, matched by e-mail through the user
  mapping; a person the new site does not know yet is reported (a manual step: give them access, rerun),
  never dropped. Who created or changed an item and when cannot be set through Graph: they are kept in the
  ledger and the report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..engine.workload import REMOVED
from ..errors import TenantmoveError
from ..services.graph import GraphClient, path
from .sites import SiteEntry, SiteMap

SOURCE_ID = "tmSourceId"
FACETS = ("text", "number", "choice", "dateTime", "boolean", "currency", "personOrGroup", "lookup",
          "hyperlinkOrPicture", "calculated", "term")
SYSTEM = {"id", "ContentType", "Created", "Modified", "AuthorLookupId", "EditorLookupId", "_UIVersionString",
          "Attachments", "Edit", "LinkTitle", "LinkTitleNoMenu", "ItemChildCount", "FolderChildCount", "_ComplianceFlags",
          "_ComplianceTag", "_ComplianceTagWrittenTime", "_ComplianceTagUserId", "AppAuthorLookupId",
          "AppEditorLookupId", "@odata.etag", "DocIcon", SOURCE_ID}
NOT_SETTABLE = ("Graph cannot set who created or last changed a list item, nor when (Author, Editor, Created, "
                "Modified): they are set after the items through SharePoint's REST API (an app with a certificate) "
                "or by the PnP script, and read back; someone the mapping does not move keeps the migration account "
                "there, named on the item. The originals are kept in the ledger.")


@dataclass
class ListEntry:
    site: SiteEntry
    source: dict[str, Any]
    columns: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.site.source['id']}|{self.source['id']}"

    @property
    def label(self) -> str:
        return f"{self.site.label}/{self.source['displayName']}"

    def looks_up(self) -> set[str]:
        """The source list ids this list's lookup columns point to."""
        return {str(c["lookup"]["listId"]) for c in self.columns if "lookup" in c}


def column_type(column: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """The column's type: its facet, or for the facets Graph leaves out, what its values look like."""
    found = next((f for f in FACETS if f in column), "")
    if found:
        return found
    for item in items:
        value = (item.get("fields") or {}).get(column["name"])
        if isinstance(value, dict) and "Url" in value:
            return "hyperlinkOrPicture"
        if isinstance(value, dict) and "TermGuid" in value:
            return "term"
    return "unknown"


@dataclass
class ListPlan:
    """Every list of every ready site, read once per pass (columns and items included)."""

    sites: SiteMap
    lists: list[ListEntry]
    people: dict[str, dict[str, str]] = field(default_factory=dict)  # site id -> lookup id -> e-mail

    @classmethod
    def read(cls, sites: SiteMap, every: bool = False) -> ListPlan:
        """The lists of the sites ready in the new tenant (``every``: of all sites, for the plan)."""
        lists = []
        for site in sites.entries if every else sites.ready():
            for lst in site.lists:
                entry = ListEntry(site, lst, sites.old.columns(site.source["id"], lst["id"]),
                                  sites.old.items(site.source["id"], lst["id"]))
                lists.append(entry)
        plan = cls(sites, lists)
        for site in sites.entries if every else sites.ready():
            plan.people[site.source["id"]] = sites.old.people(site.source["id"])
        return plan

    def levels(self) -> list[list[ListEntry]]:
        """Lists in dependency order: those no list of theirs looks up first."""
        placed: set[str] = set()
        left = list(self.lists)
        levels: list[list[ListEntry]] = []
        while left:
            level = [e for e in left if e.looks_up() <= placed | {e.source["id"]}]
            if not level:  # a lookup cycle: what is left goes together (lookups into it stay empty, reported)
                level = left
            levels.append(level)
            placed |= {e.source["id"] for e in level}
            left = [e for e in left if e not in level]
        return levels


def moved_items(plan: ListPlan, lists: dict[str, str], items: dict[str, str]) -> Iterator[
        tuple[ListEntry, dict[str, Any], str]]:
    """Each old list item whose list and item were made in the new tenant: (its list, the item, its key); ``lists``
    and ``items`` map old keys to new ids (the ledger's)."""
    for e in plan.lists:
        if e.key in lists:
            for item in e.items:
                key = f"{e.key}|{item['id']}"
                if key in items:
                    yield e, item, key


def major(item: dict[str, Any]) -> int:
    """How many versions an item has, from its ``_UIVersionString`` (1.0, 2.0, ...)."""
    raw = str((item.get("fields") or {}).get("_UIVersionString") or "1.0")
    try:
        return int(float(raw))
    except ValueError:
        return 1


def versions(graph: GraphClient, site_id: str, list_id: str, item_id: str) -> list[dict[str, Any]]:
    """An item's versions, oldest first (Graph lists them newest first)."""
    found = graph.get_all(f"{path('sites', site_id, 'lists', list_id, 'items', item_id)}/versions")
    return sorted(found, key=lambda v: float(str(v.get("id") or "0")))


class Lists(Workload):
    kind = "list"
    title = "lists"

    def __init__(self, plan: ListPlan) -> None:
        self.plan = plan

    def list(self, deltas: object) -> Iterable[Work]:
        for e in self.plan.lists:
            yield Work(e.key, e.label, scope=e.site.source["id"],
                       detail={"columns": len([c for c in e.columns if not c.get("readOnly")]), "items": len(e.items),
                               "new site": e.site.target_url}, data=e)

    def find(self, work: Work) -> dict[str, Any] | None:
        e: ListEntry = work.data
        e.target = self.plan.sites.new.find_list(e.site.target["id"], e.source["displayName"])
        return e.target

    def apply(self, work: Work, existing: Any | None) -> Applied:
        e: ListEntry = work.data
        if existing is None:
            existing = self.plan.sites.new.create_list(
                e.site.target["id"], e.source["displayName"], "genericList",
                [{"name": SOURCE_ID, "displayName": "tenantmove source id", "text": {}, "indexed": True}])
            e.target = existing
            return Applied(existing["id"], "created", detail=work.detail)
        if not any(c["name"] == SOURCE_ID for c in self.plan.sites.new.columns(e.site.target["id"], existing["id"])):
            raise TenantmoveError(f"a list named {e.source['displayName']} exists in {e.site.target_url} but was not "
                                  "made by tenantmove (no tmSourceId column)",
                                  hint="rename or remove it in the new site, then rerun")
        return Applied(existing["id"], "ready", detail=work.detail)


class Columns(Workload):
    kind = "list-column"
    title = "list columns"
    manual_shell = "PnP PowerShell"

    def __init__(self, plan: ListPlan, lists: dict[str, str], calculated: bool) -> None:
        """``lists``: source list key -> new list id (the list workload's targets); ``calculated``: this pass
        makes the calculated columns (after all others)."""
        self.plan, self.targets, self.calculated = plan, lists, calculated

    def list(self, deltas: object) -> Iterable[Work]:
        for e in self.plan.lists:
            if e.key not in self.targets:
                continue
            for column in e.columns:
                kind = column_type(column, e.items)
                if column.get("hidden") or column["name"] in SYSTEM | {"Title"} or (kind == "calculated") != \
                        self.calculated or (column.get("readOnly") and kind != "calculated"):
                    continue
                yield Work(f"{e.key}|{column['name']}", f"{e.label}: {column['displayName']}", scope=e.key,
                           detail={"type": kind, "list": e.label}, data=(e, column, kind))

    def find(self, work: Work) -> dict[str, Any] | None:
        e, column, _ = work.data
        columns = self.plan.sites.new.columns(e.site.target["id"], self.targets[e.key])
        return next((c for c in columns if c["name"].lower() == column["name"].lower()), None)

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        e, column, kind = work.data
        if existing is not None:
            return Applied(existing["id"], "ready", detail=work.detail)
        if kind in ("term", "unknown"):
            why = ("a managed-metadata column needs the new tenant's term store (create the term set first)"
                   if kind == "term" else "Graph returns no type for this column and the list has no value to tell it")
            return ManualStep(work.key, f"column {column['displayName']} of {e.label}: {why}", [
                f"Connect-PnPOnline -Url '{e.site.target_url}' -Interactive",
                f"Add-PnPField -List '{e.source['displayName']}' -DisplayName '{column['displayName']}' "
                f"-InternalName '{column['name']}' -Type {'TaxonomyFieldType' if kind == 'term' else 'Text'}"],
                check="the column exists in the new list")
        facet = dict(column.get(kind) or {})
        if kind == "lookup":
            source_list = str(facet.get("listId"))
            target_list = next((t for k, t in self.targets.items() if k.endswith(f"|{source_list}")), None)
            if target_list is None:
                raise TenantmoveError(f"{work.name}: the list it looks up was not moved", hint="move that list first")
            facet = {"listId": target_list, "columnName": facet.get("columnName", "Title")}
        body = {"name": column["name"], "displayName": column["displayName"], kind: facet}
        made = self.plan.sites.new.add_column(e.site.target["id"], self.targets[e.key], body)
        return Applied(made["id"], "created", detail=work.detail)


LEFT_BLANK = "left blank"  # a list item's detail: the values it could not carry, each with its column and why


class ListItems(Workload):
    kind = "list-item"
    title = "list items"
    scope_limit = 4
    manual_shell = "SharePoint Online Management Shell"
    manual_preamble = ("Connect-SPOService -Url https://<new tenant>-admin.sharepoint.com",)

    def __init__(self, plan: ListPlan, entries: list[ListEntry], lists: dict[str, str],
                 items: dict[str, str], emails: dict[str, str]) -> None:
        """``lists``: source list key -> new list id; ``items``: source item key -> new item id (lists done
        before, for lookups); ``emails``: old e-mail/UPN -> new (the user mapping)."""
        self.plan, self.entries, self.targets = plan, entries, lists
        self.done_items = {(k.split("|")[1], k.rsplit("|", 1)[1]): v for k, v in items.items()}  # (list, item)
        self.emails = {k.lower(): v.lower() for k, v in emails.items()}
        self.new_people: dict[str, dict[str, str]] = {}  # new site id -> e-mail -> lookup id

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for e in self.entries:
            if e.key not in self.targets:
                continue
            listed = {f"{e.key}|{item['id']}" for item in e.items}
            for key in sorted(deltas.known(e.key) - listed):  # gone from the old list since the last pass
                yield Work(key, f"{e.label} #{key.rsplit('|', 1)[1]} (deleted in the old list)", version=REMOVED,
                           scope=e.key, data=(e, None))
            for item in e.items:
                fields = item.get("fields") or {}
                yield Work(f"{e.key}|{item['id']}", f"{e.label} #{item['id']}: {fields.get('Title', '')}",
                           version=str(item.get("eTag") or fields.get("Modified")), scope=e.key,
                           detail={"author": ((item.get("createdBy") or {}).get("user") or {}).get("displayName"),
                                   "editor": ((item.get("lastModifiedBy") or {}).get("user") or {}).get("displayName"),
                                   "created": item.get("createdDateTime"), "modified": item.get("lastModifiedDateTime")},
                           data=(e, item))

    def find(self, work: Work) -> dict[str, Any] | None:
        e, item = work.data
        source_id = item["id"] if item is not None else work.key.rsplit("|", 1)[1]
        return self.plan.sites.new.item_by_field(e.site.target["id"], self.targets[e.key], SOURCE_ID, source_id)

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        e, item = work.data
        if item is None:  # deleted in the old list: the copy goes too
            if existing is not None:
                self.plan.sites.new.delete_item(e.site.target["id"], self.targets[e.key], str(existing["id"]))
            return Applied(None, "removed" if existing is not None else "removed (nothing had been copied)")
        fields, unresolved, skipped, blank = self._fields(e, item.get("fields") or {})
        site, list_id = e.site.target["id"], self.targets[e.key]
        if existing is None:
            first = fields
            if major(item) > 1:  # made as its first version was: the later ones are replayed after (versions.py)
                oldest = versions(self.plan.sites.old.graph, e.site.source["id"], e.source["id"], str(item["id"]))[0]
                first = self._fields(e, oldest.get("fields") or {})[0]
            made = self.plan.sites.new.create_item(site, list_id, {**first, SOURCE_ID: str(item["id"])})
            target, action = str(made["id"]), "created"
        elif major(item) > 1 and work.before is None:  # made by a pass killed before it was recorded: as its first
            target, action = str(existing["id"]), "adopted"  # version, so the versions workload writes the rest
        else:
            self.plan.sites.new.update_item(site, list_id, str(existing["id"]), fields)
            target, action = str(existing["id"]), "updated"
        detail = {**work.detail, "not copied": skipped, "people not in the new site": unresolved, LEFT_BLANK: blank}
        if unresolved:
            return ManualStep(work.key, f"{work.name}: {', '.join(unresolved)} not known to {e.site.target_url} yet; "
                                        "give them access to the site, then rerun: their values are kept in the ledger",
                              [f"Add-SPOUser -Site {ps_quote(e.site.target_url)} -LoginName {ps_quote(person)} -Group "
                               f"{ps_quote(str(e.site.source.get('displayName') or '') + ' Visitors')}"
                               for person in unresolved],
                              check=f"the item's person fields are set (item {target})", target_id=target)
        return Applied(target, action, detail=detail)

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """One line per person and site, however many items name them."""
        commands = list(dict.fromkeys(c for s in steps for c in s.commands))
        return [ManualStep("people", f"give {len(commands)} person/site pair(s) access, for {len(steps)} item(s); "
                                     "then rerun the phase", commands)] if steps else []

    def _fields(self, e: ListEntry, source: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str], list[str]]:
        """The writable values, mapped to the new tenant; people the new site does not know; columns skipped (by
        design: their own manual step); values left blank, each with its column and why (a person not in the user
        mapping, a lookup whose item was not moved): data a reader would miss, named in the results and by phase
        90."""
        columns = {c["name"]: c for c in e.columns}
        out: dict[str, Any] = {}
        unresolved: list[str] = []
        skipped: list[str] = []
        blank: list[str] = []
        for name, value in source.items():
            base = name[:-8] if name.endswith("LookupId") else name
            column = columns.get(base)
            if name in SYSTEM or column is None or column.get("readOnly") or column.get("hidden"):
                continue
            kind = column_type(column, e.items)
            if kind in ("term", "unknown"):
                skipped.append(f"{column['displayName']} ({'managed metadata' if kind == 'term' else 'unknown type'}): "
                               f"{value}")
                continue
            if kind == "personOrGroup" and value:
                email = self.plan.people.get(e.site.source["id"], {}).get(str(value), "")
                if email not in self.emails:  # not moving: nobody to point at; named, never a silent blank
                    blank.append(f"{column['displayName']}: {email or f'lookup id {value}'} (not in the user "
                                 "mapping)")
                    continue
                lookup = self._person(e, self.emails[email])
                if lookup is None:
                    unresolved.append(self.emails[email])
                    continue
                out[name] = lookup
            elif kind == "lookup" and value:
                target = self.done_items.get((str(column["lookup"]["listId"]), str(value)))
                if target is None:
                    blank.append(f"{column['displayName']}: lookup {value} (its item was not moved or is gone)")
                    continue
                out[name] = target
            else:
                out[name] = value
        return out, unresolved, skipped, blank

    def _person(self, e: ListEntry, email: str) -> str | None:
        site = e.site.target["id"]
        if site not in self.new_people:
            self.new_people[site] = {v: k for k, v in self.plan.sites.new.people(site).items()}
        return self.new_people[site].get(email.lower())


def left_blank(items: Iterable[Any]) -> pd.DataFrame:
    """Every value the list items could not carry, named: item, column, and why (from the ledger's items)."""
    rows = [{"item": i.name or i.source_id, "value left blank": value}
            for i in items if i.state == "done" for value in (i.detail or {}).get(LEFT_BLANK) or []]
    return pd.DataFrame(rows, columns=["item", "value left blank"])
