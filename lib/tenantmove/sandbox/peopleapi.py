"""What Graph v1.0 keeps of a person beside the account, as far as the runbook moves it:

- the profile photo: ``GET /users/{id}/photo`` (its metadata), ``GET``/``PUT /users/{id}/photo/$value`` (the
  bytes; at most 4 MB a request, as Graph's REST limit (the knob ``photo_max_bytes``); only JPEG and PNG);
- a group's owners: ``GET /groups/{id}/owners``, ``POST /groups/{id}/owners/$ref``,
  ``DELETE /groups/{id}/owners/{user id}/$ref``;
- the mailbox's settings: ``GET``/``PATCH /users/{id}/mailboxSettings`` (automatic replies with their schedule,
  working hours, time zone, language, date and time formats, how a delegate gets meeting messages);
- inbox rules: ``/users/{id}/mailFolders/inbox/messageRules`` (list, create, get, update, delete); a rule's folder
  is one of the mailbox's folders;
- calendar sharing and delegates: ``/users/{id}/calendar/calendarPermissions``; every calendar has the
  organisation's entry (``My Organization``, free/busy, not removable); one entry per person.

Mailbox settings, rules and calendar permissions exist once the person has a mailbox (a licence with Exchange).
Seed (per mailbox in ``mailboxes:``): ``settings`` (a mailboxSettings object), ``rules`` (messageRules; a
``moveToFolder``/``copyToFolder`` names a folder by its path), ``calendar_permissions`` ({user, role})."""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from typing import Any
from urllib.parse import unquote

from .http import Request, Response
from .knobs import Governor
from .shapes import GraphFailure
from .state import DEFAULT_PROCESSING, RESOURCE_KINDS, Store, Tenant, new_guest, new_resource

PHOTO_RE = re.compile(r"^users/([^/]+)/photo(/\$value)?$")
OWNERS_RE = re.compile(r"^groups/([^/]+)/owners(?:/\$ref|/([^/]+)/\$ref)?$")
SETTINGS_RE = re.compile(r"^users/([^/]+)/mailboxSettings$")
RULES_RE = re.compile(r"^users/([^/]+)/mailFolders/inbox/messageRules(?:/([^/]+))?$", re.IGNORECASE)
INVITE_RE = re.compile(r"^invitations$")
PLACES_RE = re.compile(r"^places/(?:microsoft\.)?graph\.(room|roomList)$")  # msgraph-sdk writes graph.room
PLACE_READ = {"Place.Read.All", "Place.ReadWrite.All"}
PLACE_PROPS = ("capacity", "building", "floorNumber", "floorLabel", "isWheelChairAccessible", "city", "label",
               "nickname", "bookingType", "tags")
MAILFOLDERS_RE = re.compile(r"^users/([^/]+)/mailFolders(?:/([^/]+)/childFolders)?$")
WELL_KNOWN_MAIL = {"inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts", "deleteditems": "Deleted Items",
                   "junkemail": "Junk Email", "archive": "Archive", "outbox": "Outbox"}
MAIL_READ = {"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All"}
CALPERM_RE = re.compile(r"^users/([^/]+)/calendar/calendarPermissions(?:/([^/]+))?$")
REF_RE = re.compile(r"/(?:directoryObjects|users)/([0-9a-fA-F-]{36})$")
PHOTO_TYPES = {b"\xff\xd8": "image/jpeg", b"\x89P": "image/png"}

READ = {"photo": {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "ProfilePhoto.Read.All",
                  "ProfilePhoto.ReadWrite.All"},
        "owners": {"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All"},
        "mailbox": {"MailboxSettings.Read", "MailboxSettings.ReadWrite"},
        "calendar": {"Calendars.Read", "Calendars.ReadWrite"}}
INVITE = {"User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
WRITE = {"photo": {"User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"},
         "owners": {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
         "mailbox": {"MailboxSettings.ReadWrite"}, "calendar": {"Calendars.ReadWrite"}}

DEFAULT_SETTINGS: dict[str, Any] = {
    "archiveFolder": None,
    "automaticRepliesSetting": {"status": "disabled", "externalAudience": "all", "internalReplyMessage": "",
                                "externalReplyMessage": "",
                                "scheduledStartDateTime": {"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
                                "scheduledEndDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"}},
    "dateFormat": "M/d/yyyy", "timeFormat": "h:mm tt", "timeZone": "UTC",
    "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
    "language": {"locale": "en-US", "displayName": "English (United States)"},
    "userPurpose": "user",
    "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                     "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                     "timeZone": {"name": "UTC"}},
}
SETTINGS_WRITABLE = set(DEFAULT_SETTINGS) - {"userPurpose"}
REPLY_STATES = {"disabled", "alwaysEnabled", "scheduled"}
CALENDAR_ROLES = ("none", "freeBusyRead", "limitedRead", "read", "write", "delegateWithoutPrivateEventAccess",
                  "delegateWithPrivateEventAccess")
RULE_PROPS = {"displayName", "sequence", "isEnabled", "conditions", "exceptions", "actions", "hasError",
              "isReadOnly"}
ORGANIZATION = "My Organization"


def _granted(claims: dict[str, Any]) -> set[str]:
    return set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())


def _need(claims: dict[str, Any], perms: set[str]) -> None:
    if not _granted(claims) & perms:
        raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


class PeopleApi:
    def __init__(self, store: Store, governor: Governor, mail: Any, stats: Any = None) -> None:
        self.store, self.governor, self.mail = store, governor, mail
        self.count = stats or (lambda key: None)
        self.reset()

    def reset(self) -> None:
        """Per tenant id, per user id: mailbox settings, rules, calendar permissions (seeded from ``mailboxes:``)."""
        self.settings: dict[tuple[str, str], dict[str, Any]] = {}
        self.rules: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.calendar: dict[tuple[str, str], list[dict[str, Any]]] = {}
        specs = {t["id"]: t for t in self.store.seed["tenants"]}
        for tenant in self.store.tenants.values():
            for spec in specs.get(tenant.id, {}).get("mailboxes", []):
                user = tenant.find_user(str(spec["owner"]))
                if user is not None and self.mail.mailbox_of(tenant, user) is not None:
                    self._seed(tenant, user, spec)

    def _seed(self, tenant: Tenant, user: dict[str, Any], spec: dict[str, Any]) -> None:
        key = (tenant.id, user["id"])
        if spec.get("settings"):
            self._patch_settings(self._settings(key), copy.deepcopy(spec["settings"]))
        box = self.mail.mailbox_of(tenant, user)
        for i, raw in enumerate(spec.get("rules", []), start=1):
            rule = copy.deepcopy(raw)
            for action in ("moveToFolder", "copyToFolder"):
                where = (rule.get("actions") or {}).get(action)
                if where:
                    rule["actions"][action] = _folder_by_path(box, where)
            rule.setdefault("sequence", i)
            self._add_rule(tenant, user, rule)
        for grant in spec.get("calendar_permissions", []):
            person = tenant.find_user(grant["user"])
            if person is not None:
                self._add_permission(tenant, user, {"emailAddress": {"name": person["displayName"],
                                                                     "address": person["mail"]},
                                                    "role": grant["role"], "isInsideOrganization": True})

    # --- routing -------------------------------------------------------------------------------------
    @staticmethod
    def mounts(rest: str, method: str) -> bool:
        path = rest.split("?", 1)[0]
        return any(r.match(path) for r in (PHOTO_RE, OWNERS_RE, SETTINGS_RE, RULES_RE, CALPERM_RE)) or \
            (INVITE_RE.match(path) is not None and method == "POST") or \
            (MAILFOLDERS_RE.match(path) is not None and method == "GET") or \
            (PLACES_RE.match(path) is not None and method == "GET")

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        path = "/".join(unquote(p) for p in rest.split("?", 1)[0].split("/"))  # Graph decodes each segment
        with self.store.lock:
            if m := PHOTO_RE.match(path):
                return self._photo(req, tenant, claims, m.group(1), bool(m.group(2)))
            if m := OWNERS_RE.match(path):
                return self._owners(req, tenant, claims, m.group(1), path.endswith("/$ref"), m.group(2))
            body = req.json() if req.body else None
            if INVITE_RE.match(path):
                return self._invite(tenant, claims, body if isinstance(body, dict) else {})
            if m := PLACES_RE.match(path):
                return self._places(tenant, claims, m.group(1))
            if m := MAILFOLDERS_RE.match(path):
                return self._mail_folders(req, tenant, claims, m.group(1), m.group(2))
            if m := SETTINGS_RE.match(path):
                return self._mailbox_settings(req.method, tenant, claims, m.group(1), body)
            if m := RULES_RE.match(path):
                return self._rules(req.method, tenant, claims, m.group(1), m.group(2), body)
            m = CALPERM_RE.match(path)
            assert m
            return self._calendar_permissions(req.method, tenant, claims, m.group(1), m.group(2), body)

    @staticmethod
    def _user(tenant: Tenant, key: str) -> dict[str, Any]:
        user = tenant.find_user(key)
        if user is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                                                                "queried reference-property objects are not present.")
        return user

    def _mailbox_user(self, tenant: Tenant, key: str) -> dict[str, Any]:
        user = self._user(tenant, key)
        if self.mail.mailbox_of(tenant, user) is None:
            raise GraphFailure(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or "
                                                                   "is hosted on-premise.")
        return user

    # --- photo ---------------------------------------------------------------------------------------
    def _photo(self, req: Request, tenant: Tenant, claims: dict[str, Any], key: str, value: bool) -> Response:
        user = self._user(tenant, key)
        if req.method == "PUT" and value:
            _need(claims, WRITE["photo"])
            data = req.body or b""
            limit = self.governor.knobs.photo_max_bytes
            if len(data) > limit:
                raise GraphFailure(413, "RequestEntityTooLarge", f"The photo is {len(data)} bytes; a request may carry "
                                                                 f"at most {limit}.")
            if data[:2] not in PHOTO_TYPES:
                raise GraphFailure(400, "ImageNotSupported", "The photo is not a JPEG or PNG image.")
            tenant.photos[user["id"]] = bytes(data)
            return Response(200, None)
        if req.method != "GET":
            raise GraphFailure(405, "Request_BadRequest", f"The sandbox does not support {req.method} on a photo.")
        _need(claims, READ["photo"])
        photo = tenant.photos.get(user["id"])
        if photo is None:
            raise GraphFailure(404, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception."
                                                     "ImageNotFoundException' was thrown.")
        kind = PHOTO_TYPES[photo[:2]]
        if value:
            return Response(200, photo, {"Content-Type": kind})
        return Response(200, {"@odata.mediaContentType": kind, "@odata.mediaEtag": f'"{hashlib.sha1(photo).hexdigest()[:16].upper()}"',
                              "id": "default", "height": 648, "width": 648})

    # --- places ---------------------------------------------------------------------------------------
    @staticmethod
    def _places(tenant: Tenant, claims: dict[str, Any], kind: str) -> Response:
        """``GET /places/microsoft.graph.room``: every room mailbox with its place (room lists: none here)."""
        _need(claims, PLACE_READ)
        if kind == "roomList":
            return Response(200, {"value": []})
        rooms = [u for u in tenant.users.values() if u.get("mailboxType") == "room"]
        return Response(200, {"value": [{
            "@odata.type": "#microsoft.graph.room", "id": u["id"], "displayName": u["displayName"],
            "emailAddress": u["mail"], "bookingType": "standard", "tags": [], "nickname": u["displayName"],
            **{k: v for k, v in (u.get("place") or {}).items() if k in PLACE_PROPS}} for u in rooms]})

    # --- mail folders ---------------------------------------------------------------------------------
    def _mail_folders(self, req: Request, tenant: Tenant, claims: dict[str, Any], key: str,
                      parent: str | None) -> Response:
        """``GET /users/{id}/mailFolders`` (the top of the mailbox) and ``.../mailFolders/{id}/childFolders``, mail
        folders only (a calendar or contact folder is not a mailFolder), 10 to a page as Outlook's endpoints; a
        well-known name (``inbox``) stands for its folder."""
        _need(claims, MAIL_READ)
        user = self._mailbox_user(tenant, key)
        box = self.mail.mailbox_of(tenant, user)
        under = ""
        if parent is not None:
            name = WELL_KNOWN_MAIL.get(parent.lower())
            found = next((f for f in box.folders.values() if (f.well_known and f.name == name) or f.id == parent),
                         None)
            if found is None:
                raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            under = found.id
        folders = [f for f in box.folders.values() if f.parent == under and f.kind == "IPF.Note"]
        rows = [{"id": f.id, "displayName": f.name, "parentFolderId": f.parent or "root", "isHidden": False,
                 "childFolderCount": sum(1 for c in box.folders.values() if c.parent == f.id and c.kind == "IPF.Note"),
                 "totalItemCount": sum(1 for i in box.items.values() if i["folder"] == f.id),
                 "unreadItemCount": sum(1 for i in box.items.values() if i["folder"] == f.id
                                        and not i["props"].get("isRead", True))} for f in folders]
        top, skip = int(req.query.get("$top", "10")), int(req.query.get("$skip", "0"))
        page: dict[str, Any] = {"value": rows[skip:skip + top]}
        if skip + top < len(rows):
            page["@odata.nextLink"] = f"{req.base_url}/v1.0/{req.path.split('/v1.0/', 1)[-1]}?$top={top}&$skip={skip + top}"
        return Response(200, page)

    # --- invitations ---------------------------------------------------------------------------------
    def _invite(self, tenant: Tenant, claims: dict[str, Any], body: dict[str, Any]) -> Response:
        """``POST /invitations``: a guest user for the address (the same one again when invited twice); a mail is
        sent only with ``sendInvitationMessage: true`` (counted as ``invitation mails``)."""
        _need(claims, INVITE)
        address = str(body.get("invitedUserEmailAddress") or "")
        if "@" not in address or not body.get("inviteRedirectUrl"):
            raise GraphFailure(400, "BadRequest", "invitedUserEmailAddress and inviteRedirectUrl are required.")
        domain = address.rsplit("@", 1)[1].lower()
        if domain in {d.lower() for d in self.governor.knobs.invitations_blocked}:
            raise GraphFailure(400, "BadRequest", f"The invitation was blocked: the organisation of {domain} does not "
                                                  "allow its users to be invited by this organisation (cross-tenant "
                                                  "access settings).")
        if any(address.lower().endswith("@" + d) for d, v in tenant.domains.items() if v["isVerified"]):
            raise GraphFailure(400, "BadRequest", f"{address} is in a domain of this organisation: not a guest.")
        user = next((u for u in tenant.users.values() if u.get("userType") == "Guest"
                     and str(u.get("mail") or "").lower() == address.lower()), None)
        if user is None:
            user = new_guest(tenant, address, str(body.get("invitedUserDisplayName") or address), "PendingAcceptance")
        if body.get("sendInvitationMessage"):
            self.count("invitation mails")
        return Response(201, {"id": str(uuid.uuid4()), "invitedUserDisplayName": user["displayName"],
                              "invitedUserEmailAddress": address, "invitedUserType": "Guest",
                              "sendInvitationMessage": bool(body.get("sendInvitationMessage")),
                              "inviteRedirectUrl": body["inviteRedirectUrl"],
                              "inviteRedeemUrl": f"https://login.microsoftonline.com/redeem?tenant={tenant.id}",
                              "resetRedemption": False, "status": user["externalUserState"],
                              "invitedUser": {"id": user["id"]}})

    # --- owners --------------------------------------------------------------------------------------
    def _owners(self, req: Request, tenant: Tenant, claims: dict[str, Any], gid: str, ref: bool,
                owner: str | None) -> Response:
        group = tenant.groups.get(gid)
        if group is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist.")
        owners = tenant.owners.setdefault(gid, [])
        if req.method == "GET" and not ref:
            _need(claims, READ["owners"])
            return Response(200, {"value": [{"@odata.type": "#microsoft.graph.user", "id": u["id"],
                                             "userPrincipalName": u["userPrincipalName"],
                                             "displayName": u["displayName"], "mail": u.get("mail")}
                                            for oid in owners if (u := tenant.users.get(oid))]})
        _need(claims, WRITE["owners"])
        if req.method == "POST" and ref and owner is None:
            match = REF_RE.search(str((req.json() if req.body else {}).get("@odata.id", "")))
            if not match:
                raise GraphFailure(400, "Request_BadRequest", "Invalid object identifier in @odata.id.")
            if match.group(1) not in tenant.users:
                raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{match.group(1)}' does not exist.")
            if match.group(1) in owners:
                raise GraphFailure(400, "Request_BadRequest", "One or more added object references already exist for "
                                                              "the following modified properties: 'owners'.")
            owners.append(match.group(1))
            return Response(204, None)
        if req.method == "DELETE" and owner is not None:
            if owner not in owners:
                raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{owner}' does not exist or one of its "
                                                                    "queried reference-property objects are not present.")
            owners.remove(owner)
            return Response(204, None)
        raise GraphFailure(405, "Request_BadRequest", f"The sandbox does not support {req.method} on owners.")

    # --- mailbox settings ----------------------------------------------------------------------------
    def _settings(self, key: tuple[str, str]) -> dict[str, Any]:
        return self.settings.setdefault(key, copy.deepcopy(DEFAULT_SETTINGS))

    @staticmethod
    def _patch_settings(settings: dict[str, Any], body: dict[str, Any]) -> None:
        unknown = set(body) - SETTINGS_WRITABLE - {"@odata.context"}
        if unknown:
            raise GraphFailure(400, "ErrorInvalidProperty", f"The property '{sorted(unknown)[0]}' cannot be set.")
        replies = body.get("automaticRepliesSetting")
        if replies is not None and replies.get("status", "disabled") not in REPLY_STATES:
            raise GraphFailure(400, "ErrorInvalidParameter", f"Invalid automatic replies status {replies['status']!r}.")
        for name, value in body.items():
            if name == "@odata.context":
                continue
            if isinstance(value, dict) and isinstance(settings.get(name), dict):
                settings[name] = {**settings[name], **value}  # a complex value is merged, as Graph's PATCH does
            else:
                settings[name] = value

    def _mailbox_settings(self, method: str, tenant: Tenant, claims: dict[str, Any], key: str,
                          body: Any) -> Response:
        user = self._mailbox_user(tenant, key)
        settings = self._settings((tenant.id, user["id"]))
        settings["userPurpose"] = user.get("mailboxType") or "user"  # read-only: what kind of mailbox it is
        if method == "PATCH":
            _need(claims, WRITE["mailbox"])
            self._patch_settings(settings, body if isinstance(body, dict) else {})
        elif method != "GET":
            raise GraphFailure(405, "ErrorInvalidRequest", f"The sandbox does not support {method} on mailboxSettings.")
        else:
            _need(claims, READ["mailbox"])
        return Response(200, copy.deepcopy(settings))

    # --- inbox rules ---------------------------------------------------------------------------------
    def _add_rule(self, tenant: Tenant, user: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("displayName"):
            raise GraphFailure(400, "ErrorInvalidParameter", "A rule needs a displayName.")
        if not isinstance(body.get("sequence"), int) or body["sequence"] < 1:
            raise GraphFailure(400, "ErrorInvalidParameter", "A rule's sequence is a number from 1.")
        if not body.get("actions"):
            raise GraphFailure(400, "ErrorInvalidParameter", "A rule needs at least one action.")
        unknown = set(body) - RULE_PROPS - {"id", "@odata.context"}
        if unknown:
            raise GraphFailure(400, "ErrorInvalidProperty", f"The property '{sorted(unknown)[0]}' is not a rule's.")
        self._check_folders(tenant, user, body["actions"])
        rule = {"id": "AQAAA" + uuid.uuid4().hex, "displayName": body["displayName"], "sequence": body["sequence"],
                "isEnabled": body.get("isEnabled", True), "hasError": False, "isReadOnly": False,
                "conditions": body.get("conditions") or {}, "exceptions": body.get("exceptions") or {},
                "actions": body["actions"]}
        self.rules.setdefault((tenant.id, user["id"]), []).append(rule)
        return rule

    def _check_folders(self, tenant: Tenant, user: dict[str, Any], actions: dict[str, Any]) -> None:
        box = self.mail.mailbox_of(tenant, user)
        for action in ("moveToFolder", "copyToFolder"):
            folder = actions.get(action)
            if folder and folder not in box.folders:
                raise GraphFailure(400, "ErrorInvalidIdMalformed", f"The folder '{folder}' of {action} is not a "
                                                                   "folder of this mailbox.")

    def _rules(self, method: str, tenant: Tenant, claims: dict[str, Any], key: str, rid: str | None,
               body: Any) -> Response:
        user = self._mailbox_user(tenant, key)
        rules = self.rules.setdefault((tenant.id, user["id"]), [])
        _need(claims, READ["mailbox"] if method == "GET" else WRITE["mailbox"])
        if rid is None:
            if method == "GET":
                return Response(200, {"value": copy.deepcopy(sorted(rules, key=lambda r: r["sequence"]))})
            if method == "POST":
                return Response(201, copy.deepcopy(self._add_rule(tenant, user, body if isinstance(body, dict) else {})))
            raise GraphFailure(405, "ErrorInvalidRequest", f"The sandbox does not support {method} on messageRules.")
        rule = next((r for r in rules if r["id"] == rid), None)
        if rule is None:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if method == "GET":
            return Response(200, copy.deepcopy(rule))
        if method == "DELETE":
            rules.remove(rule)
            return Response(204, None)
        if method == "PATCH":
            change = body if isinstance(body, dict) else {}
            unknown = set(change) - RULE_PROPS
            if unknown:
                raise GraphFailure(400, "ErrorInvalidProperty", f"The property '{sorted(unknown)[0]}' is not a rule's.")
            if "actions" in change:
                self._check_folders(tenant, user, change["actions"])
            rule.update({k: v for k, v in change.items() if k not in ("hasError", "isReadOnly")})
            return Response(200, copy.deepcopy(rule))
        raise GraphFailure(405, "ErrorInvalidRequest", f"The sandbox does not support {method} on a rule.")

    def cmdlets(self) -> dict[str, Any]:
        """Exchange Online PowerShell's ``New-InboxRule`` (-Mailbox -Name and the conditions and actions the
        runbook's manual commands use), ``New-Mailbox -Shared|-Room|-Equipment``, ``Set-Place``,
        ``Set-CalendarProcessing`` and ``Get-CalendarProcessing`` (read into a variable), for the admin running a
        phase's script."""
        return {"New-InboxRule": self._new_inbox_rule, "New-Mailbox": self._new_mailbox, "Set-Place": self._set_place,
                "Set-CalendarProcessing": self._set_processing, "Get-CalendarProcessing": self._get_processing}

    def _resource(self, tenant: Tenant, identity: str, cmdlet: str) -> dict[str, Any]:
        user = _recipient(tenant, identity)
        if user is None or not user.get("mailboxType"):
            raise ValueError(f"{cmdlet}: the resource mailbox {identity!r} couldn't be found")
        return user

    def _new_mailbox(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        kinds = [k for k in RESOURCE_KINDS if k in params]
        address = params.get("primarysmtpaddress", "")
        if len(kinds) != 1 or not params.get("name") or "@" not in address:
            raise ValueError("New-Mailbox: the sandbox takes -Shared, -Room or -Equipment with -Name and "
                             "-PrimarySmtpAddress")
        domain = address.rsplit("@", 1)[1].lower()
        if domain not in {d for d, v in tenant.domains.items() if v["isVerified"]}:
            raise ValueError(f"New-Mailbox: {domain} isn't an accepted domain of this organization")
        if _recipient(tenant, address) is not None:
            raise ValueError(f"New-Mailbox: the proxy address \"SMTP:{address}\" is already being used")
        user = new_resource(tenant, address, params["name"], kinds[0], params.get("alias"))
        return f"created the {kinds[0]} mailbox {user['userPrincipalName']}"

    def _set_place(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        user = self._resource(tenant, params.get("identity", ""), "Set-Place")
        place = user.setdefault("place", {})
        for param, value in params.items():
            if param == "identity":
                continue
            prop = {"capacity": "capacity", "building": "building", "floor": "floorNumber",
                    "floorlabel": "floorLabel", "city": "city", "label": "label",
                    "iswheelchairaccessible": "isWheelChairAccessible"}.get(param)
            if prop is None:
                raise ValueError(f"Set-Place: the sandbox does not know -{param}")
            place[prop] = int(value) if prop in ("capacity", "floorNumber") else \
                (value.lower() == "$true") if prop == "isWheelChairAccessible" else value
        return f"set the place of {user['userPrincipalName']}"

    def _set_processing(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        user = self._resource(tenant, params.get("identity", ""), "Set-CalendarProcessing")
        processing = user.setdefault("calendarProcessing", {})
        for param, value in params.items():
            if param == "identity":
                continue
            name = {k.lower(): k for k in DEFAULT_PROCESSING}.get(param)
            if name is None:
                raise ValueError(f"Set-CalendarProcessing: the sandbox does not know -{param}")
            processing[name] = (value.lower() in ("$true", "true")) if isinstance(DEFAULT_PROCESSING[name], bool) \
                else int(value) if isinstance(DEFAULT_PROCESSING[name], int) else value
        return f"set the booking of {user['userPrincipalName']}"

    def _get_processing(self, tenant: Tenant, params: dict[str, str], line: str) -> dict[str, Any]:
        user = self._resource(tenant, params.get("identity", ""), "Get-CalendarProcessing")
        return {**DEFAULT_PROCESSING, **(user.get("calendarProcessing") or {})}

    def _new_inbox_rule(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        user = tenant.find_user(params.get("mailbox", ""))
        if user is None or self.mail.mailbox_of(tenant, user) is None:
            raise ValueError(f"New-InboxRule: the mailbox {params.get('mailbox')!r} couldn't be found")
        name = params.get("name", "")
        rules = self.rules.setdefault((tenant.id, user["id"]), [])
        if not name or any(r["displayName"] == name for r in rules):
            raise ValueError(f"New-InboxRule: a rule named {name!r} exists already (or -Name is missing)")
        rule: dict[str, Any] = {"displayName": name, "sequence": len(rules) + 1, "conditions": {}, "actions": {}}
        for param, value in params.items():
            if param in ("mailbox", "name"):
                continue
            if param not in INBOX_RULE_PARAMS:
                raise ValueError(f"New-InboxRule: the sandbox does not know -{param}")
            part, prop, kind = INBOX_RULE_PARAMS[param]
            if kind == "flag":
                rule[part][prop] = value.lower() == "$true"
            elif kind == "text":
                rule[part][prop] = value
            else:
                values = _values(line, param)
                rule[part][prop] = values if kind == "words" else [
                    {"emailAddress": {"name": v, "address": v}} for v in values]
        try:
            self._add_rule(tenant, user, rule)
        except GraphFailure as exc:
            raise ValueError(f"New-InboxRule: {exc}") from exc
        return f"created the inbox rule {name!r} in {user['userPrincipalName']}"

    # --- calendar permissions ------------------------------------------------------------------------
    def _permissions(self, tenant: Tenant, user: dict[str, Any]) -> list[dict[str, Any]]:
        key = (tenant.id, user["id"])
        if key not in self.calendar:
            self.calendar[key] = [{"id": "RGVmYXVsdA==", "isRemovable": False, "isInsideOrganization": True,
                                   "role": "freeBusyRead", "allowedRoles": ["none", "freeBusyRead", "limitedRead",
                                                                            "read", "write"],
                                   "emailAddress": {"name": ORGANIZATION, "address": None}}]
        return self.calendar[key]

    def _add_permission(self, tenant: Tenant, user: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        address = str((body.get("emailAddress") or {}).get("address") or "")
        role = body.get("role")
        if not address or role not in CALENDAR_ROLES:
            raise GraphFailure(400, "ErrorInvalidParameter", "A calendar permission needs emailAddress.address and a "
                                                             f"role of {', '.join(CALENDAR_ROLES)}.")
        inside = any(address.lower().endswith("@" + d) for d, v in tenant.domains.items() if v["isVerified"])
        person = _recipient(tenant, address)
        if inside and (person is None or self.mail.mailbox_of(tenant, person) is None):
            raise GraphFailure(400, "ErrorInvalidUser", f"The user {address} couldn't be found (no mailbox).")
        if role.startswith("delegate") and not inside:
            raise GraphFailure(400, "ErrorInvalidParameter", "Only a person inside the organisation can be a delegate.")
        held = self._permissions(tenant, user)
        if any(str((p["emailAddress"] or {}).get("address") or "").lower() == address.lower() for p in held):
            raise GraphFailure(409, "ErrorItemExists", f"A permission for {address} exists already on this calendar.")
        perm = {"id": "UGVy" + uuid.uuid4().hex, "isRemovable": True, "isInsideOrganization": inside, "role": role,
                "allowedRoles": list(CALENDAR_ROLES if inside else CALENDAR_ROLES[:5]),
                "emailAddress": {"name": (body.get("emailAddress") or {}).get("name") or address, "address": address}}
        held.append(perm)
        return perm

    def _calendar_permissions(self, method: str, tenant: Tenant, claims: dict[str, Any], key: str, pid: str | None,
                              body: Any) -> Response:
        user = self._mailbox_user(tenant, key)
        held = self._permissions(tenant, user)
        _need(claims, READ["calendar"] if method == "GET" else WRITE["calendar"])
        if pid is None:
            if method == "GET":
                return Response(200, {"value": copy.deepcopy(held)})
            if method == "POST":
                made = self._add_permission(tenant, user, body if isinstance(body, dict) else {})
                return Response(201, copy.deepcopy(made))
            raise GraphFailure(405, "ErrorInvalidRequest", f"The sandbox does not support {method} here.")
        perm = next((p for p in held if p["id"] == pid), None)
        if perm is None:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if method == "GET":
            return Response(200, copy.deepcopy(perm))
        if method == "PATCH":
            role = (body or {}).get("role")
            if set(body or {}) - {"role"} or role not in perm["allowedRoles"]:
                raise GraphFailure(400, "ErrorInvalidParameter", "Only the role can change, to one of allowedRoles.")
            perm["role"] = role
            return Response(200, copy.deepcopy(perm))
        if method == "DELETE":
            if not perm["isRemovable"]:
                raise GraphFailure(400, "ErrorInvalidParameter", "The organisation's permission cannot be removed.")
            held.remove(perm)
            return Response(204, None)
        raise GraphFailure(405, "ErrorInvalidRequest", f"The sandbox does not support {method} here.")


# New-InboxRule's parameters as a messageRule's parts: (part, property, kind)
INBOX_RULE_PARAMS = {
    "subjectcontainswords": ("conditions", "subjectContains", "words"),
    "bodycontainswords": ("conditions", "bodyContains", "words"),
    "fromaddresscontainswords": ("conditions", "senderContains", "words"),
    "from": ("conditions", "fromAddresses", "people"), "sentto": ("conditions", "sentToAddresses", "people"),
    "mynameintobox": ("conditions", "sentToMe", "flag"), "mynameintoorccbox": ("conditions", "sentToOrCcMe", "flag"),
    "hasattachment": ("conditions", "hasAttachments", "flag"),
    "forwardto": ("actions", "forwardTo", "people"), "forwardasattachmentto": ("actions", "forwardAsAttachmentTo", "people"),
    "redirectto": ("actions", "redirectTo", "people"), "markasread": ("actions", "markAsRead", "flag"),
    "markimportance": ("actions", "markImportance", "text"), "applycategory": ("actions", "assignCategories", "words"),
    "deletemessage": ("actions", "delete", "flag"), "stopprocessingrules": ("actions", "stopProcessingRules", "flag"),
}
LIST_RE = r"-{name}\s+('(?:[^']|'')*'(?:\s*,\s*'(?:[^']|'')*')*)"


def _values(line: str, name: str) -> list[str]:
    """A PowerShell list parameter's values ('a','b'), from the command line as written."""
    match = re.search(LIST_RE.format(name=re.escape(name)), line, re.IGNORECASE)
    return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", match.group(1))] if match else []


def _recipient(tenant: Tenant, address: str) -> dict[str, Any] | None:
    """The user an address reaches: by UPN, primary address or any proxy address."""
    key = address.lower()
    return tenant.find_user(address) or next(
        (u for u in tenant.users.values() if key == str(u.get("mail") or "").lower()
         or key in {p.split(":", 1)[-1].lower() for p in u.get("proxyAddresses") or []}), None)


def _folder_by_path(box: Any, where: str) -> str:
    parent = ""
    for name in where.split("/"):
        found = next((f for f in box.folders.values() if f.parent == parent and f.name == name), None)
        if found is None:
            raise ValueError(f"seed: a rule names the folder {where!r}, which the mailbox does not have")
        parent = found.id
    return parent
