"""The announcement before the cutover: one mail to each moving person's current mailbox, from a sender the admin
names (``POST /users/{sender}/sendMail`` in the old tenant), in the person's language: when it happens, how long
mail is held up, and what they will do on the first morning.

Sent once: each person is a ledger item, and before sending, the sender's mailbox is searched for the same
announcement to that person (a run killed between sending and recording it adopts what it sent)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, Work, Workload
from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphError, path
from .letters import language

SUBJECT = {"en": "Your Microsoft 365 account moves on {when}",
           "nl": "Uw Microsoft 365-account verhuist op {when}"}
BODY = {
    "en": ["Dear {name},", "On {when} {company} moves to a new Microsoft 365 subscription. Your mail, calendar, "
           "contacts, files, notes and Teams chats move with you.",
           "While your address moves, mail sent to you is held up for a while; it is delivered afterwards, not lost.",
           "Afterwards you sign in as <b>{upn}</b>. You receive a letter with the steps for your first morning: a "
           "one-time pass or a temporary password from {handler}, a new Outlook profile, OneDrive and Teams signed "
           "in again, your phone's apps, and your sign-in methods.",
           "Please save your open documents before the move starts."],
    "nl": ["Beste {name},", "Op {when} stapt {company} over op een nieuw Microsoft 365-abonnement. Uw e-mail, agenda, "
           "contactpersonen, bestanden, notities en Teams-chats verhuizen mee.",
           "Terwijl uw adres verhuist, wordt e-mail aan u even vastgehouden; hij wordt daarna bezorgd, niet verloren.",
           "Daarna meldt u zich aan als <b>{upn}</b>. U krijgt een brief met de stappen voor uw eerste ochtend: een "
           "eenmalige toegangscode of een tijdelijk wachtwoord van {handler}, een nieuw Outlook-profiel, OneDrive en "
           "Teams opnieuw aangemeld, de apps op uw telefoon en uw aanmeldmethoden.",
           "Sla uw open documenten op voordat de verhuizing begint."],
}
HANDLER = {"en": "your IT administrator", "nl": "uw IT-beheerder"}


class SenderNotReady(TenantmoveError):
    """The announcement's sender cannot send: unknown in the old tenant, or without a mailbox."""


def check_sender(old: GraphClient, sender: str) -> str:
    """The sender's address, once it is known to have a mailbox; a clear error before anything is sent."""
    try:
        user = old.get(path("users", sender), {"$select": "id,mail,userPrincipalName"}, expected=(404,))
        old.get(path("users", sender, "mailboxSettings"), {"$select": "userPurpose"}, expected=(404,))
    except GraphError as exc:
        what = "is not a user of the old tenant" if exc.code in ("Request_ResourceNotFound", "ErrorInvalidUser") \
            else "has no mailbox"
        raise SenderNotReady(f"the announcement's sender {sender} {what} ({exc.code})", where="announce_from",
                             hint="name a user of the old tenant with a mailbox (a shared mailbox's address, or "
                                  "the IT department's), or leave announce_from empty to send none") from exc
    return str(user.get("mail") or user["userPrincipalName"])


def message(lang: str, name: str, upn: str, when: str, company: str) -> tuple[str, str]:
    esc = html.escape
    values = {"name": esc(name), "upn": esc(upn), "when": esc(when), "company": esc(company),
              "handler": HANDLER[lang]}
    return SUBJECT[lang].format(when=when), "".join(f"<p>{line.format(**values)}</p>" for line in BODY[lang])


class Announcement(Workload):
    kind = "announcement"
    title = "announcement mails"

    def __init__(self, old: GraphClient, sender: str, people: pd.DataFrame, when: str, company: str) -> None:
        """``people``: source_upn, target_upn, display_name, address (their mail now), language (preferredLanguage)."""
        self.old, self.sender, self.people, self.when, self.company = old, sender, people, when, company
        self.sent: list[dict[str, Any]] = []

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, row in self.people.iterrows():
            lang, note = language(row.get("language"))
            subject, body = message(lang, str(row["display_name"]), str(row["target_upn"]), self.when, self.company)
            yield Work(str(row["source_upn"]).lower(), str(row["source_upn"]), version="once",
                       detail={"to": row["address"], "language": lang, "note": note},
                       data=(str(row["address"]), subject, body))

    def begin(self, todo: list[Work]) -> None:
        if todo:  # what the sender sent already: a killed run's mails are found, not sent twice
            self.sent = list(self.old.get_all(path("users", self.sender, "messages"),
                                              {"$select": "subject,toRecipients", "$top": "100"}))

    def find(self, work: Work) -> dict[str, Any] | None:
        address, subject, _ = work.data
        return next((m for m in self.sent if m.get("subject") == subject and address.lower() in
                     {str((r.get("emailAddress") or {}).get("address", "")).lower() for r in m.get("toRecipients") or []}),
                    None)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        address, subject, body = work.data
        if existing is not None:
            return Applied(str(existing.get("id") or ""), "adopted", note="sent before: found in the sender's mailbox")
        self.old.post(path("users", self.sender, "sendMail"),
                      {"message": {"subject": subject, "body": {"contentType": "HTML", "content": body},
                                   "toRecipients": [{"emailAddress": {"address": address}}]},
                       "saveToSentItems": True})
        return Applied(None, "sent", note=f"to {address}: {subject}")
