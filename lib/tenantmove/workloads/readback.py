"""Reading back the manual settings where some Graph API can: evidence for the admin's word, or the reason it
does not hold yet, with the commands that would make it hold.

- Exchange accepted domains: Exchange Online makes an accepted domain of each verified domain that serves
  Email, so ``GET domains`` in the new tenant shows whether the old tenant's mail domains are there;
- Teams policies: ``GET admin/teams/userConfigurations`` shows which policy of each type is in effect for each
  user (not what the policy says), so each moving user's policies compare by name across the tenants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine import ps_quote
from ..services.graph import GraphClient, GraphError


@dataclass(frozen=True)
class Probe:
    ok: bool
    found: str  # what was read, in a sentence
    commands: list[str] = field(default_factory=list)  # what would make it hold
    read: bool = True  # False: nothing could be read (the admin's word stands alone)


def mail_domains(new: GraphClient, wanted: list[str]) -> Callable[[], Probe]:
    """The old tenant's mail domains that move: verified in the new tenant with the Email service."""
    def probe() -> Probe:
        accepted = {str(d["id"]).lower() for d in new.get("domains").get("value", [])
                    if d.get("isVerified") and "Email" in (d.get("supportedServices") or [])}
        missing = [d for d in wanted if d.lower() not in accepted]
        if missing:
            return Probe(False, f"not yet an accepted (verified, Email) domain in the new tenant: {', '.join(missing)}",
                         [f"# phase 30 adds and verifies {d} with the Email service: rerun it" for d in missing])
        return Probe(True, f"accepted domains in the new tenant: {', '.join(wanted) or 'none needed'}")
    return probe


def _effective(client: GraphClient) -> dict[str, dict[str, str]]:
    """user id -> policy type -> the name of the policy in effect."""
    return {str(c["id"]): {str(p["policyType"]): str(p["policyAssignment"]["displayName"])
                           for p in c.get("effectivePolicyAssignments") or []}
            for c in client.get_all("admin/teams/userConfigurations")}


def teams_policies(old: GraphClient, new: GraphClient, users: dict[str, str],
                   upns: dict[str, str]) -> Callable[[], Probe]:
    """Each moving user (old id -> new id; new UPNs by new id) has, in the new tenant, the policy of the same
    name in effect as in the old one. The commands create the missing policies and grant them."""
    def probe() -> Probe:
        before, after = _effective(old), _effective(new)
        known = {(kind, name) for policies in after.values() for kind, name in policies.items()}
        differ: list[tuple[str, str, str, str]] = []
        for old_id, new_id in sorted(users.items(), key=lambda kv: upns.get(kv[1], kv[1])):
            for kind, name in sorted((before.get(old_id) or {}).items()):
                now = (after.get(new_id) or {}).get(kind)
                if now != name:
                    differ.append((upns.get(new_id, new_id), kind, name, str(now)))
        if not differ:
            return Probe(True, f"Teams policies in effect match by name for {len(users)} moving user(s)")
        commands = ["Connect-MicrosoftTeams",
                    "# copy each policy's settings from the old tenant: Get-Cs<Type> -Identity '<name>' | Format-List"]
        for kind, name in sorted({(k, n) for _, k, n, _ in differ if (k, n) not in known}):
            commands.append(f"New-Cs{kind} -Identity {ps_quote(name)}")
        commands += [f"Grant-Cs{kind} -Identity {ps_quote(upn)} -PolicyName {ps_quote(name)}"
                     for upn, kind, name, _ in differ]
        shown = "; ".join(f"{upn} {kind}: {name!r} in the old tenant, {now!r} in the new" for upn, kind, name, now
                          in differ[:5])
        return Probe(False, f"{len(differ)} Teams policy assignment(s) differ: {shown}"
                     + (" ..." if len(differ) > 5 else ""), commands)
    return probe


def run(probe: Callable[[], Probe] | None) -> Probe | None:
    """The probe's answer; a read the token may not make is an answer too (the admin's word then stands)."""
    if probe is None:
        return None
    try:
        return probe()
    except GraphError as exc:
        return Probe(True, f"could not read back ({exc.one_line()}): the admin's word stands", read=False)


def describe(result: Probe | None) -> dict[str, Any]:
    return {} if result is None else {"read back": result.found}
