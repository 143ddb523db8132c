"""A list item's earlier versions, replayed after its item: Graph lists them (``items/{id}/versions``, each with its
fields, editor and date) but cannot write history, so the item is made from its first version (by
:class:`~tenantmove.workloads.lists.ListItems`) and each later one is written again in order (a Graph ``PATCH`` of
its fields makes the next version), then given that version's editor and date through SharePoint's REST API
(``ValidateUpdateListItem`` with ``bNewDocumentUpdate: true`` overwrites the version just made). The last one is
the item as people see it now; its author, editor and dates are set again by the authorship workload after.

A rerun continues where the new item's history stops: versions already there are not written twice, and the
newest one is given its editor and date if a kill came between the two calls. An earlier version cannot be changed
once a later one exists: such a difference is named, never silently rewritten. Without a certificate in the new
tenant the versions' content is replayed and their editors and dates stay the migration account's, said on the
item."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, Work
from ..services.sprest import SharePointRest
from .authorship import Authorship, person
from .lists import ListItems, ListPlan, major, moved_items, versions


class ListVersions(Authorship):
    kind = "list-version"
    title = "each list item's earlier versions"

    def __init__(self, plan: ListPlan, lists: dict[str, str], items: dict[str, str], emails: dict[str, str],
                 new_person: Callable[[dict[str, str]], str | None], rest: SharePointRest | None) -> None:
        """As :class:`ListItems` (``emails``: the mapping's old address -> new, for person columns) and
        :class:`~tenantmove.workloads.authorship.ListAuthorship` (``new_person``, ``rest``)."""
        super().__init__(new_person, rest)
        self.plan, self.lists, self.items = plan, lists, items
        self.fields = ListItems(plan, [], lists, items, emails)  # how a version's values are written
        self.replayed: set[str] = set()  # old item keys whose new item got versions this pass (authorship again)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for e, item, key in moved_items(self.plan, self.lists, self.items):
            if major(item) > 1:
                fields = item.get("fields") or {}
                yield Work(key, f"{e.label} #{item['id']}: {fields.get('Title', '')}", version=str(
                    item.get("eTag") or fields.get("Modified")), scope=e.key, detail={"versions": major(item)},
                           data=(e, item, key))

    def _old(self, work: Work) -> list[dict[str, Any]]:
        e, item, _ = work.data
        return versions(self.plan.sites.old.graph, e.site.source["id"], e.source["id"], str(item["id"]))

    def find(self, work: Work) -> list[dict[str, Any]] | None:
        e, _, key = work.data
        assert e.site.target is not None
        return versions(self.plan.sites.new.graph, e.site.target["id"], self.lists[e.key], self.items[key])

    def _wanted(self, item: dict[str, Any], version: dict[str, Any]) -> dict[str, str | None]:
        """A version's author and creation (the item's), editor and date (the version's), as the new tenant has them."""
        found, _ = self.wanted({"createdBy": item.get("createdBy"), "createdDateTime": item.get("createdDateTime"),
                                "lastModifiedBy": version.get("lastModifiedBy"),
                                "lastModifiedDateTime": version.get("lastModifiedDateTime")})
        return found

    def _same(self, new: dict[str, Any], wanted: dict[str, str | None]) -> bool:
        editor = wanted.get("Editor")
        return (editor is None or person(new, "lastModifiedBy")["email"] == str(editor).lower()) and \
            str(new.get("lastModifiedDateTime") or "")[:16] == str(wanted.get("Modified") or "")[:16]

    def differs(self, work: Work, existing: list[dict[str, Any]] | None) -> str:
        """The old history must be the new one's beginning; versions after it (a value a later pass filled in, or
        people's own work in the new tenant) are not a difference."""
        if existing is None:
            return "not in the new list"
        old = self._old(work)
        if len(existing) < len(old):
            return f"{len(existing)} version(s), the old item has {len(old)}"
        if self.rest is None:
            return ""  # editors and dates of versions need SharePoint's REST API: said when they were replayed
        wrong = [str(v.get("id")) for v, w in zip(old, existing, strict=False)
                 if not self._same(w, self._wanted(work.data[1], v))]
        return f"version(s) {', '.join(wrong)}: editor or date differ" if wrong else ""

    def apply(self, work: Work, existing: list[dict[str, Any]] | None) -> Applied:
        e, item, key = work.data
        assert e.site.target is not None and existing is not None
        old, new_id = self._old(work), self.items[key]
        title = str(e.source["displayName"]).replace("'", "''")
        done, notes = 0, []
        for k, version in enumerate(old, 1):
            wanted = self._wanted(item, version)
            if k < len(existing):
                if self.rest is not None and not self._same(existing[k - 1], wanted):
                    notes.append(f"version {k} of the new item cannot be changed any more (a later one exists)")
                continue
            if k > len(existing):
                fields = self.fields._fields(e, version.get("fields") or {})[0]
                self.plan.sites.new.update_item(e.site.target["id"], self.lists[e.key], new_id, fields)
                done += 1
                self.replayed.add(key)
            if self.rest is not None and (k > len(existing) or not self._same(existing[k - 1], wanted)):
                self.set_by_rest(e.site.target_url, f"/GetByTitle('{title}')", new_id, wanted)
        if len(existing) > len(old):
            notes.append(f"the new item has {len(existing)} versions, the old one {len(old)}: a write after its copy")
        if self.rest is None and done:
            notes.append("the versions' editors and dates are the migration account's: SharePoint's REST API needs the "
                         "new tenant's app to have a certificate (certificate_file)")
        return Applied(new_id, "updated" if done else "adopted", detail={**work.detail, "replayed": done},
                       note="; ".join(notes))
