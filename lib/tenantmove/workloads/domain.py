"""The custom domain itself: what references it, deleting it from the old tenant (falling back to
forceDelete within its limits), adding and verifying it in the new one, and its service records."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd

from ..errors import TenantmoveError
from ..services.dnsops import Record, from_graph
from ..services.graph import GraphClient, GraphError, path


class CutoverError(TenantmoveError):
    """A cutover step could not complete; the message says which and what to do."""


def domain_references(client: GraphClient, domain: str) -> pd.DataFrame:
    refs = client.get_all(path("domains", domain, "domainNameReferences"), {"$top": "999"})
    rows = [{"type": r.get("@odata.type", "").rsplit(".", 1)[-1], "id": r["id"], "name": r.get("displayName"),
             "address": r.get("userPrincipalName") or r.get("mail") or ""} for r in refs]
    return pd.DataFrame(rows, columns=["type", "id", "name", "address"])


def delete_domain(client: GraphClient, domain: str, initial: str, wait_seconds: float,
                  sleep: Callable[[float], None] = time.sleep, where: str = "20_release_domain") -> str:
    """Delete the domain; if anything still references it, fall back to forceDelete within its limits (``where``:
    the phase asking)."""
    names = {d["id"]: d for d in client.get("domains")["value"]}
    if domain not in names:
        return "already deleted"
    if names[domain].get("isDefault"):
        client.patch(path("domains", initial), {"isDefault": True})
    try:
        client.delete(path("domains", domain), expected=(400,))  # refused while referenced: forceDelete follows
        return "deleted"
    except GraphError as exc:
        if exc.status != 400 or "referenced" not in exc.graph_message:
            raise
    left = len(client.get_all(path("domains", domain, "domainNameReferences"), {"$top": "999"}))
    if left > 1000:
        raise CutoverError(f"{domain} is still referenced by {left} objects; forceDelete renames at most 1,000",
                           where=where, hint="rename more users first (rerun this phase), then retry")
    state = names[domain].get("state") or {}
    if state.get("operation") != "ForceDelete":
        client.request("POST", path("domains", domain, "forceDelete"), json={"disableUserAccounts": False})
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if domain not in {d["id"] for d in client.get("domains")["value"]}:
            return f"force-deleted ({left} references renamed to {initial})"
        sleep(2 if wait_seconds > 30 else 0.2)
    raise CutoverError(f"forceDelete of {domain} has not finished after {wait_seconds:.0f} s", where=where,
                       hint="it runs asynchronously at Microsoft: rerun this phase later; it picks up where it stopped")


def add_domain(client: GraphClient, domain: str) -> str:
    names = {d["id"]: d for d in client.get("domains")["value"]}
    if domain in names:
        return "verified already" if names[domain]["isVerified"] else "added before"
    client.post("domains", {"id": domain}, idempotent=True)
    return "added"


def verification_records(client: GraphClient, domain: str) -> list[Record]:
    return [from_graph(r) for r in client.get(path("domains", domain, "verificationDnsRecords"))["value"]
            if r["recordType"].lower() == "txt"]


def verify_domain(client: GraphClient, domain: str, attempts: int = 5, pause: float = 2.0,
                  sleep: Callable[[float], None] = time.sleep, where: str = "30_add_domain_and_users",
                  held_hint: str = "run phase 20 (release the domain) to completion first") -> str:
    """Verify ``domain`` in ``client``'s tenant (``where``: the phase asking; ``held_hint``: what to do while
    another tenant holds it)."""
    last: GraphError | None = None
    for i in range(attempts):
        if client.get(path("domains", domain))["isVerified"]:
            return "verified" if i else "verified already"
        try:
            client.post(path("domains", domain, "verify"), idempotent=True)
            return "verified"
        except GraphError as exc:
            last = exc
            if "another tenant" in exc.graph_message:
                raise CutoverError(f"{domain} is still verified in another tenant", where=where,
                                   hint=held_hint) from exc
            sleep(pause)
    raise CutoverError(f"verification of {domain} failed: {last.graph_message if last else ''}", where=where,
                       hint="check that the TXT record is served by every authoritative server, then rerun")


def service_records(client: GraphClient, domain: str, services: list[str]) -> list[Record]:
    current = client.get(path("domains", domain))
    if sorted(current.get("supportedServices") or []) != sorted(services):
        client.patch(path("domains", domain), {"supportedServices": services})
    return [from_graph(r) for r in client.get(path("domains", domain, "serviceConfigurationRecords"))["value"]]
