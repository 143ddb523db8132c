"""The sandbox's HTTPS server: one loopback port serving the sign-in service (``/{tenant}/...``),
Graph (``/v1.0/...``), the device-login page and the admin API (``/_sandbox/...``)."""

from __future__ import annotations

import collections
import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .devices import DevicesApi
from .dkim import DkimSigning
from .dnsserver import ZoneStore, seed_zones
from .driveapi import FilesApi
from .exchange import PowerShellError, run_script
from .files_admin import FilesAdmin
from .graphapi import GraphApi
from .http import Request, Response
from .knobs import Governor
from .login import LoginService
from .mailapi import MailApi
from .noteapi import NoteApi
from .peopleapi import PeopleApi
from .reportsapi import ReportsApi
from .settingsapi import SettingsApi
from .siteapi import SitesApi
from .sprest import SharePointRest
from .state import Store
from .teamsapi import TeamsApi
from .tokens import TokenService

log = logging.getLogger("tenantmove.sandbox")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.connections = 0

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"counts": dict(self.counts), "connections": self.connections}


class SandboxApp:
    """Everything behind the HTTP layer; handlers call :meth:`dispatch`."""

    def __init__(self, store: Store, governor: Governor, zones: ZoneStore, blob_dir: Path) -> None:
        self.store = store
        self.governor = governor
        self.zones = zones
        self.tokens = TokenService()
        self.stats = Stats()
        self.login = LoginService(store, self.tokens, governor)
        self.files = FilesApi(store, governor, self.stats.add, blob_dir)
        self.sites = SitesApi(self.files)
        self.mail = MailApi(store, governor, self.stats.add)
        self.notes = NoteApi(store, governor, self.stats.add, self.files)
        self.teams = TeamsApi(store, governor, self.stats.add, self.sites)
        self.settings = SettingsApi(store, governor, self.stats.add)
        self.files.sharing_policy = lambda tenant: self.settings.tenants[tenant.id]["sharepoint"]["sharingCapability"]
        self.people = PeopleApi(store, governor, self.mail, self.stats.add)
        self.files_admin = FilesAdmin(self.files, self.sites)
        self.sharepoint = SharePointRest(store, self.tokens, self.sites)
        self.dkim = DkimSigning(zones)
        self.devices = DevicesApi(store, self.stats.add)
        self.reports = ReportsApi(store, self.mail, self.files, lambda tenant: bool(
            self.settings.tenants[tenant.id]["reportSettings"].get("displayConcealedNames")))
        # each Graph service, registered once: it serves its requests whether they come directly or in $batch
        self.graph = GraphApi(store, self.tokens, governor, self.stats.add, zones, self.sites,
                              apis=[self.sites, self.files, self.settings, self.notes, self.people, self.mail,
                                    self.teams, self.devices, self.reports],
                              org_profile=lambda tenant: self.settings.org.profile(tenant))  # reset() makes a new org
        self.outside: Any = None  # the outside world's mail server (:class:`.outside.Sender`), set when it runs
        self.started = time.time()

    def dispatch(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/v1.0/") or path == "/v1.0":
            self.stats.add("graph")
            if not req.headers.get("user-agent", "").startswith("NONISV|"):  # SharePoint asks for NONISV|co|app/v
                self.stats.add("undecorated")
            return self.graph.handle(req, path[len("/v1.0/"):])
        if path.startswith("/beta/"):  # the one beta call the runbook may make: POST /sites (a parameter)
            self.stats.add("graph")
            self.stats.add("beta")
            return self.graph.handle(req, path[len("/beta/"):], beta=True)
        if path.startswith("/_mi/"):  # a mailbox import session's pre-authenticated URL
            self.stats.add("preauth")
            return self.mail.serve_import(req, path[len("/_mi/"):])
        if path.startswith("/_rp/"):  # a usage report's pre-authenticated URL
            self.stats.add("preauth")
            return self.reports.serve_download(req, path[len("/_rp/"):])
        if path.startswith("/_dl/"):  # pre-authenticated: the token in the URL is the authorization
            self.stats.add("preauth")
            return self.files.serve_download(req, path[len("/_dl/"):])
        if path.startswith("/_up/"):
            self.stats.add("preauth")
            return self.files.serve_upload(req, path[len("/_up/"):], req.base_url)
        if path.startswith("/_sp/"):  # SharePoint's own REST API, per host and site
            self.stats.add("sharepoint rest")
            return self.sharepoint.handle(req, path[len("/_sp/"):])
        if path.startswith("/_sandbox/"):
            self.stats.add("admin")
            return self.admin(req, path[len("/_sandbox/"):])
        if path == "/devicelogin":
            self.stats.add("login")
            return self.login.device_page(req)
        self.stats.add("login")
        tenant, _, rest = path.lstrip("/").partition("/")
        if not tenant:
            return Response(404, {"error": "not_found"})
        resp = self.login.handle(req, tenant, rest)
        if resp.status == 200 and rest.endswith("token"):
            self.stats.add("tokens")
        return resp

    def admin(self, req: Request, rest: str) -> Response:
        if rest == "health":
            return Response(200, {"ok": True, "uptime": time.time() - self.started})
        if rest == "stats":
            data = self.stats.as_dict()
            data["users"] = {t.key: len(t.users) for t in self.store.tenants.values()}
            data["tokens_issued"] = self.tokens.issued
            data["dns"] = {"queries": self.zones.queries, "updates": self.zones.updates}
            return Response(200, data)
        if rest == "stats/reset" and req.method == "POST":
            with self.stats.lock:
                self.stats.counts.clear()
            return Response(200, {"ok": True})
        if rest == "knobs":
            if req.method == "PATCH":
                try:
                    self.governor.update(req.json())
                except (KeyError, ValueError, TypeError) as exc:
                    return Response(400, {"error": f"unknown or invalid knob: {exc}"})
            return Response(200, self.governor.knobs.as_dict())
        if rest == "tenants":
            return Response(200, [{"id": t.id, "key": t.key, "display_name": t.display_name,
                                   "initial_domain": t.initial_domain, "apps": list(t.apps)}
                                  for t in self.store.tenants.values()])
        if rest == "device/approve" and req.method == "POST":
            body = req.json()
            error = self.login.approve(body.get("user_code", ""), body.get("user", ""))
            return Response(400 if error else 200, {"error": error} if error else {"ok": True})
        if rest == "device/pending":
            with self.login.lock:
                pending = [{"user_code": c.user_code, "tenant_id": c.tenant_id, "client_id": c.client_id}
                           for c in self.login.device_codes.values() if c.user_id is None]
            return Response(200, pending)
        if rest == "tokens/expire" and req.method == "POST":
            self.tokens.expire_all()
            return Response(200, {"ok": True})
        if rest == "reset" and req.method == "POST":
            body = req.json()
            self.store.reset(body.get("scale"))
            self.files.reset()
            self.sites.reset()
            self.mail.reset()
            self.people.reset()
            self.notes.reset()
            self.teams.reset()
            self.settings.reset()
            self.dkim.configs.clear()
            self.devices.reset()
            if self.outside is not None:
                self.outside.reset()
            with self.zones.lock:  # DNS back to what the seed implies
                self.zones.clear()
                seed_zones(self.zones, list(self.store.tenants.values()))
            return Response(200, {"ok": True, "scale": self.store.scale})
        if rest.startswith("apps/") and req.method == "PATCH" and rest.count("/") == 1:
            body = req.json()
            for tenant in self.store.tenants.values():
                app_ = tenant.apps.get(rest.split("/")[1])
                if app_ is not None:
                    app_.roles = list(body.get("roles", app_.roles))
                    app_.delegated = list(body.get("delegated", app_.delegated))
                    app_.multitenant = bool(body.get("multitenant", app_.multitenant))
                    return Response(200, {"roles": app_.roles, "delegated": app_.delegated,
                                          "multitenant": app_.multitenant})
            return Response(404, {"error": "no such app"})
        if rest.startswith("apps/") and rest.endswith("/certificates") and req.method == "POST":
            client_id = rest.split("/")[1]
            try:
                thumb = self.login.register_certificate(client_id, req.body)
            except (KeyError, ValueError) as exc:
                return Response(400, {"error": f"cannot register: {exc}"})
            return Response(200, {"x5t": thumb})
        if rest == "dns":
            return Response(200, self.zones.records())
        if rest.startswith(("exchange/", "powershell/")) and req.method == "POST":  # an admin runs a manual script
            tenant = self.store.tenant_by_name(rest.split("/", 1)[1])
            if tenant is None:
                return Response(404, {"error": "no such tenant"})
            with self.store.lock:
                try:
                    done = run_script(tenant, req.body.decode("utf-8"),
                                      {**self.files_admin.cmdlets(tenant), **self.settings.teams.cmdlets(),
                                       **self.dkim.cmdlets(), **self.people.cmdlets(), **self.teams.cmdlets(),
                                       **self.devices.cmdlets()},
                                      self.files_admin.connect, self.store.tenant_by_name)
                    return Response(200, {"ok": True, "done": done})
                except PowerShellError as exc:
                    return Response(400, {"error": str(exc), "line": exc.line})
        if rest.startswith("files/"):  # a user changing their files, and the knobs of the drives
            return self.files_admin.handle(req, rest[len("files/"):])
        if rest.startswith("mail/") and req.method == "POST":  # mail arriving in a mailbox between passes
            return self.mail.deliver(req, rest[len("mail/"):])
        if rest.startswith("teams/") and req.method == "POST":  # people posting and reacting in Teams
            return self.teams.admin(req, rest[len("teams/"):])
        if rest.startswith("mailflow") and self.outside is not None:  # the outside world writing to the people
            return self.mailflow(req, rest[len("mailflow"):].strip("/"))
        if rest.startswith("lists/") and req.method == "POST":  # a user changing a list's items
            return self.files_admin.change_list(req, rest[len("lists/"):])
        return Response(404, {"error": f"unknown admin endpoint '{rest}'"})


    def mailflow(self, req: Request, action: str) -> Response:
        """``GET``: the sender's view; ``POST`` ``{"to": [...], "every_seconds": 2, "label": "", "count": 0}``:
        a letter every so often (``count`` of them, or until ``POST mailflow/stop``)."""
        if req.method == "GET" and not action:
            return Response(200, self.outside.status())
        if req.method == "POST" and action == "stop":
            return Response(200, self.outside.stop_sending())
        if req.method == "POST" and not action:
            body = req.json()
            to = [str(a) for a in body.get("to") or [] if "@" in str(a)]
            if not to:
                return Response(400, {"error": "name the recipients: {\"to\": [\"someone@domain\"]}"})
            return Response(200, self.outside.send(to, float(body.get("every_seconds", 2)), str(body.get("label", "")),
                                                   int(body.get("count", 0))))
        return Response(404, {"error": f"unknown mail-flow action '{action}'"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    wbufsize = -1  # buffered: handle_one_request flushes once, so a response leaves in one write
    server_version = "tenantmove-sandbox"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(60)
        # headers and body leave in one segment each; without this, keep-alive clients wait out
        # Nagle against delayed ACK (about 40 ms per request)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.app.stats.lock:  # type: ignore[attr-defined]
            self.server.app.stats.connections += 1  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        app: SandboxApp = self.server.app  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = f"https://{self.server.server_address[0]}:{self.server.server_address[1]}"
        req = Request(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                      {k.lower(): v for k, v in self.headers.items()}, body, host)
        try:
            resp = app.dispatch(req)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must answer 500, not kill the connection
            log.exception("sandbox error on %s %s", self.command, self.path)
            resp = Response(500, {"error": {"code": "InternalServerError", "message": f"sandbox bug: {exc}"}})
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if resp.stream is not None:
            self._send_stream(resp)
            return
        data, ctype = resp.encode()
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_stream(self, resp: Response) -> None:
        assert resp.stream is not None
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(resp.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in resp.stream:
            self.wfile.write(piece)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], app: SandboxApp, context: ssl.SSLContext) -> None:
        super().__init__(addr, _Handler)
        self.app = app
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # the TLS handshake runs in the handler's thread (first read), never in the accept loop
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def make_server(app: SandboxApp, cert: Path, key: Path, host: str = "127.0.0.1", port: int = 0) -> _TLSServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return _TLSServer((host, port), app, context)


def write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(mode)
    tmp.replace(path)
