"""Mailboxes moved by worker processes (Dask's LocalCluster), each signing in itself: the same items as the
notebook's own thread pool, each exactly once, and a worker killed in the middle of a mailbox loses nothing and
duplicates nothing (the kernel, the only writer of the ledger, records the attempt before it hands a mailbox out;
the rerun adopts what the lost worker imported)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.engine import cluster as clusters
from tenantmove.sandbox import Sandbox
from tenantmove.services.mailboxes import MailboxClient
from tenantmove.services.remote import RemoteSignIn
from tenantmove.workloads.mail import MailCopy, MailFolders, MailItems, find_mailboxes

from .conftest import make_client, tenant_config
from .files_helpers import NEW, OLD, copy_files, listing, make_target_users, new_upn, run_keeping
from .test_mail_sandbox import USERS, counts, world  # noqa: F401 - the fixture, with its target users

pytestmark = pytest.mark.waits  # worker processes start and stop


@pytest.fixture(scope="module")
def dask() -> Any:
    client = clusters.connect("local:2", threads=2)
    yield client
    client.close()
    client.cluster.close()


def move(sb: Sandbox, ledger: Path, client: Any, run_id: str = "r") -> dict[str, Outcome]:
    old, new = MailboxClient(make_client(sb, "source")[1]), MailboxClient(make_client(sb, "target")[1])
    pairs = find_mailboxes(old, new, [(f"{n}@contoso.example", f"{n}@contoso.example", new_upn(n)) for n in USERS])
    copy = MailCopy(old, new, pairs)
    copy.load_folders()
    signin = RemoteSignIn(tenant_config("source"), tenant_config("target"), sb.endpoints["authority_host"],
                          sb.endpoints["graph_url"], sb.ca_file)
    out = {}
    with Ledger(ledger, run_id) as led:
        engine = Engine(led, "60_mailboxes", folder=ledger.parent / "phase", workers=4,
                        cluster=lambda: (client, signin))
        for workload in (MailFolders(copy), MailItems(copy)):  # the folders in the kernel, the items on the cluster
            out[workload.kind] = run_keeping(engine, workload)
    return out


def test_the_workers_move_every_item_once(world: Sandbox, tmp_path: Path, dask: Any) -> None:  # noqa: F811
    before = world.stats()["counts"]
    out = move(world, tmp_path / "l.sqlite", dask)
    assert not out["mail-item"].failed and out["mail-item"].count("imported") == 71
    after = world.stats()["counts"]
    assert after.get("mail_imported", 0) - before.get("mail_imported", 0) == 71  # each item imported once
    for nick in USERS:
        assert counts(world, "source", f"{nick}@contoso.example") == counts(world, "target", new_upn(nick))
    assert move(world, tmp_path / "l.sqlite", dask, "again")["mail-item"].counts() == {}  # the ledger knows them


def test_a_worker_killed_mid_mailbox_loses_and_duplicates_nothing(world: Sandbox, tmp_path: Path,  # noqa: F811
                                                                  dask: Any) -> None:
    world.set_knobs(mailbox_latency_ms=60)
    start = world.stats()["counts"].get("mail_imported", 0)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(move(world, tmp_path / "l.sqlite", dask)))
    runner.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and world.stats()["counts"].get("mail_imported", 0) - start < 10:
        time.sleep(0.02)
    pids = dask.run(os.getpid)
    busy = [w for w, tasks in dask.processing().items() if tasks]
    os.kill(pids[busy[0]], signal.SIGKILL)  # a worker in the middle of a mailbox
    runner.join(120)
    world.set_knobs(mailbox_latency_ms=0)
    assert not runner.is_alive() and not result["mail-item"].failed
    for nick in USERS:  # every item exactly once, folder by folder
        assert counts(world, "source", f"{nick}@contoso.example") == counts(world, "target", new_upn(nick))


def test_a_scheduler_that_cannot_be_reached_is_named_in_one_line() -> None:
    with pytest.raises(clusters.ClusterError) as info:
        clusters.connect("tcp://127.0.0.1:9", threads=1, timeout=2)
    assert "cannot be reached" in info.value.one_line() and "HINT" in info.value.one_line()


def test_a_worker_without_the_secret_is_refused_at_sign_in(sandbox: Sandbox, dask: Any) -> None:
    lacking = RemoteSignIn(tenant_config("source", secret_env="TENANTMOVE_NOT_SET_ANYWHERE"), tenant_config("target"),
                           sandbox.endpoints["authority_host"], sandbox.endpoints["graph_url"], sandbox.ca_file)
    dask.wait_for_workers(2, timeout=60)  # the killed one is back (its nanny restarts it)
    refused = clusters.check_workers(dask, lacking)
    assert len(refused) == 2 and all("TENANTMOVE_NOT_SET_ANYWHERE is not set" in r for r in refused)


def test_drives_on_the_workers_share_sharepoints_budget_and_never_run_into_it(fresh_sandbox: Sandbox, tmp_path: Path,
                                                                              dask: Any) -> None:
    # 150 resource units a 2-second window, per app and tenant: a fifth of it (30) pays for one drive's 4 requests
    # at once at 5 units each, so the whole cluster works on one drive at a time whatever its worker processes; each
    # worker's client keeps 20 units in hand. The copy spends more than the window holds, so the budget's last fifth
    # is reached (the RateLimit headers come), and still the service never answers 429.
    sb = fresh_sandbox
    make_target_users(sb, make_client(sb, "target")[1])
    sb.set_knobs(ru_per_minute=4_500, ru_window_seconds=2.0)
    signin = RemoteSignIn(tenant_config("source"), tenant_config("target"), sb.endpoints["authority_host"],
                          sb.endpoints["graph_url"], sb.ca_file, sharepoint_units=150)
    assert signin.shared_budget(4)[0] == 1
    before = sb.stats()["counts"]
    out = copy_files(sb, tmp_path / "l.sqlite", cluster=lambda: (dask, signin))
    after = sb.stats()["counts"]
    assert not out["drive-file"].failed and out["drive-file"].count("copied") >= 15
    spent = {f"{key}_{t}": after.get(f"{key}_{t}", 0) - before.get(f"{key}_{t}", 0)
             for t in ("old", "new") for key in ("ru_spent", "ru_warned", "ru_throttled")}
    assert spent["ru_warned_old"] + spent["ru_warned_new"] > 0, spent  # the budget's last fifth was reached
    assert spent["ru_throttled_old"] == spent["ru_throttled_new"] == 0, spent
    for nick in ("megan.bowen", "alex.wilber"):  # every file once, as in the old OneDrive
        source = {p: v.get("size") for p, v in listing(sb, OLD, f"{nick}@contoso.example").items()
                  if not v.get("folder") and "Notebooks" not in p}
        target = {p: v.get("size") for p, v in listing(sb, NEW, new_upn(nick)).items() if not v.get("folder")}
        assert len(target) == len(source), nick


def test_a_worker_with_another_dask_is_named_before_anything_starts(tmp_path: Path) -> None:
    # A worker process whose environment says it has another toolz (one of the packages Dask needs alike everywhere):
    # a real worker, joined to a real scheduler, as one installed elsewhere would be.
    fake = tmp_path / "site" / "toolz-0.0.1.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: toolz\nVersion: 0.0.1\n")
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=":0") \
            as scheduler:
        env = {**os.environ, "PYTHONPATH": str(fake.parent)}
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", scheduler.scheduler_address,
                                   "--nthreads", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not scheduler.scheduler.workers and time.monotonic() < deadline:
                time.sleep(0.1)
            assert scheduler.scheduler.workers, "the worker did not join"
            with pytest.raises(clusters.ClusterError) as info:
                clusters.connect(scheduler.scheduler_address, threads=1)
        finally:
            worker.terminate()
            worker.wait(30)
    line = info.value.one_line()
    assert "toolz 0.0.1 on worker tcp://" in line and "here" in line and "HINT" in line, line
