"""The sandbox's Teams content: teams (one per Microsoft 365 group that has one, with its settings), channels
(standard, private and shared; the last two with members of their own), channel messages and their replies, chats
(one-on-one and group, with members) and their messages, a message's hosted contents (inline images), and a channel's
tabs. Migration mode is kept per thread (a channel or a chat): who started it (the app), and whether it is in progress
or completed.

Seed (per tenant, ``teams:`` and ``chats:``)::

    teams:
      - group: sales                    # the team of the group with this mailNickname
        settings: {funSettings: {allowGiphy: false}}
        channels:
          - {name: General, messages: 60}             # generated: about a third of them with replies
          - {name: Deals, membership: private, members: [alex.wilber@...], messages: 30}
        tabs: [{channel: General, name: Price list, app: website, url: https://...}]
    chats:
      - {type: oneOnOne, members: [megan..., alex...], messages: 20}

Generated messages are written by the thread's members in turn, a minute or more apart; every seventh mentions the
next member, every eleventh carries an inline image, every thirteenth a file of the team's library, and the fifth of
each thread was written by someone who has left (no account any more, only the name Teams kept). Every fifth (from
the second) has reactions of the next members, the leaver's among them once a thread; every nineteenth (from the
tenth) was edited after it was sent. A reaction or an edit moves the message's ``lastModifiedDateTime``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from .state import Tenant, _stable_uuid

LEAVER = {"id": "5e1ea7e4-0000-4000-8000-00000000dead", "displayName": "Pat Leaver"}  # left before the move
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
DEFAULT_SETTINGS = {
    "memberSettings": {"allowCreateUpdateChannels": True, "allowDeleteChannels": True, "allowAddRemoveApps": True,
                       "allowCreateUpdateRemoveTabs": True, "allowCreateUpdateRemoveConnectors": True},
    "guestSettings": {"allowCreateUpdateChannels": False, "allowDeleteChannels": False},
    "messagingSettings": {"allowUserEditMessages": True, "allowUserDeleteMessages": True,
                          "allowOwnerDeleteMessages": True, "allowTeamMentions": True, "allowChannelMentions": True},
    "funSettings": {"allowGiphy": True, "giphyContentRating": "moderate", "allowStickersAndMemes": True,
                    "allowCustomMemes": True},
}


@dataclass
class Thread:
    """What channels and chats share: messages (top-level and replies), and migration mode."""

    id: str
    created: str
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> message (replies too)
    migration: str = ""  # "" | inProgress | completed
    migration_app: str = ""  # the app that started the migration: only it imports and completes
    original_created: str = ""

    def top(self) -> list[dict[str, Any]]:
        return sorted((m for m in self.messages.values() if not m.get("replyToId")), key=lambda m: m["createdDateTime"])

    def replies(self, parent: str) -> list[dict[str, Any]]:
        return sorted((m for m in self.messages.values() if m.get("replyToId") == parent),
                      key=lambda m: m["createdDateTime"])

    def chain_changed(self, root: dict[str, Any]) -> str:
        """When a reply chain (a top-level message and its replies) last changed."""
        return max([str(root["lastModifiedDateTime"]), *(str(r["lastModifiedDateTime"]) for r in self.replies(root["id"]))])


@dataclass
class Channel(Thread):
    name: str = ""
    description: str = ""
    membership: str = "standard"  # standard | private | shared
    members: dict[str, str] = field(default_factory=dict)  # user id -> role ("owner" or "")
    tabs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Chat(Thread):
    chat_type: str = "group"  # oneOnOne | group | meeting
    topic: str = ""
    members: list[str] = field(default_factory=list)  # user ids
    tenant_id: str = ""


@dataclass
class Team:
    id: str  # the group's id
    tenant_id: str
    settings: dict[str, dict[str, Any]]
    channels: dict[str, Channel] = field(default_factory=dict)
    created: str = ""

    def general(self) -> Channel:
        return next(c for c in self.channels.values() if c.name == "General")


def thread_id(seed: str, chat: bool = False) -> str:
    return f"19:{hashlib.sha1(seed.encode()).hexdigest()[:32]}@thread.{'v2' if chat else 'tacv2'}"


def new_channel(team: Team, name: str, created: str, membership: str = "standard", description: str = "") -> Channel:
    channel = Channel(thread_id(f"{team.id}/{name.lower()}"), created, name=name, description=description,
                      membership=membership)
    team.channels[channel.id] = channel
    return channel


def new_team(tenant: Tenant, group_id: str, created: str, settings: dict[str, Any] | None = None) -> Team:
    merged = {k: {**v, **((settings or {}).get(k) or {})} for k, v in DEFAULT_SETTINGS.items()}
    team = Team(group_id, tenant.id, merged, created=created)
    new_channel(team, "General", created)
    return team


def iso_ms(when: dt.datetime) -> str:
    """A time as Teams writes it: UTC, to the millisecond."""
    when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def user_identity(user: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    return {"user": {"id": user["id"], "displayName": user.get("displayName"), "userIdentityType": "aadUser",
                     "tenantId": tenant_id}}


def message(thread: Thread, author: dict[str, Any], tenant_id: str, content: str, when: str, *, reply_to: str = "",
            content_type: str = "html", mentions: list[dict[str, Any]] | None = None,
            attachments: list[dict[str, Any]] | None = None, hosted: dict[str, tuple[str, bytes]] | None = None,
            subject: str | None = None) -> dict[str, Any]:
    """A message as Teams keeps it; its id is its time in milliseconds (Teams' own rule for message ids)."""
    stamp = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    mid = str(int(stamp.timestamp() * 1000))
    msg = {"id": mid, "replyToId": reply_to or None, "messageType": "message", "createdDateTime": when,
           "lastModifiedDateTime": when, "lastEditedDateTime": None, "deletedDateTime": None, "subject": subject,
           "importance": "normal", "locale": "en-us", "from": user_identity(author, tenant_id),
           "body": {"contentType": content_type, "content": content}, "attachments": list(attachments or []),
           "mentions": list(mentions or []), "reactions": [], "hosted": dict(hosted or {})}
    thread.messages[mid] = msg
    return msg


def reaction(user: dict[str, Any], kind: str, when: str, tenant_id: str) -> dict[str, Any]:
    """A chatMessageReaction: who reacted, with what, when."""
    return {"reactionType": kind, "displayName": None, "reactionContentUrl": None, "createdDateTime": when,
            "user": {"user": {"id": user["id"], "displayName": user.get("displayName"), "userIdentityType": "aadUser",
                              "tenantId": tenant_id}}}


def touch(msg: dict[str, Any], when: str) -> None:
    """A message changed (a reaction, an edit): its ``lastModifiedDateTime`` moves on."""
    msg["lastModifiedDateTime"] = max(str(msg["lastModifiedDateTime"]), when)


def seed_thread(tenant: Tenant, thread: Thread, members: list[dict[str, Any]], count: int, start: dt.datetime,
                library_url: str = "") -> None:
    """``count`` messages (a channel's replies included; a chat has none) by ``members`` in turn; see the module's
    doc."""
    when, parent = start, ""
    for i in range(count):
        author = LEAVER if i == 4 else members[i % len(members)]
        when = when + dt.timedelta(minutes=1 + (i * 7) % 13, milliseconds=(i * 37) % 1000)
        text, mentions, attachments, hosted = f"<p>{thread.id[-12:-10]} note {i + 1}: about the plan ✓</p>", [], [], {}
        if i % 7 == 3:
            other = members[(i + 1) % len(members)]
            text = f'<p><at id="0">{other["displayName"]}</at>, can you look at this?</p>'
            mentions = [{"id": 0, "mentionText": other["displayName"], "mentioned": user_identity(other, tenant.id)}]
        if i % 11 == 5:
            text += '<p><img src="../hostedContents/1/$value" alt="chart"></p>'
            hosted = {"1": ("image/png", PNG)}
        if i % 13 == 6 and library_url:
            att = str(_stable_uuid(thread.id, "att", str(i)))
            text += f'<attachment id="{att}"></attachment>'
            attachments = [{"id": att, "contentType": "reference", "contentUrl": f"{library_url}/Price list 2026.pdf",
                            "name": "Price list 2026.pdf"}]
        reply_to = parent if i % 3 == 2 and parent and not isinstance(thread, Chat) else ""
        made = message(thread, author, tenant.id, text, iso_ms(when), reply_to=reply_to, mentions=mentions,
                       attachments=attachments, hosted=hosted, subject=None if reply_to else f"Topic {i + 1}")
        if i % 5 == 1:
            fans = [members[(i + k) % len(members)] for k in (1, 2)] + ([LEAVER] if i == 6 else [])
            for k, fan in enumerate({f["id"]: f for f in fans}.values()):
                made["reactions"].append(reaction(fan, ("like", "heart", "laugh")[k % 3],
                                                  iso_ms(when + dt.timedelta(minutes=2 + k)), tenant.id))
                touch(made, made["reactions"][-1]["createdDateTime"])
        if i % 19 == 9:
            made["lastEditedDateTime"] = iso_ms(when + dt.timedelta(minutes=5))
            made["body"]["content"] += "<p>(corrected)</p>"
            touch(made, made["lastEditedDateTime"])
        if not reply_to:
            parent = made["id"]


def seed_teams(tenant: Tenant, spec: dict[str, Any], members_of: dict[str, list[str]],
               library_of: Any) -> tuple[dict[str, Team], dict[str, Chat]]:
    """The tenant's teams and chats from its seed; ``members_of``: group id -> member user ids; ``library_of(group
    id)``: the web URL of the group site's Documents library ("" when none)."""
    teams: dict[str, Team] = {}
    chats: dict[str, Chat] = {}
    start = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
    for tspec in spec.get("teams", []) or []:
        group = next((g for g in tenant.groups.values() if g.get("mailNickname") == tspec["group"]), None)
        if group is None:
            raise ValueError(f"seed: team {tspec['group']} has no group in {tenant.key}")
        team = new_team(tenant, group["id"], iso_ms(start - dt.timedelta(days=30)), tspec.get("settings"))
        teams[team.id] = team
        people = [tenant.users[u] for u in members_of.get(group["id"], []) if u in tenant.users] or \
            list(tenant.users.values())[:2]
        for cspec in tspec.get("channels", []) or []:
            channel = team.general() if cspec["name"] == "General" else new_channel(
                team, cspec["name"], team.created, cspec.get("membership", "standard"), cspec.get("description", ""))
            own = [tenant.find_user(str(m)) for m in cspec.get("members", [])]
            channel.members = {u["id"]: ("owner" if i == 0 else "") for i, u in enumerate(own) if u}
            writers = [u for u in own if u] or people
            seed_thread(tenant, channel, writers, int(cspec.get("messages", 0)), start, library_of(group["id"]))
        for tab in tspec.get("tabs", []) or []:
            channel = next(c for c in team.channels.values() if c.name == tab["channel"])
            channel.tabs.append(tab_json(tab["name"], tab["app"], tab.get("url", "")))
    for i, cspec in enumerate(spec.get("chats", []) or []):
        people = [u for u in (tenant.find_user(str(m)) for m in cspec["members"]) if u]
        chat = Chat(thread_id(f"{tenant.id}/chat/{i}", chat=True), iso_ms(start - dt.timedelta(days=10)),
                    chat_type=cspec.get("type", "group"), topic=cspec.get("topic", ""), members=[u["id"] for u in people],
                    tenant_id=tenant.id)
        seed_thread(tenant, chat, people, int(cspec.get("messages", 0)), start)
        chats[chat.id] = chat
    return teams, chats


APPS = {"website": "com.microsoft.teamspace.tab.web", "planner": "com.microsoft.teamspace.tab.planner",
        "wiki": "com.microsoft.teamspace.tab.wiki"}


def tab_json(name: str, app: str, url: str) -> dict[str, Any]:
    """A channel tab: a website tab is a URL anyone can recreate; another app's configuration is its own."""
    app_id = APPS.get(app, app)
    config = {"contentUrl": url, "websiteUrl": url, "entityId": None, "removeUrl": None} if app == "website" else {
        "contentUrl": f"https://tasks.office.com/embed/{uuid.uuid4()}", "websiteUrl": None,
        "entityId": str(uuid.uuid4()), "removeUrl": None}
    return {"id": str(uuid.uuid4()), "displayName": name, "webUrl": f"https://teams.microsoft.com/l/entity/{app_id}",
            "configuration": config, "teamsApp": {"id": app_id, "displayName": app.title(),
                                                  "distributionMethod": "store"}}
