"""Two old tenants into one new one, planned against the sandbox (Contoso and Fabrikam into Contoso's new tenant):
``python -m tenantmove merge-plan`` reads both old tenants and the new one and shows what meets there with its
resolution: the same person (the admin's mapping: merge), Contoso's guest who is Fabrikam's person, a group called
Sales and a site called intranet in both (the rules' suffix), the seats of both together. What no rule resolves,
a domain verified in the other old tenant, and a state folder of another new tenant stop before anything is
written, in one line, with the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tenantmove.engine import Ledger
from tenantmove.sandbox import Sandbox

from .runner_helpers import ROOT, tenantmove

pytestmark = pytest.mark.notebook  # the runner in a process of its own


def _merge(tmp_path: Path, sb: Sandbox, fabrikam: dict | None = None, users: str | None = None) -> Path:
    for name in ("demo.yaml", "demo-fabrikam.yaml"):
        raw = yaml.safe_load((ROOT / "parameters" / name).read_text())
        raw.update(sandbox_dir=str(sb.state_dir), state_dir=str(tmp_path / raw["name"]))
        if raw.get("user_mapping"):
            mapping = tmp_path / "fabrikam-users.csv"
            mapping.write_text(users if users is not None else
                               (ROOT / "parameters" / "demo-fabrikam-users.csv").read_text())
            raw["user_mapping"] = str(mapping)
        if name == "demo-fabrikam.yaml":
            raw.update(fabrikam or {})
        (tmp_path / name).write_text(yaml.safe_dump(raw))
    merge = yaml.safe_load((ROOT / "parameters" / "merge-demo.yaml").read_text())
    merge["state_dir"] = str(tmp_path / "merge")
    path = tmp_path / "merge.yaml"
    path.write_text(yaml.safe_dump(merge))
    return path


def _line(stderr: str) -> str:
    return [x for x in stderr.splitlines() if x.startswith("tenantmove:")][-1]


def test_the_merge_plan_shows_every_clash_with_its_resolution(sandbox: Sandbox, tmp_path: Path) -> None:
    proc = tenantmove("merge-plan", str(_merge(tmp_path, sandbox)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = pd.read_csv(tmp_path / "merge" / "merge-plan.csv", keep_default_na=False)
    found = {(a, k): r for a, k, r in zip(plan["area"], plan["in the new tenant"], plan["resolution"], strict=True)}
    assert "the mailbox of demo-fabrikam merged into it" in found[("people", "alex.wilber@contoso.example")]
    assert "demo's invitation is not sent" in found[("guests", "ann.berg@fabrikam.example")]
    assert found[("group mail nickname", "sales")] == "demo-fabrikam's becomes sales-fabrikam"
    assert found[("sites", "sites/intranet")] == "demo-fabrikam's becomes sites/intranet-fabrikam"
    assert found[("sites", "(the root site)")] == ("demo-fabrikam's becomes sites/fabrikam (demo's takes the new "
                                                   "tenant's root site)")
    assert found[("seats", "O365_BUSINESS_PREMIUM")].startswith("demo 23 + demo-fabrikam 3 = 26 of ")
    assert ("people", "megan.bowen@fabrikam.example") not in found  # the namesake keeps her own address
    assert found[("order", "phase 30: demo, then demo-fabrikam")].endswith("run demo's phase 30 first")
    assert found[("order", "phase 30: demo-fabrikam, then demo")].endswith("when run again after demo-fabrikam's")
    assert found[("order", "cutover of demo-fabrikam")].startswith(  # its two domains; Contoso's people keep working
        "phases 20 and 30 of demo-fabrikam move fabrikam.example, fabrikam-shop.example, each with its own DNS")
    assert found[("settings", "pronouns")].startswith("demo-fabrikam's values")  # the merge file's choice
    assert found[("settings", "sharepoint")].startswith("demo's values")  # the first migration's otherwise
    assert found[("conditional access", "Require MFA for administrators")].startswith(
        "demo-fabrikam's becomes 'Require MFA for administrators (fabrikam)'")
    assert "covers demo's people too" in found[("conditional access", "Everyone: require MFA")]
    assert not plan["blocking"].any() and "every clash has its resolution (25)" in proc.stdout
    assert not (tmp_path / "demo-fabrikam" / "ledger.sqlite").exists()  # a plan: nothing written for a migration


@pytest.mark.parametrize("case", ["the same new UPN", "a domain of the other old tenant",
                                  "a state folder of another new tenant"])
def test_what_no_rule_resolves_stops_before_anything_is_written(sandbox: Sandbox, tmp_path: Path, case: str) -> None:
    users, fabrikam = None, None
    if case == "the same new UPN":  # Alex's row says move, not merge
        users = (ROOT / "parameters" / "demo-fabrikam-users.csv").read_text().replace(",sales,merge", ",sales,move")
    if case == "a domain of the other old tenant":
        fabrikam = {"domain": "contoso.example"}
    path = _merge(tmp_path, sandbox, fabrikam, users)
    if case == "a state folder of another new tenant":
        (tmp_path / "demo-fabrikam").mkdir()
        with Ledger(tmp_path / "demo-fabrikam" / "ledger.sqlite") as ledger:
            ledger.bind_tenant("target", "00000000-0000-4000-8000-00000000beef")
    proc = tenantmove("merge-plan", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    line = _line(proc.stderr)
    assert "\n" not in line and "HINT:" in line
    expected = {"the same new UPN": "claimed by demo (alex.wilber@contoso.example) and demo-fabrikam "
                                    "(alex.wilber@fabrikam.example)",
                "a domain of the other old tenant": "is verified in demo's old tenant",
                "a state folder of another new tenant": "belongs to a migration whose target tenant is "
                                                        "00000000-0000-4000-8000-00000000beef"}[case]
    assert expected in line, line
    if case == "a state folder of another new tenant":
        assert not (tmp_path / "merge" / "merge-plan.csv").exists()


@pytest.mark.waits
def test_two_old_tenants_cut_over_into_one_and_nothing_of_one_overwrites_the_other(fresh_sandbox: Sandbox,
                                                                                    tmp_path: Path) -> None:
    from tenantmove.phases import rehearsal
    from tenantmove.phases.common import StepFailed
    from tenantmove.runbook import merge_plan

    from .conftest import make_client

    sb = fresh_sandbox
    merge = _merge(tmp_path, sb)
    for name in ("demo.yaml", "demo-fabrikam.yaml"):  # each migration names the merge it is part of
        raw = yaml.safe_load((tmp_path / name).read_text())
        (tmp_path / name).write_text(yaml.safe_dump({**raw, "merge": str(merge), "approval": {"mode": "none"},
                                                     "change": {}, "sites_beta": True, "site_wait_seconds": 60,
                                                     "ttl_override": "the merge's rehearsal: phase 00 did not lower "
                                                                     "the TTLs"}))
    raw = yaml.safe_load((tmp_path / "demo-fabrikam.yaml").read_text())  # Fabrikam's mailboxes on 2 worker processes
    (tmp_path / "demo-fabrikam.yaml").write_text(yaml.safe_dump({**raw, "cluster": "local:2"}))
    contoso = rehearsal.from_file(tmp_path / "demo.yaml", tmp_path / "contoso")
    fabrikam = rehearsal.from_file(tmp_path / "demo-fabrikam.yaml", tmp_path / "fabrikam")
    rehearsal.inventory_by(contoso)
    rehearsal.inventory_by(fabrikam)
    merge_plan.plan(merge_plan.load(merge))

    rehearsal.release_by(fabrikam)
    with pytest.raises(StepFailed, match="not in the new tenant yet"):  # Alex is Contoso's to make: it goes first
        rehearsal.add_by(fabrikam)
    rehearsal.release_by(contoso)
    rehearsal.add_by(contoso)
    with pytest.raises(StepFailed, match="ann.berg@fabrikam.example is not in the new tenant yet"):
        rehearsal.settings_by(contoso)  # content names Fabrikam's Ann: every phase 30 first
    rehearsal.add_by(fabrikam)

    new = make_client(sb, "target")[1]
    # Fabrikam's second domain moved with it, in a cutover of its own: Lee Gu keeps his address on it
    from tenantmove.runbook.downtime import Downtime

    held = {d["id"]: d["isVerified"] for d in new.get("domains")["value"]}
    assert held.get("fabrikam.example") and held.get("fabrikam-shop.example")
    assert "fabrikam-shop.example" not in {d["id"] for d in make_client(sb, "fabrikam")[1].get("domains")["value"]}
    assert new.get("users/lee.gu@fabrikam-shop.example", {"$select": "id"})["id"]
    shop = Downtime(tmp_path / "demo-fabrikam" / "domains" / "fabrikam-shop.example")
    assert shop.get("mail_down") and shop.get("mail_up") and Downtime(tmp_path / "demo-fabrikam").get("mail_up")
    groups = {g["mailNickname"]: g for g in new.get_all("groups", {"$select": "id,displayName,mailNickname"})}
    assert groups["sales"]["displayName"] == "Sales" and groups["sales-fabrikam"]["displayName"] == "Sales (fabrikam)"

    def members(nick: str) -> set[str]:
        return {str(m.get("userPrincipalName")).lower()
                for m in new.get_all(f"groups/{groups[nick]['id']}/members", {"$select": "userPrincipalName"})}

    assert members("sales-fabrikam") == {"alex.wilber@contoso.example", "ann.berg@fabrikam.example"}  # Alex, merged
    assert "ann.berg@fabrikam.example" not in members("sales")  # Contoso's phase 30 ran before Ann was made
    assert all("fabrikam" not in m or "#ext#" in m for m in members("sales"))  # nothing of Fabrikam's in Contoso's
    people = new.get_all("users", {"$select": "userPrincipalName,userType,mail"})
    upns = [p["userPrincipalName"].lower() for p in people]
    assert len(upns) == len(set(upns))
    assert upns.count("alex.wilber@contoso.example") == 1 and "megan.bowen@fabrikam.example" in upns
    guests = [p for p in people if p.get("userType") == "Guest"]
    assert all(str(g.get("mail")).lower() != "ann.berg@fabrikam.example" for g in guests)  # a member, not a guest
    alex = new.get("users/alex.wilber@contoso.example", {"$select": "jobTitle"})
    assert alex["jobTitle"] == "Sales lead"  # Contoso's Alex: Fabrikam's title did not overwrite his

    # Fabrikam's phase 40: Contoso's values win every area but the pronouns (the merge file's choice); its policy
    # named like Contoso's is created under its own name, never adopted as Contoso's
    from tenantmove.services.conditional_access import CaClient

    CaClient(new).create("policies", {"displayName": "Require MFA for administrators",  # as Contoso's phase 40 made it
                                       "state": "enabledForReportingButNotEnforced",
                                       "conditions": {"users": {"includeUsers": ["All"]},
                                                      "applications": {"includeApplications": ["All"]}},
                                       "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
    shown, _ = rehearsal.settings_by(fabrikam)
    applied = dict(zip(shown.table["area"], shown.table["applied"], strict=False))
    assert applied["SharePoint tenant settings"] == "no: demo's values (the merge plan)"
    assert applied["pronouns on profiles"] == "yes"
    names = sorted(str(p["displayName"]) for p in CaClient(new).all("policies"))
    assert names.count("Require MFA for administrators") == 1 and "Require MFA for administrators (fabrikam)" in names
    assert "Everyone: require MFA" in names and len(names) == len(set(names))

    # Contoso's intranet (made here as phase 50 makes it), then Fabrikam's sites: under the merge's names
    from tenantmove.services.sites import SiteClient

    root = new.get("sites/root")
    made = SiteClient(new).create_site_beta("https://contosonew.sharepoint.com/sites/intranet", "Contoso intranet",
                                            "sitepagepublishing", "admin@contosonew.onmicrosoft.com", 30, 0.2)
    rehearsal.sites_by(fabrikam)
    theirs = new.get("sites/contosonew.sharepoint.com:/sites/intranet-fabrikam")
    assert theirs["displayName"] == "Fabrikam intranet"
    assert new.get(f"sites/{made['id']}")["displayName"] == "Contoso intranet"  # Contoso's is as it was
    assert new.get("sites/root")["displayName"] == root["displayName"]  # the root is Contoso's to fill
    home = new.get("sites/contosonew.sharepoint.com:/sites/fabrikam")  # Fabrikam's root site, a site of its own
    assert home["id"] != root["id"]
    sales = new.get("sites/contosonew.sharepoint.com:/sites/sales-fabrikam")  # the renamed group's own site
    found = new.get(f"sites/{sales['id']}/drive/root:/Accounts/Fabrikam key accounts.docx")
    assert found["name"] == "Fabrikam key accounts.docx"

    # Alex's new mailbox holds his Contoso mail (one letter, as Contoso's phase 60 imports it); Fabrikam's phase 60
    # merges his Fabrikam mailbox into it under a folder "Fabrikam", and moves its namesake Megan's mailbox as usual
    from tenantmove.services.mailboxes import MailboxClient
    from tenantmove.workloads.mail import folder_paths

    old = make_client(sb, "source")[1]
    o, n = MailboxClient(old), MailboxClient(new)
    renamed = next(u["id"] for u in old.get_all("users", {"$select": "id,displayName"})  # phase 20 renamed him
                   if u["displayName"] == "Alex Wilber")
    old_box, new_box = o.mailbox_id(renamed), n.mailbox_id("alex.wilber@contoso.example")
    assert old_box and new_box
    inbox = {p: f["id"] for f in o.folders(old_box) for fid, p in folder_paths(o.folders(old_box)).items()
             if fid == f["id"]}["Inbox"]
    letter = o.items(old_box, inbox)[0]
    new_inbox = {p: fid for fid, p in folder_paths(n.folders(new_box)).items()}["Inbox"]
    n.import_item(new_box, new_inbox, o.export(old_box, [letter["id"]])[letter["id"]]["data"])
    sb.set_knobs(faults=[{"match": "^_mi/", "method": "POST", "status": "drop", "count": 3}])
    with pytest.raises(StepFailed, match="failed"):  # three imports lost on the way: the phase stops, naming them
        rehearsal.mail_by(fabrikam)
    sb.set_knobs(faults=[])
    moved, checks = rehearsal.mail_by(fabrikam)  # the rerun: each item once (the folders' counts below are exact)
    assert moved.summary["items extra or duplicate"] == 0 and moved.summary["drafts made"] == 0, moved.summary
    assert all(c.problems.empty for c in checks), pd.concat([c.problems for c in checks]).to_string()
    paths = folder_paths(n.folders(new_box))
    by_path = {p: fid for fid, p in paths.items()}
    fab = make_client(sb, "fabrikam")[1]
    theirs = MailboxClient(fab)
    their_box = theirs.mailbox_id(next(u["id"] for u in fab.get_all("users", {"$select": "id,displayName"})
                                       if u["displayName"] == "Alex Wilber"))
    assert their_box
    before = {p: len(theirs.items(their_box, fid)) for fid, p in folder_paths(theirs.folders(their_box)).items()}
    after = {p: len(n.items(new_box, fid)) for p, fid in by_path.items()}
    assert {p: after[f"Fabrikam/{p}"] for p in before} == before and sum(before.values()) == 11
    assert after["Inbox"] == 1 and after["Fabrikam"] == 0  # Alex's own Inbox as it was
    assert "Fabrikam/Calendar" in by_path and "Fabrikam/Contacts" in by_path  # not Alex's own Calendar, Contacts
    assert not n.items(new_box, by_path["Calendar"]) and len(n.items(new_box, by_path["Fabrikam/Calendar"])) == 1
    megan = n.mailbox_id("megan.bowen@fabrikam.example")
    assert megan and sum(len(n.items(megan, f["id"])) for f in n.folders(megan)) == 5
    assert n.mailbox_id("megan.bowen@contoso.example") != megan  # the namesakes keep a mailbox each
