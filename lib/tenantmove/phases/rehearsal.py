"""The cutover's mail window rehearsed against a running sandbox, one option at a time: phases 20 and 30 run
in this process as their notebooks run them (their own plan and apply, over real sockets), while the sandbox's
outside mail server writes to a moving person from before phase 20 until phase 30 is done. What a sender saw is
the result: sent, delivered, bounced, the longest delay, and the window. The test of the options and
``bench/bench_cutover.py`` use it; the way back's and the merge's tests run the same phases (``from_file``: a
migration's own parameter file)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runbook import outside_mail
from ..runbook.context import Phase
from ..runbook.downtime import Downtime
from ..runbook.params import absolutize, load_yaml
from ..services.dnsops import RecordPlan, record
from ..workloads import dnsttl, inventory, mailwindow
from . import add_domain, admin_settings, common, mailboxes, release_domain, rollback_domain, team_sites


@dataclass(frozen=True)
class Option:
    """One way to cross the window: the MX's TTL before the cutover, whether phase 00 lowers it, a holding MX, and
    whether the domain has an address record of its own (a website) or is mail-only."""

    name: str
    mx_ttl: int = 3600
    lower: bool = False
    holding_mx: str = ""
    mail_only: bool = False


def in_process(phase_id: str, sandbox_dir: Path, work: Path, domain: str, option: Option) -> Phase:
    """A phase started in this process as its notebook starts it, applying (dry_run false, confirmed)."""
    namespace: dict[str, Any] = {
        "name": "rehearsal", "cloud": "sandbox", "sandbox_dir": str(sandbox_dir), "domain": domain,
        "state_dir": str(work / "state"), "run_dir": str(work / "run"), "run_id": "rehearsal",
        "operator": "rehearsal", "interactive": False, "dry_run": False, "confirm": domain,
        "holding_mx": option.holding_mx, "dns_lower_ttl": option.lower,
        "ttl_override": "" if option.lower else f"rehearsal of the option {option.name!r}: the TTL is not lowered",
    }
    return Phase.start(phase_id, namespace)


def prepare(sandbox_dir: Path, work: Path, domain: str, option: Option) -> None:
    """What phase 00 does for the window: the old tenant's inventory, the TTLs seen (and lowered), and the DNS the
    option describes (the MX's TTL, no address record for a mail-only domain)."""
    phase = in_process("00_prepare", sandbox_dir, work, domain, option)
    ns, provider = phase.dns()
    mx = [record(domain, "MX", v) for v in sorted(ns.values(domain, "MX")[0])]
    provider.set_ttl(mx, option.mx_ttl)
    if option.mail_only:
        provider.apply(RecordPlan(remove=[record(domain, "A", v) for v in sorted(ns.values(domain, "A")[0])]))
    phase.save_inventory("source", inventory.collect(phase.sign_in("source"), people=True))
    plan = dnsttl.observe(ns, domain, phase.state_dir, phase.ttl_scale())
    if option.lower:
        dnsttl.lower(provider, plan, phase.state_dir)


def cutover(sandbox_dir: Path, work: Path, domain: str, option: Option, to: list[str], every_seconds: float = 0.5,
            window_seconds: float = 0.0, settle_seconds: float = 120.0) -> dict[str, Any]:
    """Phases 20 and 30 with the outside world writing to ``to``; ``window_seconds`` is the admin's time between
    them (the domain's verification, a coffee). Returns the sender's figures and the phases' times."""
    sender = outside_mail.for_endpoints(in_process("00_prepare", sandbox_dir, work, domain, option).endpoints)
    if sender is None:
        raise ValueError("a rehearsal of the mail window needs the sandbox (cloud: sandbox)")
    sender.start(to, every_seconds, label=option.name)
    time.sleep(every_seconds * 2)  # letters before the cutover too
    began = time.monotonic()
    released = release(sandbox_dir, work, domain, option)
    phase20 = time.monotonic() - began
    time.sleep(window_seconds)
    added = add(sandbox_dir, work, domain, option)
    sender.stop()
    view = sender.settle(settle_seconds)
    down, up = (Downtime(work / "state").get(event) for event in ("mail_down", "mail_up"))
    window = (dt.datetime.fromisoformat(str(up).replace("Z", "+00:00")) -
              dt.datetime.fromisoformat(str(down).replace("Z", "+00:00"))).total_seconds() if down and up else None
    return {"option": option.name, **mailwindow.figures(view), "phase 20 (s)": round(phase20, 1),
            "window (s)": window, "released": released.summary, "added": added.summary,
            "letters": mailwindow.letters(view)}


Start = Callable[[str], Phase]


def from_file(params: Path, work: Path, run_id: str = "rehearsal") -> Start:
    """Phases of the migration a parameter file describes, started in this process as the runner injects them
    (every parameter, this run's folder)."""
    raw = absolutize(load_yaml(params), Path.cwd())
    return lambda phase_id: Phase.start(phase_id, {**raw, "run_dir": str(work / "run"), "run_id": run_id,
                                                   "interactive": False, "operator": "rehearsal"})


def inventory_by(start: Start) -> None:
    """What phase 00 keeps for the later phases: the old tenant's inventory."""
    phase = start("00_prepare")
    phase.save_inventory("source", inventory.collect(phase.sign_in("source"), people=True))


def release_by(start: Start) -> common.StepResult:
    """Phase 20 as its notebook runs it: plan, confirm, apply."""
    twenty = start("20_release_domain")
    old = twenty.sign_in("source")
    src = twenty.load_inventory("source")
    plan = release_domain.plan(twenty, old, src)
    return release_domain.apply(twenty, old, src, plan,
                                twenty.confirm_gate(f"release {twenty.params.domain} (rehearsal)"))


def add_by(start: Start) -> common.StepResult:
    """Phase 30 as its notebook runs it: plan, confirm, apply."""
    thirty = start("30_add_domain_and_users")
    new = thirty.sign_in("target")
    src, tgt = common.load_inventories(thirty, new)
    moving = common.user_mapping(thirty, src, tgt).moving
    return add_domain.apply(thirty, new, src, tgt, moving, add_domain.plan(thirty, new, src, moving),
                            thirty.confirm_gate(f"add {thirty.params.domain} (rehearsal)"))


@dataclass
class Opened:
    """A content phase started as its notebook starts it: both tenants signed in, the inventories, the people."""

    phase: Phase
    old: Any
    new: Any
    src: Any
    tgt: Any
    moving: Any


def opened(start: Start, phase_id: str) -> Opened:
    phase = start(phase_id)
    old, new = phase.sign_in("source"), phase.sign_in("target")
    src, tgt = common.load_inventories(phase, new)
    return Opened(phase, old, new, src, tgt, common.user_mapping(phase, src, tgt).moving)


def sites_by(start: Start) -> common.StepResult:
    """Phase 50 as its notebook runs it: connect, plan, confirm, apply."""
    o = opened(start, "50_team_sites")
    sites = team_sites.connect(o.phase, o.old, o.new, o.src, o.moving, o.tgt)
    plan = team_sites.plan(o.phase, sites)
    return team_sites.apply(o.phase, sites, o.phase.confirm_gate("rebuild the sites (rehearsal)", plan=plan))


def settings_by(start: Start) -> tuple[admin_settings.AdminSettings, common.StepResult]:
    """Phase 40's settings and conditional access as its notebook applies them (connect, plan, confirm, apply)."""
    o = opened(start, "40_admin_settings")
    found = admin_settings.connect(o.phase, o.old, o.new, o.src, o.tgt, o.moving)
    plan = admin_settings.plan(o.phase, found)
    return found, admin_settings.apply(o.phase, found, o.phase.confirm_gate("apply the settings (rehearsal)",
                                                                             plan=plan))


def mail_by(start: Start) -> tuple[common.StepResult, list[Any]]:
    """Phase 60 as its notebook runs it (connect, plan, confirm, apply), then phase 90's mail checks."""
    o = opened(start, "60_mailboxes")
    mail = mailboxes.connect(o.phase, o.old, o.new, o.src, o.tgt, o.moving)
    plan = mailboxes.plan(o.phase, mail)
    try:
        moved = mailboxes.apply(o.phase, mail, o.old, o.new,
                                o.phase.confirm_gate("move the mailboxes (rehearsal)", plan=plan))
        return moved, mailboxes.mail_checks(mail, o.old, o.new)
    finally:
        o.phase.complete({})  # as the notebook's last cell: its worker processes (cluster) end with it


def release(sandbox_dir: Path, work: Path, domain: str, option: Option) -> common.StepResult:
    return release_by(lambda phase_id: in_process(phase_id, sandbox_dir, work, domain, option))


def add(sandbox_dir: Path, work: Path, domain: str, option: Option) -> common.StepResult:
    return add_by(lambda phase_id: in_process(phase_id, sandbox_dir, work, domain, option))


def roll_back(sandbox_dir: Path, work: Path, domain: str, option: Option) -> dict[str, Any]:
    """Phase 25 as its notebook runs it: plan, confirm, apply, reconcile, finish (which raises while the old tenant
    still differs from phase 00). Returns each step's result."""
    back = in_process("25_rollback_domain", sandbox_dir, work, domain, option)
    old, new = back.sign_in("source"), back.sign_in("target")
    src, tgt = common.load_inventories(back, new)
    plan = rollback_domain.plan(back, old, new, src, tgt)
    applied = rollback_domain.apply(back, old, new, src, tgt, plan, back.confirm_gate(f"roll {domain} back"))
    checks = rollback_domain.reconcile(back, old, new, src)
    return {"plan": plan, "applied": applied, "checks": checks, "finished": rollback_domain.finish(back, checks),
            "folder": back.folder}
