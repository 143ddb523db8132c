"""The mail window, from phase 20 removing the old MX until phase 30 publishes the new one, as a sender's mail
server lives it (RFC 5321 §5.1 and §4.5.4):

- **with a holding MX** (parameter ``holding_mx``): the MX points at a host of the admin's that answers 4xx, so
  every sender queues the mail and retries (for days) until the MX leads to the new tenant;
- **without one**: there is no MX, so a sender falls back to the domain's own address records. When an address
  exists and nothing answers SMTP there, that is a temporary failure and the mail waits. When the domain has
  neither MX nor address, many senders (Postfix among them) bounce the mail at once.

This module asks the holding host before anything changes, explains the choice in the plan, and reads the
sandbox's outside sender (its view: what it sent, and what became of each letter) for phases 30 and 90."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import TenantmoveError
from ..services import smtpprobe
from ..services.dnsops import Nameservers, Record, record
from ..services.graph import GraphClient
from .dnsttl import LOW

HOLDING_PREFERENCE = 10
LETTER_COLUMNS = ["number", "to", "subject", "queued_at", "state", "attempts", "delay_seconds", "done_at", "via",
                  "last"]


class HoldingMxRefused(TenantmoveError):
    """The holding MX would bounce the window's mail, or does not answer."""


def holding_record(domain: str, host: str) -> Record:
    """The MX that points at the holding host during the window, with the low TTL so phase 30's change shows fast."""
    return record(domain, "MX", f"{HOLDING_PREFERENCE} {host}", ttl=LOW)


@dataclass
class WindowPlan:
    domain: str
    holding: str
    answer: smtpprobe.Answer | None
    addresses: list[str]  # the domain's own A and AAAA values: where senders go when there is no MX

    def lines(self) -> list[tuple[str, str]]:
        """(banner level, text): the choice and its risk, for the plan."""
        if self.holding and self.answer is not None:
            kept = ("it takes the mail (2xx): it must keep every message and forward it to the domain's MX once "
                    "phase 30 is done" if self.answer.kind == "accepts" else
                    "senders keep the mail and retry (RFC 5321 §4.5.4: for four to five days)")
            return [("ok", f"Mail in the window: the MX points at the holding host {self.holding} ({self.answer.line()})"
                           f"; {kept}. It arrives in the new tenant once phase 30 points the MX there. Risk: a "
                           "window longer than the senders' retry time bounces; so does a holding host that starts "
                           "answering 5xx.")]
        if self.addresses:
            return [("warn", f"Mail in the window: {self.domain} has no MX, so senders try its own address "
                             f"({', '.join(self.addresses)}); nothing answering SMTP there is a temporary failure, and "
                             "they retry. A host there that answers SMTP with 5xx bounces the mail: name a holding "
                             "host (holding_mx) to be sure.")]
        return [("fail", f"Mail in the window: {self.domain} will have neither an MX nor an address record, and many "
                         "senders bounce mail at once then (RFC 5321 §5.1; Postfix: 5.4.4). Name a host of yours that "
                         "answers 4xx for the domain in holding_mx, and the mail waits instead.")]


def plan_window(ns: Nameservers, domain: str, holding: str, known_hosts: dict[str, tuple[str, int]],
                ask: Any = smtpprobe.ask) -> WindowPlan:
    """Ask the holding host (``RCPT TO:<postmaster@domain>``, nothing sent) and read the domain's addresses. A
    holding host that does not answer, or answers 5xx, is refused here: before anything changes."""
    addresses = sorted(set().union(*ns.values(domain, "A"), *ns.values(domain, "AAAA")))
    answer = ask(holding, f"postmaster@{domain}", known_hosts) if holding else None
    if answer is not None and answer.kind in ("none", "permanent"):
        what = "does not answer" if answer.kind == "none" else "refuses the domain's mail for good"
        raise HoldingMxRefused(f"the holding MX {holding} {what} ({answer.line()}): mail in the window would "
                               f"{'wait for nothing' if answer.kind == 'none' else 'bounce'}",
                               where="holding_mx",
                               hint=f"make {holding} answer 4xx (e.g. 451) for {domain} on port 25, or name another "
                                    "host in holding_mx (empty: no MX in the window)")
    return WindowPlan(domain, holding, answer, addresses)


# --- the sender's view (the sandbox's outside world) ------------------------------------------------------------
def letters(view: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(view.get("letters") or [], columns=LETTER_COLUMNS)


def figures(view: dict[str, Any]) -> dict[str, Any]:
    f = view.get("figures") or {}
    return {"letters sent": f.get("sent", 0), "delivered": f.get("delivered", 0), "bounced": f.get("bounced", 0),
            "still queued (retrying)": f.get("queued", 0), "retried at least once": f.get("retried", 0),
            "longest delay (s)": round(float(f.get("longest_delay_seconds", 0.0)), 1)}


def found_in_mailboxes(new: GraphClient, table: pd.DataFrame) -> dict[str, set[str]]:
    """Per recipient, the subjects of the letters their mailbox in the new tenant holds (any folder)."""
    found: dict[str, set[str]] = {}
    for to in sorted(set(table["to"])):
        subjects = {str(m.get("subject") or "") for m in new.get_all(f"users/{to}/messages", {"$select": "subject",
                                                                                                "$top": "100"})}
        found[to] = set(table[table["to"] == to]["subject"]) & subjects
    return found


def _when(stamp: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def arrived_since(received: Any, since: str) -> bool:
    """Mail received at or after ``since`` (phase 20's "mail stopped"): new mail, which only the new side has."""
    at, start = _when(received), _when(since)
    return at is not None and start is not None and at >= start
