"""Who made and last changed each list item, and when, carried after the items: Graph sets ``createdBy`` and
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

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import path
from ..services.sprest import SharePointRest
from .lists import ListEntry, ListPlan

US_LOCALE = 1033
US_FORMAT = "%m/%d/%Y %I:%M %p"  # English (US): 5/1/2023 10:00 AM
FIELDS = (("Author", "createdBy"), ("Editor", "lastModifiedBy"))
DATES = (("Created", "createdDateTime"), ("Modified", "lastModifiedDateTime"))


def person(item: dict[str, Any], facet: str) -> dict[str, str]:
    user = (item.get(facet) or {}).get("user") or {}
    return {"id": str(user.get("id") or ""), "email": str(user.get("email") or "").lower(),
            "name": str(user.get("displayName") or "")}


def _minute(stamp: str) -> str:
    return str(stamp or "")[:16]  # yyyy-mm-ddThh:mm: SharePoint's forms keep no seconds


class ListAuthorship(Workload):
    kind = "list-authorship"
    title = "who made and last changed each list item, and when"
    manual_shell = "PnP PowerShell"
    scope_limit = 4

    def __init__(self, plan: ListPlan, lists: dict[str, str], items: dict[str, str],
                 new_person: Callable[[dict[str, str]], str | None], rest: SharePointRest | None = None) -> None:
        """``lists``: old list key -> new list id; ``items``: old item key -> new item id; ``new_person``: an old
        author or editor (id, email, name) -> their new UPN, None when they do not move; ``rest``: SharePoint's
        REST API when it takes the runbook's tokens (None: the admin's PnP script does it)."""
        self.plan, self.lists, self.items, self.new_person, self.rest = plan, lists, items, new_person, rest
        self.regional: dict[str, tuple[int, int]] = {}  # site url -> (locale id, bias in minutes)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for e in self.plan.lists:
            if e.key not in self.lists:
                continue
            for item in e.items:
                key = f"{e.key}|{item['id']}"
                if key not in self.items:
                    continue
                wanted: dict[str, str | None] = {name: self.new_person(person(item, facet)) for name, facet in FIELDS}
                wanted.update({name: str(item.get(facet) or "") for name, facet in DATES})
                left = sorted({person(item, facet)["name"] or person(item, facet)["email"] for name, facet in FIELDS
                               if wanted[name] is None})
                fields = item.get("fields") or {}
                yield Work(key, f"{e.label} #{item['id']}: {fields.get('Title', '')}",
                           version=str(item.get("eTag") or fields.get("Modified")), scope=e.key,
                           detail={"author": person(item, "createdBy")["name"], "editor": person(item, "lastModifiedBy")[
                               "name"], "created": wanted["Created"], "modified": wanted["Modified"],
                                   **({"left": ", ".join(left)} if left else {})},
                           data=(e, self.items[key], wanted, left))

    def find(self, work: Work) -> dict[str, Any] | None:
        e, new_id, _, _ = work.data
        assert e.site.target is not None
        return self.plan.sites.new.graph.get(path("sites", e.site.target["id"], "lists", self.lists[e.key], "items",
                                                  new_id))

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        if existing is None:
            return "the item is not in the new list"
        _, _, wanted, _ = work.data
        wrong = [name for name, facet in FIELDS if wanted[name] is not None
                 and person(existing, facet)["email"] != str(wanted[name]).lower()]
        wrong += [name for name, facet in DATES if _minute(str(existing.get(facet))) != _minute(str(wanted[name]))]
        return f"{', '.join(wrong)} differ" if wrong else ""

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        e, new_id, wanted, left = work.data
        note = (f"{', '.join(left)} did not move (not in the user mapping): the item shows the migration account "
                "there") if left else ""
        if existing is None:
            raise TenantmoveError(f"{work.name}: the item is not in the new list", where=work.name,
                                  hint="rerun this phase: the item is made first")
        if not self.differs(work, existing):
            return Applied(new_id, "adopted", detail=work.detail, note=note)
        if self.rest is None:
            values = "; ".join(f"{ps_quote(k)}={ps_quote(str(v))}" for k, v in wanted.items() if v)
            return ManualStep(work.key, f"{work.name}: its author, editor and dates",
                              [f"Set-PnPListItem -List {ps_quote(e.source['displayName'])} -Identity {new_id} "
                               f"-Values @{{{values}}} -UpdateType UpdateOverwriteVersion"],
                              check=f"{work.name}: Author, Editor, Created and Modified as in the old list",
                              target_id=new_id)
        self._validate_update(e, new_id, wanted)
        return Applied(new_id, "updated", detail=work.detail, note=note)

    def _validate_update(self, e: ListEntry, new_id: str, wanted: dict[str, str | None]) -> None:
        assert self.rest is not None
        site = e.site.target_url
        _, bias = self._regional(site)
        values = [{"FieldName": name, "FieldValue": f"[{{'Key':'i:0#.f|membership|{who}'}}]"}
                  for name, who in wanted.items() if name in ("Author", "Editor") and who]
        for name, stamp in ((n, wanted[n]) for n, _ in DATES):
            if stamp:
                when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) - dt.timedelta(minutes=bias)
                values.append({"FieldName": name, "FieldValue": when.strftime(US_FORMAT)})
        title = str(e.source["displayName"]).replace("'", "''")
        answer = self.rest.post(site, f"web/lists/GetByTitle('{title}')/items({new_id})/ValidateUpdateListItem",
                                {"formValues": values, "bNewDocumentUpdate": True})
        problems = [f"{r.get('FieldName')}: {r.get('ErrorMessage')}" for r in answer.get("value", [])
                    if r.get("HasException")]
        if problems:
            raise TenantmoveError(f"SharePoint refused {'; '.join(problems)}",
                                  hint="a person must exist in the new tenant (phase 30); rerun this phase")

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
        """One script per site: its Connect-PnPOnline, then every item's Set-PnPListItem."""
        by_site: dict[str, list[ManualStep]] = {}
        for step in steps:
            site = next(e.site.target_url for e in self.plan.lists if step.key.startswith(e.key + "|"))
            by_site.setdefault(site, []).append(step)
        return [ManualStep(f"{mine[0].key} ... {mine[-1].key}" if len(mine) > 1 else mine[0].key,
                           f"{site}: the author, editor and dates of {len(mine)} item(s)",
                           [f"Connect-PnPOnline -Url {ps_quote(site)} -Interactive",
                            *[line for s in mine for line in s.commands]],
                           check="; ".join(s.check for s in mine[:2]) + (" ..." if len(mine) > 2 else ""))
                for site, mine in by_site.items()]
