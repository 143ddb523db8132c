"""Graph's OneNote routes in the sandbox, held to the service's rules: delegated tokens only (app-only has been
refused since 31 March 2025), a person reaches their own notebooks, those shared with them, and those in a
OneDrive whose site collection admin they are; per app and user at most 120 requests a minute, 400 an hour and
5 at once, answered with 429 **without** ``Retry-After``; pages made by multipart POST (one Presentation part,
at most 30 parts, 25 MB a part, 70 MB a request) with ``<meta name="created">`` kept; a full section is 507."""

from __future__ import annotations

import email.parser
import email.policy
import html
import re
import threading
import time
from collections import deque
from datetime import UTC
from typing import Any
from urllib.parse import unquote

from .driveseed import ensure_folder
from .http import Request, Response
from .knobs import Governor
from .notes import Container, Notebook, Notes, Page, Resource, seed_notebook
from .shapes import GraphFailure
from .state import Store, Tenant, now_iso

NOTE_RE = re.compile(r"^(?:users/([^/]+)|me)/onenote(?:/(.*))?$")
READ = {"Notes.Read", "Notes.Read.All", "Notes.ReadWrite", "Notes.ReadWrite.All"}
WRITE = {"Notes.Create", "Notes.ReadWrite", "Notes.ReadWrite.All"}
MAX_PARTS, MAX_PART, MAX_POST = 30, 25 * 1024 * 1024, 70 * 1024 * 1024
NAME_REFUSED = set('?*\\/:<>|&#"%~\'')  # sections and section groups: at most 50 characters
NOTEBOOK_REFUSED = set('?*\\/:<>|\'"')  # notebooks: at most 128 characters
REF_RE = re.compile(r'(src|data)="name:([^"]+)"')
RES_RE = re.compile(r'res:([0-9a-f-]+)')


def _denied(message: str) -> GraphFailure:
    return GraphFailure(403, "40004", message)


class NoteLimits:
    """Per app and user: requests per minute and per hour, and at once. What is over answers 429 with no
    ``Retry-After``; the client has to pace itself."""

    def __init__(self, governor: Governor) -> None:
        self.governor = governor
        self.lock = threading.Lock()
        self.recent: dict[tuple[str, str], deque[float]] = {}
        self.in_flight: dict[tuple[str, str], int] = {}
        self.throttled = 0

    def enter(self, app: str, user: str) -> None:
        k = self.governor.knobs
        key, now = (app, user), time.monotonic()
        with self.lock:
            if k.onenote_concurrent and self.in_flight.get(key, 0) >= k.onenote_concurrent:
                self.throttled += 1
                raise GraphFailure(429, "10003", "The current user's account has exceeded the maximum number of "
                                                 "active requests. Your app will have to repeat the request.")
            recent = self.recent.setdefault(key, deque())
            hour, minute = 3600 * k.onenote_window_scale, 60 * k.onenote_window_scale
            while recent and now - recent[0] >= hour:
                recent.popleft()
            last_minute = sum(1 for t in recent if now - t < minute)
            if (k.onenote_per_minute and last_minute >= k.onenote_per_minute) or \
                    (k.onenote_per_hour and len(recent) >= k.onenote_per_hour):
                self.throttled += 1
                raise GraphFailure(429, "20166", "The request has been throttled: too many requests for this "
                                                 "application and user.")
            recent.append(now)
            self.in_flight[key] = self.in_flight.get(key, 0) + 1

    def leave(self, app: str, user: str) -> None:
        with self.lock:
            self.in_flight[(app, user)] -= 1


class NoteApi:
    def __init__(self, store: Store, governor: Governor, stats: Any, files: Any) -> None:
        self.store, self.governor, self.count, self.files = store, governor, stats, files
        self.reset()

    def reset(self) -> None:
        """The seeded notebooks, each a package in its owner's OneDrive (made there if the drive seed has none)."""
        self.notes = Notes()
        self.limits = NoteLimits(self.governor)
        specs = {t["id"]: t for t in self.store.seed["tenants"]}
        for tenant in self.store.tenants.values():
            for spec in specs.get(tenant.id, {}).get("notebooks", []) or []:
                owner = tenant.find_user(str(spec["owner"]))
                if owner is None:
                    raise ValueError(f"seed: notebook owner {spec['owner']} is not a user of {tenant.key}")
                package = self._package(tenant, owner, str(spec["name"]), existing_ok=True)
                seed_notebook(self.notes, tenant, owner, spec, package["id"])

    @staticmethod
    def owns(raw_rest: str) -> bool:
        return NOTE_RE.match(raw_rest.split("?", 1)[0]) is not None

    def mounts(self, rest: str, method: str) -> bool:
        return self.owns(rest)

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        return self.handle(req, rest, tenant, claims)

    # --- the OneDrive a notebook lives in ------------------------------------------------------------------
    def _drive(self, tenant: Tenant, owner: dict[str, Any]) -> Any:
        drive = self.files._user_drive(tenant, owner)
        if drive is None:
            raise GraphFailure(404, "30108", "The OneDrive for Business for this user account cannot be retrieved.")
        return drive

    def _package(self, tenant: Tenant, owner: dict[str, Any], name: str, existing_ok: bool = False) -> dict[str, Any]:
        drive = self._drive(tenant, owner)
        folder = ensure_folder(drive, "Notebooks")
        found = drive.child(folder["id"], name)
        if found is not None:
            if existing_ok and found.get("package"):
                return found
            raise GraphFailure(409, "20117", "An item with this name already exists in this location.")
        return drive.new_item(folder["id"], name, package="oneNote")

    def reaches(self, tenant: Tenant, caller: str, owner: dict[str, Any], notebook: Notebook | None = None) -> bool:
        """The caller is the owner, a site collection admin of the owner's OneDrive, or was given the notebook."""
        if caller == owner["id"]:
            return True
        drive = self.files._user_drive(tenant, owner)
        if drive is not None and caller in drive.admins:
            return True
        return notebook is not None and caller in notebook.shared_with

    # --- Graph ---------------------------------------------------------------------------------------------------
    def handle(self, req: Request, raw_rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        if "scp" not in claims or not claims.get("oid"):
            raise GraphFailure(401, "40001", "App-only authentication is not supported by the OneNote API since "
                                             "31 March 2025: sign in as a person (delegated).")
        granted = set(str(claims.get("scp", "")).split())
        if not granted & (READ if req.method == "GET" else WRITE):
            raise GraphFailure(403, "40004", "The token does not carry a Notes permission this request needs.")
        match = NOTE_RE.match(raw_rest.split("?", 1)[0])
        assert match
        caller, app = str(claims["oid"]), str(claims.get("appid", ""))
        self.limits.enter(app, caller)
        try:
            self.count("onenote_requests")
            with self.store.lock:
                owner = tenant.users.get(caller) if match.group(1) is None else tenant.find_user(unquote(match.group(1)))
                if owner is None:
                    raise GraphFailure(404, "Request_ResourceNotFound", "The user does not exist.")
                tail = [unquote(p) for p in (match.group(2) or "").split("/") if p]
                return self._route(req, tail, tenant, caller, owner, app)
        finally:
            self.limits.leave(app, caller)

    def _route(self, req: Request, tail: list[str], tenant: Tenant, caller: str, owner: dict[str, Any],
               app: str) -> Response:
        method, query, base = req.method, req.query, req.base_url
        notes = self.notes
        reach_all = self.reaches(tenant, caller, owner)
        mine = [n for n in notes.of_owner(tenant.id, owner["id"]) if reach_all or caller in n.shared_with]
        if not mine and not reach_all:
            raise _denied("The user does not have access to this OneDrive's notebooks.")
        ctx = f"users/{owner['id']}/onenote"
        if tail == ["notebooks"]:
            if method == "POST":
                if not reach_all:
                    raise _denied("The user cannot create notebooks in this OneDrive.")
                name = str((req.json() or {}).get("displayName", "")).strip()
                self._check_name(name, notebook=True)
                package = self._package(tenant, owner, name)
                made = notes.add_notebook(tenant, owner["id"], name, package["id"])
                return Response(201, self._json(made, base, ctx))
            return Response(200, {"value": [self._json(n, base, ctx) for n in mine]})
        if tail in (["sectionGroups"], ["sections"]):
            kind = "sectionGroup" if tail[0] == "sectionGroups" else "section"
            ids = {n.id for n in mine}
            found = [c for c in notes.containers.values() if c.kind == kind and c.notebook_id in ids]
            return Response(200, {"value": [self._json(c, base, ctx, query.get("$expand", "")) for c in found]})
        if len(tail) >= 2 and tail[0] in ("notebooks", "sectionGroups", "sections"):
            parent = notes.notebooks.get(tail[1]) if tail[0] == "notebooks" else notes.containers.get(tail[1])
            if parent is None or notes.notebook_of(parent) not in mine:
                raise GraphFailure(404, "20102", "The requested resource does not exist.")
            if len(tail) == 2:
                return Response(200, self._json(parent, base, ctx))
            what = tail[2]
            if what in ("sectionGroups", "sections") and parent.kind != "section":
                kind = "sectionGroup" if what == "sectionGroups" else "section"
                if method == "POST":
                    name = str((req.json() or {}).get("displayName", "")).strip()
                    self._check_name(name)
                    if any(c.name.lower() == name.lower() for c in notes.children(parent.id, kind)):
                        raise GraphFailure(409, "20117", "An item with this name already exists in this location.")
                    return Response(201, self._json(notes.add_container(kind, parent, name), base, ctx))
                return Response(200, {"value": [self._json(c, base, ctx) for c in notes.children(parent.id, kind)]})
            if what == "pages" and parent.kind == "section":
                if method == "POST":
                    page = self._create_page(req, parent, app)
                    made = self._page_json(page, base, ctx, with_level=True)
                    return Response(201, made, {"Location": made["self"]})  # as the service says where it is
                return Response(200, self._pages(parent, query, base, ctx))
        if tail == ["pages"] and method == "GET":  # every page the caller can reach, across notebooks
            ids = {n.id for n in mine}
            reachable = [p for p in notes.pages.values() if notes.notebook_of(p).id in ids]
            return Response(200, self._page_list(reachable, query, base, ctx, f"{ctx}/pages"))
        if len(tail) >= 2 and tail[0] == "pages":
            page = notes.pages.get(tail[1])
            if page is None or notes.notebook_of(page) not in mine:
                raise GraphFailure(404, "20102", "The requested resource does not exist.")
            if len(tail) == 2 and method == "DELETE":
                del notes.pages[page.id]
                return Response(204)
            if len(tail) == 2:
                return Response(200, self._page_json(page, base, ctx, with_level=True))
            if tail[2:] == ["content"]:
                return Response(200, self.render(page, base, ctx))
        if len(tail) == 3 and tail[0] == "resources" and tail[2] in ("$value", "content"):
            found = notes.resources.get(tail[1])
            if found is None or found[0] not in notes.pages or notes.notebook_of(notes.pages[found[0]]) not in mine:
                raise GraphFailure(404, "20102", "The requested resource does not exist.")
            res = found[1]
            return Response(200, res.data, {"Content-Type": res.content_type})
        raise GraphFailure(400, "BadRequest", f"The sandbox does not support {method} on onenote/{'/'.join(tail)}.")

    @staticmethod
    def _check_name(name: str, notebook: bool = False) -> None:
        refused, most = (NOTEBOOK_REFUSED, 128) if notebook else (NAME_REFUSED, 50)
        if not name or len(name) > most or set(name) & refused:
            raise GraphFailure(400, "20153", f"The name '{name}' is not valid: 1 to {most} characters, none of "
                                             f"{''.join(sorted(refused))}.")

    # --- pages ----------------------------------------------------------------------------------------------------
    def _create_page(self, req: Request, section: Container, app: str) -> Page:
        if len(req.body) > MAX_POST:
            raise GraphFailure(413, "20011", "The request is larger than 70 MB.")
        ctype = req.headers.get("content-type", "")
        parts: dict[str, tuple[bytes, str]] = {}
        if ctype.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
            presentations = 0
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition") or ""
                data = part.get_payload(decode=True) or b""
                if len(data) > MAX_PART:
                    raise GraphFailure(400, "20012", f"The part '{name}' is larger than 25 MB.")
                if name == "Presentation":
                    presentations += 1
                    if part.get_content_type() not in ("text/html", "application/xhtml+xml"):
                        raise GraphFailure(400, "20003", "The Presentation part must be text/html or "
                                                         "application/xhtml+xml.")
                parts[str(name)] = (data, part.get_content_type())
            if presentations == 0:
                raise GraphFailure(400, "20001", "The request is missing the required Presentation part.")
            if presentations > 1:
                raise GraphFailure(400, "20002", "The request has more than one Presentation part.")
            if len(parts) > MAX_PARTS:
                raise GraphFailure(400, "20013", f"The request has more than {MAX_PARTS} parts.")
            markup = parts.pop("Presentation")[0].decode("utf-8")
        elif ctype.startswith(("text/html", "application/xhtml+xml")):
            markup = req.body.decode("utf-8")
        else:
            raise GraphFailure(400, "20003", "Send the page as text/html or multipart/form-data.")
        if len(self.notes.section_pages(section.id)) >= self.governor.knobs.onenote_section_pages:
            raise GraphFailure(507, "19999", "The section has reached the maximum number of pages; create the page "
                                             "in another section.")
        title = html.unescape(_first(r"<title>(.*?)</title>", markup) or "")
        created = _first(r'<meta\s+name="created"\s+content="([^"]+)"', markup) or now_iso()
        body = _first(r"<body[^>]*>(.*)</body>", markup) or markup
        resources: list[Resource] = []

        def attach(m: re.Match[str]) -> str:
            name = m.group(2)
            if name not in parts:
                raise GraphFailure(400, "20008", f"The Presentation refers to a part named '{name}' that is not in "
                                                 "the request.")
            data, content_type = parts[name]
            res = Resource(self.notes.new_id(section.id, name), data, content_type)
            resources.append(res)
            return f'{m.group(1)}="res:{res.id}"'

        if re.search(r'<img[^>]+src="https?://', body):
            raise GraphFailure(400, "BadRequest", "The sandbox does not fetch images from the web: send them as parts.")
        body = REF_RE.sub(attach, body)
        return self.notes.add_page(section, title, _utc(created), body, resources, by_app=app)

    def _pages(self, section: Container, query: dict[str, str], base: str, ctx: str) -> dict[str, Any]:
        return self._page_list(self.notes.section_pages(section.id), query, base, ctx,
                               f"{ctx}/sections/{section.id}/pages", in_section=True)

    def _page_list(self, pages: list[Page], query: dict[str, str], base: str, ctx: str, path: str,
                   in_section: bool = False) -> dict[str, Any]:
        """A page listing: 20 a page by default, at most 100 (``$top``), ``$skip``; most recently changed first,
        or in the section's order with ``pagelevel=true`` (a section's listing only)."""
        level = in_section and query.get("pagelevel", "").lower() == "true"
        if not level:  # the service's default order: most recently changed first
            pages = sorted(pages, key=lambda p: p.modified, reverse=True)
        top = min(int(query.get("$top") or 20), 100)
        skip = int(query.get("$skip") or 0)
        body: dict[str, Any] = {"value": [self._page_json(p, base, ctx, level, pages.index(p) if level else None)
                                          for p in pages[skip:skip + top]]}
        if skip + top < len(pages):
            body["@odata.nextLink"] = (f"{base}/v1.0/{path}?$top={top}&$skip={skip + top}"
                                       + ("&pagelevel=true" if level else ""))
        return body

    def render(self, page: Page, base: str, ctx: str) -> str:
        """The page as ``GET .../content`` returns it: the service's wrapper, resources as URLs."""
        def url(m: re.Match[str]) -> str:
            res = page.resources.get(m.group(1))
            link = f"{base}/v1.0/{ctx}/resources/{m.group(1)}/$value"
            return link if res is None else link + f'" data-src-type="{res.content_type}'
        body = RES_RE.sub(url, page.body)
        return (f'<html lang="en-US"><head><title>{html.escape(page.title)}</title><meta http-equiv="Content-Type" '
                f'content="text/html; charset=utf-8" /><meta name="created" content="{page.created}" /></head>'
                f'<body data-absolute-enabled="true" style="font-family:Calibri;font-size:11pt">'
                f'<div id="div:{page.id[:8]}" data-id="_default" style="position:absolute;left:48px;top:115px;'
                f'width:624px">{body}</div></body></html>')

    # --- JSON -----------------------------------------------------------------------------------------------------
    def _json(self, c: Container, base: str, ctx: str, expand: str = "") -> dict[str, Any]:
        plural = {"notebook": "notebooks", "sectionGroup": "sectionGroups", "section": "sections"}[c.kind]
        out: dict[str, Any] = {"id": c.id, "displayName": c.name, "createdDateTime": c.created,
                               "lastModifiedDateTime": c.modified, "self": f"{base}/v1.0/{ctx}/{plural}/{c.id}"}
        if isinstance(c, Notebook):
            out.update(isDefault=False, isShared=bool(c.shared_with), userRole="Owner",
                       sectionsUrl=f"{out['self']}/sections", sectionGroupsUrl=f"{out['self']}/sectionGroups")
        elif c.kind == "sectionGroup":
            out.update(sectionsUrl=f"{out['self']}/sections", sectionGroupsUrl=f"{out['self']}/sectionGroups")
        else:
            out.update(isDefault=False, pagesUrl=f"{out['self']}/pages")
        if "parentNotebook" in expand:
            nb = self.notes.notebooks[c.notebook_id]
            out["parentNotebook"] = {"id": nb.id, "displayName": nb.name}
        if "parentSectionGroup" in expand:
            parent = self.notes.containers.get(c.parent_id)
            out["parentSectionGroup"] = {"id": parent.id, "displayName": parent.name} if parent else None
        return out

    def _page_json(self, p: Page, base: str, ctx: str, with_level: bool = False, order: int | None = None) -> dict:
        out = {"id": p.id, "title": p.title, "createdDateTime": p.created, "lastModifiedDateTime": p.modified,
               "contentUrl": f"{base}/v1.0/{ctx}/pages/{p.id}/content", "createdByAppId": p.by_app,
               "self": f"{base}/v1.0/{ctx}/pages/{p.id}"}
        section = self.notes.containers.get(p.section_id)
        if section is not None:
            out["parentSection"] = {"id": section.id, "displayName": section.name,
                                    "self": f"{base}/v1.0/{ctx}/sections/{section.id}"}
        if with_level:
            pages = self.notes.section_pages(p.section_id)
            out.update(level=p.level, order=pages.index(p) if order is None else order)
        return out


def _first(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text, re.S | re.I)
    return m.group(1) if m else None


def _utc(value: str) -> str:
    """``2015-07-22T09:00:00-08:00`` as the service stores it: UTC, with Z."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return now_iso()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
