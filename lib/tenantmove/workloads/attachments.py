"""A list item's attachments, carried after its item: Graph v1.0 has no API for them, so SharePoint's REST API
reads them in the old site (``AttachmentFiles``, each file by ``GetFileByServerRelativeUrl``) and adds them to the
new item (``AttachmentFiles/add``), one item per file, compared by SHA-256. Both tenants' apps need a certificate
for it; without one, each item with attachments is a manual item with the PnP commands that copy them
(``Get-PnPListItemAttachment``, ``Add-PnPListItemAttachment``), which the admin marks done."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import GraphError
from ..services.sprest import SharePointRest
from .lists import ListEntry, ListPlan, moved_items


def _items_call(e: ListEntry, item_id: str) -> str:
    return f"web/lists/GetByTitle('{str(e.source['displayName']).replace(chr(39), chr(39) * 2)}')/items({item_id})"


class ListAttachments(Workload):
    kind = "list-attachment"
    title = "list item attachments"
    manual_shell = "PnP PowerShell"
    scope_limit = 4

    def __init__(self, plan: ListPlan, lists: dict[str, str], items: dict[str, str],
                 old: SharePointRest | None, new: SharePointRest | None) -> None:
        """``items``: old item key -> new item id; ``old``/``new``: SharePoint's REST API in each tenant, or None
        when SharePoint will not take that app's tokens (then the PnP commands do it)."""
        self.plan, self.lists, self.items, self.old, self.new = plan, lists, items, old, new
        self.made: set[str] = set()  # old item keys whose new item got an attachment this pass (its editor changed)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for e, item, key in moved_items(self.plan, self.lists, self.items):
            if not (item.get("fields") or {}).get("Attachments"):
                continue
            name = f"{e.label} #{item['id']}"
            if self.old is None or self.new is None:
                yield Work(f"{key}|*", f"{name}: its attachments", scope=e.key, data=(e, item, key, None))
                continue
            for att in self.old.get(e.site.label, _items_call(e, str(item["id"])) + "/AttachmentFiles")["value"]:
                yield Work(f"{key}|{att['FileName']}", f"{name}: {att['FileName']}", scope=e.key,
                           detail={"file": att["FileName"]}, data=(e, item, key, att))

    def find(self, work: Work) -> str | None:
        e, _, key, att = work.data
        if att is None or self.new is None:
            return None
        names = {a["FileName"].lower() for a in self.new.get(e.site.target_url, _items_call(e, self.items[key])
                                                               + "/AttachmentFiles")["value"]}
        return att["FileName"] if att["FileName"].lower() in names else None

    def differs(self, work: Work, existing: str | None) -> str:
        if work.data[3] is None:
            return "not compared: SharePoint's REST API is needed in both tenants (an app certificate)"
        return "" if existing else "not attached to the new item"

    def apply(self, work: Work, existing: str | None) -> Applied | ManualStep:
        e, item, key, att = work.data
        if att is None:
            return ManualStep(work.key, f"{work.name}: copy them", [
                f"Connect-PnPOnline -Url {ps_quote(e.site.label)} -Interactive",
                f"Get-PnPListItemAttachment -List {ps_quote(e.source['displayName'])} -Identity {item['id']} -Path "
                f"'.\\attachments\\{item['id']}'",
                f"Connect-PnPOnline -Url {ps_quote(e.site.target_url)} -Interactive",
                f"Get-ChildItem '.\\attachments\\{item['id']}' | ForEach-Object {{ Add-PnPListItemAttachment -List "
                f"{ps_quote(e.source['displayName'])} -Identity {self.items[key]} -Path $_.FullName }}",
                f"# then: python -m tenantmove done PARAMS.yaml '{work.key}' --note 'attachments copied'"],
                check=f"{work.name}: the new item has the same attachments")
        if existing:
            return Applied(existing, "adopted", detail=work.detail)
        assert self.old is not None and self.new is not None
        url = str(att["ServerRelativeUrl"]).replace("'", "''")
        data = self.old.get_bytes(e.site.label, f"web/GetFileByServerRelativeUrl('{url}')/$value")
        name = str(att["FileName"]).replace("'", "''")
        call = _items_call(e, self.items[key]) + f"/AttachmentFiles/add(FileName='{name}')"
        try:
            self.new.post_bytes(e.site.target_url, call, data)
        except GraphError as exc:
            if exc.status != 400:
                raise
            raise TenantmoveError(f"{work.name}: SharePoint did not take the attachment: {exc.graph_message}",
                                  hint="a name SharePoint refuses must be renamed in the old item; then rerun this "
                                       "phase") from exc
        self.made.add(key)
        return Applied(att["FileName"], "created", size=len(data), copied_hash=hashlib.sha256(data).hexdigest(),
                       detail=work.detail)
