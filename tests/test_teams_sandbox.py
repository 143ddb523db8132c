"""The sandbox's Teams, as Graph documents it, through the real client: the seed's teams, channels, messages (with
replies, mentions, inline images, file references, one by someone who left) and chats; the protected-API rule for
reading messages app-only; migration mode (the owning app imports, timestamps bounded and unique to the
millisecond, no normal posting and no new member meanwhile, completion, and back into it); Teams' own limits."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import requests

from tenantmove.sandbox.teamwork import PNG
from tenantmove.services.graph import GraphClient, GraphError

from .conftest import SOURCE_APP, make_client
from .files_helpers import make_target_users, new_upn
from .test_sites_sandbox import new_group


def _sales(old: GraphClient) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    group = next(g for g in old.get_all("groups") if g["mailNickname"] == "sales")
    team = old.get(f"teams/{group['id']}")
    return team, {c["displayName"]: c for c in old.get(f"teams/{team['id']}/channels")["value"]}


def test_the_seed_has_teams_channels_messages_and_chats_as_a_company_has_them(sandbox: Any) -> None:
    old = make_client(sandbox, "source")[1]
    team, channels = _sales(old)
    assert team["funSettings"]["allowGiphy"] is False and team["messagingSettings"]["allowUserDeleteMessages"] is False
    assert {n: c["membershipType"] for n, c in channels.items()} == {"General": "standard", "Deals": "private",
                                                                      "Partners": "shared"}
    deals = old.get(f"teams/{team['id']}/channels/{channels['Deals']['id']}/members")["value"]
    assert {m["email"] for m in deals} == {"alex.wilber@contoso.example", "megan.bowen@contoso.example"}
    general = f"teams/{team['id']}/channels/{channels['General']['id']}"
    top = old.get_all(f"{general}/messages")  # pages of at most 50
    replies = [r for m in top for r in old.get_all(f"{general}/messages/{m['id']}/replies")]
    assert len(top) + len(replies) == 90 and all(r["replyToId"] for r in replies)
    assert any(m["from"]["user"]["displayName"] == "Pat Leaver" for m in top + replies)  # someone who left
    assert any(m["mentions"] for m in top + replies)
    with_image = next(m for m in top if "hostedContents/1/$value" in m["body"]["content"])
    hosted = old.get(f"{general}/messages/{with_image['id']}/hostedContents/1")
    assert base64.b64decode(hosted["contentBytes"]) == PNG
    files = [a for m in top + replies for a in m["attachments"] if a["contentType"] == "reference"]
    assert files and files[0]["contentUrl"].startswith("https://contoso.sharepoint.com/sites/sales/")
    tabs = old.get(f"{general}/tabs")["value"]
    assert {t["teamsApp"]["id"] for t in tabs} == {"com.microsoft.teamspace.tab.web",
                                                   "com.microsoft.teamspace.tab.planner"}
    chats = old.get("users/megan.bowen@contoso.example/chats")["value"]
    assert sorted(c["chatType"] for c in chats) == ["group", "oneOnOne"]
    group_chat = next(c for c in chats if c["chatType"] == "group")
    assert group_chat["topic"] == "Launch plan" and len(old.get_all(f"chats/{group_chat['id']}/messages")) == 45


def test_reading_messages_app_only_needs_microsofts_approval(fresh_sandbox: Any) -> None:
    old = make_client(fresh_sandbox, "source")[1]
    team, channels = _sales(old)
    fresh_sandbox.set_knobs(teams_protected_denied=[SOURCE_APP])
    with pytest.raises(GraphError) as denied:
        old.get(f"teams/{team['id']}/channels/{channels['General']['id']}/messages")
    assert denied.value.status == 403 and "Protected API" in str(denied.value)
    assert old.get(f"teams/{team['id']}/channels")["value"]  # the team and its channels are not protected


def test_migration_mode_keeps_the_services_rules(fresh_sandbox: Any) -> None:
    sb = fresh_sandbox
    new = make_client(sb, "target")[1]
    make_target_users(sb, new, ("megan.bowen", "alex.wilber"), provision=False)
    megan, alex = new.get(f"users/{new_upn('megan.bowen')}"), new.get(f"users/{new_upn('alex.wilber')}")
    group = new_group(new, "sales", [new_upn("alex.wilber")])
    team = new.request("PUT", f"groups/{group['id']}/team", json={"funSettings": {"allowGiphy": False}}).json()
    assert team["funSettings"]["allowGiphy"] is False
    with pytest.raises(GraphError) as twice:
        new.request("PUT", f"groups/{group['id']}/team", json={})
    assert twice.value.status == 409
    bind = f"{new.base_url}/users('{alex['id']}')"
    with pytest.raises(GraphError) as ownerless:
        new.post(f"teams/{team['id']}/channels", {"displayName": "Deals", "membershipType": "private",
                                                  "members": [{"user@odata.bind": bind, "roles": []}]})
    assert ownerless.value.status == 400 and "owner" in str(ownerless.value)
    deals = new.post(f"teams/{team['id']}/channels", {"displayName": "Deals", "membershipType": "private",
                                                      "members": [{"user@odata.bind": bind, "roles": ["owner"]}]})
    thread = f"teams/{team['id']}/channels/{deals['id']}"
    with pytest.raises(GraphError) as not_yet:
        new.post(f"{thread}/messages", {"body": {"content": "hi"}, "from": {"user": {"id": megan["id"]}}})
    assert not_yet.value.status == 403  # app-only posting is for import only

    new.post(f"{thread}/startMigration", {"conversationCreationDateTime": "2025-01-01T00:00:00Z"})
    seen = new.get(thread)
    assert seen["migrationMode"] == "inProgress" and seen["createdDateTime"].startswith("2025-01-01")
    assert seen["originalCreatedDateTime"] == deals["createdDateTime"]

    def post(when: str, parent: str = "") -> dict[str, Any]:
        path = f"{thread}/messages" + (f"/{parent}/replies" if parent else "")
        return new.post(path, {"createdDateTime": when, "from": {"user": {"id": megan["id"]}},
                               "body": {"contentType": "html", "content": '<img src="../hostedContents/1/$value">'},
                               "hostedContents": [{"@microsoft.graph.temporaryId": "1", "contentType": "image/png",
                                                   "contentBytes": base64.b64encode(PNG).decode()}]})

    first = post("2025-02-03T10:00:00.123Z")
    assert first["from"]["user"]["id"] == megan["id"] and first["createdDateTime"] == "2025-02-03T10:00:00.123Z"
    for when, status in (("2025-02-03T10:00:00.123Z", 409), ("2024-12-31T00:00:00Z", 400),
                         ((dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(), 400)):
        with pytest.raises(GraphError) as refused:
            post(when)
        assert refused.value.status == status, when  # unique to the millisecond; after the thread began; not ahead
    reply = post("2025-02-03T10:05:00Z", parent=first["id"])
    assert reply["replyToId"] == first["id"]
    hosted_id = first["body"]["content"].split("hostedContents/")[1].split("/")[0]
    assert new.request("GET", f"{thread}/messages/{first['id']}/hostedContents/{hosted_id}/$value").content == PNG
    with pytest.raises(GraphError) as meanwhile:
        new.post(f"{thread}/members", {"user@odata.bind": f"{new.base_url}/users('{megan['id']}')", "roles": []})
    assert meanwhile.value.status == 400 and "migration" in str(meanwhile.value)

    new.post(f"{thread}/completeMigration", {})
    assert new.get(thread)["migrationMode"] == "completed"
    with pytest.raises(GraphError) as closed:
        post("2025-02-03T11:00:00Z")
    assert closed.value.status == 403
    new.post(f"{thread}/startMigration", {})  # back into migration mode for a later pass
    liked = new.post(f"{thread}/messages", {
        "createdDateTime": "2025-02-03T11:00:00Z", "from": {"user": {"id": megan["id"]}}, "body": {"content": "x"},
        "reactions": [{"reactionType": "like", "createdDateTime": "2025-02-03T11:01:00Z", "user": {"user": {
            "id": alex["id"], "userIdentityType": "aadUser"}}}]})
    assert [(r["reactionType"], r["user"]["user"]["id"]) for r in liked["reactions"]] == [("like", alex["id"])]
    for reactions in ([{"reactionType": "like", "user": {"user": {"id": "nobody"}}}],  # not a user of the tenant
                      [{"reactionType": "like", "user": {"user": {"id": alex["id"]}}}] * 251):  # more than 250
        with pytest.raises(GraphError) as refused:
            new.post(f"{thread}/messages", {"createdDateTime": "2025-02-03T12:00:00Z", "body": {"content": "y"},
                                            "from": {"user": {"id": megan["id"]}}, "reactions": reactions})
        assert refused.value.status == 400
    assert len(new.get_all(f"{thread}/messages")) == 2


def test_changes_are_read_by_channel_delta_and_a_chats_filtered_order(fresh_sandbox: Any) -> None:
    """A channel's ``messages/delta`` returns the reply chains changed after its filter or its last round (a new
    reply brings its whole chain), and ends each round with a delta link; a chat's messages come newest change
    first, filtered by lastModifiedDateTime only together with an order on it."""
    sb = fresh_sandbox
    old = make_client(sb, "source")[1]
    team, channels = _sales(old)
    general = f"teams/{team['id']}/channels/{channels['General']['id']}"
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def round_of(url: str, params: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str]:
        got: list[dict[str, Any]] = []
        while True:
            page = old.get(url, params)
            got += page["value"]
            if "@odata.deltaLink" in page:
                return got, page["@odata.deltaLink"]
            url, params = page["@odata.nextLink"], None

    quiet, link = round_of(f"{general}/messages/delta", {"$filter": f"lastModifiedDateTime gt {since}"})
    assert quiet == []  # nothing changed since; the seed's chains are older than that
    first = old.get(f"{general}/messages", {"$top": "1"})["value"][0]
    for body in ({"op": "post", "content": "<p>one</p>"}, {"op": "post", "content": "<p>re</p>", "reply_to": first["id"]}):
        sb.admin("POST", "teams/contoso.onmicrosoft.com", json={"team": "sales", "channel": "General",
                                                                "from": "megan.bowen@contoso.example", **body})
    changed, link = round_of(link.replace(old.base_url + "/", ""))
    assert {m["id"] for m in changed} == {first["id"], next(m["id"] for m in changed if "one" in m["body"]["content"])}
    expanded, _ = round_of(f"{general}/messages/delta", {"$filter": f"lastModifiedDateTime gt {since}",
                                                         "$expand": "replies", "$top": "1"})
    replies = next(m["replies"] for m in expanded if m["id"] == first["id"])
    assert "<p>re</p>" in [r["body"]["content"] for r in replies]  # the whole chain, one page at a time
    assert round_of(link.replace(old.base_url + "/", ""))[0] == []  # the next round: nothing new
    with pytest.raises(GraphError) as bad:
        old.get(f"{general}/messages/delta", {"$filter": f"createdDateTime gt {since}"})
    assert bad.value.status == 400

    chat = next(c for c in old.get("users/megan.bowen@contoso.example/chats")["value"] if c["topic"] == "Launch plan")
    every = old.get_all(f"chats/{chat['id']}/messages")
    stamps = [m["lastModifiedDateTime"] for m in every]
    assert stamps == sorted(stamps, reverse=True) and len(every) == 45  # newest change first
    cut = sorted(stamps)[-10]
    later = old.get_all(f"chats/{chat['id']}/messages", {"$orderby": "lastModifiedDateTime desc",
                                                         "$filter": f"lastModifiedDateTime gt {cut}", "$top": "4"})
    assert len(later) == 9 and all(m["lastModifiedDateTime"] > cut for m in later)
    ignored = old.get_all(f"chats/{chat['id']}/messages", {"$filter": f"lastModifiedDateTime gt {cut}"})
    assert len(ignored) == 45  # a filter without the order on its property is ignored, as documented


def test_teams_own_limits_answer_429_with_retry_after(fresh_sandbox: Any) -> None:
    sb = fresh_sandbox
    signin, old = make_client(sb, "source")
    team, channels = _sales(old)
    sb.set_knobs(teams_rate_scale=0.25)  # one request a second on a channel
    path = f"teams/{team['id']}/channels/{channels['General']['id']}"
    url = f"{sb.endpoints['graph_url']}/{path}"
    answers = [requests.get(url, headers={"Authorization": f"Bearer {signin.token()}"}, verify=sb.ca_file, timeout=10)
               for _ in range(3)]
    assert answers[0].status_code == 200 and answers[-1].status_code == 429
    assert float(answers[-1].headers["Retry-After"]) > 0
    assert old.get(path)["id"]  # the client waits as asked and gets it
