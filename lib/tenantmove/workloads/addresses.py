"""People's addresses across the move: each moving person's old addresses (UPN, mail, the onmicrosoft alias) lead to
their new UPN through the user mapping; an address in none of the old tenant's domains is outside the organisation;
an address in one of them whose owner does not move has nobody to lead to. Inbox rules and calendar permissions are
rewritten through it, and what cannot be rewritten is reported, never copied blindly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .inventory import Inventory

MAPPED, OUTSIDE, NOT_MOVING = "mapped", "outside the organisation", "not moving"


@dataclass(frozen=True)
class Owner:
    """A person whose mailbox moves: their old UPN (as the mapping names them), the old user's key (object id:
    phase 20 renamed them), their new UPN."""

    name: str
    old: str
    new: str


class Addresses:
    def __init__(self, moving: pd.DataFrame, src: Inventory) -> None:
        self.new_of: dict[str, str] = {}
        initial = src.initial_domain.lower()
        users = {str(u).lower(): m for u, m in zip(src.users["userPrincipalName"], src.users["mail"], strict=True)}
        for s, t in zip(moving["source_upn"], moving["target_upn"], strict=True):
            old = str(s).lower()
            for address in (old, str(users.get(old) or "").lower(), f"{old.split('@')[0]}@{initial}"):
                if address:
                    self.new_of[address] = str(t)
        self.internal = {str(d).lower() for d in src.domains["domain"]}

    def rewrite(self, address: str) -> tuple[str, str]:
        """(the address to use in the new tenant, how it was found: mapped, outside, not moving)."""
        key = address.lower()
        if key in self.new_of:
            return self.new_of[key], MAPPED
        if key.rsplit("@", 1)[-1] not in self.internal:
            return address, OUTSIDE
        return address, NOT_MOVING

    def recipients(self, value: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """Graph recipients rewritten; the addresses that could not be (with why)."""
        out, problems = [], []
        for r in value or []:
            email = dict(r.get("emailAddress") or {})
            new, how = self.rewrite(str(email.get("address") or ""))
            if how != MAPPED:
                problems.append(f"{email.get('address')} ({how})")
            out.append({"emailAddress": {**email, "address": new}})
        return out, problems
