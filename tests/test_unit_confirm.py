"""Confirmation gates: the parameter and the widget take the same path; a wrong text changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantmove.errors import ConfirmationMissing
from tenantmove.runbook.confirm import SESSION, ConfirmGate


@pytest.fixture(autouse=True)
def fresh_session() -> None:
    SESSION.clear()  # the kernel's memory of confirmations, per test


def gate(given: str, interactive: bool, tmp_path: Path) -> ConfirmGate:
    return ConfirmGate("delete contoso.example from the old tenant", "contoso.example", given=given,
                       interactive=interactive, operator="alice", run_id="r1", phase="20", record_dir=tmp_path)


def test_parameter_confirms_and_is_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = gate(" Contoso.Example ", False, tmp_path).require()
    assert conf.by == "alice" and conf.via == "parameter confirm"
    out = capsys.readouterr().out
    assert "CONFIRMED by alice" in out and "given in the parameter file" in out and "typed" not in out
    saved = json.loads((tmp_path / "confirmations.jsonl").read_text())
    assert saved["action"].startswith("delete") and saved["run_id"] == "r1"


@pytest.mark.parametrize("given,interactive", [("", False), ("contoso.com", False), ("", True)])
def test_missing_or_wrong_text_stops_with_the_way_to_confirm(tmp_path: Path, given: str, interactive: bool) -> None:
    with pytest.raises(ConfirmationMissing) as info:
        gate(given, interactive, tmp_path).require()
    assert "nothing was changed" in info.value.message
    assert ("type it in its box and press Enter" if interactive else "confirm: contoso.example") in info.value.hint
    records = tmp_path / "confirmations.jsonl"
    if given:  # a wrong text is recorded as a refusal; nothing at all is recorded as nothing
        refusal = json.loads(records.read_text())
        assert refusal["refused"] is True and refusal["typed"] == given and refusal["by"] == "alice"
    else:
        assert not records.exists()


def test_the_box_takes_enter_or_the_button_and_records_refusals(tmp_path: Path) -> None:
    g = gate("", True, tmp_path)
    g._box()  # in JupyterLab, show() draws it and the cell's gate.wait() stops "Run All" there
    box, button, _cancel = g._widget.children[0].children
    box.value = "wrong"  # Enter sends the value
    assert not g.confirmed and "not 'contoso.example'" in g._widget.children[1].value
    button.click()  # the same wrong text clicked as well: still one refusal
    box.value = "contoso.example"
    assert g.confirmed and g.require().via == "widget"
    assert SESSION[g._key()] is g.confirmation  # "Run All" again finds it instead of an empty box
    assert "now run the next cell, or Run All again" in g._widget.children[1].value
    button.click()  # nothing more happens once confirmed
    lines = [json.loads(line) for line in (tmp_path / "confirmations.jsonl").read_text().splitlines()]
    assert [(e["typed"], e.get("refused", False)) for e in lines] == [("wrong", True), ("contoso.example", False)]


def test_cancel_stops_and_nothing_is_confirmed(tmp_path: Path) -> None:
    g = gate("", True, tmp_path)
    g._box()
    g._widget.children[0].children[2].click()
    assert g.cancelled and not g.confirmed and g._key() not in SESSION
    assert json.loads((tmp_path / "confirmations.jsonl").read_text())["via"] == "widget (cancelled)"
    g._widget.children[0].children[0].value = "contoso.example"  # too late: the box is closed
    assert not g.confirmed


def test_a_dry_run_shows_no_box_and_lets_nothing_through(tmp_path: Path) -> None:
    dry = ConfirmGate("delete contoso.example", "contoso.example", given="contoso.example", interactive=True,
                      operator="alice", run_id="r1", phase="20", record_dir=tmp_path, dry_run=True)
    dry.show()
    assert dry._widget is None  # nothing to confirm in a dry run, so no box
    with pytest.raises(ConfirmationMissing) as info:
        dry.require()
    assert "dry run" in info.value.message and "dry_run: false" in info.value.hint
    assert not (tmp_path / "confirmations.jsonl").exists()


def test_a_confirmation_is_recorded_once_however_often_it_is_required(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    twice = gate("contoso.example", False, tmp_path)
    assert twice.require() is twice.require()
    assert capsys.readouterr().out.count("CONFIRMED") == 1
    assert len((tmp_path / "confirmations.jsonl").read_text().splitlines()) == 1


def test_the_box_stops_run_all_as_a_step_and_the_next_cell_applies(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The confirmation cell binds ``gate`` and then waits: "Run All" stops with a message and HINT (no class name,
    no traceback); after the box is confirmed, the next cell's ``gate.require()`` applies, and a gate made anew
    ("Run All" again) finds the confirmation of this session."""
    from tenantmove.runbook import display
    from tenantmove.runbook.confirm import ConfirmationPending

    monkeypatch.setattr(display, "in_kernel", lambda: True)
    g = gate("", True, tmp_path)
    g.show()  # draws the box, stops nothing yet: the cell has bound ``gate`` by now
    with pytest.raises(ConfirmationPending) as info:
        g.wait()
    shown = display.error_lines(type(info.value), info.value)
    assert shown[0].startswith("STOP: ") and "ConfirmationPending" not in " ".join(shown)
    assert info.value._render_traceback_() == shown and any(line.startswith("HINT: ") for line in shown)
    g._widget.children[0].children[0].value = "contoso.example"  # the admin confirms in the box
    assert g.require().via == "widget"  # the next cell
    again = gate("", True, tmp_path)
    again.show()
    again.wait()  # Run All again: remembered, no new box, no stop
    assert again.confirmed and again._widget is None
