"""The password vault: owner-only, written before the user exists, and reused by a later run."""

from __future__ import annotations

import stat
from pathlib import Path

from tenantmove.redact import redact
from tenantmove.workloads.passwords import PasswordVault


def test_a_password_is_vaulted_before_use_and_reused_by_the_next_run(tmp_path: Path) -> None:
    first = PasswordVault(tmp_path / "run1.csv")
    password = first.password_for("Megan@contoso.example")
    assert stat.S_IMODE((tmp_path / "run1.csv").stat().st_mode) == 0o600
    assert password in (tmp_path / "run1.csv").read_text()  # on disk before anyone creates the user
    assert redact(f"x {password} y") != f"x {password} y"  # and registered for redaction
    # the run was killed; the next run (its own file) gets the same password, and writes nothing new
    second = PasswordVault(tmp_path / "run2.csv")
    assert second.password_for("megan@contoso.example") == password and second.count == 0
    assert second.password_for("adele@contoso.example") != password and second.count == 1
