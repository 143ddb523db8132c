"""Shared by the file tests: target users with OneDrives, the copy run through the engine, listings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tenantmove.engine import Engine, ItemsFailed, Ledger, Outcome, Workload
from tenantmove.sandbox import Sandbox
from tenantmove.services.drives import DriveClient
from tenantmove.services.graph import GraphClient
from tenantmove.workloads.files import DriveCopy, DriveFiles, DriveFolders
from tenantmove.workloads.onedrive import find_pairs

from .conftest import make_client

OLD, NEW = "contoso.onmicrosoft.com", "contosonew.onmicrosoft.com"
USERS = ("megan.bowen", "alex.wilber")


class Confirmed:
    def require(self) -> bool:
        return True


def new_upn(nick: str) -> str:
    return f"{nick}@{NEW}"


def make_target_users(sb: Sandbox, new: GraphClient, nicks: tuple[str, ...] = USERS, provision: bool = True) -> None:
    for nick in nicks:
        new.post("users", {"accountEnabled": True, "displayName": nick, "mailNickname": nick.replace(".", ""),
                           "userPrincipalName": new_upn(nick), "usageLocation": "NL",
                           "passwordProfile": {"password": "Tm-test-Pa55word!", "forceChangePasswordNextSignIn": True}})
        if provision:
            sb.admin("POST", f"files/{NEW}/{new_upn(nick)}", json={"op": "provision", "seconds": 0})


def moving(nicks: tuple[str, ...] = USERS) -> pd.DataFrame:
    return pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": new_upn(n)} for n in nicks])


def clients(sb: Sandbox, **kwargs: Any) -> tuple[DriveClient, DriveClient]:
    return DriveClient(make_client(sb, "source", **kwargs)[1]), DriveClient(make_client(sb, "target", **kwargs)[1])


def copy_files(sb: Sandbox, ledger_path: Path, nicks: tuple[str, ...] = USERS, versions: str = "latest",
               run_id: str = "run", after_plan: Callable[[], Any] | None = None,
               used: list[DriveClient] | None = None, cluster: Callable[[], Any] | None = None,
               **client_kwargs: Any) -> dict[str, Outcome]:
    """Folders then files, as phase 70 runs them (the plan, then the copy); failures come back in the
    outcome, not as an exception. ``after_plan`` runs between the two, as time passes for an admin."""
    old, new = clients(sb, **client_kwargs)
    if used is not None:
        used += [old, new]
    copy = DriveCopy(old, new, find_pairs(old, new, moving(nicks)), versions=versions)
    out: dict[str, Outcome] = {}
    with Ledger(ledger_path, run_id) as ledger:
        engine = Engine(ledger, "70_onedrive", folder=ledger_path.parent / "phase", workers=4, cluster=cluster)
        workloads = (DriveFolders(copy), DriveFiles(copy))
        for workload in workloads:
            engine.run(workload, dry_run=True)
        if after_plan is not None:
            after_plan()
        for workload in workloads:
            out[workload.kind] = run_keeping(engine, workload)
    return out


def run_keeping(engine: Engine, workload: Workload) -> Outcome:
    """Apply ``workload``; items that fail come back in the outcome instead of as an exception."""
    try:
        return engine.run(workload, dry_run=False, gate=Confirmed())
    except ItemsFailed as exc:
        return exc.outcome


def listing(sb: Sandbox, tenant: str, upn: str) -> dict[str, Any]:
    return sb.admin("GET", f"files/{tenant}/{upn}")
