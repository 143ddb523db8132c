"""Honest labels (no network): a run against the sandbox says at the top of its index, of each notebook's header
and of the migration's index that it is a rehearsal; a run against Microsoft 365 does not."""

from __future__ import annotations

from pathlib import Path

from tenantmove.runbook import audit, chain


def _record(cloud: str) -> dict:
    return {"run_id": f"r-{cloud}", "name": "acme", "status": "completed", "parameters": {"cloud": cloud},
            "phases": []}


def test_a_sandbox_run_is_labelled_a_rehearsal_everywhere_and_a_real_one_is_not(tmp_path: Path) -> None:
    rehearsal, real = tmp_path / "rehearsal", tmp_path / "real"
    for folder in (rehearsal, real):
        folder.mkdir()
    assert "REHEARSAL against the embedded sandbox" in audit.write_index(rehearsal, _record("sandbox")).read_text()
    assert "REHEARSAL" not in audit.write_index(real, _record("global")).read_text()
    state = tmp_path / "state"
    chain.append(state, _record("sandbox"), rehearsal, "a" * 64)
    only_rehearsals = (state / chain.INDEX).read_text()
    assert "Every run here is a REHEARSAL" in only_rehearsals and "rehearsal (sandbox)" in only_rehearsals
    chain.append(state, _record("global"), real, "b" * 64)
    mixed = (state / chain.INDEX).read_text()
    assert "Every run here is a REHEARSAL" not in mixed and "<td>global</td>" in mixed
    assert not chain.check(state, "r-global", "b" * 64)[0]  # the chain still holds with the new field
