"""The people's first sign-in in the new tenant with a Temporary Access Pass instead of a password in a CSV: one
pass per moving person (``POST users/{id}/authentication/temporaryAccessPassMethods``), with the start, lifetime
and one-time use the parameters choose. The pass is written to the admin's vault (encrypted with the vault key,
owner-only, in the state folder) and nowhere else: not a cell, not the run folder, not a log.

Where the new tenant's Temporary Access Pass policy refuses a pass (off, or the lifetime outside its limits), the
person keeps the temporary password phase 30 put in the vault, and the item says so: nothing half-done without
saying it. A rerun adopts a pass the vault holds and the tenant still shows with the same start and lifetime; any
other case issues a new pass, which replaces the old one (a person has one pass)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, Work, Workload
from ..redact import register_secret
from ..services.graph import GraphClient, GraphError, path
from .passwords import PasswordVault, read_vault

FALLBACK = "password instead"
POLICY = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass"


def window(start: str, lifetime_minutes: int) -> tuple[str, str]:
    """When a pass starts and expires, as UTC stamps ("" start: now)."""
    begin = dt.datetime.fromisoformat(start.replace("Z", "+00:00")) if start else dt.datetime.now(dt.UTC)
    end = begin + dt.timedelta(minutes=lifetime_minutes)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return begin.astimezone(dt.UTC).strftime(fmt), end.astimezone(dt.UTC).strftime(fmt)


class SignInPasses(Workload):
    kind = "sign-in-pass"
    title = "one-time sign-in passes (Temporary Access Pass)"

    def __init__(self, new: GraphClient, moving: pd.DataFrame, vault: PasswordVault, start: str,
                 lifetime_minutes: int, usable_once: bool = True) -> None:
        self.new, self.moving, self.vault = new, moving, vault
        self.start, self.lifetime, self.once = start, lifetime_minutes, usable_once

    def policy_state(self) -> str:
        """The new tenant's Temporary Access Pass method: enabled, disabled, or unreadable (part of each item's
        version, so a person refused while it was off gets a pass once it is on)."""
        try:
            return str(self.new.get(POLICY).get("state") or "unknown")
        except GraphError:
            return "unreadable"

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        begins, ends = window(self.start, self.lifetime)
        policy = self.policy_state()
        for _, row in self.moving.iterrows():
            upn = str(row["target_upn"])
            yield Work(upn.lower(), upn, version=f"{self.start or 'now'}|{self.lifetime}|{self.once}|{policy}",
                       detail={"starts (UTC)": begins, "expires (UTC)": ends, "one-time": self.once}, data=upn)

    def find(self, work: Work) -> dict[str, Any] | None:
        if work.data.lower() not in read_vault(self.vault.path.parent, self.vault.fernet):
            return None  # the vault does not hold it: the admin could not hand it out
        try:
            held = self.new.get(path("users", work.data, "authentication", "temporaryAccessPassMethods"))["value"]
        except GraphError:
            return None
        begins, _ = window(self.start, self.lifetime)
        same = [m for m in held if int(m.get("lifetimeInMinutes") or 0) == self.lifetime and
                (not self.start or str(m.get("startDateTime", ""))[:19] == begins[:19])
                and m.get("methodUsabilityReason") != "Expired"]
        return same[0] if same else None

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        if existing is not None:
            return Applied(str(existing["id"]), "adopted", note="the pass in the vault is still the tenant's")
        body: dict[str, Any] = {"lifetimeInMinutes": self.lifetime, "isUsableOnce": self.once}
        if self.start:
            body["startDateTime"] = self.start
        try:
            made = self.new.post(path("users", work.data, "authentication", "temporaryAccessPassMethods"), body)
        except GraphError as exc:
            if exc.status in (400, 403):  # the policy (or the app's rights) refuse it: the password stands
                return Applied(None, FALLBACK, note=f"no pass: {exc.graph_message[:200]}; the temporary password in the "
                                                    "vault (phase 30) stands")
            raise
        secret = str(made.pop("temporaryAccessPass", "") or "")
        register_secret(secret)  # never in a log or an output
        self.vault.add(work.data, secret)
        return Applied(str(made["id"]), "issued",
                       note=f"usable from {made.get('startDateTime')} for {made.get('lifetimeInMinutes')} minutes"
                            f"{', once' if made.get('isUsableOnce') else ''}")
