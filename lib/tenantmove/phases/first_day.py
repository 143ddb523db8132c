"""Phase 40's last step, the people's first day: a one-time sign-in pass for each moving person (with
``first_day_passes``, where the new tenant's Temporary Access Pass policy allows it; the temporary password from
phase 30 stays the fallback), and a letter for each, in their language, with a bundle per department.

The passes go to the vault only (state folder, encrypted with the vault key). The letters go to this phase's
folder (``letters/``) and hold no secret: they say who hands the pass or password over."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..report import Report
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..workloads import devices as devicelist
from ..workloads import dnssnapshot, letters
from ..workloads.inventory import Inventory
from ..workloads.passes import FALLBACK, SignInPasses, window
from ..workloads.passwords import PasswordVault, key_from_env, read_vault
from ..workloads.people import from_inventory
from ..workloads.sharing import LINK_MAP, LinkMap
from .common import StepResult

FIRST_DAY = Path("first-day.json")  # in the state folder: when the passes work and who has one (no secret)


def pass_vault(phase: Phase) -> PasswordVault:
    """The passes' vault: beside the passwords', encrypted with the same key, never in the run folder."""
    env = phase.params.vault_key_env
    return PasswordVault(phase.state_dir / "passes" / f"{phase.run_id}.csv", lambda: key_from_env(env))


def mail_safe(phase: Phase) -> bool:
    """Whether mail sent in the window only waits: a holding MX, or an address of the domain's own that senders
    fall back to (phase 00's DNS snapshot)."""
    if phase.params.holding_mx:
        return True
    snapshot = dnssnapshot.load(phase.state_dir)
    domain = phase.params.domain.lower()
    return snapshot is not None and bool(((snapshot["name"].str.lower().str.rstrip(".") == domain)
                                          & snapshot["type"].isin(["A", "AAAA"])).any())


def people(src: Inventory, moving: pd.DataFrame, passes: dict[str, str], starts: str, expires: str,
           links: list[dict[str, str]], devices: dict[str, list[str]]) -> list[letters.Person]:
    """The letters' people: the mapping's rows with their attributes from phase 00 and how they sign in first."""
    read = from_inventory(src)
    out = []
    for _, row in moving.iterrows():
        source, target = str(row["source_upn"]), str(row["target_upn"])
        attrs = read(source).attributes
        mine = [(r["old url"], r["new url"]) for r in links if str(r.get("owner", "")).lower() in
                (source.lower(), target.lower())]
        out.append(letters.Person(str(row.get("display_name") or target), target, source,
                                  attrs.get("preferredLanguage"), str(attrs.get("department") or ""),
                                  passes.get(target.lower(), "password"), starts, expires,
                                  devices.get(source.lower(), []), mine))
    return out


def prepare(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory,
            moving: pd.DataFrame, gate: ConfirmGate) -> StepResult:
    report, summary = Report(), {}
    p = phase.params
    table = devicelist.load(phase.state_dir) if p.plan_devices else None
    if table is not None and (table["autopilot serial"] != "").any():
        moved = phase.run(devicelist.AutopilotMove(old, new, table, src.initial_domain, tgt.initial_domain), gate)
        report.add(moved.report())
        summary.update({f"Autopilot devices {k}": v for k, v in moved.counts().items()})
    starts, expires = window(p.pass_start, p.pass_lifetime_minutes)
    how: dict[str, str] = {}
    if p.first_day_passes:
        vault = pass_vault(phase)
        outcome = phase.run(SignInPasses(new, moving, vault, p.pass_start, p.pass_lifetime_minutes,
                                         p.pass_usable_once), gate)
        report.add(outcome.report())
        if not phase.dry_run:  # who holds a pass: the vault says (this run's or an earlier one's)
            how = {upn: "pass" for upn in read_vault(vault.path.parent, vault.fernet)}
        refused = outcome.count(FALLBACK)
        summary.update({"passes issued or kept": outcome.count("issued") + outcome.count("adopted"),
                        "passes refused (temporary password instead)": refused,
                        "passes usable (UTC)": f"{starts} to {expires}{', once' if p.pass_usable_once else ''}"})
        if refused:
            report.banner("warn", f"{refused} person(s) get no pass: the new tenant's Temporary Access Pass policy "
                                  "refused it (each item says why). They sign in with the temporary password in the "
                                  "vault; to give passes, turn the method on (settings_apply: temporaryAccessPass) "
                                  "and rerun this phase.")
        else:
            report.banner("ok", f"The passes work from {starts} to {expires} (UTC). They are in the vault only: "
                                "`python -m tenantmove passwords PARAMS --out FILE --passes` writes them out.")
    else:
        report.text("No passes (first_day_passes: false): people sign in first with the temporary password in the "
                    "vault.")
    if phase.dry_run:
        return StepResult(report, summary)
    (phase.state_dir / FIRST_DAY).write_text(json.dumps({"starts": starts, "expires": expires, "how": how}, indent=1))
    written = write_letters(phase, src, moving)
    report.table(written, f"Letters for the first day ({phase.folder / 'letters'}): one per person, one bundle per "
                          "department; no pass or password in them")
    defaulted = int((written["language note"] != "").sum())
    summary.update({"letters written": len(written), "letters in the default language": defaulted})
    return StepResult(report, summary)


def write_letters(phase: Phase, src: Inventory, moving: pd.DataFrame) -> pd.DataFrame:
    """The letters into this phase's folder, from what phase 40 kept (how each person signs in first, no secret),
    the devices phase 00 listed and the link map phases 50 and 70 made so far."""
    kept = json.loads((phase.state_dir / FIRST_DAY).read_text())
    table = devicelist.load(phase.state_dir)  # there when phase 00 planned the devices
    links = LinkMap(phase.state_dir / LINK_MAP).rows()
    return letters.write(people(src, moving, kept["how"], kept["starts"], kept["expires"], links,
                                devicelist.letter_lines(table)),
                         letters.Context(str(src.organization.get("displayName") or phase.params.name),
                                         phase.downtime().get("mail_down") or "the cutover",
                                         phase.downtime().get("mail_up") or "", mail_safe(phase)),
                         phase.folder / "letters")


def refresh_letters(phase: Phase, src: Inventory, moving: pd.DataFrame) -> StepResult:
    """Phase 90: the letters again, now with the links that changed (the link map exists once phases 50 and 70
    ran). Nothing changes in either tenant."""
    if not (phase.state_dir / FIRST_DAY).is_file():
        return StepResult(Report().text("No letters: phase 40 has not written them yet."), {})
    written = write_letters(phase, src, moving)
    linked = int((written["changed links"] > 0).sum())
    return StepResult(Report().table(written, f"The letters again, with the links that changed ({linked} person(s) "
                                              f"have some): {phase.folder / 'letters'}"),
                      {"letters written": len(written), "letters with changed links": linked})

