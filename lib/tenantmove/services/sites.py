"""SharePoint sites, lists, columns and items through Graph. v1.0 reads and writes lists; it cannot create
sites (a Microsoft 365 group brings its team site, some time after the group); beta ``POST /sites`` can,
and answers 202 with an operation to poll — used only when a parameter asks for it."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote, urlsplit

from .graph import GraphClient, GraphError, GraphNotFound, path

NON_INDEXED = {"Prefer": "HonorNonIndexedQueriesWarningMayFailRandomly"}


class SiteClient:
    def __init__(self, graph: GraphClient, sleep: Any = time.sleep) -> None:
        self.graph = graph
        self.sleep = sleep
        self._libraries: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (host, site path) -> its drives

    # --- sites ---------------------------------------------------------------------------------------
    def all_sites(self) -> list[dict[str, Any]]:
        """Every site collection and subsite the app can see (search, then each site's subsites), each
        subsite with ``_parent``: the id of the site it lives in."""
        found = {s["id"]: s for s in self.graph.get_all("sites", {"search": "*"})}
        todo = list(found.values())
        while todo:
            site = todo.pop()
            for sub in self.graph.get_all(f"{path('sites', site['id'])}/sites"):
                known = found.setdefault(sub["id"], sub)
                if "_parent" not in known:
                    known["_parent"] = site["id"]
                    todo.append(known)
        return list(found.values())

    def site_by_url(self, host: str, server_path: str) -> dict[str, Any] | None:
        relative = server_path.strip("/")
        url = f"sites/{host}:/{path(*relative.split('/'))}" if relative else f"sites/{host}"
        try:
            return self.graph.get(url, expected=(404,))
        except GraphNotFound:
            return None

    def file_at(self, url: str) -> dict[str, Any] | None:
        """The file a SharePoint URL names (``https://host/sites/x/<library>/<path>``), or None when there is none:
        the site by its path, the library whose web URL begins the rest, the file by its path in that library."""
        parts = urlsplit(url)
        segments = [unquote(p) for p in parts.path.split("/") if p]
        if len(segments) < 4 or segments[0] not in ("sites", "teams"):
            return None
        where = (parts.netloc.lower(), "/".join(segments[:2]).lower())
        if where not in self._libraries:  # a site's libraries, read once per client
            site = self.site_by_url(*where)
            self._libraries[where] = self.graph.get_all(f"{path('sites', site['id'])}/drives") if site else []
        for drive in self._libraries[where]:
            base = [unquote(p) for p in urlsplit(str(drive.get("webUrl") or "")).path.split("/") if p]
            if base and segments[:len(base)] == base and len(segments) > len(base):
                try:
                    return self.graph.get(f"{path('drives', drive['id'])}/root:/{path(*segments[len(base):])}",
                                          expected=(404,))
                except GraphNotFound:
                    return None
        return None

    def group_site(self, group_id: str) -> dict[str, Any] | None:
        """A group's team site, or None while SharePoint has not made it yet (404 for up to ~15 minutes)."""
        try:
            return self.graph.get(f"{path('groups', group_id)}/sites/root", expected=(404,))
        except GraphNotFound:
            return None

    def create_site_beta(self, web_url: str, title: str, template: str, owner: str, timeout: float,
                         poll: float) -> dict[str, Any]:
        """Beta ``POST /sites`` and its operation, polled with backoff; the new site."""
        beta = self.graph.base_url.rsplit("/", 1)[0] + "/beta"
        resp = self.graph.request("POST", f"{beta}/sites", json={
            "name": title, "webUrl": web_url, "template": template, "locale": "en-US", "shareByEmailEnabled": False,
            "description": f"{title} (moved by tenantmove)", "ownerIdentityToResolve": {"email": owner}})
        location = resp.headers.get("Location")
        if resp.status_code != 202 or not location:
            raise GraphError(resp.status_code, "unexpected", "beta POST /sites did not answer 202 with a Location",
                             method="POST", url=f"{beta}/sites")
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            status = self.graph.get(location)
            if status.get("status") == "succeeded":
                return self.graph.get(path("sites", status["resourceId"]))
            if status.get("status") == "failed" or time.monotonic() > deadline:
                raise GraphError(None, "siteCreation", f"site creation {status.get('status')}: "
                                 f"{status.get('statusDetail') or 'not finished in time'}", method="GET", url=location,
                                 hint="rerun the phase: a site that was made meanwhile is adopted")
            self.sleep(delay)
            delay = min(delay * 2, 60.0)

    # --- lists ---------------------------------------------------------------------------------------
    def lists(self, site_id: str) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{path('sites', site_id)}/lists")

    def drives(self, site_id: str) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{path('sites', site_id)}/drives")

    def columns(self, site_id: str, list_id: str) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{path('sites', site_id, 'lists', list_id)}/columns")

    def items(self, site_id: str, list_id: str, top: int = 200) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{path('sites', site_id, 'lists', list_id)}/items",
                                  {"expand": "fields", "$top": str(top)})

    def people(self, site_id: str) -> dict[str, str]:
        """The site's User Information List: lookup id -> e-mail (lower case)."""
        rows = self.graph.get_all(f"{path('sites', site_id, 'lists', 'User Information List')}/items")
        return {str(r["id"]): str((r.get("fields") or {}).get("EMail") or "").lower() for r in rows}

    def create_list(self, site_id: str, name: str, template: str, columns: list[dict[str, Any]]) -> dict[str, Any]:
        return self.graph.post(f"{path('sites', site_id)}/lists",
                               {"displayName": name, "columns": columns, "list": {"template": template}})

    def find_list(self, site_id: str, name: str) -> dict[str, Any] | None:
        return next((lst for lst in self.lists(site_id) if lst["displayName"].lower() == name.lower()), None)

    def add_column(self, site_id: str, list_id: str, column: dict[str, Any]) -> dict[str, Any]:
        return self.graph.post(f"{path('sites', site_id, 'lists', list_id)}/columns", column)

    def item_by_field(self, site_id: str, list_id: str, field: str, value: str) -> dict[str, Any] | None:
        found = self.graph.request("GET", f"{path('sites', site_id, 'lists', list_id)}/items", headers=NON_INDEXED,
                                   params={"expand": "fields", "$filter": f"fields/{field} eq '{value.replace(chr(39), chr(39) * 2)}'"},
                                   ).json().get("value", [])
        return found[0] if found else None

    def create_item(self, site_id: str, list_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self.graph.post(f"{path('sites', site_id, 'lists', list_id)}/items", {"fields": fields})

    def delete_item(self, site_id: str, list_id: str, item_id: str) -> bool:
        try:
            self.graph.delete(path("sites", site_id, "lists", list_id, "items", item_id), expected=(404,))
            return True
        except GraphNotFound:
            return False

    def update_item(self, site_id: str, list_id: str, item_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self.graph.patch(f"{path('sites', site_id, 'lists', list_id, 'items', item_id)}/fields", fields)
