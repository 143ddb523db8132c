"""New users' temporary passwords: appended to a CSV readable only by its owner, never shown."""

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
