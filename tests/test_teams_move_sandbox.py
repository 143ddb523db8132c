"""Teams moved through the real client and the sandbox, on the engine: the teams with their settings, channels (the
private one with its members), every message imported with its author and time (replies under their message,
inline images, file links pointing at the new site, someone who left under the named stand-in), each thread
completed once its messages are in; a rerun that forgot everything imports nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import Engine, Ledger, Outcome, Workload
from tenantmove.sandbox.teamwork import PNG
from tenantmove.services.graph import GraphClient
from tenantmove.services.sites import SiteClient
from tenantmove.services.teams import TeamsClient, Thread
from tenantmove.workloads.teams import (
    Channels,
    Chats,
    Completion,
    Messages,
    People,
    Tabs,
    TeamPair,
    Teams,
    pending,
)

from .conftest import make_client
from .files_helpers import NEW, make_target_users, new_upn, run_keeping
from .test_sites_sandbox import new_group

RATE = 10.0


@pytest.fixture
def world(fresh_sandbox: Any) -> tuple[Any, GraphClient, GraphClient]:
    sb = fresh_sandbox
    sb.set_knobs(teams_rate_scale=RATE)  # Teams' limits, ten times over: the client paces to the same scale
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    make_target_users(sb, new, ("megan.bowen", "alex.wilber"), provision=False)
    new_group(new, "sales", [new_upn("alex.wilber")])
    new_group(new, "marketing")
    return sb, old, new


def _people(old: GraphClient, new: GraphClient) -> People:
    ids = {}
    for local in ("megan.bowen", "alex.wilber"):
        ids[old.get(f"users/{local}@contoso.example")["id"].lower()] = new.get(f"users/{new_upn(local)}")["id"]
    admin = new.get("users/admin@contosonew.onmicrosoft.com")
    names = {u["id"]: u["displayName"] for u in new.get_all("users")}
    return People(ids, names, stand_in=admin["id"])


def _pairs(old: TeamsClient, old_graph: GraphClient, new_graph: GraphClient) -> list[TeamPair]:
    new_groups = {g["mailNickname"]: g["id"] for g in new_graph.get_all("groups")}
    out = []
    for g in old_graph.get_all("groups"):
        team = old.team(g["id"]) if "Unified" in g.get("groupTypes", []) else None
        if team is not None:
            out.append(TeamPair(team, g["displayName"], new_groups.get(g["mailNickname"])))
    return out


def _move(tmp: Path, old_graph: GraphClient, new_graph: GraphClient, ledger: str, run_id: str) -> dict[str, Any]:
    """Each workload's outcome by name, and ``threads``: the thread pairs the run made or found."""
    old, new = TeamsClient(old_graph, RATE), TeamsClient(new_graph, RATE)
    people = _people(old_graph, new_graph)
    out: dict[str, Any] = {}
    with Ledger(tmp / ledger, run_id) as led:
        engine = Engine(led, "65_teams", folder=tmp / run_id, workers=4)

        def run(name: str, workload: Workload) -> Outcome:
            out[name] = run_keeping(engine, workload)
            return out[name]

        pairs = _pairs(old, old_graph, new_graph)
        run("teams", Teams(old, new, pairs))
        channels, chats = Channels(old, new, pairs, people), Chats(old, new, people)
        threads = channels.threads(run("channels", channels).targets()) + chats.threads(run("chats", chats).targets())
        run("tabs", Tabs(old, new, threads, "contosonew.sharepoint.com"))
        importer = Messages(old, new, threads, people, ("contoso.sharepoint.com", "contosonew.sharepoint.com"))
        messages = run("messages", importer)
        run("completion", Completion(new, threads, pending(messages.rows), importer.started))
    out["threads"] = threads
    return out


def test_teams_channels_and_messages_arrive_with_their_authors_and_times(world: tuple, tmp_path: Path) -> None:
    sb, old_graph, new_graph = world
    first = _move(tmp_path, old_graph, new_graph, "teams.sqlite", "first")
    assert first["teams"].tally() == {"created": 2}
    assert not first["channels"].failed and first["channels"].count("created") == 2  # Deals, Partners
    assert not first["messages"].failed, [r["error"] for r in first["messages"].failed]
    # the one-on-one chat of Megan and Alex arrives; the group chat's third person (Bianca) is not mapped here
    assert first["chats"].tally() == {"created": 2}, first["chats"].rows
    assert first["completion"].tally() == {"updated": 6}  # each thread's migration completed
    # the website tab is made again; the Planner tab is the admin's (its configuration is the app's own)
    assert first["tabs"].tally() == {"created": 1, "manual": 1}
    script = (tmp_path / "first" / "manual-team-tab.ps1").read_text()
    assert "Add-PnPTeamsTab" in script and "'Sales tasks' -Type Planner" in script
    sb.admin("POST", f"powershell/{NEW}", data=script.encode())  # the admin runs it
    old, new = TeamsClient(old_graph), TeamsClient(new_graph)
    sales_old = next(p for p in _pairs(old, old_graph, new_graph) if p.name == "Sales")
    sales_new = new.team(str(sales_old.new_group))
    assert sales_new is not None and sales_new["funSettings"]["allowGiphy"] is False
    channels = {c["displayName"]: c for c in new.channels(sales_new["id"])}
    assert channels["Deals"]["membershipType"] == "private" and channels["Deals"]["migrationMode"] == "completed"
    deals = new.members(Thread("channel", channels["Deals"]["id"], sales_new["id"]))
    assert {m["email"] for m in deals} == {new_upn("megan.bowen"), new_upn("alex.wilber")}

    old_general = next(c for c in old.channels(str(sales_old.old["id"])) if c["displayName"] == "General")
    before = old.messages(Thread("channel", old_general["id"], str(sales_old.old["id"])))
    after = new.messages(Thread("channel", channels["General"]["id"], sales_new["id"]))
    assert [m["createdDateTime"] for m in after] == [m["createdDateTime"] for m in before]  # same order, same times
    assert sum(1 for m in after if m["replyToId"]) == sum(1 for m in before if m["replyToId"])
    people = _people(old_graph, new_graph)
    for b, a in zip(before, after, strict=True):
        mapped = people.new(b["from"]["user"]["id"])
        assert a["from"]["user"]["id"] == (mapped or people.stand_in)
        assert [r["user"]["user"]["id"] for r in a["reactions"]] == [  # the reactions of people who move
            people.new(r["user"]["user"]["id"]) for r in b["reactions"] if people.new(r["user"]["user"]["id"])]
        if not mapped:  # Pat, who left, and the guests this test does not map: named, under the stand-in
            assert f"Written by {b['from']['user']['displayName']}" in a["body"]["content"]
    assert any("Written by Pat Leaver" in a["body"]["content"] for a in after)
    assert sum(len(a["reactions"]) for a in after) > 0 and any(  # Pat's reaction stays behind, and says so
        "reaction(s) not carried" in str(r.get("note")) for r in first["messages"].rows)
    image = next(m for m in after if "hostedContents/" in m["body"]["content"] and not m["replyToId"])
    hosted = image["body"]["content"].split("hostedContents/")[1].split("/")[0]
    thread = Thread("channel", channels["General"]["id"], sales_new["id"])
    assert new.hosted_content(thread, image, hosted) == PNG
    links = [a["contentUrl"] for m in after for a in m["attachments"]]
    assert links and all(u.startswith("https://contosonew.sharepoint.com/sites/sales/") for u in links)
    # each link names the old library's file, which phase 50 moves
    old_file = SiteClient(old_graph).file_at(next(a["contentUrl"] for m in before for a in m["attachments"]))
    assert old_file is not None and old_file["name"] == "Price list 2026.pdf"
    assert SiteClient(old_graph).file_at("https://contoso.sharepoint.com/sites/sales/Shared Documents/nope.pdf") is None

    # a file link must open in the new site when it opened in the old one: Sales' did (its library has the price
    # list), Marketing's did not (its library never had it); phase 50 has not copied the file here yet
    from tenantmove.phases.teams import TeamsMove, thread_counts

    move = TeamsMove(old, new, [], people, ("contoso.sharepoint.com", "contosonew.sharepoint.com"), reader=old)
    counted = thread_counts(move, [t for t in first["threads"] if t.name in ("Sales: General", "Marketing: General")])
    assert dict(zip(counted["thread"], counted["file links as before"], strict=True)) == {
        "Sales: General": False, "Marketing: General": True}
    assert counted["file links"].min() > 0 and counted["reactions as before"].all()

    megan = new_graph.get(f"users/{new_upn('megan.bowen')}")["id"]
    chats = {c["chatType"]: c for c in new.chats(megan)}
    assert len(new.messages(Thread("chat", chats["oneOnOne"]["id"]))) == 30
    assert new.thread(Thread("chat", chats["group"]["id"]))["migrationMode"] == "completed"

    later = _move(tmp_path, old_graph, new_graph, "teams.sqlite", "later")  # a later pass reads only the changes
    assert later["messages"].rows == []
    assert later["completion"].tally() == {"adopted": 6}  # after a pass that started migrations: checked once
    assert later["tabs"].tally() == {"done before": 1, "adopted": 1}  # the admin's tab read back

    # people keep working in the old tenant: a new post, a reply to an old one, a chat message, a late reaction
    def work(**body: Any) -> dict[str, Any]:
        return sb.admin("POST", "teams/contoso.onmicrosoft.com", json=body)

    top = next(m for m in before if not m["replyToId"])
    work(op="post", team="sales", channel="General", **{"from": "megan.bowen@contoso.example"}, content="<p>News</p>")
    work(op="post", team="sales", channel="General", **{"from": "alex.wilber@contoso.example"}, reply_to=top["id"],
         content="<p>Still true</p>")
    work(op="post", chat="", **{"from": "alex.wilber@contoso.example"}, content="<p>Lunch?</p>")
    work(op="react", team="sales", channel="General", **{"from": "alex.wilber@contoso.example"}, message=before[-1]["id"])
    third = _move(tmp_path, old_graph, new_graph, "teams.sqlite", "third")
    assert third["messages"].count("created") == 3, third["messages"].rows
    late = [r for r in third["messages"].rows if r["action"] == "adopted"]
    assert len(late) == 1 and "cannot be changed" in str(late[0].get("note"))  # the reaction came after the move
    listed = len(third["messages"].rows)  # the changed chains only: the old reply chain comes whole, nothing else
    assert listed < 20, third["messages"].tally()
    assert third["completion"].tally() == {"updated": 2, "done before": 4}  # put back into migration, completed
    after = new.messages(thread)
    assert len(after) == len(before) + 2 and new.thread(thread)["migrationMode"] == "completed"
    assert next(m for m in after if "Still true" in m["body"]["content"])["replyToId"] == next(
        m["id"] for m in after if m["createdDateTime"] == top["createdDateTime"])

    again = _move(tmp_path, old_graph, new_graph, "forgot.sqlite", "after a kill")  # a ledger that knows nothing
    assert not again["messages"].failed and again["messages"].count("created") == 0
    assert again["chats"].tally() == {"adopted": 2}  # found, not made twice
    assert again["tabs"].tally() == {"adopted": 2}  # the admin's tab read back
    assert len(new.messages(thread)) == len(before) + 2  # nothing imported twice
    assert all(new.thread(Thread("channel", c["id"], sales_new["id"]))["migrationMode"] == "completed"
               for c in new.channels(sales_new["id"]))


def test_an_app_microsoft_has_not_approved_is_named_before_the_move_and_a_person_reads_their_own(
        world: tuple, tmp_path: Path) -> None:
    """Reading messages app-only is a protected API: phase 00's readiness names it with the way to ask; phase 65
    then reads, with a person's sign-in, that person's own chats and the channels of their teams, and lists what
    they may not read as not moved."""
    from tenantmove.phases.teams import readiness, unreadable
    from tenantmove.services.auth import SignIn
    from tenantmove.workloads.inventory import collect

    from .conftest import SOURCE_APP, tenant_config

    sb, old_graph, new_graph = world
    old = TeamsClient(old_graph, RATE)
    pairs = _pairs(old, old_graph, new_graph)
    assert unreadable(old, pairs) == ""
    src = collect(old_graph)
    assert [c.result for c in readiness(old_graph, src)] == ["ok"]
    sb.set_knobs(teams_protected_denied=[SOURCE_APP])
    assert "Protected API" in unreadable(old, pairs)
    said = readiness(old_graph, src)[0]
    assert said.result == "warn" and "2 team(s)" in said.detail and "teams-protected-apis" in said.hint

    consented = sb.admin("PATCH", f"apps/{SOURCE_APP}", json={})["delegated"]
    sb.admin("PATCH", f"apps/{SOURCE_APP}", json={"delegated": [*consented, "ChannelMessage.Read.All", "Chat.Read",
                                                                "ChannelMember.Read.All", "User.Read"]})

    class Megan:  # she enters the code at the sign-in page
        def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None:
            sb.admin("POST", "device/approve", json={"user_code": flow["user_code"],
                                                     "user": "megan.bowen@contoso.example"})

        def status(self, text: str, waiting: bool = False) -> None:
            pass

    signin = SignIn(tenant_config("source", auth="device_code", secret_env=""), authority_host=sb.endpoints[
        "authority_host"], verify=sb.ca_file, prompt=Megan())
    person = GraphClient(signin, sb.endpoints["graph_url"], verify=sb.ca_file)
    reader, new = TeamsClient(person, RATE), TeamsClient(new_graph, RATE)
    people = _people(old_graph, new_graph)
    with Ledger(tmp_path / "person.sqlite", "person") as led:
        engine = Engine(led, "65_teams", folder=tmp_path / "person", workers=4)
        run_keeping(engine, Teams(old, new, pairs))
        channels = Channels(old, new, pairs, people)
        chats = Chats(reader, new, people, [person.get("me")["id"]])
        threads = channels.threads(run_keeping(engine, channels).targets()) + \
            chats.threads(run_keeping(engine, chats).targets())
        importer = Messages(reader, new, threads, people, ("contoso.sharepoint.com", "contosonew.sharepoint.com"))
        moved = run_keeping(engine, importer)
    names = {tp.key: tp.name for tp in threads}
    assert sorted(names[k] for k in importer.unread) == ["Sales: Partners"]  # a shared channel she is not in
    assert not moved.failed and len(moved.rows) == 90 + 40 + 60 + 30 + 45, moved.tally()  # the rest, her chats too
    assert len(chats.listed) == 2


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.conftest import make_client
from tests.test_teams_move_sandbox import _move
from tenantmove.sandbox.process import Sandbox
sb = Sandbox.attach(Path({state!r}))
_move(Path({tmp!r}), make_client(sb, "source")[1], make_client(sb, "target")[1], "killed.sqlite", "killed")
"""


def test_killed_mid_import_the_rerun_duplicates_nothing_and_leaves_no_thread_in_migration(world: tuple,
                                                                                          tmp_path: Path) -> None:
    """A process killed (SIGKILL) while it imports: the rerun on its ledger finds what it imported (by time and
    author), imports the rest once, and completes every thread it left in migration mode."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    sb, old_graph, new_graph = world
    script = tmp_path / "killed_teams.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT), state=str(sb.state_dir), tmp=str(tmp_path)))

    start = int(sb.stats()["counts"].get("teams messages imported", 0))  # the sandbox counts since it started

    def imported() -> int:
        return int(sb.stats()["counts"].get("teams messages imported", 0)) - start

    proc = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and imported() < 60 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    before = imported()
    new = TeamsClient(new_graph)
    left = [t for t in _threads_now(new, new_graph) if new.thread(t).get("migrationMode") == "inProgress"]
    assert left, "the kill came after every thread was complete: nothing was tested"

    resumed = _move(tmp_path, old_graph, new_graph, "killed.sqlite", "resumed")
    assert not resumed["messages"].failed
    assert before < imported() == 285  # the service imported each of the seed's messages once, across both runs
    old = TeamsClient(old_graph)
    for tp in resumed["threads"]:
        assert len(new.messages(tp.new)) == len(old.messages(tp.old)), tp.name  # nothing twice, nothing missing
        assert new.thread(tp.new)["migrationMode"] == "completed", tp.name


def _threads_now(new: TeamsClient, new_graph: GraphClient) -> list[Thread]:
    out = []
    for g in new_graph.get_all("groups"):
        team = new.team(g["id"])
        if team is not None:
            out += [Thread("channel", c["id"], team["id"]) for c in new.channels(team["id"])]
    megan = new_graph.get(f"users/{new_upn('megan.bowen')}")["id"]
    return out + [Thread("chat", c["id"]) for c in new.chats(megan)]
