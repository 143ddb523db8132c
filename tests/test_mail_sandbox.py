"""Mailboxes through the real client and the sandbox: folders mapped and made, every item exported and
imported once (never a draft), a rerun that imports nothing, a delta pass with only the new mail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.state import SKU_CATALOG
from tenantmove.services.mailboxes import MailboxClient
from tenantmove.services.outlook import OutlookClient
from tenantmove.services.pacing import Budget
from tenantmove.workloads import fidelity
from tenantmove.workloads.mail import MailCopy, MailFolders, MailItems, find_mailboxes

from .conftest import make_client
from .files_helpers import NEW, OLD, make_target_users, new_upn, run_keeping

USERS = ("megan.bowen", "alex.wilber")


@pytest.fixture
def world(fresh_sandbox: Sandbox) -> Sandbox:
    _, new = make_client(fresh_sandbox, "target")
    make_target_users(fresh_sandbox, new, USERS, provision=False)
    sku = SKU_CATALOG["O365_BUSINESS_PREMIUM"]["skuId"]
    for nick in USERS:
        new.post(f"users/{new_upn(nick)}/assignLicense", {"addLicenses": [{"skuId": sku, "disabledPlans": []}],
                                                         "removeLicenses": []})
    return fresh_sandbox


def copy_mail(sb: Sandbox, ledger: Path, run_id: str = "r", used: list[MailboxClient] | None = None,
              **pace: Any) -> dict[str, Outcome]:
    old, new = MailboxClient(make_client(sb, "source")[1], **pace), MailboxClient(make_client(sb, "target")[1], **pace)
    if used is not None:
        used += [old, new]
    pairs = find_mailboxes(old, new, [(f"{n}@contoso.example", f"{n}@contoso.example", new_upn(n)) for n in USERS])
    copy = MailCopy(old, new, pairs)
    copy.load_folders()
    out: dict[str, Outcome] = {}
    with Ledger(ledger, run_id) as led:
        engine = Engine(led, "60_mailboxes", folder=ledger.parent / "phase", workers=8)
        for workload in (MailFolders(copy), MailItems(copy)):
            out[workload.kind] = run_keeping(engine, workload)
    return out


def counts(sb: Sandbox, side: str, upn: str) -> dict[str, int]:
    client = make_client(sb, side)[1]
    box = client.get(f"users/{upn}/settings/exchange")["primaryMailboxId"]
    return {f["displayName"]: f["totalItemCount"] for f in client.get(f"admin/exchange/mailboxes/{box}/folders/delta")
            ["value"]}


def test_every_item_moves_once_and_a_delta_pass_takes_only_new_mail(world: Sandbox, tmp_path: Path) -> None:
    before = world.stats()["counts"]
    out = copy_mail(world, tmp_path / "l.sqlite")
    assert not out["mail-folder"].failed and not out["mail-item"].failed
    assert out["mail-folder"].count("created") == 5  # Projects, 2026, Archive, Newsletters, the To Do list Home
    for nick in USERS:
        assert counts(world, "source", f"{nick}@contoso.example") == counts(world, "target", new_upn(nick))
    after = world.stats()["counts"]
    imported = after.get("mail_imported", 0) - before.get("mail_imported", 0)
    exported = after.get("mail_exported", 0) - before.get("mail_exported", 0)  # each item exported once
    assert imported == out["mail-item"].count("imported") == 40 + 4 + 6 + 4 + 15 + 2  # megan, alex
    assert exported == imported and after.get("batch", 0) == before.get("batch", 0)
    # read back through the ordinary endpoints and To Do: every item identical (attachments by hash, the moved
    # and cancelled occurrences, contact photos, tasks with their checklist, linked resources and attachments)
    _, old = make_client(world, "source")
    _, new = make_client(world, "target")
    pairs = [(n, f"{n}@contoso.example", new_upn(n)) for n in USERS]
    table = fidelity.compare(OutlookClient(old), OutlookClient(new), pairs)
    assert (table["identical"] == table["old"]).all() and (table["new"] == table["old"]).all(), table.to_string()
    megan = table[table["mailbox"] == "megan.bowen"].set_index("kind")
    assert megan.loc["tasks", "identical"] == 4 and megan.loc["mail", "identical"] == 40
    assert all(m["isDraft"] is False for m in new.get_all(f"users/{new_upn('megan.bowen')}/messages"))
    assert after.get("invitations_sent", 0) == before.get("invitations_sent", 0)
    lists = {t["displayName"]: t for t in new.get_all(f"users/{new_upn('megan.bowen')}/todo/lists")}
    assert set(lists) == {"Tasks", "Home"}
    first = new.get_all(f"users/{new_upn('megan.bowen')}/todo/lists/{lists['Tasks']['id']}/tasks",
                        {"$expand": "checklistItems,linkedResources"})
    assert any(t["linkedResources"] for t in first) and all(len(t["checklistItems"]) == 2 for t in first)
    events = new.get_all(f"users/{new_upn('megan.bowen')}/events", {"$expand": "exceptionOccurrences",
                                                                       "$select": "subject,cancelledOccurrences"})
    assert any(e.get("exceptionOccurrences") and e.get("cancelledOccurrences") for e in events)
    again = copy_mail(world, tmp_path / "l.sqlite", "again")
    assert again["mail-item"].counts() == {}  # every folder's delta is empty
    world.admin("POST", f"mail/{OLD}/megan.bowen@contoso.example", json={"count": 3})
    third = copy_mail(world, tmp_path / "l.sqlite", "third")
    assert third["mail-item"].counts() == {"imported": 3}
    assert counts(world, "target", new_upn("megan.bowen"))["Inbox"] == 13


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_mail_sandbox import copy_mail
from tenantmove.sandbox.process import Sandbox
copy_mail(Sandbox.attach(Path({state!r})), Path({ledger!r}), "killed")
"""


def test_killed_mid_mailbox_loses_nothing_and_duplicates_nothing(world: Sandbox, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    world.set_knobs(mailbox_latency_ms=40)
    script = tmp_path / "killed_mail.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT), state=str(world.state_dir), ledger=str(tmp_path / "l.sqlite")))
    start = world.stats()["counts"].get("mail_imported", 0)
    proc = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and world.stats()["counts"].get("mail_imported", 0) - start < 20 \
            and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    world.set_knobs(mailbox_latency_ms=0)
    resumed = copy_mail(world, tmp_path / "l.sqlite", "resumed")
    assert not resumed["mail-item"].failed
    for nick in USERS:  # every item once: the counts match, folder by folder
        assert counts(world, "source", f"{nick}@contoso.example") == counts(world, "target", new_upn(nick))


def test_without_the_import_permission_the_phase_stops_before_any_write() -> None:
    from tenantmove.errors import PermissionMissing
    from tenantmove.phases import mailboxes

    class NoImport:  # what phase 60 asks of its context before it touches a mailbox
        id = "60_mailboxes"

        def granted(self) -> dict[str, set[str]]:
            return {"source": {"MailboxFolder.Read.All", "MailboxItem.Export.All", "Tasks.Read.All"},
                    "target": {"MailboxFolder.ReadWrite.All", "Tasks.Read.All"}}

        def token_kinds(self) -> dict[str, str]:
            return {"source": "application", "target": "application"}

    with pytest.raises(PermissionMissing) as stopped:
        mailboxes.connect(NoImport(), None, None, None, None, None)  # type: ignore[arg-type]
    assert "new tenant: MailboxItem.ImportExport.All" in stopped.value.one_line()
    assert "grant admin consent" in stopped.value.one_line()


@pytest.mark.waits
def test_a_throttling_storm_and_tokens_expiring_mid_mailbox_lose_nothing(world: Sandbox, tmp_path: Path) -> None:
    """A third of all requests answered 429 (imports included) while tokens last two seconds: every item still
    arrives once."""
    world.set_knobs(throttle_probability=0.33, retry_after=0.05, token_lifetime=2, mailbox_latency_ms=20)
    before = world.stats()["counts"]
    out = copy_mail(world, tmp_path / "l.sqlite", "storm")
    after = world.stats()["counts"]
    world.set_knobs(throttle_probability=0, token_lifetime=3600, mailbox_latency_ms=0)
    assert not out["mail-item"].failed and not out["mail-folder"].failed
    assert after.get("throttled", 0) - before.get("throttled", 0) > 10  # the storm was real
    assert after.get("tokens", 0) - before.get("tokens", 0) >= 2  # and tokens were renewed mid-way
    for nick in USERS:
        assert counts(world, "source", f"{nick}@contoso.example") == counts(world, "target", new_upn(nick))


def test_each_mailbox_is_paced_under_exchanges_request_and_upload_budgets(world: Sandbox, tmp_path: Path) -> None:
    """Exchange's windows shortened to 2 s (60 requests) and 1 s (700 kB uploaded): the client, paced a tenth
    under them, waits for its budget and never hears a 429; every item arrives."""
    world.set_knobs(exchange_requests=60, exchange_upload_bytes=700_000, exchange_window_scale=1 / 300)
    used: list[MailboxClient] = []
    out = copy_mail(world, tmp_path / "l.sqlite", used=used, requests=Budget(54, 2.0), upload=(630_000, 1.0))
    world.set_knobs(exchange_requests=10_000, exchange_upload_bytes=150_000_000, exchange_window_scale=1)
    assert not out["mail-item"].failed and out["mail-item"].count("imported") == 71
    assert sum(c.graph.stats["throttled"] for c in used) == 0
    assert sum(c.paced_seconds() for c in used) > 2  # it did wait for its budget


def test_a_folder_name_with_a_slash_stays_one_folder_in_its_place(world: Sandbox, tmp_path: Path) -> None:
    """Hostile: a folder named "Q1/Q2 reports" under the Inbox must arrive as one folder of that name under the
    new Inbox, not as "Q1" holding "Q2 reports"; the phases run twice and the second changes nothing."""
    made = world.admin("POST", f"mail/{OLD}/megan.bowen@contoso.example",
                       json={"make_folder": "Q1/Q2 reports", "parent": "Inbox"})
    assert made["ok"]
    world.admin("POST", f"mail/{OLD}/megan.bowen@contoso.example", json={"count": 2, "folder": "Q1/Q2 reports"})
    out = copy_mail(world, tmp_path / "l.sqlite")
    assert not out["mail-folder"].failed and not out["mail-item"].failed
    client = make_client(world, "target")[1]
    box = client.get(f"users/{new_upn('megan.bowen')}/settings/exchange")["primaryMailboxId"]
    folders = client.get(f"admin/exchange/mailboxes/{box}/folders/delta")["value"]
    by_name = {f["displayName"]: f for f in folders}
    assert "Q1" not in by_name and "Q2 reports" not in by_name
    assert by_name["Q1/Q2 reports"]["parentFolderId"] == by_name["Inbox"]["id"]
    assert by_name["Q1/Q2 reports"]["totalItemCount"] == 2
    again = copy_mail(world, tmp_path / "l.sqlite", "again")
    assert again["mail-folder"].changed == 0 and again["mail-item"].counts() == {}


def test_a_changed_item_whose_copy_its_owner_deleted_is_imported_again(world: Sandbox, tmp_path: Path) -> None:
    """The second pass updates a changed item in place; when the new mailbox's owner deleted or moved the
    earlier copy, the update finds nothing in the folder and the item is imported again, with a note."""
    ledger = tmp_path / "l.sqlite"
    copy_mail(world, ledger)
    altered = world.admin("POST", f"mail/{OLD}/megan.bowen@contoso.example", json={"alter": "(edited)"})["altered"]
    with Ledger(ledger, "look") as led:
        row = next(i for i in led.items("mail-item") if i.source_id.endswith(altered))
    world.admin("POST", f"mail/{NEW}/{new_upn('megan.bowen')}", json={"delete": row.target_id})
    again = copy_mail(world, ledger, "again")
    assert again["mail-item"].counts() == {"imported": 1}
    with Ledger(ledger, "look") as led:
        after = led.get("mail-item", row.source_id)
    assert after is not None and after.target_id != row.target_id and "earlier copy" in after.detail
    assert counts(world, "source", "megan.bowen@contoso.example") == counts(world, "target", new_upn("megan.bowen"))
