"""Microsoft 365's usage reports, as Graph v1.0 serves them (Reports.Read.All): ``GET
/reports/getMailboxUsageDetail(period='D7')``, ``getOneDriveUsageAccountDetail`` and
``getSharePointSiteUsageDetail`` answer 302 with a pre-authenticated URL. That URL serves a CSV (UTF-8 with a
byte-order mark), one row per mailbox, OneDrive or site, holding its items and bytes now.

When the tenant's report setting conceals names (``displayConcealedNames``, the service's default since 2021),
names and principal names are hashes, as the service gives them. The sandbox's refresh date is today, where the
service's lags by a day or two."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from .http import Request, Response, content_host
from .shapes import GraphFailure
from .state import Store, Tenant

REPORT_RE = re.compile(r"^reports/(getMailboxUsageDetail|getOneDriveUsageAccountDetail|getSharePointSiteUsageDetail)"
                       r"\(period='([^']*)'\)$")
PERIODS = ("D7", "D30", "D90", "D180")
LINK_SECONDS = 300.0  # how long a report's download URL works
MAILBOX_COLUMNS = ["Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
                   "Created Date", "Last Activity Date", "Item Count", "Storage Used (Byte)",
                   "Issue Warning Quota (Byte)", "Prohibit Send Quota (Byte)", "Prohibit Send/Receive Quota (Byte)",
                   "Deleted Item Count", "Deleted Item Size (Byte)", "Deleted Item Quota (Byte)", "Has Archive",
                   "Report Period"]
ONEDRIVE_COLUMNS = ["Report Refresh Date", "Site Id", "Site URL", "Owner Display Name", "Is Deleted",
                    "Last Activity Date", "File Count", "Active File Count", "Storage Used (Byte)",
                    "Storage Allocated (Byte)", "Owner Principal Name", "Report Period"]
SITE_COLUMNS = ["Report Refresh Date", "Site Id", "Site URL", "Owner Display Name", "Is Deleted", "Last Activity Date",
                "File Count", "Active File Count", "Page View Count", "Visited Page Count", "Storage Used (Byte)",
                "Storage Allocated (Byte)", "Root Web Template", "Owner Principal Name", "Report Period"]
QUOTA = {"Issue Warning Quota (Byte)": 47_244_640_256, "Prohibit Send Quota (Byte)": 49_392_123_904,
         "Prohibit Send/Receive Quota (Byte)": 53_687_091_200, "Deleted Item Quota (Byte)": 32_212_254_720}


def _hidden(value: str) -> str:
    """A concealed name, as the reports show one: a hash of it."""
    return hashlib.md5(value.encode()).hexdigest().upper()  # noqa: S324 - a pseudonym, not a protection


class ReportsApi:
    def __init__(self, store: Store, mail: Any, files: Any, concealed: Callable[[Tenant], bool]) -> None:
        """``mail``: the mailboxes (:class:`.mailapi.MailApi`); ``files``: the drives (:class:`.driveapi.FilesApi`);
        ``concealed``: whether a tenant's reports conceal names."""
        self.store, self.mail, self.files, self.concealed = store, mail, files, concealed
        self.lock = threading.Lock()
        self.links: dict[str, tuple[bytes, float]] = {}  # token -> (CSV, expiry)

    @staticmethod
    def mounts(rest: str, method: str) -> bool:
        return rest.startswith("reports/get") and method == "GET"

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        match = REPORT_RE.match(rest.split("?", 1)[0])
        if match is None:
            raise GraphFailure(400, "BadRequest", f"The sandbox serves no report {rest.split('?', 1)[0]!r}.")
        if "Reports.Read.All" not in set(claims.get("roles") or []) | set(str(claims.get("scp") or "").split()):
            raise GraphFailure(403, "UnknownError", "Insufficient privileges to perform requested operation by the "
                                                    "application: Reports.Read.All is required.")
        report, period = match.groups()
        if period not in PERIODS:
            raise GraphFailure(400, "BadRequest", f"Invalid period {period!r}: use one of {', '.join(PERIODS)}.")
        with self.store.lock:
            rows, columns = {"getMailboxUsageDetail": (self._mailboxes, MAILBOX_COLUMNS),
                             "getOneDriveUsageAccountDetail": (self._onedrives, ONEDRIVE_COLUMNS),
                             "getSharePointSiteUsageDetail": (self._sites, SITE_COLUMNS)}[report]
            found = rows(tenant, period)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(found)
        token = secrets.token_urlsafe(24)
        with self.lock:
            now = time.monotonic()
            self.links = {t: v for t, v in self.links.items() if v[1] > now}
            self.links[token] = (("\ufeff" + out.getvalue()).encode("utf-8"), now + LINK_SECONDS)
        return Response(302, None, {"Location": f"{content_host(req.base_url)}/_rp/{token}"})  # another host, as
        # the service's: a client following the redirect drops its token there

    def serve_download(self, req: Request, token: str) -> Response:
        with self.lock:
            found = self.links.get(token)
        if found is None or found[1] < time.monotonic():
            return Response(401, {"error": {"code": "unauthenticated", "message": "The report's URL expired."}})
        if req.headers.get("authorization"):
            return Response(401, {"error": {"code": "unauthenticated",
                                            "message": "A pre-authenticated URL takes no Authorization header."}})
        return Response(200, found[0], {"Content-Type": "application/octet-stream"})

    # --- the reports' rows ---------------------------------------------------------------------------------
    def _names(self, tenant: Tenant, upn: str, display: str) -> tuple[str, str]:
        return (_hidden(upn), _hidden(display)) if self.concealed(tenant) else (upn, display)

    @staticmethod
    def _today() -> str:
        return dt.date.today().isoformat()

    def _mailboxes(self, tenant: Tenant, period: str) -> list[dict[str, Any]]:
        rows = []
        for user in tenant.users.values():
            box = self.mail.mailbox_of(tenant, user)
            if box is None:
                continue
            upn, name = self._names(tenant, user["userPrincipalName"], user.get("displayName") or "")
            used = sum(len(str(i["props"])) for i in box.items.values())
            rows.append({"Report Refresh Date": self._today(), "User Principal Name": upn, "Display Name": name,
                         "Is Deleted": "False", "Deleted Date": "", "Created Date": "",
                         "Last Activity Date": self._today(), "Item Count": len(box.items),
                         "Storage Used (Byte)": used, **QUOTA, "Deleted Item Count": 0,
                         "Deleted Item Size (Byte)": 0, "Has Archive": "False", "Report Period": period[1:]})
        return rows

    def _files(self, drive: Any) -> tuple[int, int]:
        files = [i for i in drive.items.values() if not i["folder"] and not i["deleted"] and i["blob"] is not None]
        return len(files), sum(i["blob"].size for i in files)

    def _onedrives(self, tenant: Tenant, period: str) -> list[dict[str, Any]]:
        rows = []
        for drive in self.files.drives.values():
            if drive.tenant_id != tenant.id or drive.owner_kind != "user":
                continue
            user = tenant.users.get(drive.owner_id) or {}
            upn, name = self._names(tenant, str(user.get("userPrincipalName") or ""), drive.owner_name)
            count, used = self._files(drive)
            rows.append({"Report Refresh Date": self._today(), "Site Id": drive.id, "Site URL": drive.site_url,
                         "Owner Display Name": name, "Is Deleted": "False", "Last Activity Date": self._today(),
                         "File Count": count, "Active File Count": count, "Storage Used (Byte)": used,
                         "Storage Allocated (Byte)": drive.quota_total, "Owner Principal Name": upn,
                         "Report Period": period[1:]})
        return rows

    def _sites(self, tenant: Tenant, period: str) -> list[dict[str, Any]]:
        per_site: dict[str, list[Any]] = {}
        for drive in self.files.drives.values():
            if drive.tenant_id == tenant.id and drive.owner_kind != "user" and drive.site_url:
                per_site.setdefault(drive.site_url, []).append(drive)
        rows = []
        for url, drives in sorted(per_site.items()):
            counted = [self._files(d) for d in drives]
            rows.append({"Report Refresh Date": self._today(), "Site Id": drives[0].id, "Site URL": url,
                         "Owner Display Name": "", "Is Deleted": "False", "Last Activity Date": self._today(),
                         "File Count": sum(c for c, _ in counted), "Active File Count": sum(c for c, _ in counted),
                         "Page View Count": 0, "Visited Page Count": 0,
                         "Storage Used (Byte)": sum(b for _, b in counted),
                         "Storage Allocated (Byte)": sum(d.quota_total for d in drives),
                         "Root Web Template": "Team Site", "Owner Principal Name": "", "Report Period": period[1:]})
        return rows
