"""Each moving mailbox's other addresses: its aliases, and its old mailbox's ``LegacyExchangeDN`` as an ``X500:``
address, which keeps replies to old mail and Outlook's cached address-book entries working. Graph cannot write
``proxyAddresses``, so both are a manual item per person: the script reads each old mailbox's LegacyExchangeDN in
the old tenant (``Get-Mailbox``), then adds the aliases and the X500 address to the new mailbox (``Set-Mailbox
-EmailAddresses @{Add=...}``); the next run reads the aliases back through ``proxyAddresses``. An alias in a domain
the new tenant does not have is named on the person's item and not carried."""

from __future__ import annotations

from collections.abc import Iterable

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import NotReady
from ..services.graph import GraphClient, GraphNotFound, path
from .addresses import Owner
from .inventory import Inventory


def aliases(addresses: list[str], primary: str, old_initial: str) -> list[str]:
    """The smtp addresses a person receives mail at beside their primary one (the old onmicrosoft alias stays)."""
    out = []
    for address in addresses:
        kind, _, value = address.partition(":")
        if kind.lower() == "smtp" and value.lower() != primary.lower() and \
                not value.lower().endswith("@" + old_initial.lower()):
            out.append(value.lower())
    return sorted(set(out))


class MailAddresses(Workload):
    kind = "mail-address"
    title = "aliases and the old address (X500)"
    manual_shell = "Exchange Online PowerShell, as an Exchange administrator of both tenants"

    def __init__(self, new: GraphClient, owners: list[Owner], src: Inventory, accepted: set[str],
                 new_org: str, merged: frozenset[str] = frozenset()) -> None:
        """``accepted``: the new tenant's verified domains; ``new_org``: its initial domain; ``merged``: the old UPNs
        (lower case) of a merge's people whose new mailbox another migration made: their old primary address is
        an alias there too, and the new mailbox holds an X500 address for each old mailbox merged into it."""
        self.merged = merged
        people = src.raw.get("people")
        if people is None:
            raise NotReady("the old tenant's inventory has no people's addresses (phase 00 of an earlier version)",
                           hint="rerun 00_prepare, then this phase")
        self.new, self.owners, self.people = new, owners, people
        self.accepted = {d.lower() for d in accepted}
        self.old_org, self.new_org = src.initial_domain, new_org
        self.manual_preamble = ("# each old mailbox's LegacyExchangeDN is read in the old tenant, then added to the "
                                "new mailbox",)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.owners:
            addresses = list((self.people.get(owner.name.lower()) or {}).get("addresses") or [])
            found = aliases(addresses, "" if owner.name.lower() in self.merged else owner.name, self.old_org)
            carried = [a for a in found if a.rsplit("@", 1)[-1] in self.accepted]
            left = [a for a in found if a not in carried]
            yield Work(owner.name.lower(), owner.name, version=",".join(found) or "none",
                       detail={"mailbox": owner.new, "aliases": carried,
                               **({"not carried (domain not in the new tenant)": left} if left else {})},
                       data=(owner, carried, left, 2 if owner.name.lower() in self.merged else 1))

    def find(self, work: Work) -> set[str] | None:
        owner = work.data[0]
        try:
            user = self.new.get(path("users", owner.new), {"$select": "proxyAddresses"}, expected=(404,))
        except GraphNotFound:
            return None
        return {str(p).lower() for p in user.get("proxyAddresses") or []}

    @staticmethod
    def missing(carried: list[str], held: set[str], x500s: int = 1) -> list[str]:
        """What the new mailbox lacks: aliases, and X500 addresses (one per old mailbox that became it; a merged
        mailbox's second one is this migration's)."""
        lacking = [a for a in carried if f"smtp:{a}" not in held]
        if sum(1 for p in held if p.startswith("x500:")) < x500s:
            lacking.append("X500 (the old LegacyExchangeDN)")
        return lacking

    def differs(self, work: Work, existing: set[str] | None) -> str:
        _, carried, _, x500s = work.data
        if existing is None:
            return "no mailbox in the new tenant"
        lacking = self.missing(carried, existing, x500s)
        return f"missing: {', '.join(lacking)}" if lacking else ""

    def apply(self, work: Work, existing: set[str] | None) -> Applied | ManualStep:
        owner, carried, left, x500s = work.data
        lacking = self.missing(carried, existing or set(), x500s)
        if existing is not None and not lacking:
            return Applied(owner.new, "done by the admin, read back", detail=work.detail)
        adds = [f"smtp:{a}" for a in carried if f"smtp:{a}" not in (existing or set())]
        return ManualStep(work.key, f"{owner.new}: add {', '.join(lacking)}", [
            *([f"# not carried: {', '.join(left)} (their domain is not in the new tenant: add and verify it there "
               "first, then rerun this phase)"] if left else []),
            f"$old = (Get-Mailbox -Identity {ps_quote(owner.old)}).LegacyExchangeDN",
            f"Set-Mailbox -Identity {ps_quote(owner.new)} -EmailAddresses @{{Add="
            + ",".join([ps_quote(a) for a in adds] + ['"X500:$old"']) + "}"],
            check=f"{owner.new} has {', '.join(carried + ['an X500 address'])}")

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """One session per tenant: every LegacyExchangeDN read in the old tenant first, then every new mailbox."""
        reads, writes = [], []
        for i, step in enumerate(steps, start=1):
            for line in step.commands:
                if line.startswith("$old = "):  # the old mailbox by its object id: phase 20 renamed the person
                    reads += [f"# {step.key}", line.replace("$old", f"$old{i}", 1)]
                elif line.startswith("Set-Mailbox"):
                    writes.append(line.replace('"X500:$old"', f'"X500:$old{i}"'))
                else:
                    writes.append(line)
        keys = f"{steps[0].key} ... {steps[-1].key}" if len(steps) > 1 else steps[0].key
        return [ManualStep(keys, f"read the old mailboxes' LegacyExchangeDN ({len(steps)} mailbox(es))",
                           [f"Connect-ExchangeOnline -Organization {ps_quote(self.old_org)}", *reads]),
                ManualStep(keys, "add the aliases and the X500 address to the new mailboxes",
                           [f"Connect-ExchangeOnline -Organization {ps_quote(self.new_org)}", *writes],
                           check="each new mailbox has its aliases (proxyAddresses) and an X500 address")]


def accepted_domains(client: GraphClient) -> set[str]:
    """The tenant's verified domains (Exchange accepts mail for each verified domain with the Email service)."""
    return {str(d["id"]).lower() for d in client.get("domains").get("value", []) if d.get("isVerified")}

