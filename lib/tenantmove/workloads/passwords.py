"""New users' temporary passwords: appended to an owner-only vault file, each password encrypted with a key the
admin holds (Fernet: AES-128-CBC with an HMAC-SHA256, from ``cryptography``), never shown.

The key comes from the environment variable the ``vault_key_env`` parameter names, never from a parameter or a
file in the state folder, so a copy of the state folder (a backup, a dossier handed on) holds no password a reader
can use. ``python -m tenantmove vault-key`` makes a key; ``python -m tenantmove passwords PARAMS --out FILE``
writes the passwords out for the admin who hands them to the people.

A password is written *before* the user is created with it, so a run killed between the two leaves nothing
lost: the rerun finds the password in the vault (any run's file in the same folder) and uses it again, whether
it creates the user then or adopts the one the killed run created."""

from __future__ import annotations

import csv
import os
import secrets
import string
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..errors import TenantmoveError
from ..redact import register_secret

HEADER = ("userPrincipalName", "encryptedPassword")
KEY_ENV_DEFAULT = "TENANTMOVE_VAULT_KEY"


class VaultKeyError(TenantmoveError):
    """The vault's key is missing, malformed, or not the one the vault was written with."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def key_from_env(env: str) -> Fernet:
    """The vault's key from the environment variable ``env``; a clear error when it is unset or malformed."""
    value = os.environ.get(env, "").strip()
    if not value:
        raise VaultKeyError(f"the environment variable {env} holding the temporary-password vault's key is not set",
                            where="vault_key_env",
                            hint=f"make a key once with `python -m tenantmove vault-key`, keep it where you keep the "
                                 f"app's secrets, and export {env}=<key> before running (the same key every run)")
    try:
        fernet = Fernet(value.encode())
    except ValueError as exc:
        raise VaultKeyError(f"the environment variable {env} does not hold a vault key (32 url-safe base64 bytes)",
                            where="vault_key_env",
                            hint="give the key `python -m tenantmove vault-key` printed, unchanged") from exc
    register_secret(value)  # never in a log or a notebook output either
    return fernet


def read_vault(folder: Path, fernet: Fernet) -> dict[str, str]:
    """Every password the vault folder holds, by UPN (lower case); the last one written wins."""
    known: dict[str, str] = {}
    if not folder.is_dir():
        return known
    for path in sorted(folder.glob("*.csv"), key=lambda p: p.stat().st_mtime):
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                upn, token = row.get(HEADER[0]), row.get(HEADER[1])
                if not upn or not token:
                    continue
                try:
                    known[upn.lower()] = fernet.decrypt(token.encode()).decode()
                except InvalidToken as exc:
                    raise VaultKeyError(f"the vault key does not open {path.name} (row of {upn})", where=str(path),
                                        hint="set the key this migration's vault was written with; a lost key "
                                             "means new temporary passwords (reset them in the Entra admin "
                                             "centre)") from exc
    return known


class PasswordVault:
    """``key``: the Fernet key, or how to get it when the first password is needed (a dry run needs none)."""

    def __init__(self, path: Path, key: Fernet | Callable[[], Fernet]) -> None:
        self.path = Path(path)
        self._key = key
        self.count = 0
        self._lock = threading.Lock()

    @property
    def fernet(self) -> Fernet:
        if not isinstance(self._key, Fernet):
            self._key = self._key()
        return self._key

    def new_password(self) -> str:
        alphabet = string.ascii_letters + string.digits
        core = "".join(secrets.choice(alphabet) for _ in range(14))
        return core + secrets.choice("!#%+-=?") + secrets.choice(string.digits) + secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ")

    def password_for(self, upn: str) -> str:
        """The temporary password for ``upn``: the one already in the vault, or a new one written to it
        now (before the caller creates the user with it)."""
        with self._lock:
            existing = read_vault(self.path.parent, self.fernet).get(upn.lower())
        if existing:
            register_secret(existing)
            return existing
        password = self.new_password()
        self.add(upn, password)
        return password

    def add(self, upn: str, password: str) -> None:
        register_secret(password)
        token = self.fernet.encrypt(password.encode()).decode()
        with self._lock:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.chmod(self.path, 0o600)
            with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
                if fh.tell() == 0:
                    fh.write(",".join(HEADER) + "\n")
                csv.writer(fh).writerow([upn, token])
            self.count += 1


def export(folder: Path, fernet: Fernet, out: Path) -> int:
    """The passwords in clear, for the admin who hands them out: an owner-only CSV at ``out`` (never over an
    existing file). Returns how many."""
    known = read_vault(folder, fernet)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["userPrincipalName", "temporaryPassword"])
        writer.writerows(sorted(known.items()))
    return len(known)
