"""Keep secrets out of logs and outputs.

Two layers: patterns that look like credentials (bearer tokens, JWTs, ``client_secret=...``,
``"access_token": ...``) and the exact values of secrets this process has read (registered by
:mod:`tenantmove.auth` when it loads a secret), so even an unusual secret is masked.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"

_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*['\"]?)(bearer|basic)\s+[^\s'\",]+"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"),
    # key=value (forms, URLs) and "key": "value" (JSON); a bare "key: prose" is left readable
    re.compile(
        r"(?i)((?:[\"'](?:client_secret|client_assertion|access_token|refresh_token|id_token|password|device_code)"
        r"[\"']\s*:\s*[\"']?)|(?:\b(?:client_secret|client_assertion|access_token|refresh_token|id_token|password|"
        r"device_code)=))[^\s\"'&,}]+"
    ),
]

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember an exact secret value so that it is masked wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with credentials and registered secrets replaced by ``***``."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


_installed = False


def install_log_redaction() -> None:
    """Attach the redacting filter to the handlers of the root logger and to the loggers
    that may carry credentials (tenantmove, msal, urllib3)."""
    global _installed
    if _installed:
        return
    flt = RedactingFilter()
    for name in ("tenantmove", "msal", "urllib3", "requests", "papermill"):
        logging.getLogger(name).addFilter(flt)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
    _installed = True
