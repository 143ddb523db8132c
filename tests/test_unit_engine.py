"""The engine, with small fake workloads: adoption after a crash between create and record, a changed
source item planned again, one failed item failing the run, the per-scope limit held under load,
a dry run touching nothing, manual steps and delta links."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import (
    Applied,
    DeltaLinks,
    Engine,
    ItemsFailed,
    Ledger,
    ManualStep,
    Work,
    Workload,
)
from tenantmove.errors import ConfirmationMissing, TenantmoveError


class Target:
    """A stand-in for a tenant: objects by natural key, and a count of every write."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.lock = threading.Lock()

    def create(self, key: str, version: str | None) -> str:
        with self.lock:
            self.writes += 1
            self.objects[key] = {"id": f"t-{key}", "version": version}
            return f"t-{key}"


class Things(Workload):
    kind = "thing"
    title = "things"

    def __init__(self, target: Target, source: dict[str, str | None], fail: set[str] | None = None,
                 delay: float = 0.0, scope_of: Any = None, scope_limit: int = 0) -> None:
        self.target, self.source, self.fail, self.delay = target, source, fail or set(), delay
        self.scope_of = scope_of or (lambda key: "")
        self.scope_limit = scope_limit
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.lock = threading.Lock()

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for key, version in self.source.items():
            yield Work(key, f"thing {key}", version=version, scope=self.scope_of(key))

    def find(self, work: Work) -> dict[str, Any] | None:
        return self.target.objects.get(work.key)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        with self.lock:
            self.active[work.scope] = self.active.get(work.scope, 0) + 1
            self.peak[work.scope] = max(self.peak.get(work.scope, 0), self.active[work.scope])
        try:
            time.sleep(self.delay)
            if work.key in self.fail:
                raise TenantmoveError(f"the service refused {work.key}", hint="try again")
            if existing is not None and existing["version"] == work.version:
                return Applied(existing["id"], "adopted")
            action = "updated" if existing is not None else "created"
            return Applied(self.target.create(work.key, work.version), action)
        finally:
            with self.lock:
                self.active[work.scope] -= 1


class Confirmed:
    def __init__(self) -> None:
        self.asked = 0

    def require(self) -> None:
        self.asked += 1


@pytest.fixture
def ledger(tmp_path: Path) -> Iterable[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite", run_id="r1") as led:
        yield led


def test_a_crash_between_create_and_record_adopts_instead_of_duplicating(ledger: Ledger,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    target = Target()
    source = {k: "v1" for k in "abc"}
    target.create("b", "v1")  # a killed run created b and died before the ledger heard of it
    writes_before = target.writes
    outcome = Engine(ledger, "30").run(Things(target, source), dry_run=False)
    assert outcome.counts() == {"created": 2, "adopted": 1}
    assert target.writes - writes_before == 2 and len(target.objects) == 3
    assert ledger.get("thing", "b").target_id == "t-b" and ledger.get("thing", "b").state == "done"
    again = Engine(ledger, "30").run(Things(target, source), dry_run=False)
    assert again.counts() == {"done before": 3} and again.changed == 0 and target.writes - writes_before == 2
    assert capsys.readouterr() == ("", "")  # the library is quiet; an outcome shows itself only when displayed
    assert "<table" in again._repr_html_() and "done before" in str(again)


def test_a_changed_source_item_is_planned_and_copied_again(ledger: Ledger) -> None:
    target = Target()
    Engine(ledger, "60").run(Things(target, {"a": "v1", "b": "v1"}), dry_run=False)
    outcome = Engine(ledger, "60").run(Things(target, {"a": "v2", "b": "v1"}), dry_run=False)
    assert outcome.plan.changed == 1 and outcome.counts() == {"updated": 1, "done before": 1}
    assert target.objects["a"]["version"] == "v2" and ledger.get("thing", "a").version == "v2"


def test_one_failed_item_fails_the_run_after_every_item_had_its_turn(ledger: Ledger) -> None:
    target = Target()
    with pytest.raises(ItemsFailed) as failed:
        Engine(ledger, "30", workers=3).run(Things(target, {k: "v1" for k in "abcdef"}, fail={"d"}), dry_run=False)
    outcome = failed.value.outcome
    assert outcome.counts() == {"created": 5, "failed": 1} and len(target.objects) == 5
    assert "the service refused d" in failed.value.message
    assert "rerun 30" in failed.value.hint and failed.value.report is not None
    assert ledger.get("thing", "d").state == "failed" and "refused d" in ledger.get("thing", "d").error
    retry = Engine(ledger, "30").run(Things(target, {k: "v1" for k in "abcdef"}), dry_run=False)
    assert retry.counts() == {"done before": 5, "created": 1}
    assert ledger.get("thing", "d").attempts == 2


def test_an_unexpected_exception_is_an_item_failure_too(ledger: Ledger) -> None:
    class Broken(Things):
        def apply(self, work: Work, existing: Any) -> Applied:
            raise KeyError("no such column")

    with pytest.raises(ItemsFailed) as failed:
        Engine(ledger, "30").run(Broken(Target(), {"a": None}), dry_run=False)
    assert "KeyError" in failed.value.outcome.failed[0]["error"]


def test_the_per_scope_limit_holds_under_load(ledger: Ledger) -> None:
    target = Target()
    source = {f"{m}-{i}": "v1" for m in ("mbx1", "mbx2", "mbx3") for i in range(12)}
    things = Things(target, source, delay=0.01, scope_of=lambda key: key.split("-")[0], scope_limit=4)
    outcome = Engine(ledger, "60", workers=12).run(things, dry_run=False)
    assert outcome.count("created") == 36
    assert max(things.peak.values()) == 4, things.peak  # reached, never exceeded
    assert set(things.peak) == {"mbx1", "mbx2", "mbx3"}


def test_a_dry_run_touches_nothing(ledger: Ledger, tmp_path: Path) -> None:
    target = Target()
    target.create("b", "v1")
    writes = target.writes
    outcome = Engine(ledger, "30", folder=tmp_path / "30").run(Things(target, {k: "v1" for k in "abc"}), dry_run=True)
    assert outcome.dry_run and outcome.counts() == {"to do": 3}
    assert target.writes == writes and ledger.items() == [] and not (tmp_path / "30").exists()


def test_destructive_work_needs_the_gate(ledger: Ledger) -> None:
    class Dangerous(Things):
        destructive = True

    with pytest.raises(TenantmoveError):
        Engine(ledger, "20").run(Dangerous(Target(), {"a": None}), dry_run=False)
    gate = Confirmed()
    Engine(ledger, "20").run(Dangerous(Target(), {"a": None}), dry_run=False, gate=gate)
    assert gate.asked == 1

    class Refusing:
        def require(self) -> None:
            raise ConfirmationMissing("not confirmed")

    target = Target()
    with pytest.raises(ConfirmationMissing):
        Engine(ledger, "20").run(Dangerous(target, {"z": None}), dry_run=False, gate=Refusing())
    assert target.writes == 0 and ledger.get("thing", "z") is None


def test_manual_steps_are_written_to_a_script_and_checked_again(ledger: Ledger, tmp_path: Path) -> None:
    done_by_admin: set[str] = set()

    class Lists(Workload):
        kind, title = "list", "lists"
        manual_shell = "Exchange Online PowerShell"
        manual_preamble = ("Connect-ExchangeOnline",)

        def list(self, deltas: DeltaLinks) -> Iterable[Work]:
            yield from (Work(k, k) for k in ("sales", "staff"))

        def find(self, work: Work) -> bool:
            return work.key in done_by_admin

        def apply(self, work: Work, existing: bool) -> Applied | ManualStep:
            if existing:
                return Applied(work.key, "created by the admin")
            return ManualStep(work.key, f"create {work.key}", [f"New-DistributionGroup -Name '{work.key}'"])

    engine = Engine(ledger, "30", folder=tmp_path / "30")
    first = engine.run(Lists(), dry_run=False)
    assert first.counts() == {"manual": 2} and not first.failed
    script = first.script.read_text()
    assert "Connect-ExchangeOnline" in script and "New-DistributionGroup -Name 'staff'" in script
    done_by_admin.add("sales")
    second = engine.run(Lists(), dry_run=False)
    assert second.counts() == {"created by the admin": 1, "manual": 1}
    assert "'sales'" not in second.script.read_text() and "'staff'" in second.script.read_text()
    assert ledger.get("list", "sales").state == "done" and ledger.get("list", "staff").state == "manual"


def test_delta_links_are_kept_only_when_the_pass_succeeds(ledger: Ledger) -> None:
    class Delta(Things):
        def list(self, deltas: DeltaLinks) -> Iterable[Work]:
            deltas.stage("mbx1", f"after {deltas.get('mbx1')}")
            yield from super().list(deltas)

    with pytest.raises(ItemsFailed):
        Engine(ledger, "60").run(Delta(Target(), {"a": None}, fail={"a"}), dry_run=False)
    assert ledger.delta_link("thing", "mbx1") is None
    Engine(ledger, "60").run(Delta(Target(), {"a": None}), dry_run=False)
    assert ledger.delta_link("thing", "mbx1") == "after None"
    Engine(ledger, "60").run(Delta(Target(), {"a": None}), dry_run=True)
    assert ledger.delta_link("thing", "mbx1") == "after None"  # a dry run keeps nothing


def test_a_workload_listing_a_key_twice_is_refused(ledger: Ledger) -> None:
    class Twice(Things):
        def list(self, deltas: DeltaLinks) -> Iterable[Work]:
            yield from (Work("a"), Work("a"))

    with pytest.raises(TenantmoveError, match="same key twice"):
        Engine(ledger, "30").run(Twice(Target(), {}), dry_run=False)


def test_a_second_pass_of_one_kind_adds_its_manual_steps_to_the_script(tmp_path: Path) -> None:
    """List items run once per lookup level: the second level's steps join the first's in the one script of the
    phase and kind; nothing the admin was asked to do is overwritten."""
    from tenantmove.engine.manual import write_script

    path = tmp_path / "manual-list-item.ps1"
    write_script(path, "SharePoint Online Management Shell", ("Connect-SPOService -Url x",),
                 [ManualStep("people", "level 0", ["Add-SPOUser -LoginName 'megan'"])], "50_team_sites", "r1")
    write_script(path, "SharePoint Online Management Shell", ("Connect-SPOService -Url x",),
                 [ManualStep("people", "level 1", ["Add-SPOUser -LoginName 'alex'"])], "50_team_sites", "r1",
                 append=True)
    text = path.read_text()
    assert "Add-SPOUser -LoginName 'megan'" in text and "Add-SPOUser -LoginName 'alex'" in text
    assert text.count("Connect-SPOService -Url x") == 1 and "more steps of 50_team_sites" in text


def _actions_in_the_code() -> dict[str, str]:
    """Every action text the library hands to ``Applied`` (literal, or either side of a conditional)."""
    import ast

    from tenantmove.paths import project_root

    found: dict[str, str] = {}

    def texts(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.IfExp):
            return texts(node.body) + texts(node.orelse)
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            return [str(node.values[0].value)]  # the f-string's fixed start
        return []

    for source in (project_root() / "lib" / "tenantmove").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Applied":
                arg = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "action"), None)
                for text in texts(arg) if arg is not None else []:
                    found[text] = f"{source.name}:{node.lineno}"
    return found


def test_every_action_in_the_code_counts_in_the_common_vocabulary() -> None:
    from tenantmove.engine.outcome import PLANNED_ACTIONS, VOCABULARY, counted_as

    actions = _actions_in_the_code()
    assert len(actions) > 20  # the scan found the workloads' actions
    unknown = {a: where for a, where in actions.items() if counted_as(a.strip()) not in VOCABULARY}
    assert not unknown, unknown
    assert {counted_as(a) for a in PLANNED_ACTIONS.values()} <= set(VOCABULARY)
    assert counted_as("created report-only") == "created" and counted_as("created by the admin") == "adopted"
    assert counted_as("done by the admin, read back") == "adopted" and counted_as("something new") == "something new"


def test_an_outcome_counts_in_the_vocabulary_and_its_table_keeps_the_items_words() -> None:
    from tenantmove.engine.outcome import Outcome

    rows = [{"key": str(i), "name": str(i), "action": a, "target_id": None, "error": None}
            for i, a in enumerate(["imported", "imported", "copied", "done before", "renamed", "manual"])]
    out = Outcome("k", "things", dry_run=False, rows=rows)
    assert out.tally() == {"created": 3, "updated": 1, "done before": 1, "manual": 1}
    assert out.summary() == {"things created": 3, "things updated": 1, "things done before": 1, "things manual": 1}
    counts = out.report().sections[0].body
    assert list(counts["count"]) == ["created", "updated", "done before", "manual"]
    assert counts.iloc[0]["as the items say"] == "copied: 1, imported: 2"
