"""Exchange Online Protection's receiving side, on loopback: an SMTP server (RFC 5321) that takes mail for the
domains verified in a tenant and delivers it into the recipient's mailbox there, so that a sender outside sees
what the cutover does to mail.

- ``RCPT TO`` a domain verified in a tenant, for a person with a mailbox (by their sign-in name, mail or proxy
  address): 250; for someone else there: ``550 5.4.1 Recipient address rejected: Access denied`` (EOP's
  directory-based edge blocking);
- a domain no tenant holds: what EOP answers could not be settled from Microsoft's documentation, so the knob
  ``eop_unknown_domain`` chooses: ``reject`` (``550 5.4.1 Relay Access Denied``, the default: the sender bounces
  the mail at once) or ``defer`` (``451 4.4.4``: the sender tries again later);
- ``DATA`` is delivered into each accepted recipient's Inbox, the subject taken from the headers.

It speaks just enough SMTP for a sender that follows RFC 5321: ``EHLO``/``HELO``, ``MAIL``, ``RCPT``, ``DATA``,
``RSET``, ``NOOP``, ``QUIT``."""

from __future__ import annotations

import email
import email.policy
import email.utils
import socketserver
import threading
from collections.abc import Callable
from typing import Any, Protocol

from .state import Store, Tenant

BANNER = "220 sandbox.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready"
UNKNOWN_DOMAIN = {"reject": "550 5.4.1 Relay Access Denied [sandbox.prod.protection.outlook.com]",
                  "defer": "451 4.4.4 Temporary server error: no route for this domain, try again later"}


class SmtpHost:
    """A mail host of the sandbox on loopback: what it answers is the subclass's (:class:`Receiver`)."""

    server: socketserver.ThreadingTCPServer | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self.server = listen(self, host, port)  # type: ignore[arg-type]
        return self.server.server_address[0], self.server.server_address[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class Eop(SmtpHost):
    """Who may receive what, and the delivery; the SMTP dialogue is :class:`_Session`'s."""

    banner = BANNER

    def __init__(self, store: Store, governor: Any, deliver: Callable[[Tenant, dict[str, Any], str, str, str], bool],
                 count: Callable[[str], None]) -> None:
        """``deliver(tenant, user, subject, text, sender)``: into the user's Inbox (False: no mailbox)."""
        self.store, self.governor, self.deliver, self.count = store, governor, deliver, count

    def recipient(self, address: str) -> tuple[str, Any]:
        """The SMTP answer to ``RCPT TO:<address>``, and whom it reaches when accepted."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if not local or not domain:
            return "501 5.1.3 Invalid address", None
        with self.store.lock:
            tenant = next((t for t in self.store.tenants.values()
                           if (t.domains.get(domain.lower()) or {}).get("isVerified")), None)
            if tenant is None:
                self.count("eop refused: domain in no tenant")
                return UNKNOWN_DOMAIN[str(getattr(self.governor.knobs, "eop_unknown_domain", "reject"))], None
            wanted = address.strip().strip("<>").lower()
            user = next((u for u in tenant.users.values() if wanted in _addresses(u)), None)
        if user is None:
            self.count("eop refused: no such recipient")
            return "550 5.4.1 Recipient address rejected: Access denied", None
        return "250 2.1.5 Recipient OK", (tenant, user)

    def accept(self, reached: list[Any], data: str) -> str:
        message = email.message_from_string(data, policy=email.policy.default)
        subject = str(message.get("Subject") or "(no subject)")
        body = message.get_body(("plain", "html"))
        text = body.get_content() if body is not None else ""
        sender = email.utils.parseaddr(str(message.get("From") or ""))[1]
        with self.store.lock:
            delivered = sum(1 for tenant, user in reached if self.deliver(tenant, user, subject, text, sender))
        if not delivered:
            return "550 5.4.1 Recipient address rejected: no mailbox"
        self.count("eop delivered")
        return "250 2.6.0 Queued mail for delivery"



class Receiver(Protocol):
    """What an SMTP server of the sandbox decides; :class:`_Session` speaks the protocol for it."""

    banner: str

    def recipient(self, address: str) -> tuple[str, Any]: ...

    def accept(self, reached: list[Any], data: str) -> str: ...


def listen(owner: Receiver, host: str = "127.0.0.1", port: int = 0) -> socketserver.ThreadingTCPServer:
    """An SMTP server on loopback for ``owner``, serving in a thread of its own."""

    class Handler(_Session):
        pass

    Handler.owner = owner
    server = socketserver.ThreadingTCPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


def _addresses(user: dict[str, Any]) -> set[str]:
    found = {str(user.get("userPrincipalName") or "").lower(), str(user.get("mail") or "").lower()}
    found |= {str(p).split(":", 1)[-1].lower() for p in user.get("proxyAddresses") or []}
    return found - {""}


class _Session(socketserver.StreamRequestHandler):
    owner: Receiver
    timeout = 30

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say(self.owner.banner)
        sender, reached = "", []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 sandbox.mail.protection.outlook.com Hello")
            elif verb == "MAIL":
                sender, reached = line.split(":", 1)[-1].strip(), []
                self._say("250 2.1.0 Sender OK")
            elif verb == "RCPT":
                if not sender:
                    self._say("503 5.5.1 MAIL first")
                    continue
                answer, whom = self.owner.recipient(line.split(":", 1)[-1])
                if whom is not None:
                    reached.append(whom)
                self._say(answer)
            elif verb == "DATA":
                if not reached:
                    self._say("503 5.5.1 No valid recipients")
                    continue
                self._say("354 Start mail input; end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    part = self.rfile.readline(65536)
                    if not part or part in (b".\r\n", b".\n"):
                        break
                    lines.append(part.decode("utf-8", "replace")[1:] if part.startswith(b"..") else
                                 part.decode("utf-8", "replace"))
                self._say(self.owner.accept(reached, "".join(lines)))
                sender, reached = "", []
            elif verb == "RSET":
                sender, reached = "", []
                self._say("250 2.0.0 Resetting")
            elif verb == "NOOP":
                self._say("250 2.0.0 OK")
            elif verb == "QUIT":
                self._say("221 2.0.0 Service closing transmission channel")
                return
            else:
                self._say("502 5.3.3 Command not implemented")
