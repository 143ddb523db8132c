"""The change record's parts without a sandbox: the change parameters and their window, the approval policy, why an
approval does not count, the closure's conditions, the change record's segregation of duties, the glossary."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tenantmove.errors import ParameterError
from tenantmove.runbook import approval, change_record, closure, glossary
from tenantmove.runbook.approval_policy import ApprovalPolicy
from tenantmove.runbook.change import Change
from tenantmove.runbook.params import validate

NOW = dt.datetime(2027, 1, 9, 20, 0, tzinfo=dt.UTC)
WINDOW = "2027-01-09T17:00Z/2027-01-10T05:00Z"


def test_the_window_decides_and_the_override_is_said() -> None:
    change = Change.of({"ticket": "CHG1", "window": WINDOW})
    assert change.in_window(NOW) and change.outside(NOW) == ""
    assert "before the change window" in change.outside(NOW - dt.timedelta(hours=4))
    late = Change.of({"window": WINDOW, "override": "the board moved it"})
    assert late.outside(NOW + dt.timedelta(days=1)).endswith("override recorded: the board moved it")
    assert Change.of({}).in_window(NOW)  # no window: no limit


@pytest.mark.parametrize("given, where", [
    ({"change": {"window": "tomorrow evening"}}, "change.window"),
    ({"change": {"window": "2027-01-10T05:00Z/2027-01-09T17:00Z"}}, "change.window"),
    ({"change": {"risk": "huge"}}, "change.risk"),
    ({"change": {"tiket": "CHG1"}}, "change.tiket"),
    ({"approval": {"mode": "maybe"}}, "approval.mode"),
    ({"approval": {"mode": "signature"}}, "approval.certificates"),
    ({"approval": {"max_age_minutes": 0}}, "approval.max_age_minutes"),
    ({"cloud": "global", "dry_run": False, "approval": {"mode": "signin"}}, "change.ticket"),
    ({"cloud": "global", "dry_run": False, "change": {"ticket": "C", "window": WINDOW}}, "approval.mode"),
])
def test_bad_change_and_approval_parameters_are_named(given: dict, where: str) -> None:
    with pytest.raises(ParameterError) as bad:
        validate({"domain": "contoso.example", **given}, check_environment=False)
    assert any(p.where.endswith(f": {where}") and p.hint for p in bad.value.problems), bad.value.one_line()


def test_production_without_a_second_person_needs_the_reason() -> None:
    params = validate({"domain": "contoso.example", "cloud": "global", "dry_run": False,
                       "change": {"ticket": "C", "window": WINDOW},
                       "approval": {"mode": "none", "why": "one-person IT department"}}, check_environment=False)
    assert ApprovalPolicy.of(params.approval).describe() == "not required (why: one-person IT department)"


def _entry(**changes: object) -> dict:
    base = {"phase": "20_release_domain", "digest": "d" * 64, "how": "signin", "by": "pat@contoso.example",
            "roles": ["Global Administrator"], "at": "2027-01-09T19:59:00Z", "signed_in_at": "2027-01-09T19:58:00Z"}
    return {**base, **changes}


REQUEST = {"phase": "20_release_domain", "run_id": "r1", "digest": "d" * 64,
           "operator": "Jane Operator <jane@contoso.example>"}


@pytest.mark.parametrize("entry, said", [
    (_entry(), ""),
    (_entry(digest="e" * 64), "another plan"),
    (_entry(by="JANE@contoso.example"), "is the operator"),
    (_entry(roles=["User Administrator"]), "holds none of the roles"),
    (_entry(signed_in_at="2027-01-09T18:00:00Z"), "120 min ago"),
    (_entry(at="2027-01-10T06:00:00Z"), "outside the change window"),
    (_entry(how="signature"), "approval.mode is signin"),
])
def test_why_an_approval_does_not_count(entry: dict, said: str) -> None:
    why = approval.refusal(entry, REQUEST, ApprovalPolicy.of({"mode": "signin"}), Change.of({"window": WINDOW}), {},
                           [], NOW)
    assert (said in why) if said else why == ""


def test_the_digest_changes_with_the_parameters_the_code_and_the_plan_but_not_with_how_the_run_is_run(
        tmp_path: Path) -> None:
    import pandas as pd

    from tenantmove.report import Report

    nb = tmp_path / "20_x.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x = 1\n"], "metadata": {}}]}))
    plan = Report().table(pd.DataFrame({"user": ["a", "b"]}), "renames")
    params = {"domain": "contoso.example", "run_id": "r1", "dry_run": True, "change": {"ticket": "C"}}
    first = approval.digest_of("20_x", params, plan, nb)["digest"]
    assert approval.digest_of("20_x", {**params, "run_id": "r2", "dry_run": False}, plan, nb)["digest"] == first
    assert approval.digest_of("20_x", {**params, "domain": "fabrikam.example"}, plan, nb)["digest"] != first
    other_plan = Report().table(pd.DataFrame({"user": ["a"]}), "renames")
    assert approval.digest_of("20_x", params, other_plan, nb)["digest"] != first
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x = 2\n"], "metadata": {}}]}))
    assert approval.digest_of("20_x", params, plan, nb)["digest"] != first


def _chain(state: Path, runs: Path, verdict: str, operator: str = "jane@contoso.example") -> None:
    run = runs / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "operator": operator, "parameters": {
        "change": {"ticket": "CHG1", "window": WINDOW}, "approval": {"mode": "signin"}},
        "phases": [{"phase": "20_release_domain", "status": "completed", "operator": operator}]}))
    state.mkdir(parents=True)
    (state / "runs.chain.jsonl").write_text(json.dumps({"run_id": "r1", "run_dir": str(run), "verdict": verdict,
                                                        "operator": operator, "manifest_sha256": "a" * 64}) + "\n")


def test_a_migration_closes_only_green_with_its_checklist_done(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _chain(state, tmp_path / "runs", "red")
    assert any("RED" in p.upper() for p in closure.not_ready(state))
    closure.mark(state, ["tell-users"], "jane@contoso.example", "letters handed out")
    left = " ".join(closure.not_ready(state))
    assert "calendar-repair" in left and "tell-users" not in left and "remove-app-consents" in left
    page = change_record.section(state, [json.loads((state / "runs.chain.jsonl").read_text())])
    assert "CHG1" in page and "NOT CLOSED" in page and "nobody approved yet" in page
    assert "jane@contoso.example" in page  # the checklist's mark, who did it


def test_the_glossary_links_words_in_text_but_not_in_code_or_links() -> None:
    page = "<p>the MX and its TTL</p><code>MX</code><a href='x'>UPN</a>" + glossary.section()
    linked = glossary.link_terms(page)
    assert "<a class='term' href='#g-mx'>MX</a> and its <a class='term' href='#g-ttl'>TTL</a>" in linked
    assert "<code>MX</code>" in linked and "<a href='x'>UPN</a>" in linked
    assert "id='g-quickxorhash'" in linked and "id='g-manual-item'" in linked


def test_the_closure_is_signed_by_a_second_person_and_the_index_says_so(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from tenantmove.runbook.runner import main

    from .test_approval_sandbox import approver_key

    state = tmp_path / "state"
    _chain(state, tmp_path / "runs", "green")
    pat = approver_key(tmp_path / "pat.pem", "Pat Approver", "pat@contoso.example")
    jane = approver_key(tmp_path / "jane.pem", "Jane Operator", "jane@contoso.example")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"name": "t", "domain": "contoso.example", "state_dir": str(state),
                                      "operator": "jane@contoso.example",
                                      "approval": {"mode": "signature", "certificates": f"{pat.with_suffix('.cert.pem')},"
                                                                                        f"{jane.with_suffix('.cert.pem')}"}}))
    assert main(["close", str(params), "--key", str(pat)]) == 2  # the checklist is not done yet
    assert "closing checklist not done" in capsys.readouterr().err
    assert main(["done", str(params), *sorted(closure.KEYS), "--note", "each step done"]) == 0
    assert "ready to be closed" in capsys.readouterr().out
    assert main(["close", str(params), "--key", str(jane)]) == 2  # an operator of the migration cannot close it
    assert "is the operator" in capsys.readouterr().err and closure.closed(state) is None
    assert main(["close", str(params), "--key", str(pat)]) == 0
    assert closure.closed(state)["by"] == "pat@contoso.example"
    page = (state / "migration-index.html").read_text()
    assert "CLOSED: signed by signature by pat@contoso.example" in page
    assert "Segregation of duties:</b> met" in page
    assert closure.check(state) == []
    forged = dict(closure.closed(state), by="ceo@contoso.example")
    (state / closure.CLOSURE).write_text(json.dumps(forged))
    assert any("ceo@contoso.example" in p and "forged" in p for p in closure.check(state))


def test_the_way_back_runs_only_when_named() -> None:
    from tenantmove.runbook.runner import phase_notebooks, select_phases

    every = [p.stem for p in select_phases(phase_notebooks(), None)]
    assert "25_rollback_domain" not in every and {"20_release_domain", "30_add_domain_and_users"} <= set(every)
    assert [p.stem for p in select_phases(phase_notebooks(), "25")] == ["25_rollback_domain"]
    assert [p.stem for p in select_phases(phase_notebooks(), "20,25,30")] == [
        "20_release_domain", "25_rollback_domain", "30_add_domain_and_users"]
