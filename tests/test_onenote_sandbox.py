"""OneNote through the real client and the sandbox: a person's sign-in on each side (device code), notebooks,
section groups, sections and pages with their images and files rebuilt in the new OneDrive, in order and with
their creation time; what the sign-in cannot reach becomes a Set-SPOUser step; the client paces itself under
limits that are answered without Retry-After."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.sandbox import Sandbox
from tenantmove.services.auth import SignIn
from tenantmove.services.drives import DriveClient
from tenantmove.services.graph import GraphAuthError, GraphClient, GraphError, RetryPolicy
from tenantmove.services.onenote import OneNoteClient, PageCopy, PagePart, onenote_pacer
from tenantmove.services.pacing import Budget, Pacer
from tenantmove.workloads.onenote import (
    NotebookAccess,
    NotebookPages,
    NotebookStructure,
    NoteCopy,
    find_owners,
    note_name,
)

from .conftest import SOURCE_APP, make_client, tenant_config
from .files_helpers import NEW, OLD, make_target_users, new_upn, run_keeping

USERS = ("megan.bowen", "alex.wilber")
ADMIN = {"source": "admin@contoso.onmicrosoft.com", "target": "admin@contosonew.onmicrosoft.com"}


class Approving:
    """The device-code prompt of a person who signs in at once (through the sandbox's admin endpoint)."""

    def __init__(self, sb: Sandbox, user: str) -> None:
        self.sb, self.user = sb, user

    def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None:
        self.sb.admin("POST", "device/approve", json={"user_code": flow["user_code"], "user": self.user})

    def status(self, text: str, waiting: bool = False) -> None:
        return None


def person(sb: Sandbox, side: str, user: str = "", pacer: Pacer | None = None) -> GraphClient:
    config = tenant_config(side, auth="device_code", secret_env="")
    signin = SignIn(config, authority_host=sb.endpoints["authority_host"], verify=sb.ca_file,
                    prompt=Approving(sb, user or ADMIN[side]))
    return GraphClient(signin, sb.endpoints["graph_url"], verify=sb.ca_file, retry=RetryPolicy(base=0.05, cap=0.5),
                       pacer=pacer or onenote_pacer())


@pytest.fixture
def world(fresh_sandbox: Sandbox) -> Sandbox:
    _, new = make_client(fresh_sandbox, "target")
    make_target_users(fresh_sandbox, new, USERS)
    return fresh_sandbox


def grant(sb: Sandbox, tenant: str, site: str, account: str) -> None:
    host = tenant.split(".")[0]
    sb.admin("POST", f"powershell/{tenant}", data=(
        f"Connect-SPOService -Url https://{host}-admin.sharepoint.com\n"
        f"Set-SPOUser -Site '{site}' -LoginName '{account}' -IsSiteCollectionAdmin $true\n").encode())


def site(tenant: str, upn: str) -> str:
    return f"https://{tenant.split('.')[0]}-my.sharepoint.com/personal/{upn.replace('.', '_').replace('@', '_')}"


def copy_notes(sb: Sandbox, ledger: Path, run_id: str = "r") -> tuple[dict[str, Outcome], NoteCopy]:
    old_app, new_app = make_client(sb, "source")[1], make_client(sb, "target")[1]
    old, new = OneNoteClient(person(sb, "source")), OneNoteClient(person(sb, "target"))
    pairs = [(f"{n}@contoso.example", f"{n}@contoso.example", new_upn(n)) for n in USERS]
    copy = NoteCopy(old, new, find_owners(DriveClient(old_app), DriveClient(new_app), old, new, pairs),
                    {"old": ADMIN["source"], "new": ADMIN["target"]})
    out: dict[str, Outcome] = {}
    with Ledger(ledger, run_id) as led:
        engine = Engine(led, "80_onenote", folder=ledger.parent / "phase", workers=4)
        for workload in (NotebookAccess(copy), NotebookStructure(copy), NotebookPages(copy)):
            out[workload.kind] = run_keeping(engine, workload)
    return out, copy


def as_new(path: str) -> str:
    """A section's path as the new tenant names it (OneNote's rules: a notebook, then groups and sections)."""
    first, *rest = path.split("/")
    return "/".join([note_name("notebook", first), *(note_name("section", n) for n in rest)])


def pages_of(client: OneNoteClient, owner: str) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Section path -> [(title, created, sha256 of each image and file)] in page order."""
    groups = {g["id"]: g for g in client.containers(owner, "sectionGroups")}
    out = {}
    for section in client.containers(owner, "sections"):
        names, up = [section["displayName"]], section.get("parentSectionGroup")
        while up:
            names.insert(0, up["displayName"])
            up = groups[up["id"]].get("parentSectionGroup")
        names.insert(0, section["parentNotebook"]["displayName"])
        pages = []
        for page in client.pages(owner, section["id"]):
            copy = client.read_page(owner, page)
            pages.append((page["title"], page["createdDateTime"], [p.digest for p in copy.parts]))
        out["/".join(names)] = pages
    return out


def test_app_only_tokens_are_refused(sandbox: Sandbox) -> None:
    app = make_client(sandbox, "source")[1]
    with pytest.raises(GraphAuthError) as caught:
        app.get("users/megan.bowen@contoso.example/onenote/notebooks")
    assert caught.value.status == 401 and "delegated" in str(caught.value)


def test_notebooks_arrive_with_groups_images_files_dates_and_order_and_a_rerun_makes_nothing(
        world: Sandbox, tmp_path: Path) -> None:
    for nick in USERS:
        grant(world, OLD, site(OLD, f"{nick}@contoso.example"), ADMIN["source"])
        grant(world, NEW, site(NEW, new_upn(nick)), ADMIN["target"])
    out, _ = copy_notes(world, tmp_path / "l.sqlite")
    assert not any(o.failed for o in out.values()), {k: o.failed for k, o in out.items()}
    assert out["onenote-access"].count("reachable") == 4
    assert out["onenote-section"].count("created") == 2 + 3 + 5  # notebooks, section groups, sections
    assert out["onenote-page"].count("created") == 3 * 3 + 2 * 4
    old, new = OneNoteClient(person(world, "source")), OneNoteClient(person(world, "target"))
    for nick in USERS:
        before, after = pages_of(old, f"{nick}@contoso.example"), pages_of(new, new_upn(nick))
        assert after == {as_new(path): pages for path, pages in before.items()}  # the same sections (named as the
        # API takes them), pages in the same order, same times, same images and files
    megan = pages_of(new, new_upn("megan.bowen"))
    assert len(megan["Megan＇s notebook/Campaigns/Archive/2025"][0][2]) == 3  # two pictures and a file
    assert megan["Megan＇s notebook/Quick Notes"][0][1] == "2018-01-10T09:30:00Z"  # "'" is refused in a name
    notebooks = world.admin("GET", f"files/{NEW}/{new_upn('megan.bowen')}")
    assert any(p.endswith("Notebooks/Megan＇s notebook") for p in notebooks)  # a package in the new OneDrive
    again, _ = copy_notes(world, tmp_path / "l.sqlite", "again")
    assert again["onenote-page"].counts() == {"done before": 17}
    assert again["onenote-section"].counts() == {"done before": 10}


def test_what_the_sign_in_cannot_reach_is_a_set_spouser_step_then_copied(world: Sandbox, tmp_path: Path) -> None:
    grant(world, NEW, site(NEW, new_upn("alex.wilber")), ADMIN["target"])  # Alex shared his notebook: enough there
    out, copy = copy_notes(world, tmp_path / "l.sqlite")
    access = out["onenote-access"]
    assert {r["key"] for r in access.rows if r["action"] == "manual"} == {"old|megan.bowen@contoso.example",
                                                                         "new|megan.bowen@contoso.example"}
    assert out["onenote-page"].count("created") == 8 and not out["onenote-page"].failed  # Alex's, already
    script = access.script.read_text()
    assert f"Set-SPOUser -Site '{site(OLD, 'megan.bowen@contoso.example')}'" in script
    assert "Connect-SPOService -Url https://contoso-admin.sharepoint.com" in script
    world.admin("POST", f"powershell/{NEW}", data=script.encode())  # the admin runs it (it connects to each tenant)
    again, _ = copy_notes(world, tmp_path / "l.sqlite", "again")
    assert again["onenote-access"].count("reachable") == 2
    assert again["onenote-page"].count("created") == 9 and not again["onenote-page"].failed


@pytest.mark.waits
def test_the_client_paces_itself_where_429s_say_nothing(sandbox: Sandbox) -> None:
    """Limits of 12 a second: a client paced under that (with the margin it keeps) never hears a 429; a greedy
    one does, without Retry-After, and still loses nothing."""
    sandbox.set_knobs(onenote_per_minute=12, onenote_per_hour=10_000, onenote_window_scale=1 / 60)
    owner = "admin@contoso.onmicrosoft.com"
    raw = person(sandbox, "source")
    answers = []
    for _ in range(20):
        resp = requests.get(f"{sandbox.endpoints['graph_url']}/users/{owner}/onenote/notebooks", verify=sandbox.ca_file,
                            headers={"Authorization": f"Bearer {raw.tokens.token()}"}, timeout=10)
        answers.append(resp)
    throttled = [r for r in answers if r.status_code == 429]
    assert throttled and all("Retry-After" not in r.headers for r in throttled)
    for budget, expect_429 in ((10, False), (40, True)):
        sandbox.set_knobs(onenote_per_minute=12)
        paced = Pacer([Budget(budget, 1.0)], 5)
        client = person(sandbox, "source", pacer=paced)
        paced.acquire(), paced.release(200)  # the sign-in's first call above is not the pacer's: wait out a window
        threading.Event().wait(1.1)
        done: list[int] = []

        def many(c: GraphClient = client, out: list[int] = done) -> None:
            for _ in range(10):
                out.append(len(c.get(f"users/{owner}/onenote/notebooks")["value"]))

        threads = [threading.Thread(target=many) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(done) == 40  # nothing lost either way
        assert (paced.throttled > 0) is expect_429, (budget, paced.throttled)


def test_page_creation_rules_multipart_and_a_full_section(world: Sandbox) -> None:
    grant(world, NEW, site(NEW, new_upn("megan.bowen")), ADMIN["target"])
    notes = OneNoteClient(person(world, "target"))
    owner = new_upn("megan.bowen")
    nb = notes.create_notebook(owner, "Rules")
    section = notes.create_container(owner, "notebooks", nb["id"], "sections", "One")
    picture = PagePart("pic", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "image/png")
    made = notes.create_page(owner, section["id"], PageCopy("With a picture", "2015-07-22T09:00:00-08:00",
                                                            '<p>hello</p><img src="name:pic" />', [picture]))
    assert made["createdDateTime"] == "2015-07-22T17:00:00Z"  # the created meta, kept (in UTC)
    assert made["parentSection"]["id"] == section["id"]  # a page names its section, as Graph's do
    assert all(p["parentSection"]["displayName"] == "One" for p in notes.pages(owner, section["id"]))
    # the created page's 201 says where it is (Location), as the service's does
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata(
        [("Presentation", (None, PageCopy("Located", "", "<p>here</p>").presentation().encode(), "text/html"))])
    created = notes.graph.request("POST", f"{notes.base(owner)}/sections/{section['id']}/pages", data=body,
                                  headers={"Content-Type": content_type})
    assert created.status_code == 201 and created.headers["Location"] == created.json()["self"]
    # every page the sign-in reaches, across sections, newest first, 20 to a page; and /me/onenote/pages as well
    other = notes.create_container(owner, "notebooks", nb["id"], "sections", "Two")
    notes.create_page(owner, other["id"], PageCopy("Elsewhere", "", "<p>there</p>"))
    across = notes.graph.get_all(f"{notes.base(owner)}/pages", {"$top": "1"})
    assert {p["title"] for p in across} >= {"With a picture", "Located", "Elsewhere"}
    assert {p["parentSection"]["displayName"] for p in across} >= {"One", "Two"}
    world.admin("POST", f"files/{NEW}/{ADMIN['target']}", json={"op": "provision", "seconds": 0})
    own = notes.create_notebook(ADMIN["target"], "Admin own")
    own_section = notes.create_container(ADMIN["target"], "notebooks", own["id"], "sections", "Mine")
    notes.create_page(ADMIN["target"], own_section["id"], PageCopy("Only mine", "", "<p>me</p>"))
    assert [p["title"] for p in notes.graph.get_all("me/onenote/pages")] == ["Only mine"]
    back = notes.read_page(owner, made)
    assert [p.digest for p in back.parts] == [picture.digest] and "hello" in back.body
    with pytest.raises(GraphError) as caught:  # a part the Presentation names but the request lacks
        notes.create_page(owner, section["id"], PageCopy("Broken", "", '<img src="name:gone" />'))
    assert caught.value.status == 400 and caught.value.code == "20008"
    world.set_knobs(onenote_section_pages=1)
    with pytest.raises(GraphError) as caught:
        notes.create_page(owner, section["id"], PageCopy("One too many", "", "<p>x</p>"))
    assert caught.value.status == 507
    world.set_knobs(onenote_section_pages=5000)


def test_twin_pages_each_arrive_and_no_target_serves_two(world: Sandbox, tmp_path: Path) -> None:
    """Hostile: two pages of one section with the same title and the same creation time (a page copied twice by
    hand). Adoption (by title and time, for a page made just before a kill) must not hand the first one's new
    copy to the second: both arrive, and the ledger gives every new page to one old page only."""
    for nick in USERS:
        grant(world, OLD, site(OLD, f"{nick}@contoso.example"), ADMIN["source"])
        grant(world, NEW, site(NEW, new_upn(nick)), ADMIN["target"])
    delegated = world.admin("PATCH", f"apps/{SOURCE_APP}", json={})["delegated"]  # someone wrote there by hand
    world.admin("PATCH", f"apps/{SOURCE_APP}", json={"delegated": [*delegated, "Notes.ReadWrite.All"]})
    old = OneNoteClient(person(world, "source"))
    megan = "megan.bowen@contoso.example"
    section = next(s for s in old.containers(megan, "sections") if s["displayName"] == "Quick Notes")
    for _ in range(2):
        old.create_page(megan, section["id"], PageCopy("Twin", "2019-05-01T08:00:00Z", "<p>the same text</p>", []))
    out, _ = copy_notes(world, tmp_path / "l.sqlite")
    assert not out["onenote-page"].failed
    new = OneNoteClient(person(world, "target"))
    quick = pages_of(new, new_upn("megan.bowen"))["Megan＇s notebook/Quick Notes"]
    assert [p[0] for p in quick].count("Twin") == 2
    with Ledger(tmp_path / "l.sqlite") as ledger:
        targets = [i.target_id for i in ledger.items("onenote-page", ["done"])]
    assert len(targets) == len(set(targets))
    again, _ = copy_notes(world, tmp_path / "l.sqlite", "again")
    assert set(again["onenote-page"].counts()) == {"done before"}
