"""OneDrive files through the real client and the sandbox: every file proven, reruns that transfer
nothing, a second pass that transfers only the changes, 410 recovery, fragment resume, expired sessions,
throttling mid-copy, provisioning, and faults reported per item."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tenantmove import spnames
from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.workloads.files import LONG_PATHS, VERDICT_OFFICE
from tenantmove.workloads.onedrive import OneDrives, find_pairs

from .conftest import ROOT, make_client
from .files_helpers import (
    NEW,
    OLD,
    Confirmed,
    clients,
    copy_files,
    listing,
    make_target_users,
    moving,
    new_upn,
)

MEGAN_OLD = "megan.bowen@contoso.example"


def expected_target(path: str) -> str:
    return "/" + "/".join(spnames.encode(s) for s in path.strip("/").split("/"))


@pytest.fixture
def world(fresh_sandbox: Sandbox) -> Sandbox:
    _, new = make_client(fresh_sandbox, "target")
    make_target_users(fresh_sandbox, new)
    return fresh_sandbox


def downloads(sb: Sandbox) -> int:
    return int(sb.stats()["counts"].get("downloads", 0))


def test_every_file_arrives_with_its_name_rule_dates_and_a_verdict(world: Sandbox, tmp_path: Path) -> None:
    out = copy_files(world, tmp_path / "ledger.sqlite")
    assert not out["drive-folder"].failed and not out["drive-file"].failed
    source = listing(world, OLD, MEGAN_OLD)
    target = listing(world, NEW, new_upn("megan.bowen"))
    packages = [p for p, v in source.items() if v.get("package")]
    assert packages == ["/Notebooks/Megan's notebook"]
    for path, info in source.items():
        if any(path.startswith(p) for p in packages):
            assert expected_target(path) not in target  # OneNote: phase 80
            continue
        got = target[expected_target(path)]
        if info.get("folder"):
            assert got.get("folder")
            continue
        assert (got["created"], got["modified"]) == (info["created"], info["modified"]), path
        if path.endswith((".docx", ".xlsx")) and not path.split("/")[-1].startswith("~$"):
            assert got["quickXorHash"] != info["quickXorHash"]  # SharePoint rewrote it
        else:
            assert (got["size"], got["quickXorHash"]) == (info["size"], info["quickXorHash"]), path
    assert "/Empty folder/Still empty" in target and "/Legacy/ＣON" in target and "/Legacy/report： draft？.txt" in target
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        files = {i.name: i for i in ledger.items("drive-file")}
    assert files["/Campaigns/2026/Plan.docx"].detail["verdict"] == VERDICT_OFFICE
    assert files["/Legacy/old scan.pdf"].detail["verdict"].startswith("verified: quickXorHash computed while copying")
    assert files["/Campaigns/empty.txt"].detail["verdict"] == "verified: empty file"
    assert files["/Legacy/CON"].detail["renames"] == ["CON -> ＣON"]
    assert all(i.detail["verdict"].startswith(("verified", "changed by SharePoint")) for i in files.values())
    # alex's 394-character path fits the old OneDrive, not the new one (a longer user name in its URL)
    alex = listing(world, NEW, new_upn("alex.wilber"))
    long = [p for p in alex if p.startswith(f"/{LONG_PATHS}/") and p.endswith("Amendment 7 - liability cap revision.pdf")]
    assert len(long) == 1
    moved = next(i for i in files.values() if i.name.endswith("revision.pdf"))
    assert "over 400" in moved.detail["renames"][-1] and moved.detail["target_path"] == long[0]


def test_a_rerun_transfers_nothing(world: Sandbox, tmp_path: Path) -> None:
    undecorated = world.stats()["counts"].get("undecorated", 0)
    copy_files(world, tmp_path / "ledger.sqlite")
    assert world.stats()["counts"].get("undecorated", 0) == undecorated  # every request: NONISV|<company>|tenantmove
    before = world.stats()["counts"]
    again = copy_files(world, tmp_path / "ledger.sqlite", run_id="again")
    after = world.stats()["counts"]
    assert again["drive-file"].counts() == {} and again["drive-folder"].counts() == {}  # the delta is empty
    assert after.get("downloads", 0) == before.get("downloads", 0)
    assert after.get("fragments", 0) == before.get("fragments", 0)


def test_a_second_pass_transfers_only_the_changes(world: Sandbox, tmp_path: Path) -> None:
    copy_files(world, tmp_path / "ledger.sqlite")
    change = f"files/{OLD}/{MEGAN_OLD}"
    world.admin("POST", change, json={"op": "put", "path": "Campaigns/new brief.txt", "size": "5 KiB"})
    world.admin("POST", change, json={"op": "put", "path": "Reisen/日本語のメモ.txt", "size": "4 KiB", "seed": "v2"})
    world.admin("POST", change, json={"op": "rename", "path": "Campaigns/empty.txt", "name": "renamed.txt"})
    world.admin("POST", change, json={"op": "move", "path": "Campaigns/2026/Q3/Assets/hero.png", "to": "Reisen"})
    world.admin("POST", change, json={"op": "delete", "path": "Legacy/old scan.pdf"})
    world.admin("POST", change, json={"op": "rename", "path": "Empty folder", "name": "Was empty"})
    before = downloads(world)
    second = copy_files(world, tmp_path / "ledger.sqlite", run_id="second")
    files, folders = second["drive-file"].counts(), second["drive-folder"].counts()
    assert files == {"copied": 2, "moved": 2, "removed": 1}, files
    assert folders.get("moved") == 1 and set(folders) <= {"moved", "done before"}, folders  # its child: unchanged
    assert downloads(world) - before == 2  # the added and the modified file, nothing else
    target = listing(world, NEW, new_upn("megan.bowen"))
    source = listing(world, OLD, MEGAN_OLD)
    assert target["/Campaigns/new brief.txt"]["quickXorHash"] == source["/Campaigns/new brief.txt"]["quickXorHash"]
    assert target["/Reisen/日本語のメモ.txt"]["size"] == 4096
    assert "/Campaigns/renamed.txt" in target and "/Campaigns/empty.txt" not in target
    assert "/Reisen/hero.png" in target and "/Campaigns/2026/Q3/Assets/hero.png" not in target
    assert "/Legacy/old scan.pdf" not in target
    assert "/Was empty/Still empty" in target and "/Empty folder" not in target


def test_an_expired_delta_link_falls_back_to_a_full_comparison(world: Sandbox, tmp_path: Path) -> None:
    copy_files(world, tmp_path / "ledger.sqlite")
    world.admin("POST", f"files/{OLD}/{MEGAN_OLD}", json={"op": "delete", "path": "Reisen/日本語のメモ.txt"})
    world.admin("POST", f"files/{OLD}/expire-deltas")
    before = downloads(world)
    third = copy_files(world, tmp_path / "ledger.sqlite", run_id="third")
    assert third["drive-file"].counts().get("removed") == 1
    assert set(third["drive-file"].counts()) == {"done before", "removed"}
    assert downloads(world) == before  # a full comparison, but nothing copied again
    assert "/Reisen/日本語のメモ.txt" not in listing(world, NEW, new_upn("megan.bowen"))
    fourth = copy_files(world, tmp_path / "ledger.sqlite", run_id="fourth")  # the new link works again
    assert fourth["drive-file"].counts() == {}


@pytest.mark.parametrize("fault", [500, "lost"])
def test_a_failed_fragment_resumes_where_the_service_says(world: Sandbox, tmp_path: Path, fault: object,
                                                          debug_logs: pytest.LogCaptureFixture) -> None:
    """500: the fragment was not taken and is sent again; lost: it was taken, the answer never came, so the
    retry hears 416 and the client asks the session where to go on (``nextExpectedRanges``)."""
    before = world.stats()["counts"]
    world.set_knobs(faults=[{"match": "^_up/", "status": fault, "count": 1, "method": "PUT"}])
    out = copy_files(world, tmp_path / "ledger.sqlite", nicks=("megan.bowen",))
    assert not out["drive-file"].failed
    after = world.stats()["counts"]
    assert after.get("failed", 0) - before.get("failed", 0) == 1
    video = listing(world, NEW, new_upn("megan.bowen"))["/Campaigns/video.mp4"]
    assert video["quickXorHash"] == listing(world, OLD, MEGAN_OLD)["/Campaigns/video.mp4"]["quickXorHash"]
    assert after["fragments"] - before.get("fragments", 0) == 3  # 24 MiB in 10 MiB fragments, none stored twice
    if fault == "lost":
        assert "resuming at 10485760" in debug_logs.text


def test_an_expired_upload_session_starts_over(world: Sandbox, tmp_path: Path) -> None:
    world.set_knobs(faults=[{"match": "^_up/", "status": 404, "count": 1, "method": "PUT"}])
    out = copy_files(world, tmp_path / "ledger.sqlite", nicks=("megan.bowen",))
    assert not out["drive-file"].failed
    video = listing(world, NEW, new_upn("megan.bowen"))["/Campaigns/video.mp4"]
    assert video["size"] == 24 * 1024 * 1024


@pytest.mark.waits
def test_throttling_mid_copy_is_waited_out(world: Sandbox, tmp_path: Path) -> None:
    # 20 resource units in a 2-second window. Megan's drive costs about 80 units, so unless the copy is
    # slower than 6 s unthrottled (it takes under 1 s), one window holds at least 20 and the 80 % mark is met.
    world.set_knobs(ru_per_minute=600, ru_window_seconds=2.0)
    before = world.stats()["counts"].get("ru_spent_new", 0)
    used: list = []
    out = copy_files(world, tmp_path / "ledger.sqlite", nicks=("megan.bowen",), used=used)
    assert not out["drive-file"].failed and not out["drive-folder"].failed
    assert world.stats()["counts"]["ru_spent_new"] - before > 60  # what the comment above counts on
    held = sum(c.graph.stats["paced"] + c.graph.stats["throttled"] for c in used)
    assert held > 0  # the budget ran out mid-copy: the client waited (RateLimit headers or 429 + Retry-After)
    _, probe = make_client(world, "target")
    headers = probe.request("GET", f"users/{new_upn('megan.bowen')}/drive").headers
    for _ in range(60):  # drain the window: the 80 % mark brings the RateLimit headers
        headers = probe.request("GET", f"users/{new_upn('megan.bowen')}/drive").headers
        if "RateLimit-Remaining" in headers:
            break
    assert int(headers["RateLimit-Limit"]) == 20 and int(headers["RateLimit-Remaining"]) <= 4


def test_a_new_onedrive_is_requested_waited_for_and_then_filled(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    sb.set_knobs(onedrive_provision_seconds=0.5)
    _, new_graph = make_client(sb, "target")
    make_target_users(sb, new_graph, provision=False)
    old, new = clients(sb)
    pairs = find_pairs(old, new, moving())
    assert all(p.source and p.target is None for p in pairs)
    with Ledger(tmp_path / "ledger.sqlite", "r1") as ledger:
        engine = Engine(ledger, "70_onedrive", folder=tmp_path / "phase")
        first = engine.run(OneDrives(new, pairs), dry_run=False, gate=Confirmed())
        assert first.counts() == {"manual": 2}
        script = first.script.read_text()
        assert script.count("Request-SPOPersonalSite") == 1  # one call for both users (at most 200 per call)
        assert new_upn("megan.bowen") in script and new_upn("alex.wilber") in script
        sb.admin("POST", f"powershell/{NEW}", data=script.encode())
        assert new.user_drive(new_upn("megan.bowen")) is None  # the timer job has not run yet
        time.sleep(0.6)
        again = engine.run(OneDrives(new, find_pairs(old, new, moving())), dry_run=False, gate=Confirmed())
        assert again.counts() == {"ready": 2}
    out = copy_files(sb, tmp_path / "ledger.sqlite")
    assert not out["drive-file"].failed and out["drive-file"].count("copied") > 10


def test_quota_lock_and_deletion_mid_copy_are_reported_per_item(world: Sandbox, tmp_path: Path) -> None:
    megan_new = new_upn("megan.bowen")
    world.admin("POST", f"files/{NEW}/{megan_new}", json={"op": "quota", "quota": "20 MiB"})
    world.admin("POST", f"files/{NEW}/{megan_new}", json={"op": "put", "path": "Campaigns/2026/Budget.xlsx",
                                                        "size": 10})
    world.admin("POST", f"files/{NEW}/{megan_new}", json={"op": "lock", "path": "Campaigns/2026/Budget.xlsx"})

    def the_user_deletes_a_file() -> None:  # after the plan listed it, before it is copied
        world.admin("POST", f"files/{OLD}/{MEGAN_OLD}", json={"op": "delete", "path": "Reisen/日本語のメモ.txt"})

    out = copy_files(world, tmp_path / "ledger.sqlite", nicks=("megan.bowen",), after_plan=the_user_deletes_a_file)
    failed = {r["name"]: r["error"] for r in out["drive-file"].failed}
    assert set(failed) == {"/Campaigns/video.mp4", "/Campaigns/2026/Budget.xlsx", "/Reisen/日本語のメモ.txt"}, failed
    assert "quotaLimitReached" in failed["/Campaigns/video.mp4"]
    assert "resourceLocked" in failed["/Campaigns/2026/Budget.xlsx"]
    assert "deleted" in failed["/Reisen/日本語のメモ.txt"]
    assert out["drive-file"].count("copied") >= 8  # everything else went on
    world.admin("POST", f"files/{NEW}/{megan_new}", json={"op": "quota", "quota": "1 GiB"})
    world.admin("POST", f"files/{NEW}/{megan_new}", json={"op": "lock", "path": "Campaigns/2026/Budget.xlsx",
                                                        "locked": False})
    again = copy_files(world, tmp_path / "ledger.sqlite", nicks=("megan.bowen",), run_id="again")
    assert not again["drive-file"].failed
    assert again["drive-file"].counts() == {"copied": 2, "done before": again["drive-file"].count("done before"),
                                            "removed (nothing had been copied)": 1}


def test_all_versions_are_replayed_oldest_first(world: Sandbox, tmp_path: Path) -> None:
    copy_files(world, tmp_path / "ledger.sqlite", nicks=("megan.bowen",), versions="all")
    target = listing(world, NEW, new_upn("megan.bowen"))
    assert target["/Campaigns/2026/Plan.docx"]["versions"] == 3
    assert target["/Campaigns/video.mp4"]["versions"] == 1


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.files_helpers import copy_files
from tenantmove.sandbox.process import Sandbox
sb = Sandbox.attach(Path({state!r}))
copy_files(sb, Path({ledger!r}), run_id="killed")
"""


def test_killed_mid_copy_loses_nothing_and_copies_nothing_twice(world: Sandbox, tmp_path: Path) -> None:
    world.set_knobs(latency_ms=100)  # a copy long enough to be killed midway on a busy machine
    script = tmp_path / "killed_copy.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT), state=str(world.state_dir), ledger=str(tmp_path / "l.sqlite")))
    proc = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline, start = time.monotonic() + 60, downloads(world)

    def recorded() -> int:  # done items the ledger holds (the engine records them in batches, 4 times a second)
        try:
            db = sqlite3.connect(f"file:{tmp_path / 'l.sqlite'}?mode=ro", uri=True, timeout=1)
            try:
                return int(db.execute("SELECT COUNT(*) FROM items WHERE kind = 'drive-file' AND state = 'done'")
                           .fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:
            return 0

    while time.monotonic() < deadline and (downloads(world) - start < 8 or not recorded()) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]  # killed mid-copy, not finished or failed
    world.set_knobs(latency_ms=0)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        done_before = {i.source_id for i in ledger.items("drive-file", ["done"])}
    assert 0 < len(done_before)
    before = downloads(world)
    resumed = copy_files(world, tmp_path / "l.sqlite", run_id="resumed")
    assert not resumed["drive-file"].failed
    rows = resumed["drive-file"].rows
    copied = [r for r in rows if r["action"] == "copied"]
    assert not [r for r in copied if r["key"] in done_before]  # nothing finished before the kill went again
    assert {r["key"] for r in rows if r["action"] == "done before"} == done_before, [(r["key"], r["action"]) for r in rows if r["key"] in done_before]
    adopted = [r for r in rows if r["action"].startswith("adopted")]  # landed before the kill, found by content
    office = [r for r in copied + adopted if r["name"].endswith((".docx", ".xlsx")) and "~$" not in r["name"]]
    # each copied file read once; an Office file compared by content reads both sides; an adopted file at most
    # once more (a source without a hash is hashed); nothing done before the kill is read at all
    assert len(copied) <= downloads(world) - before <= len(copied) + 2 * len(office) + len(adopted)
    for user in ("megan.bowen", "alex.wilber"):
        target = listing(world, NEW, new_upn(user))
        source = listing(world, OLD, f"{user}@contoso.example")
        files = [p for p, v in source.items() if "size" in v and "Megan's notebook" not in p]
        assert len([p for p, v in target.items() if "size" in v]) == len(files)  # each file once: no "x 1.txt"


def test_files_that_landed_before_the_ledger_knew_are_adopted_not_uploaded_again(world: Sandbox,
                                                                                  tmp_path: Path) -> None:
    """Killed after every file landed and before the ledger heard of any (here: a ledger that never did): the
    rerun finds each file in the new OneDrive, the same by size and quickXorHash (Office documents, which
    SharePoint rewrites, by their parts), and adopts it: no upload, so no second version."""
    copy_files(world, tmp_path / "first.sqlite")
    before = world.stats()["counts"]
    again = copy_files(world, tmp_path / "unaware.sqlite", run_id="unaware")
    after = world.stats()["counts"]
    rows = again["drive-file"].rows
    assert rows and not again["drive-file"].failed
    assert {r["action"] for r in rows} == {"adopted (already copied)"}, [(r["name"], r["action"]) for r in rows if r["action"] != "adopted (already copied)"]
    assert after.get("fragments", 0) == before.get("fragments", 0)
    assert after.get("uploads", 0) == before.get("uploads", 0)


def test_names_that_the_rules_make_one_stay_apart_and_nothing_is_replaced(world: Sandbox, tmp_path: Path) -> None:
    """Hostile names: ``CON`` becomes ``ＣON`` beside a fullwidth ``ＣON`` already in the folder, and two empty
    files ``x:y.txt`` and ``x：y.txt`` become one name. Each arrives once, with its own content, the renamed one
    under a recorded `` (2)``; the phases run twice and the second changes nothing."""
    old_user = f"files/{OLD}/{MEGAN_OLD}"
    world.admin("POST", old_user, json={"op": "put", "path": "Legacy/ＣON", "size": "5 KiB", "seed": "native"})
    world.admin("POST", old_user, json={"op": "put", "path": "Hostile/x:y.txt", "size": 0})
    world.admin("POST", old_user, json={"op": "put", "path": "Hostile/x：y.txt", "size": 0})
    out = copy_files(world, tmp_path / "l.sqlite")
    assert not out["drive-file"].failed, out["drive-file"].failed
    source, target = listing(world, OLD, MEGAN_OLD), listing(world, NEW, new_upn("megan.bowen"))
    assert target["/Legacy/ＣON"]["quickXorHash"] == source["/Legacy/ＣON"]["quickXorHash"]  # the native name kept
    assert target["/Legacy/ＣON (2)"]["quickXorHash"] == source["/Legacy/CON"]["quickXorHash"]
    assert "/Hostile/x：y.txt" in target and "/Hostile/x：y (2).txt" in target
    with Ledger(tmp_path / "l.sqlite") as ledger:
        files = {i.name: i for i in ledger.items("drive-file")}
        targets = [i.target_id for i in files.values()]
    assert files["/Legacy/CON"].detail["renames"][-1].startswith("ＣON -> ＣON (2) (the name is taken in the folder")
    assert len(targets) == len(set(targets))  # no target is held by two source items
    again = copy_files(world, tmp_path / "l.sqlite", run_id="again")
    assert again["drive-file"].counts() == {} and again["drive-folder"].counts() == {}
    assert listing(world, NEW, new_upn("megan.bowen")) == target
