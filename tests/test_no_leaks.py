"""Nothing leaks: a whole unattended run (00 -> 90, users created, DNS changed, people signed in) and a rerun, made by this
test alone, leave no canary secret and nothing shaped like a token in the run folders, the state folder
(temporary passwords are there by design, in their owner-only file: a password is checked instead to be
nowhere else), the sandbox's log, or what the runner printed. It gathers its own evidence, so it passes
alone and in any order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenantmove.sandbox import Sandbox

from .conftest import CANARY_SOURCE, CANARY_TARGET, grep_tree, vault_passwords
from .runner_helpers import people_signing_in, tenantmove, write_params

pytestmark = pytest.mark.notebook
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")


def test_no_canary_token_or_password_in_anything_a_run_writes(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, fresh_sandbox, prestage_users=False)
    with people_signing_in(fresh_sandbox):  # phase 80's people (delegated tokens: none of them may leak either)
        first = tenantmove("run", str(params), "--runs-dir", str(runs), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    again = tenantmove("run", str(params), "--phases", "30", "--runs-dir", str(runs), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    vaults = list((tmp_path / "state" / "passwords").glob("*.csv")) + list((tmp_path / "state" / "passes").glob("*.csv"))
    passwords = list(vault_passwords(tmp_path / "state" / "passwords").values())
    assert len(passwords) == 22  # evidence that users were really created with temporary passwords
    passes = list(vault_passwords(tmp_path / "state" / "passes").values())
    assert len(passes) == 23  # and given one-time sign-in passes (phase 40): in the vault, and nowhere else
    passwords += passes
    letters = list(runs.rglob("letters/*.html"))
    assert len(letters) >= 23 and all(pw.encode() not in p.read_bytes() for p in letters for pw in passwords)

    written = [p for p in (runs, tmp_path / "state", fresh_sandbox.state_dir) for p in p.rglob("*") if p.is_file()]
    assert sum(1 for p in written if p.name == "run.json") == 2 and any(p.name == "sandbox.log" for p in written)
    assert len([p for p in written if p.suffix == ".ipynb"]) == 12  # 00, 10, 20, 30, 40-90 (with 65), and 30 again
    for folder in (runs, tmp_path / "state", fresh_sandbox.state_dir):
        assert not grep_tree(folder, [CANARY_SOURCE, CANARY_TARGET])
    assert not [p for p in written if JWT.search(p.read_bytes())]
    elsewhere = [p for p in written if p not in vaults]
    assert not [p for p in elsewhere if any(pw.encode() in p.read_bytes() for pw in passwords)]
    printed = first.stdout + first.stderr + again.stdout + again.stderr
    assert CANARY_SOURCE not in printed and CANARY_TARGET not in printed and not JWT.search(printed.encode())
    assert not [pw for pw in passwords if pw in printed]
