"""Graph's Teams routes in the sandbox, held to the service's documented rules:

- a team is made for a Microsoft 365 group (``PUT /groups/{id}/team``), with its General channel; channels are
  standard, private or shared (``POST /teams/{id}/channels``; a private or shared one needs an owner among its
  members), and a private or shared channel's members are its own;
- **migration mode**, per channel and per chat: ``startMigration`` (app-only, ``Teamwork.Migrate.All``; an optional
  ``conversationCreationDateTime`` older than the thread's ``createdDateTime`` becomes it; a meeting chat is refused)
  and ``completeMigration``. The app that started it owns it: only that app imports and completes. While it is in
  progress nobody posts normally and no member is added. A completed thread may be put back into migration mode;
- **import**: ``POST .../messages`` (and ``.../replies``) in migration mode, ``from`` a user of the tenant, an
  optional ``createdDateTime`` later than the thread's, not in the future and unique to the millisecond in the
  thread (409 Conflict otherwise), hosted contents carried in the message (``@microsoft.graph.temporaryId``);
  outside migration mode an app-only post is refused (only import may post app-only);
- **reading messages** app-only is a protected API: an app Microsoft has not approved gets 403 (the seed approves
  the apps marked ``protected_apis: true``; the knob ``teams_protected_denied`` takes it back per app);
- **Teams' limits** ("Microsoft Graph service-specific throttling limits", Teams): per app and tenant 50 requests a
  second posting channel messages, 20 posting chat messages, 20 reading messages, 30 for other calls, and at most 4
  a second on one team or channel (or chat); over them, 429 with ``Retry-After``. ``teams_rate_scale`` scales them.

- **changes**: a channel's ``messages/delta`` (reply chains created or changed since ``$filter=lastModifiedDateTime gt
  ...`` or since the round its ``$deltatoken`` ended; only chains changed in the last eight months; ``$expand=replies``,
  ``$top`` at most 50) and a chat's messages newest change first, filtered by ``lastModifiedDateTime`` (``gt``/``lt``)
  only together with ``$orderby`` on it, as documented;
- **reactions** come with a message and may be imported with it (up to 250, each by a user of the tenant).

Messages a client might not show before ``completeMigration`` are still listed through Graph: the documentation
speaks of the Teams client, not of the API."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import quote, unquote, urlencode

from .http import Request, Response
from .shapes import GraphFailure
from .state import Store, Tenant
from .teamwork import (
    Channel,
    Chat,
    Team,
    Thread,
    iso_ms,
    message,
    new_channel,
    new_team,
    reaction,
    seed_teams,
    tab_json,
    thread_id,
    touch,
)

TEAMS_RE = re.compile(r"^(?:teams|chats|groups/[^/]+/team|users/[^/]+/chats)(?:/|$)")
MIGRATE = {"Teamwork.Migrate.All"}
READ_TEAM = {"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All",
             "Group.ReadWrite.All", "Directory.Read.All", "Channel.ReadBasic.All"}
WRITE_TEAM = {"Group.ReadWrite.All", "Team.Create", "Teamwork.Migrate.All", "Channel.Create",
              "TeamSettings.ReadWrite.All"}
READ_MESSAGES = {"ChannelMessage.Read.All", "Chat.Read.All", "Chat.ReadWrite.All",
                 "Chat.Read", "Chat.ReadWrite"}  # the last two delegated: a person's own chats
READ_CHATS = {"Chat.Read.All", "Chat.ReadBasic.All", "Chat.ReadWrite.All", "Chat.Read", "Chat.ReadBasic", "Chat.ReadWrite"}
TABS = {"TeamsTab.Read.All", "TeamsTab.ReadWrite.All", "TeamsTab.Create"}
MEMBERS = {"ChannelMember.Read.All", "ChannelMember.ReadWrite.All", "ChatMember.Read.All", "Group.Read.All",
           "ChatMember.Read", "Chat.Read", "Chat.ReadBasic"}
PROTECTED = ("Invoked API requires Protected API access in application-only context when not using Resource "
             "Specific Consent. Visit https://docs.microsoft.com/en-us/graph/teams-protected-apis for more details.")
LIMITS = {"post-channel": 50, "post-chat": 20, "get-message": 20, "other": 30}  # per app and tenant, a second
PER_THREAD = 4  # at most this many a second per app on one team or channel
MAX_REACTIONS = 250  # reactions an imported message may carry
DELTA_WINDOW = dt.timedelta(days=240)  # delta returns only messages of the last eight months
FILTER_RE = re.compile(r"^\s*(lastModifiedDateTime|createdDateTime)\s+(gt|lt)\s+(\S+)\s*$")
USER_BIND = re.compile(r"users\('([^']+)'\)|users/([^/?]+)")


def _bad(status: int, code: str, message: str) -> GraphFailure:
    return GraphFailure(status, code, message)


class TeamsLimits:
    """Sliding one-second windows per app and tenant per kind of call, and per app and thread."""

    def __init__(self, governor: Any, count: Any) -> None:
        self.governor, self.count, self.lock = governor, count, threading.Lock()
        self.recent: dict[tuple[str, ...], deque[float]] = {}
        self.throttled = 0

    def enter(self, app: str, tenant: str, kind: str, thread: str) -> None:
        scale = float(getattr(self.governor.knobs, "teams_rate_scale", 1.0))
        if scale <= 0:
            return
        now = time.monotonic()
        with self.lock:
            keys = [((app, tenant, kind), LIMITS[kind] * scale)]
            if thread:
                keys.append(((app, tenant, "thread", thread), PER_THREAD * scale))
            for key, limit in keys:
                window = self.recent.setdefault(key, deque())
                while window and now - window[0] >= 1.0:
                    window.popleft()
                if len(window) >= max(1, int(limit)):
                    self.throttled += 1
                    self.count("teams throttled")
                    wait = max(0.05, 1.0 - (now - window[0]))
                    raise GraphFailure(429, "TooManyRequests", "Too many requests for this application and resource.",
                                       {"Retry-After": f"{wait:.2f}"})
            for key, _ in keys:
                self.recent[key].append(now)


class TeamsApi:
    def __init__(self, store: Store, governor: Any, stats: Any, sites: Any) -> None:
        """``sites``: the sandbox's sites (a channel's files folder is in its team site's Documents library)."""
        self.store, self.governor, self.count, self.sites = store, governor, stats, sites
        self.reset()

    def reset(self) -> None:
        self.teams: dict[str, Team] = {}
        self.chats: dict[str, Chat] = {}
        self.limits = TeamsLimits(self.governor, self.count)
        self.approved: set[str] = set()
        for spec in self.store.seed["tenants"]:
            tenant = self.store.tenants.get(spec["id"])
            if tenant is None:
                continue
            self.approved |= {str(a["client_id"]) for a in spec.get("apps", []) if a.get("protected_apis")}
            teams, chats = seed_teams(tenant, spec, tenant.members, lambda gid, t=tenant: self._library_url(t, gid))
            self.teams.update(teams)
            self.chats.update(chats)

    def _library_url(self, tenant: Tenant, group_id: str) -> str:
        site = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id and s.group_id == group_id), None)
        return f"{site.web_url}/Shared Documents" if site is not None else ""

    def cmdlets(self) -> dict[str, Any]:
        """PnP PowerShell's ``Add-PnPTeamsTab -Team <group id or name> -Channel <name or id> -DisplayName <name>
        -Type <Website|Planner|Wiki|...> [-ContentUrl <url>]``: a tab of that app (an app's own tab starts empty)."""
        return {"Add-PnPTeamsTab": self._add_tab}

    def _add_tab(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        ref = params.get("team", "").lower()
        team = next((t for t in self.teams.values() if t.tenant_id == tenant.id and (t.id == ref or str(
            tenant.groups.get(t.id, {}).get("displayName", "")).lower() == ref)), None)
        if team is None:
            raise ValueError(f"Add-PnPTeamsTab: no team {params.get('team')}")
        wanted = params.get("channel", "").lower()
        channel = next((c for c in team.channels.values() if wanted in (c.id.lower(), c.name.lower())), None)
        if channel is None:
            raise ValueError(f"Add-PnPTeamsTab: no channel {params.get('channel')} in the team")
        kind = params.get("type", "").lower()
        app = {"website": "website", "planner": "planner", "wiki": "wiki"}.get(kind)
        if app is None or not params.get("displayname"):
            raise ValueError("Add-PnPTeamsTab needs -DisplayName and a -Type the sandbox knows (Website, Planner, Wiki)")
        if app == "website" and not params.get("contenturl"):
            raise ValueError("Add-PnPTeamsTab -Type Website needs -ContentUrl")
        channel.tabs.append(tab_json(params["displayname"], app, params.get("contenturl", "")))
        return f"added the tab {params['displayname']} to {channel.name}"

    def admin(self, req: Request, tenant_name: str) -> Response:
        """People at work in Teams, between passes: ``{"op": "post", "team": <mailNickname>, "channel": <name>
        | "chat": <topic>, "from": <upn>, "content": <html>, "reply_to": <message id>}`` posts a message now (outside
        migration mode, as a person does); ``{"op": "react", ..., "message": <id>, "from": <upn>, "reaction":
        "like"}`` reacts to one."""
        tenant = self.store.tenant_by_name(tenant_name)
        body = req.json() if req.body else {}
        with self.store.lock:
            if tenant is None:
                return Response(404, {"error": "no such tenant"})
            thread = self._admin_thread(tenant, body)
            person = tenant.find_user(str(body.get("from", "")))
            if thread is None or person is None:
                return Response(404, {"error": "no such team, channel, chat or person"})
            now = iso_ms(dt.datetime.now(dt.UTC))
            if body.get("op") == "post":
                if thread.migration == "inProgress":
                    return Response(400, {"error": "the thread is in migration mode: nobody posts until it completes"})
                parent = str(body.get("reply_to") or "")
                made = message(thread, person, tenant.id, str(body.get("content") or "<p>hello</p>"), now,
                               reply_to=parent)
                return Response(200, {"id": made["id"], "createdDateTime": now})
            target = thread.messages.get(str(body.get("message")))
            if body.get("op") != "react" or target is None:
                return Response(400, {"error": "op is post or react (with an existing message)"})
            target["reactions"].append(reaction(person, str(body.get("reaction") or "like"), now, tenant.id))
            touch(target, now)
            return Response(200, {"id": target["id"]})

    def _admin_thread(self, tenant: Tenant, body: dict[str, Any]) -> Thread | None:
        if "chat" in body:  # by its topic ("" for a one-on-one chat)
            return next((c for c in self.chats.values() if c.tenant_id == tenant.id and c.topic == body["chat"]), None)
        group = next((g for g in tenant.groups.values() if g.get("mailNickname") == body.get("team")), None)
        team = self.teams.get(group["id"]) if group else None
        return next((c for c in team.channels.values() if c.name == body.get("channel")), None) if team else None

    @staticmethod
    def mounts(rest: str, method: str) -> bool:
        return TEAMS_RE.match(rest.split("?", 1)[0]) is not None

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        parts = [unquote(p) for p in rest.split("?", 1)[0].split("/") if p]
        body = req.json() if req.body else {}
        with self.store.lock:
            status, out = self.route(req.method, parts, req.query, body, tenant, claims, req.base_url)
        if isinstance(out, bytes):  # a hosted content's $value
            return Response(status, out, {"Content-Type": "application/octet-stream"})
        return Response(status, out)

    # --- who may -----------------------------------------------------------------------------------------------
    @staticmethod
    def _granted(claims: dict[str, Any]) -> set[str]:
        return set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())

    def _need(self, claims: dict[str, Any], perms: set[str]) -> None:
        if not self._granted(claims) & perms:
            raise _bad(403, "Forbidden", f"Missing role permissions on the request. API requires one of "
                                         f"'{', '.join(sorted(perms))}'.")

    def _protected(self, claims: dict[str, Any]) -> None:
        """App-only reads of messages: only for apps Microsoft approved."""
        app = str(claims.get("appid", ""))
        denied = set(getattr(self.governor.knobs, "teams_protected_denied", []) or [])
        if "scp" not in claims and (app not in self.approved or app in denied):
            raise _bad(403, "Forbidden", PROTECTED)

    def _member_reads(self, claims: dict[str, Any], tenant: Tenant, thread: Thread) -> None:
        """A person (a delegated token) reads the messages of a chat they are in, or of a channel of a team they
        belong to (and of a private or shared channel only as one of its members)."""
        if "scp" not in claims:
            return
        me = str(claims.get("oid", ""))
        if isinstance(thread, Chat):
            allowed = me in thread.members
        else:
            team = next(t for t in self.teams.values() if thread.id in t.channels)
            allowed = me in set(tenant.members.get(team.id, [])) | set(tenant.owners.get(team.id, [])) and (
                thread.membership == "standard" or me in thread.members)
        if not allowed:
            raise _bad(403, "Forbidden", "The signed-in user is not a member of this conversation.")

    def _limit(self, claims: dict[str, Any], tenant: Tenant, kind: str, thread: str = "") -> None:
        self.limits.enter(str(claims.get("appid", "")), tenant.id, kind, thread)

    # --- routes ------------------------------------------------------------------------------------------------
    def route(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any], tenant: Tenant,
              claims: dict[str, Any], base: str) -> tuple[int, Any]:
        if parts[0] == "groups":  # groups/{id}/team
            group = tenant.groups.get(parts[1])
            if group is None:
                raise _bad(404, "NotFound", f"Group {parts[1]} not found.")
            if method == "PUT" and len(parts) == 3:
                return self._make_team(tenant, group, body, claims)
            team = self._team(tenant, parts[1])
            return self._team_routes(method, ["teams", team.id, *parts[3:]], query, body, tenant, claims, base)
        if parts[0] == "teams":
            return self._team_routes(method, parts, query, body, tenant, claims, base)
        if parts[0] == "users":  # users/{id}/chats
            self._need(claims, READ_CHATS)
            self._limit(claims, tenant, "other")
            user = tenant.find_user(parts[1])
            if user is None:
                raise _bad(404, "NotFound", f"User {parts[1]} not found.")
            if "scp" in claims and user["id"] != claims.get("oid"):
                raise _bad(403, "Forbidden", "A delegated token lists the signed-in user's own chats only.")
            mine = [c for c in self.chats.values() if c.tenant_id == tenant.id and user["id"] in c.members]
            return 200, {"value": [self._chat_json(c) for c in mine]}
        return self._chat_routes(method, parts, query, body, tenant, claims, base)

    def _team(self, tenant: Tenant, team_id: str) -> Team:
        team = self.teams.get(team_id)
        if team is None or team.tenant_id != tenant.id:
            raise _bad(404, "NotFound", "No team found with Group Id " + team_id)
        return team

    def _make_team(self, tenant: Tenant, group: dict[str, Any], body: dict[str, Any],
                   claims: dict[str, Any]) -> tuple[int, Any]:
        self._need(claims, WRITE_TEAM)
        self._limit(claims, tenant, "other")
        if "Unified" not in group.get("groupTypes", []):
            raise _bad(400, "BadRequest", "A team can be made only for a Microsoft 365 group.")
        if group["id"] in self.teams:
            raise _bad(409, "Conflict", "Team already exists for this group.")
        settings = {k: v for k, v in body.items() if k.endswith("Settings") and isinstance(v, dict)}
        team = new_team(tenant, group["id"], iso_ms(dt.datetime.now(dt.UTC)), settings)
        self.teams[team.id] = team
        return 201, self._team_json(tenant, team)

    def _team_routes(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any], tenant: Tenant,
                     claims: dict[str, Any], base: str) -> tuple[int, Any]:
        team = self._team(tenant, parts[1])
        rest = parts[2:]
        if not rest:
            self._need(claims, READ_TEAM)
            self._limit(claims, tenant, "other", team.id)
            if method == "PATCH":
                self._need(claims, WRITE_TEAM)
                for key, value in body.items():
                    if key in team.settings and isinstance(value, dict):
                        team.settings[key].update(value)
                return 204, None
            return 200, self._team_json(tenant, team)
        if rest[0] != "channels":
            raise _bad(400, "BadRequest", f"The sandbox does not serve teams/{{id}}/{rest[0]}.")
        if len(rest) == 1:
            self._limit(claims, tenant, "other", team.id)
            if method == "POST":
                self._need(claims, WRITE_TEAM)
                return 201, self._channel_json(team, self._make_channel(tenant, team, body))
            self._need(claims, READ_TEAM)
            return 200, {"value": [self._channel_json(team, c) for c in team.channels.values()]}
        channel = team.channels.get(rest[1])
        if channel is None:
            raise _bad(404, "NotFound", f"Channel {rest[1]} not found in team {team.id}.")
        tail = rest[2:]
        if not tail:
            self._need(claims, READ_TEAM)
            self._limit(claims, tenant, "other", channel.id)
            return 200, self._channel_json(team, channel)
        if tail[0] in ("startMigration", "completeMigration") and method == "POST":
            self._limit(claims, tenant, "other", channel.id)
            return self._migration(tail[0], channel, body, claims)
        if tail[0] == "members":
            return self._members(method, channel, body, tenant, claims)
        if tail[0] == "tabs":
            return self._tabs(method, channel, body, tenant, claims)
        if tail[0] == "filesFolder" and method == "GET":
            self._need(claims, READ_TEAM)
            return 200, self._files_folder(tenant, team, channel)
        if tail[0] == "messages":
            return self._messages(method, channel, tail[1:], query, body, tenant, claims, base, "post-channel")
        raise _bad(400, "BadRequest", f"The sandbox does not serve channels/{{id}}/{tail[0]}.")

    def _chat_routes(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any],
                     tenant: Tenant, claims: dict[str, Any], base: str) -> tuple[int, Any]:
        if len(parts) == 1 and method == "POST":
            self._need(claims, {"Chat.Create", "Chat.ReadWrite.All", "Teamwork.Migrate.All"})
            self._limit(claims, tenant, "other")
            return 201, self._chat_json(self._make_chat(tenant, body))
        if len(parts) == 1:
            raise _bad(400, "BadRequest", "List a user's chats: GET /users/{id}/chats.")
        chat = self.chats.get(parts[1])
        if chat is None or chat.tenant_id != tenant.id:
            raise _bad(404, "NotFound", f"Chat {parts[1]} not found.")
        tail = parts[2:]
        if not tail:
            self._need(claims, READ_CHATS)
            self._limit(claims, tenant, "other", chat.id)
            return 200, self._chat_json(chat)
        if tail[0] in ("startMigration", "completeMigration") and method == "POST":
            self._limit(claims, tenant, "other", chat.id)
            if chat.chat_type == "meeting" and tail[0] == "startMigration":
                raise _bad(400, "BadRequest", "Migration mode is not supported for meeting chats.")
            return self._migration(tail[0], chat, body, claims)
        if tail[0] == "members":
            return self._members(method, chat, body, tenant, claims)
        if tail[0] == "messages":
            return self._messages(method, chat, tail[1:], query, body, tenant, claims, base, "post-chat")
        raise _bad(400, "BadRequest", f"The sandbox does not serve chats/{{id}}/{tail[0]}.")

    # --- migration mode ----------------------------------------------------------------------------------------
    def _migration(self, action: str, thread: Thread, body: dict[str, Any], claims: dict[str, Any]) -> tuple[int, Any]:
        if "scp" in claims:
            raise _bad(403, "Forbidden", "Migration is supported only in application context.")
        self._need(claims, MIGRATE)
        app = str(claims.get("appid", ""))
        if thread.migration == "inProgress" and thread.migration_app != app:
            raise _bad(403, "Forbidden", "The thread is in migration mode owned by another application: only it may "
                                         "import and complete the migration.")
        if action == "startMigration":
            raw = body.get("conversationCreationDateTime")
            if raw:
                when = _when(str(raw), "conversationCreationDateTime")
                if when >= _when(thread.created, "createdDateTime"):
                    raise _bad(400, "BadRequest", "conversationCreationDateTime must be older than the thread's "
                                                  f"current createdDateTime ({thread.created}).")
                thread.original_created = thread.original_created or thread.created
                thread.created = iso_ms(when)
            thread.migration, thread.migration_app = "inProgress", app
            return 204, None
        if thread.migration != "inProgress":
            raise _bad(400, "BadRequest", "The thread is not in migration mode: call startMigration first.")
        thread.migration = "completed"
        return 204, None

    # --- members and tabs --------------------------------------------------------------------------------------
    def _members(self, method: str, thread: Channel | Chat, body: dict[str, Any], tenant: Tenant,
                 claims: dict[str, Any]) -> tuple[int, Any]:
        self._limit(claims, tenant, "other", thread.id)
        if method == "GET":
            self._need(claims, MEMBERS | READ_CHATS)
            ids = list(thread.members) if isinstance(thread, Channel) else thread.members
            roles = thread.members if isinstance(thread, Channel) else {}
            return 200, {"value": [self._member_json(tenant, u, roles.get(u, "")) for u in ids if u in tenant.users]}
        self._need(claims, {"ChannelMember.ReadWrite.All", "ChatMember.ReadWrite.All", "Teamwork.Migrate.All"})
        if thread.migration == "inProgress":
            raise _bad(400, "BadRequest", "Members cannot be added while the thread is in migration mode.")
        if isinstance(thread, Channel) and thread.membership == "standard":
            raise _bad(400, "BadRequest", "A standard channel's members are its team's.")
        user = self._bound_user(tenant, body)
        role = "owner" if "owner" in (body.get("roles") or []) else ""
        if isinstance(thread, Channel):
            thread.members[user["id"]] = role
        elif user["id"] not in thread.members:
            thread.members.append(user["id"])
        return 201, self._member_json(tenant, user["id"], role)

    def _tabs(self, method: str, channel: Channel, body: dict[str, Any], tenant: Tenant,
              claims: dict[str, Any]) -> tuple[int, Any]:
        self._need(claims, TABS)
        self._limit(claims, tenant, "other", channel.id)
        if method == "GET":
            return 200, {"value": channel.tabs}
        bound = str(body.get("teamsApp@odata.bind", ""))
        app_id = bound.rsplit("/", 1)[-1].strip("')").split("('")[-1]
        if not body.get("displayName") or not app_id:
            raise _bad(400, "BadRequest", "A tab needs displayName and teamsApp@odata.bind.")
        config = body.get("configuration") or {}
        if app_id == "com.microsoft.teamspace.tab.web" and not config.get("contentUrl"):
            raise _bad(400, "BadRequest", "A website tab needs configuration.contentUrl.")
        tab = tab_json(str(body["displayName"]), "website" if app_id.endswith(".web") else app_id,
                       str(config.get("contentUrl") or ""))
        if not app_id.endswith(".web"):
            tab["configuration"] = dict(config)
        channel.tabs.append(tab)
        return 201, tab

    # --- messages ----------------------------------------------------------------------------------------------
    def _messages(self, method: str, thread: Thread, rest: list[str], query: dict[str, str], body: dict[str, Any],
                  tenant: Tenant, claims: dict[str, Any], base: str, post_kind: str) -> tuple[int, Any]:
        if method == "POST" and (not rest or rest[1:] == ["replies"]):
            self._limit(claims, tenant, post_kind, thread.id)
            parent = rest[0] if rest else ""
            if parent and (parent not in thread.messages or thread.messages[parent].get("replyToId")):
                raise _bad(404, "NotFound", f"Message {parent} not found (a reply answers a top-level message).")
            return 201, self._message_json(thread, self._import(thread, body, tenant, claims, parent), base)
        if method != "GET":
            raise _bad(405, "MethodNotAllowed", "The sandbox serves GET and POST on messages.")
        self._need(claims, READ_MESSAGES)
        self._protected(claims)
        self._member_reads(claims, tenant, thread)
        self._limit(claims, tenant, "get-message", thread.id)
        if not rest and isinstance(thread, Chat):
            return 200, self._page(thread, self._chat_order(thread, query), query, base)
        if not rest:
            return 200, self._page(thread, thread.top(), query, base)
        if rest in (["delta"], ["delta()"]) and isinstance(thread, Channel):  # the function's full name too
            return 200, self._delta(thread, query, base)
        found = thread.messages.get(rest[0])
        if found is None:
            raise _bad(404, "NotFound", f"Message {rest[0]} not found.")
        if len(rest) >= 3 and rest[1] == "replies":  # one reply, as its own resource under its message
            found = thread.messages.get(rest[2])
            if found is None or found.get("replyToId") != rest[0]:
                raise _bad(404, "NotFound", f"Reply {rest[2]} not found under {rest[0]}.")
            rest = [rest[2], *rest[3:]]
        if len(rest) == 1:
            return 200, self._message_json(thread, found, base)
        if rest[1] == "replies" and len(rest) == 2:
            return 200, self._page(thread, thread.replies(found["id"]), query, base)
        if rest[1] == "hostedContents":
            if len(rest) == 2:
                return 200, {"value": [{"id": h, "contentType": t} for h, (t, _) in found["hosted"].items()]}
            kind, data = found["hosted"].get(rest[2], ("", b""))
            if not kind:
                raise _bad(404, "NotFound", "Hosted content not found.")
            if rest[3:] == ["$value"]:
                return 200, data
            return 200, {"id": rest[2], "contentType": kind, "contentBytes": base64.b64encode(data).decode()}
        raise _bad(400, "BadRequest", "The sandbox does not serve this on a message.")

    def _page(self, thread: Thread, items: list[dict[str, Any]], query: dict[str, str], base: str) -> dict[str, Any]:
        """A page of messages (at most 50); ``$expand=replies`` carries each message's replies (up to 1,000)."""
        top = min(int(query.get("$top") or 20), 50)
        offset = int(query.get("$skiptoken") or 0)
        expand = query.get("$expand", "")
        if expand not in ("", "replies"):
            raise _bad(400, "BadRequest", f"Messages expand only replies, not '{expand}'.")
        out: dict[str, Any] = {"value": []}
        for m in items[offset:offset + top]:
            shown = self._message_json(thread, m, base)
            if expand:
                shown["replies"] = [self._message_json(thread, r, base) for r in thread.replies(m["id"])[:1000]]
            out["value"].append(shown)
        if offset + top < len(items):
            keep = {k: query[k] for k in ("$expand", "$orderby", "$filter") if query.get(k)}
            out["@odata.nextLink"] = f"{base}/v1.0/{self._thread_path(thread)}/messages?" + urlencode(
                {"$top": top, "$skiptoken": offset + top, **keep}, quote_via=quote)
        return out

    @staticmethod
    def _chat_order(chat: Chat, query: dict[str, str]) -> list[dict[str, Any]]:
        """A chat's messages, newest change first (or newest first by ``$orderby=createdDateTime desc``); a
        ``$filter`` on the property ``$orderby`` names, else ignored (as documented)."""
        order = query.get("$orderby", "lastModifiedDateTime desc").split()
        prop = order[0] if order else "lastModifiedDateTime"
        if prop not in ("lastModifiedDateTime", "createdDateTime") or order[1:] not in ([], ["desc"]):
            raise _bad(400, "BadRequest", "Chat messages are ordered by lastModifiedDateTime or createdDateTime, "
                                          "descending only.")
        items = sorted(chat.messages.values(), key=lambda m: (str(m[prop]), m["id"]), reverse=True)
        raw = query.get("$filter", "")
        if not raw or "$orderby" not in query:
            return items
        clauses = [FILTER_RE.match(c) for c in re.split(r"\s+and\s+", raw.strip())]
        if any(c is None for c in clauses):
            raise _bad(400, "BadRequest", "Chat messages are filtered by lastModifiedDateTime (gt, lt) or "
                                          "createdDateTime (lt) only.")
        if any(c.group(1) != prop for c in clauses if c is not None):
            return items  # a filter on another property than the order's is ignored
        for match in clauses:
            assert match is not None
            if prop == "createdDateTime" and match.group(2) != "lt":
                raise _bad(400, "BadRequest", "createdDateTime filters chat messages with lt only.")
            when, later = _when(match.group(3), "$filter"), match.group(2) == "gt"
            items = [m for m in items if _when(str(m[prop]), prop) != when and (_when(str(m[prop]), prop) > when) == later]
        return items

    def _delta(self, channel: Channel, query: dict[str, str], base: str) -> dict[str, Any]:
        """A round of a channel's ``messages/delta``: the reply chains changed after a time (the filter's, or the
        end of the round the delta token names), oldest change first, pages of ``$top`` (at most 50) and a delta
        link at the end whose token is when this round began."""
        path = f"{base}/v1.0/{self._thread_path(channel)}/messages/delta"
        now = dt.datetime.now(dt.UTC)
        if query.get("$skiptoken"):
            state = _untoken(query["$skiptoken"])
        elif query.get("$deltatoken"):
            state = {**_untoken(query["$deltatoken"]), "offset": 0, "began": iso_ms(now)}
        else:
            since = ""
            raw = query.get("$filter", "")
            if raw:
                match = FILTER_RE.match(raw)
                if match is None or match.group(1) != "lastModifiedDateTime" or match.group(2) != "gt":
                    raise _bad(400, "BadRequest", "Channel message delta filters only lastModifiedDateTime gt.")
                since = iso_ms(_when(match.group(3), "$filter"))
            expand = query.get("$expand", "")
            if expand not in ("", "replies"):
                raise _bad(400, "BadRequest", f"Delta expands only replies, not '{expand}'.")
            state = {"since": since, "top": min(int(query.get("$top") or 20), 50), "expand": expand, "offset": 0,
                     "began": iso_ms(now)}
        floor = iso_ms(now - DELTA_WINDOW)
        chains = sorted(((channel.chain_changed(m), m) for m in channel.top()), key=lambda x: (x[0], x[1]["id"]))
        changed = [m for when, m in chains if when > str(state["since"]) and when >= floor]
        offset, top = int(state["offset"]), int(state["top"])
        out: dict[str, Any] = {"value": []}
        for m in changed[offset:offset + top]:
            shown = self._message_json(channel, m, base)
            if state["expand"]:
                shown["replies"] = [self._message_json(channel, r, base) for r in channel.replies(m["id"])[:1000]]
            out["value"].append(shown)
        if offset + top < len(changed):
            out["@odata.nextLink"] = f"{path}?$skiptoken={_token({**state, 'offset': offset + top})}"
        else:
            out["@odata.deltaLink"] = f"{path}?$deltatoken={_token({**state, 'since': state['began'], 'offset': 0})}"
        return out

    def _thread_path(self, thread: Thread) -> str:
        if isinstance(thread, Chat):
            return f"chats/{thread.id}"
        team = next(t for t in self.teams.values() if thread.id in t.channels)
        return f"teams/{team.id}/channels/{thread.id}"

    def _import(self, thread: Thread, body: dict[str, Any], tenant: Tenant, claims: dict[str, Any],
                parent: str) -> dict[str, Any]:
        app_only = "scp" not in claims
        if thread.migration != "inProgress":
            if app_only:
                raise _bad(403, "Forbidden", "Posting a message in application context is supported only for "
                                             "import, in a thread in migration mode (startMigration).")
            raise _bad(400, "BadRequest", "The sandbox posts messages only by import.")
        if not app_only:
            raise _bad(403, "Forbidden", "The thread is in migration mode: messages cannot be posted until it completes.")
        self._need(claims, MIGRATE)
        if thread.migration_app != str(claims.get("appid", "")):
            raise _bad(403, "Forbidden", "Only the application that started the migration may import into it.")
        sender = ((body.get("from") or {}).get("user") or {})
        author = tenant.users.get(str(sender.get("id", "")).lower()) or tenant.find_user(str(sender.get("id", "")))
        if author is None:
            raise _bad(400, "BadRequest", "from.user must be a user of this tenant (the message's author).")
        content = body.get("body") or {}
        if not content.get("content") and not body.get("attachments"):
            raise _bad(400, "BadRequest", "A message needs body.content.")
        when = dt.datetime.now(dt.UTC)
        if body.get("createdDateTime"):
            when = _when(str(body["createdDateTime"]), "createdDateTime")
            if when <= _when(thread.created, "createdDateTime"):
                raise _bad(400, "BadRequest", f"createdDateTime must be later than the thread's ({thread.created}).")
            if when > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1):
                raise _bad(400, "BadRequest", "createdDateTime cannot be in the future.")
        stamp = iso_ms(when)
        if any(m["createdDateTime"] == stamp for m in thread.messages.values()):
            raise _bad(409, "Conflict", "A message with this createdDateTime exists in the thread: createdDateTime "
                                        "must be unique to the millisecond. Adjust it and retry.")
        hosted: dict[str, tuple[str, bytes]] = {}
        text = str(content.get("content") or "")
        for h in body.get("hostedContents") or []:
            temp = str(h.get("@microsoft.graph.temporaryId", ""))
            new_id = uuid.uuid4().hex[:12]
            hosted[new_id] = (str(h.get("contentType") or "application/octet-stream"),
                              base64.b64decode(str(h.get("contentBytes") or "")))
            text = text.replace(f"../hostedContents/{temp}/$value", f"../hostedContents/{new_id}/$value")
        reactions = list(body.get("reactions") or [])
        if len(reactions) > MAX_REACTIONS:
            raise _bad(400, "BadRequest", f"A message may be imported with at most {MAX_REACTIONS} reactions.")
        carried = []
        for r in reactions:
            who = ((r.get("user") or {}).get("user") or {})
            fan = tenant.users.get(str(who.get("id", "")).lower()) or tenant.find_user(str(who.get("id", "")))
            if fan is None or not r.get("reactionType"):
                raise _bad(400, "BadRequest", "A reaction needs reactionType and user.user.id, a user of this tenant.")
            carried.append(reaction(fan, str(r["reactionType"]), str(r.get("createdDateTime") or stamp), tenant.id))
        made = message(thread, author, tenant.id, text, stamp, reply_to=parent,
                       content_type=str(content.get("contentType") or "text"), mentions=body.get("mentions"),
                       attachments=body.get("attachments"), hosted=hosted, subject=body.get("subject"))
        made["reactions"] = carried
        self.count("teams messages imported")
        return made

    # --- shapes ------------------------------------------------------------------------------------------------
    def _team_json(self, tenant: Tenant, team: Team) -> dict[str, Any]:
        group = tenant.groups.get(team.id, {})
        return {"id": team.id, "displayName": group.get("displayName"), "description": group.get("description"),
                "visibility": str(group.get("visibility") or "private").lower(), "isArchived": False,
                "createdDateTime": team.created, "tenantId": tenant.id,
                "webUrl": f"https://teams.microsoft.com/l/team/{thread_id(team.id)}", **team.settings}

    @staticmethod
    def _channel_json(team: Team, channel: Channel) -> dict[str, Any]:
        out = {"id": channel.id, "displayName": channel.name, "description": channel.description or None,
               "membershipType": channel.membership, "createdDateTime": channel.created, "email": "",
               "isFavoriteByDefault": None, "tenantId": team.tenant_id,
               "webUrl": f"https://teams.microsoft.com/l/channel/{channel.id}"}
        return _with_migration(out, channel)

    @staticmethod
    def _chat_json(chat: Chat) -> dict[str, Any]:
        out = {"id": chat.id, "topic": chat.topic or None, "chatType": chat.chat_type, "createdDateTime": chat.created,
               "lastUpdatedDateTime": max([chat.created, *(m["createdDateTime"] for m in chat.messages.values())]),
               "tenantId": chat.tenant_id, "webUrl": f"https://teams.microsoft.com/l/chat/{chat.id}/0"}
        return _with_migration(out, chat)

    @staticmethod
    def _member_json(tenant: Tenant, user_id: str, role: str) -> dict[str, Any]:
        user = tenant.users[user_id]
        return {"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": f"{user_id}-member",
                "roles": ["owner"] if role == "owner" else [], "displayName": user.get("displayName"),
                "userId": user_id, "email": user.get("mail"), "tenantId": tenant.id}

    def _message_json(self, thread: Thread, msg: dict[str, Any], base: str) -> dict[str, Any]:
        out = {k: v for k, v in msg.items() if k != "hosted"}
        out["etag"] = msg["id"]
        out["webUrl"] = f"https://teams.microsoft.com/l/message/{thread.id}/{msg['id']}"
        if isinstance(thread, Chat):
            out["chatId"] = thread.id
        else:
            team = next(t for t in self.teams.values() if thread.id in t.channels)
            out["channelIdentity"] = {"teamId": team.id, "channelId": thread.id}
        return out

    def _bound_user(self, tenant: Tenant, member: dict[str, Any]) -> dict[str, Any]:
        bound = USER_BIND.search(str(member.get("user@odata.bind", "")))
        user = tenant.find_user(unquote(bound.group(1) or bound.group(2))) if bound else None
        if user is None:
            raise _bad(400, "BadRequest", "A member is a user of this tenant, bound as user@odata.bind.")
        return user

    def _make_channel(self, tenant: Tenant, team: Team, body: dict[str, Any]) -> Channel:
        name = str(body.get("displayName") or "").strip()
        if not name or any(c in name for c in '~#%&*{}+/\\:<>?|\'"'):
            raise _bad(400, "BadRequest", f"Channel name '{name}' is empty or has a character Teams refuses.")
        if any(c.name.lower() == name.lower() for c in team.channels.values()):
            raise _bad(400, "BadRequest", "Channel name already existed, please use other name.")
        membership = str(body.get("membershipType") or "standard")
        if membership not in ("standard", "private", "shared"):
            raise _bad(400, "BadRequest", f"Unknown membershipType '{membership}'.")
        members = [(self._bound_user(tenant, m), "owner" in (m.get("roles") or [])) for m in body.get("members") or []]
        if membership != "standard" and not any(owner for _, owner in members):
            raise _bad(400, "BadRequest", "A private or shared channel made in application context needs an owner "
                                          "among its members.")
        channel = new_channel(team, name, iso_ms(dt.datetime.now(dt.UTC)), membership, str(body.get("description") or ""))
        channel.members = {u["id"]: ("owner" if owner else "") for u, owner in members}
        return channel

    def _make_chat(self, tenant: Tenant, body: dict[str, Any]) -> Chat:
        kind = str(body.get("chatType") or "group")
        people = [self._bound_user(tenant, m)["id"] for m in body.get("members") or []]
        if kind == "oneOnOne":
            if len(people) != 2:
                raise _bad(400, "BadRequest", "A one-on-one chat has exactly two members.")
            existing = next((c for c in self.chats.values() if c.tenant_id == tenant.id and c.chat_type == "oneOnOne"
                             and set(c.members) == set(people)), None)
            if existing is not None:  # Graph answers the existing one-on-one chat
                return existing
        elif kind != "group":
            raise _bad(400, "BadRequest", f"Chats of type '{kind}' cannot be created.")
        chat = Chat(thread_id(f"{tenant.id}/chat/{uuid.uuid4()}", chat=True), iso_ms(dt.datetime.now(dt.UTC)), chat_type=kind,
                    topic=str(body.get("topic") or ""), members=people, tenant_id=tenant.id)
        self.chats[chat.id] = chat
        return chat

    def _files_folder(self, tenant: Tenant, team: Team, channel: Channel) -> dict[str, Any]:
        """The channel's folder in its team site's Documents library (made when first asked, as Teams does)."""
        from .driveseed import ensure_folder

        site = next((s for s in self.sites.sites.values() if s.tenant_id == tenant.id and s.group_id == team.id), None)
        if site is None:
            raise _bad(404, "NotFound", "The team's SharePoint site does not exist yet.")
        library = next(x for x in site.lists.values() if x.name == "Shared Documents")
        drive = self.sites.files.drives[library.drive_id]
        folder = ensure_folder(drive, channel.name)
        return {"id": folder["id"], "name": channel.name, "webUrl": f"{drive.web_url}/{channel.name}",
                "folder": {"childCount": len(drive.subtree(folder)) - 1}, "parentReference": {"driveId": drive.id}}


def _with_migration(out: dict[str, Any], thread: Thread) -> dict[str, Any]:
    """A channel's or chat's migration mode and original creation time, once it has been migrated."""
    if thread.migration:
        out["migrationMode"] = thread.migration
    if thread.original_created:
        out["originalCreatedDateTime"] = thread.original_created
    return out


def _token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()


def _untoken(raw: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(raw.encode()))
        assert isinstance(state, dict) and {"since", "top", "expand", "offset", "began"} <= set(state)
        return state
    except (ValueError, AssertionError) as exc:
        raise _bad(400, "BadRequest", "The delta or skip token is not valid.") from exc


def _when(raw: str, name: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(400, "BadRequest", f"{name} '{raw}' is not a date and time.") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
