"""Each moving user's OneDrive in both tenants. A new user's OneDrive does not exist until they sign in or
an admin runs ``Request-SPOPersonalSite`` (Graph cannot trigger it and answers "mysite not found"): a
missing one becomes a manual step — one command for up to 200 users — and is checked again on every run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import Applied, ManualStep, Work, Workload
from ..engine.manual import ps_quote
from ..errors import TenantmoveError
from ..services.drives import DriveClient

PERSONAL_SITE_BATCH = 200  # Request-SPOPersonalSite takes at most 200 users per call


@dataclass
class Pair:
    """One drive to copy: a moving user's old OneDrive (or None) and new one (or None while not provisioned),
    or a document library and its counterpart (the names are then "site/library" labels)."""

    source_name: str
    target_name: str
    source: dict[str, Any] | None
    target: dict[str, Any] | None
    target_user_exists: bool = True
    source_known: bool = True  # False when the old tenant was not asked (phases 10 and 30 only provision)

    @property
    def scope(self) -> str:
        return self.source_name.lower()


def find_pairs(old: DriveClient | None, new: DriveClient, moving: pd.DataFrame, also: Any = None,
               source_ids: dict[str, str] | None = None) -> list[Pair]:
    """Each mapped user's drives; ``also(target_upn)`` names other UPNs the new user may have now (pre-staged
    on the onmicrosoft domain before the cutover). The old user is found by object id where ``source_ids``
    (UPN -> id, from phase 00's inventory) knows it: phase 20 renamed them. Without ``old``, only the new
    side is looked at."""
    pairs = []
    ids = {k.lower(): v for k, v in (source_ids or {}).items()}
    for _, row in moving.iterrows():
        key = ids.get(str(row["source_upn"]).lower(), row["source_upn"])
        source = old.user_drive(key) if old is not None else None
        target, exists, upn = None, False, row["target_upn"]
        for candidate in [row["target_upn"], *(also(row["target_upn"]) if also else [])]:
            if not new.user_exists(candidate):
                continue
            exists, upn = True, candidate
            target = new.user_drive(candidate)
            break
        pairs.append(Pair(row["source_upn"], upn, source, target, exists, source_known=old is not None))
    return pairs


class OneDrives(Workload):
    kind = "onedrive"
    title = "OneDrives in the new tenant"
    manual_shell = "SharePoint Online Management Shell"
    manual_preamble = ("Connect-SPOService -Url https://<new tenant>-admin.sharepoint.com",)

    def __init__(self, new: DriveClient, pairs: list[Pair]) -> None:
        self.new = new
        self.pairs = {p.source_name.lower(): p for p in pairs}

    def list(self, deltas: object) -> Iterable[Work]:
        for pair in self.pairs.values():
            if pair.source is None and pair.source_known:
                continue  # nothing to copy: shown in the plan, not a ledger item
            yield Work(pair.source_name.lower(), f"{pair.source_name} -> {pair.target_name}",
                       detail={"target_upn": pair.target_name}, data=pair)

    def find(self, work: Work) -> dict[str, Any] | None:
        pair: Pair = work.data
        if pair.target is None and pair.target_user_exists:
            pair.target = self.new.user_drive(pair.target_name)
        return pair.target

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        pair: Pair = work.data
        if not pair.target_user_exists:
            raise TenantmoveError(f"the new user {pair.target_name} does not exist yet",
                                  hint="run phase 30 (or phase 10 with prestage_users: true) first")
        if existing is not None:
            return Applied(existing["id"], "ready", detail={"web_url": existing.get("webUrl")})
        return ManualStep(work.key, f"OneDrive of {pair.target_name} not provisioned yet",
                          [f"Request-SPOPersonalSite -UserEmails {ps_quote(pair.target_name)} -NoWait"],
                          check=f"GET /users/{pair.target_name}/drive answers")

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        users = [s.commands[0].split("-UserEmails ", 1)[1].rsplit(" -NoWait", 1)[0] for s in steps]
        combined = []
        for start in range(0, len(users), PERSONAL_SITE_BATCH):
            chunk = users[start:start + PERSONAL_SITE_BATCH]
            combined.append(ManualStep(f"onedrives-{start // PERSONAL_SITE_BATCH + 1}",
                                       f"provision {len(chunk)} OneDrive(s); they appear within minutes to hours",
                                       [f"Request-SPOPersonalSite -UserEmails {','.join(chunk)} -NoWait"]))
        return combined
