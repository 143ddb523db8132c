"""Team sites and their document libraries. Graph v1.0 cannot create sites:

- a site of a Microsoft 365 group comes with the group (moved in phase 30), some time after it: the new
  group's ``/sites/root`` answers 404 for up to about 15 minutes (45 have been seen), so it is waited for;
- a site without a group (team site ``sts``, communication site ``sitepagepublishing``) is made through
  Graph beta ``POST /sites`` when the ``sites_beta`` parameter allows it, or else becomes a manual step
  (``New-SPOSite``) for the SharePoint Online Management Shell;
- a subsite becomes a manual step (``New-PnPWeb``, PnP PowerShell): no Graph API makes one.

The structure (site, subsites, libraries, lists) is recorded in the ledger and the run folder. Libraries
are created where missing; their files then go through the same folder and file workloads as OneDrive."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..engine import Applied, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import GraphClient, path
from ..services.sites import SiteClient
from .groups import find_group
from .onedrive import Pair

PUBLIC_HOST_SUFFIX = "-public.sharepoint.com"  # where SharePoint Online's retired public websites lived
DEFAULT_LIBRARY = "Documents"


@dataclass
class SiteEntry:
    """One source site and where it goes."""

    source: dict[str, Any]
    kind: str  # group | standalone | subsite | root
    target_url: str
    group: dict[str, Any] | None = None  # the source group (kind group)
    parent: str = ""  # the source parent site id (kind subsite)
    target: dict[str, Any] | None = None
    libraries: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    subsites: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return urlsplit(self.source["webUrl"]).path or "/"

    @property
    def label(self) -> str:
        return self.source["webUrl"]


@dataclass
class SiteMap:
    """The old tenant's sites, each with its place in the new tenant; shared by the site, library, list,
    column and item workloads of one pass."""

    old: SiteClient
    new: SiteClient
    new_graph: GraphClient
    source_host: str
    target_host: str
    entries: list[SiteEntry]
    public: list[dict[str, Any]]  # legacy public websites: not moved, a checklist

    def attach(self, targets: dict[str, str]) -> None:
        """The new sites of those done in an earlier pass (the engine does not look them up again)."""
        for e in self.entries:
            if e.target is None and e.source["id"] in targets:
                e.target = self.new.graph.get(path("sites", targets[e.source["id"]]))

    def by_source(self, site_id: str) -> SiteEntry:
        return next(e for e in self.entries if e.source["id"] == site_id)

    def ready(self) -> list[SiteEntry]:
        return [e for e in self.entries if e.target is not None]


def moved_path(path: str, renamed: dict[str, str]) -> str:
    """``path`` (``/sites/x/sub``) in the new tenant: the longest renamed prefix (a merge's ``sites/x`` ->
    ``sites/x-suffix``) replaced, its subsites with it."""
    bare = path.strip("/")
    for old in sorted(renamed, key=len, reverse=True):
        if bare.lower() == old.lower() or bare.lower().startswith(old.lower() + "/"):
            return "/" + renamed[old] + bare[len(old):]
    return path


def map_sites(old: SiteClient, new: SiteClient, new_graph: GraphClient, groups: dict[str, dict[str, Any]],
              target_host: str, renamed: dict[str, str] | None = None) -> SiteMap:
    """Read the old tenant's sites, their libraries, lists and subsites, and where each goes. ``groups``:
    the old tenant's Microsoft 365 groups by the mailNickname they take to the new tenant (their sites are found
    through the group); ``renamed``: the paths a merge gives new names (a renamed group's site among them)."""
    sites = old.all_sites()
    public = [s for s in sites if urlsplit(s["webUrl"]).hostname and
              str(urlsplit(s["webUrl"]).hostname).endswith(PUBLIC_HOST_SUFFIX)]
    sites = [s for s in sites if s not in public]
    source_host = next((urlsplit(s["webUrl"]).hostname or "" for s in sites if "root" in s), "")
    by_name = {g["mailNickname"].lower(): g for g in groups.values()}
    entries = []
    for site in sorted(sites, key=lambda s: len(urlsplit(s["webUrl"]).path)):  # parents before subsites
        path = urlsplit(site["webUrl"]).path.rstrip("/")
        target_path = moved_path(path, renamed or {})
        target_url = f"https://{target_host}{target_path}"
        segments = [p for p in target_path.split("/") if p]
        if not segments:  # the old root site, unless a merge gives it a path of its own (another takes the root)
            entry = SiteEntry(site, "root", target_url)
        elif site.get("_parent"):
            entry = SiteEntry(site, "subsite", target_url, parent=site["_parent"])
        elif segments[0] == "sites" and segments[-1].lower() in by_name:
            entry = SiteEntry(site, "group", target_url, group=by_name[segments[-1].lower()])
        else:
            entry = SiteEntry(site, "standalone", target_url)
        everything = old.lists(site["id"])
        entry.libraries = [lst for lst in everything if (lst.get("list") or {}).get("template") == "documentLibrary"
                           and not (lst.get("list") or {}).get("hidden")]
        entry.lists = [lst for lst in everything if (lst.get("list") or {}).get("template") == "genericList"
                       and not (lst.get("list") or {}).get("hidden")]
        entries.append(entry)
    for entry in entries:
        if entry.parent:
            next(e for e in entries if e.source["id"] == entry.parent).subsites.append(entry.source["id"])
    return SiteMap(old, new, new_graph, source_host, target_host, entries, public)


def structure(sites: SiteMap) -> list[dict[str, Any]]:
    """The site tree as rows: what the run folder keeps of each site's structure (navigation included, as far
    as Graph v1.0 can read it: sites, subsites, libraries, lists; quick-launch links are not readable)."""
    rows = []
    for e in sites.entries:
        rows.append({"site": e.label, "kind": e.kind, "title": e.source.get("displayName"), "new site": e.target_url,
                     "subsites": len(e.subsites), "libraries": ", ".join(lst["displayName"] for lst in e.libraries),
                     "lists": ", ".join(lst["displayName"] for lst in e.lists)})
    return rows


class Sites(Workload):
    kind = "site"
    title = "sites"
    manual_shell = "SharePoint Online Management Shell and PnP PowerShell"
    manual_preamble = ("Connect-SPOService -Url https://<new tenant>-admin.sharepoint.com",)

    def __init__(self, sites: SiteMap, owner: str, *, beta: bool = False, wait_seconds: float = 900.0,
                 poll_seconds: float = 15.0) -> None:
        self.sites, self.owner, self.beta = sites, owner, beta
        self.wait_seconds, self.poll_seconds = wait_seconds, poll_seconds
        self.waited = 0.0

    def list(self, deltas: object) -> Iterable[Work]:
        for e in self.sites.entries:
            yield Work(e.source["id"], e.label, detail={"kind": e.kind, "target_url": e.target_url,
                                                        "title": e.source.get("displayName"),
                                                        "libraries": [lst["displayName"] for lst in e.libraries],
                                                        "lists": [lst["displayName"] for lst in e.lists],
                                                        "subsites": len(e.subsites)}, data=e)

    def begin(self, todo: list[Work]) -> None:
        """Wait, with backoff, for the team sites of groups that exist in the new tenant but whose site
        SharePoint has not made yet (up to ``wait_seconds``)."""
        waiting = [w.data for w in todo if w.data.kind == "group"]
        groups = {id(e): find_group(self.sites.new_graph, e.group["mailNickname"]) for e in waiting}
        waiting = [e for e in waiting if groups[id(e)] is not None]
        start, delay = time.monotonic(), self.poll_seconds
        while waiting:
            for e in list(waiting):
                e.target = self.sites.new.group_site(groups[id(e)]["id"])
                if e.target is not None:
                    waiting.remove(e)
            if not waiting or time.monotonic() - start > self.wait_seconds:
                break
            time.sleep(delay)
            delay = min(delay * 2, 120.0)
        self.waited = round(time.monotonic() - start, 1)

    def find(self, work: Work) -> dict[str, Any] | None:
        e: SiteEntry = work.data
        if e.target is None and e.kind != "group":
            e.target = self.sites.new.site_by_url(self.sites.target_host, urlsplit(e.target_url).path)
        return e.target

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        e: SiteEntry = work.data
        if existing is not None:
            if e.kind not in ("group", "root") and str(existing.get("displayName", "")).lower() != \
                    str(e.source.get("displayName", "")).lower():
                raise TenantmoveError(f"{e.target_url} is taken in the new tenant by another site "
                                      f"('{existing.get('displayName')}')",
                                      hint="rename or remove that site, or move this one by hand; then rerun")
            return Applied(existing["id"], "ready", detail=work.detail)
        if e.kind == "group":
            group = find_group(self.sites.new_graph, e.group["mailNickname"])
            if group is None:
                raise TenantmoveError(f"the group {e.group['mailNickname']} is not in the new tenant",
                                      hint="run phase 30 first: a group's team site comes with the group")
            raise TenantmoveError(f"the team site of {e.group['mailNickname']} is not there yet after waiting "
                                  f"{self.waited:.0f} s", hint="SharePoint makes it up to about 15 minutes (seen: 45) "
                                  "after the group; rerun the phase later")
        if e.kind == "subsite":
            parent = self.sites.by_source(e.parent)
            return ManualStep(work.key, f"subsite {e.target_url} (no Graph API creates subsites)", [
                f"Connect-PnPOnline -Url {ps_quote(parent.target_url)} -Interactive",
                f"New-PnPWeb -Title {ps_quote(e.source.get('displayName') or '')} -Url "
                f"{ps_quote(e.path.rstrip('/').rsplit('/', 1)[-1])} -Template 'STS#3'"],
                check=f"GET /sites/{self.sites.target_host}:{urlsplit(e.target_url).path} answers")
        template = "sts"  # Graph v1.0 does not say which template the old site used: a team site is assumed
        if self.beta:
            site = self.sites.new.create_site_beta(e.target_url, e.source.get("displayName") or e.path, template,
                                                   self.owner, self.wait_seconds, self.poll_seconds)
            e.target = site
            return Applied(site["id"], "created (beta)", detail=work.detail)
        return ManualStep(work.key, f"site {e.target_url} (Graph v1.0 cannot create sites; sites_beta: true would "
                                    "use Graph beta). Graph does not say the old site's template: a team site "
                                    "(STS#3) is assumed, use SITEPAGEPUBLISHING#0 for a communication site", [
            f"New-SPOSite -Url {ps_quote(e.target_url)} -Owner {ps_quote(self.owner)} -StorageQuota 1024 "
            f"-Title {ps_quote(e.source.get('displayName') or '')} -Template 'STS#3'"],
            check=f"GET /sites/{self.sites.target_host}:{urlsplit(e.target_url).path} answers")


class Libraries(Workload):
    """Each document library of a ready site, in the new site: the default one is there already, the others
    are created (a library is a list with the documentLibrary template). The pairs of old and new library that
    the files' copy needs come from every library with a target, done in this pass or before (:meth:`pairs_for`):
    a library done before a kill still has its files copied by the rerun."""

    kind = "library"
    title = "document libraries"

    def __init__(self, sites: SiteMap) -> None:
        self.sites = sites
        self.listed: dict[str, tuple[SiteEntry, dict[str, Any], dict[str, Any] | None]] = {}

    def list(self, deltas: object) -> Iterable[Work]:
        for e in self.sites.ready():
            drives = {d["name"].lower(): d for d in self.sites.old.drives(e.source["id"])}
            for lib in e.libraries:
                label = f"{e.label}/{lib['displayName']}"
                key = f"{e.source['id']}|{lib['id']}"
                self.listed[key] = (e, lib, drives.get(lib["displayName"].lower()))
                yield Work(key, label, scope=e.source["id"],
                           detail={"site": e.label, "library": lib["displayName"], "new site": e.target_url},
                           data=self.listed[key])

    def pairs_for(self, targets: dict[str, str]) -> list[Pair]:
        """Old and new drive of every listed library whose new one is known (``targets``: the outcome's or the
        ledger's library key -> new drive id), in listing order."""
        pairs: list[Pair] = []
        new_drives: dict[str, dict[str, dict[str, Any]]] = {}
        for key, (e, lib, source_drive) in self.listed.items():
            target_id = targets.get(key)
            if source_drive is None or not target_id or e.target is None:
                continue
            site = str(e.target["id"])
            if site not in new_drives:
                new_drives[site] = {str(d["id"]): d for d in self.sites.new.drives(site)}
            target = new_drives[site].get(str(target_id))
            if target is not None:
                pairs.append(Pair(f"{e.label}/{lib['displayName']}", f"{e.target_url}/{lib['displayName']}",
                                  source_drive, target))
        return pairs

    def find(self, work: Work) -> dict[str, Any] | None:
        e, lib, _ = work.data
        assert e.target is not None
        drives = {d["name"].lower(): d for d in self.sites.new.drives(e.target["id"])}
        return drives.get(lib["displayName"].lower())

    def apply(self, work: Work, existing: Any | None) -> Applied:
        e, lib, source_drive = work.data
        if existing is None:
            self.sites.new.create_list(e.target["id"], lib["displayName"], "documentLibrary", [])
            existing = self.find(work)
            if existing is None:
                raise TenantmoveError(f"the library {lib['displayName']} was created but has no drive yet",
                                      hint="rerun the phase")
            action = "created"
        else:
            action = "ready"
        return Applied(existing["id"], action, detail=work.detail)
