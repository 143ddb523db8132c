"""New users' temporary passwords: appended to a CSV readable only by its owner, never shown.

A password is written *before* the user is created with it, so a run killed between the two leaves
nothing lost: the rerun finds the password in the vault (any run's file in the same folder) and uses
it again, whether it creates the user then or adopts the one the killed run created."""

from __future__ import annotations

import csv
import os
import secrets
import string
import threading
from pathlib import Path

from ..redact import register_secret


class PasswordVault:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._lock = threading.Lock()

    def new_password(self) -> str:
        alphabet = string.ascii_letters + string.digits
        core = "".join(secrets.choice(alphabet) for _ in range(14))
        return core + secrets.choice("!#%+-=?") + secrets.choice(string.digits) + secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ")

    def _known(self) -> dict[str, str]:
        """Every password the vault folder holds, by UPN (lower case); the last one wins."""
        known: dict[str, str] = {}
        for path in sorted(self.path.parent.glob("*.csv"), key=lambda p: p.stat().st_mtime):
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    if row.get("userPrincipalName") and row.get("temporaryPassword"):
                        known[row["userPrincipalName"].lower()] = row["temporaryPassword"]
        return known

    def password_for(self, upn: str) -> str:
        """The temporary password for ``upn``: the one already in the vault, or a new one written to it
        now (before the caller creates the user with it)."""
        with self._lock:
            existing = self._known().get(upn.lower()) if self.path.parent.is_dir() else None
        if existing:
            register_secret(existing)
            return existing
        password = self.new_password()
        self.add(upn, password)
        return password

    def add(self, upn: str, password: str) -> None:
        register_secret(password)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.chmod(self.path, 0o600)
            with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
                if fh.tell() == 0:
                    fh.write("userPrincipalName,temporaryPassword\n")
                csv.writer(fh).writerow([upn, password])
            self.count += 1
