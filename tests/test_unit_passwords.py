"""The password vault: owner-only, encrypted with the admin's key, written before the user exists, and reused by
a later run."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tenantmove.redact import redact
from tenantmove.runbook.runner import main
from tenantmove.workloads.passwords import PasswordVault, VaultKeyError, key_from_env, new_key, read_vault


def test_a_password_is_vaulted_encrypted_before_use_and_reused_by_the_next_run(tmp_path: Path) -> None:
    key = Fernet(new_key().encode())
    first = PasswordVault(tmp_path / "run1.csv", key)
    password = first.password_for("Megan@contoso.example")
    assert stat.S_IMODE((tmp_path / "run1.csv").stat().st_mode) == 0o600
    on_disk = (tmp_path / "run1.csv").read_text()
    assert "megan@contoso.example" in on_disk.lower() and password not in on_disk  # there, but not readable
    assert read_vault(tmp_path, key) == {"megan@contoso.example": password}  # on disk before the user exists
    assert redact(f"x {password} y") != f"x {password} y"  # and registered for redaction
    # the run was killed; the next run (its own file) gets the same password, and writes nothing new
    second = PasswordVault(tmp_path / "run2.csv", key)
    assert second.password_for("megan@contoso.example") == password and second.count == 0
    assert second.password_for("adele@contoso.example") != password and second.count == 1
    # another key opens nothing, and says which file
    with pytest.raises(VaultKeyError, match="does not open run1.csv"):
        read_vault(tmp_path, Fernet(new_key().encode()))


def test_the_key_comes_from_the_named_variable_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TM_TEST_VAULT", raising=False)
    with pytest.raises(VaultKeyError, match="TM_TEST_VAULT .* is not set") as unset:
        key_from_env("TM_TEST_VAULT")
    assert "vault-key" in unset.value.hint
    monkeypatch.setenv("TM_TEST_VAULT", "not-a-key")
    with pytest.raises(VaultKeyError, match="does not hold a vault key"):
        key_from_env("TM_TEST_VAULT")
    # a dry run never asks for it: the key is looked up when the first password is needed, not before
    monkeypatch.delenv("TM_TEST_VAULT")
    vault = PasswordVault(Path("unused.csv"), lambda: key_from_env("TM_TEST_VAULT"))
    with pytest.raises(VaultKeyError, match="is not set"):
        vault.password_for("a@contoso.example")
    key = new_key()
    monkeypatch.setenv("TM_TEST_VAULT", key)
    key_from_env("TM_TEST_VAULT")
    assert key not in redact(f"key {key}")  # a key read is never shown


def test_the_admin_exports_the_passwords_to_an_owner_only_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = new_key()
    monkeypatch.setenv("TM_TEST_VAULT", key)
    state = tmp_path / "state"
    password = PasswordVault(state / "passwords" / "r1.csv", Fernet(key.encode())).password_for("a@contoso.example")
    params = tmp_path / "p.yaml"
    params.write_text(f"name: t\nstate_dir: {state}\nvault_key_env: TM_TEST_VAULT\n")
    out = tmp_path / "handout.csv"
    assert main(["passwords", str(params), "--out", str(out)]) == 0
    assert password in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert password not in capsys.readouterr().out
    assert main(["passwords", str(params), "--out", str(out)]) == 2  # never over an existing file
    assert "exists already" in capsys.readouterr().err
