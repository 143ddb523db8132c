"""Ask a mail host, as a sender would, what it answers for one recipient: the check of a holding MX before the
cutover points the domain's mail at it. The dialogue stops before ``DATA``: nothing is sent."""

from __future__ import annotations

import fnmatch
import smtplib
from dataclasses import dataclass

SMTP_PORT = 25


@dataclass(frozen=True)
class Answer:
    host: str
    code: int | None  # None: no answer (not resolvable, refused, timed out)
    text: str

    @property
    def kind(self) -> str:
        """``temporary`` (4xx), ``accepts`` (2xx), ``permanent`` (5xx) or ``none``."""
        if self.code is None:
            return "none"
        return {2: "accepts", 4: "temporary", 5: "permanent"}.get(self.code // 100, "none")

    def line(self) -> str:
        return f"{self.host} answered {self.code} {self.text}" if self.code else f"{self.host} did not answer: {self.text}"


def route(host: str, known: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """Where ``host``'s SMTP service listens: a known host (the sandbox's), else the host itself on port 25."""
    for pattern, where in known.items():
        if fnmatch.fnmatch(host.lower(), pattern.lower()):
            return where
    return host, SMTP_PORT


def ask(host: str, recipient: str, known: dict[str, tuple[str, int]] | None = None, timeout: float = 15.0,
        helo: str = "tenantmove.invalid") -> Answer:
    """``EHLO``, ``MAIL FROM:<>``, ``RCPT TO:<recipient>``, ``QUIT``: the answer to ``RCPT`` (or the first refusal)."""
    address, port = route(host.rstrip("."), known or {})
    try:
        with smtplib.SMTP(address, port, timeout=timeout, local_hostname=helo) as smtp:
            code, text = smtp.mail("")
            if code < 300:
                code, text = smtp.rcpt(recipient)
            return Answer(host, code, text.decode("utf-8", "replace"))
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        return Answer(host, None, f"{type(exc).__name__}: {exc}"[:200])
