"""Mailboxes moved by worker processes (Dask's LocalCluster), each signing in itself: the same items as the
notebook's own thread pool, each exactly once, and a worker killed in the middle of a mailbox loses nothing and
duplicates nothing (the kernel, the only writer of the ledger, records the attempt before it hands a mailbox out;
the rerun adopts what the lost worker imported)."""

from __future__ import annotations

import os
import signal
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
from .files_helpers import new_upn, run_keeping
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
