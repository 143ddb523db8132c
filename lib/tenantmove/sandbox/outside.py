"""The outside world's mail, on loopback: a sending mail server that writes to the tenants' people, and a holding
mail server an admin may point the MX at during the cutover. With them a sender's view of the cutover can be
measured: what was sent, delivered, bounced, and how late.

The sender follows RFC 5321 as a common mail server (Postfix) does:

- **§5.1, where to deliver:** it looks up the domain's MX records and tries their hosts by preference. When the
  domain has no MX, it uses the domain's own address records (the implicit MX). A domain that does not exist, a
  null MX (RFC 7505), or neither MX nor address record is a permanent failure, which many servers, Postfix among
  them, bounce at once. A failed lookup is temporary.
- **§4.5.4.1, retries:** a temporary failure leaves the message queued. That covers a 4xx answer, a host that does
  not answer, or every host failing. It is retried 300 s later, then at doubling intervals up to 4,000 s (Postfix's
  backoff), and bounced only after five days. A 5xx answer to ``RCPT`` or ``DATA`` bounces it at once.
- **Its resolver caches** each answer for the record's TTL, and a negative answer for the zone's SOA minimum
  (RFC 2308), both on the sandbox's clock: a TTL second lasts ``scale`` seconds, as for the runbook.

The hosts outside the sandbox's zones are known to it by name (``hosts``): ``*.mail.protection.outlook.com`` is
Exchange Online Protection's receiving side (:mod:`.eop`), and :data:`HOLDING_HOST` is the admin's holding server.
Any other host is refused, a temporary failure, as a web server without SMTP would refuse it."""

from __future__ import annotations

import email.utils
import fnmatch
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from .eop import SmtpHost
from .state import now_iso

HOLDING_HOST = "backup-mx.hosting.example"  # the admin's own mail server, which holds mail during the window
HOLDING_ANSWERS = {"defer": "451 4.3.2 Mail for this domain is held: try again later",
                   "reject": "550 5.7.1 Relaying denied: this host does not accept mail for that domain"}
FIRST_RETRY, LONGEST_RETRY, GIVE_UP = 300.0, 4000.0, 5 * 86400.0  # seconds (Postfix's defaults, RFC 5321 §4.5.4.1)
SENDER = "newsletter@partner.example"


@dataclass(frozen=True)
class Lookup:
    status: str  # ok | nodata | nxdomain | servfail
    values: tuple[str, ...] = ()


class CachingResolver:
    """A recursive resolver's view of the sandbox's authoritative server: answers kept for their TTL."""

    def __init__(self, server: tuple[str, int], scale: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.server, self.scale, self.clock = server, scale, clock
        self.cache: dict[tuple[str, str], tuple[float, Lookup]] = {}
        self.lock = threading.Lock()

    def lookup(self, name: str, rdtype: str) -> Lookup:
        key = (name.lower().rstrip("."), rdtype)
        with self.lock:
            kept = self.cache.get(key)
            if kept is not None and kept[0] > self.clock():
                return kept[1]
        answer, ttl = self._ask(key[0], rdtype)
        if answer.status != "servfail":
            with self.lock:
                self.cache[key] = (self.clock() + ttl * self.scale, answer)
        return answer

    def _ask(self, name: str, rdtype: str) -> tuple[Lookup, float]:
        query = dns.message.make_query(name + ".", rdtype)
        try:
            reply = dns.query.udp(query, self.server[0], port=self.server[1], timeout=2)
        except (dns.exception.DNSException, OSError):
            return Lookup("servfail"), 0
        if reply.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return Lookup("servfail"), 0
        wanted = dns.rdatatype.from_text(rdtype)
        found = [r for r in reply.answer if r.rdtype == wanted]
        if found:
            return Lookup("ok", tuple(sorted(rd.to_text() for rd in found[0]))), found[0].ttl
        soa = next((r for r in reply.authority if r.rdtype == dns.rdatatype.SOA), None)
        negative = min(soa.ttl, soa[0].minimum) if soa is not None else 0  # RFC 2308 §5
        return Lookup("nxdomain" if reply.rcode() == dns.rcode.NXDOMAIN else "nodata"), negative


@dataclass
class Letter:
    number: int
    to: str
    subject: str
    queued: float  # the sender's clock
    queued_at: str
    attempts: int = 0
    next_try: float = 0.0
    state: str = "queued"  # queued | delivered | bounced
    done_at: str = ""
    delay_seconds: float = 0.0
    last: str = ""  # the last answer, or why no answer
    via: str = ""  # the host that took it

    def public(self) -> dict[str, Any]:
        return {"number": self.number, "to": self.to, "subject": self.subject, "queued_at": self.queued_at,
                "attempts": self.attempts, "state": self.state, "done_at": self.done_at,
                "delay_seconds": round(self.delay_seconds, 3), "last": self.last, "via": self.via}


@dataclass
class Stream:
    to: list[str]
    every: float
    label: str
    count: int = 0  # letters still to send (0: until stopped)
    next_at: float = 0.0
    sent: int = 0


@dataclass
class Sender:
    """The outside world's mail server: queues a letter every ``every`` seconds and delivers the queue."""

    resolver: CachingResolver
    hosts: dict[str, tuple[str, int]]
    scale: float
    clock: Callable[[], float] = time.monotonic
    letters: list[Letter] = field(default_factory=list)
    stream: Stream | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------------------------
    def send(self, to: list[str], every: float, label: str = "", count: int = 0) -> dict[str, Any]:
        with self.lock:
            self.stream = Stream(list(to), max(0.05, float(every)), label or "mail-flow", int(count), self.clock())
        self._ensure_thread()
        return self.status()

    def stop_sending(self) -> dict[str, Any]:
        with self.lock:
            self.stream = None
        return self.status()

    def reset(self) -> None:
        """A fresh outside world: no letters, nothing cached."""
        with self.lock:
            self.stream, self.letters = None, []
        with self.resolver.lock:
            self.resolver.cache.clear()

    def close(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            for letter in self.letters:  # a queued letter's delay so far
                if letter.state == "queued":
                    letter.delay_seconds = now - letter.queued
            letters = [x.public() for x in self.letters]
            sending = self.stream is not None
        figures = {"sent": len(letters), "delivered": sum(x["state"] == "delivered" for x in letters),
                   "bounced": sum(x["state"] == "bounced" for x in letters),
                   "queued": sum(x["state"] == "queued" for x in letters),
                   "longest_delay_seconds": max((x["delay_seconds"] for x in letters), default=0.0),
                   "retried": sum(x["attempts"] > 1 for x in letters), "scale": self.scale}
        return {"sending": sending, "figures": figures, "letters": letters}

    # --- the queue ---------------------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="outside-mail", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._write_due()
            with self.lock:
                due = [x for x in self.letters if x.state == "queued" and x.next_try <= self.clock()]
            for letter in due:
                self._try(letter)

    def _write_due(self) -> None:
        with self.lock:
            stream = self.stream
            if stream is None or stream.next_at > self.clock():
                return
            number = len(self.letters) + 1
            to = stream.to[stream.sent % len(stream.to)]
            subject = f"[{stream.label} {number:04d}] a letter from outside"
            self.letters.append(Letter(number, to, subject, self.clock(), now_iso(), next_try=self.clock()))
            stream.sent += 1
            stream.next_at += stream.every
            if stream.count and stream.sent >= stream.count:
                self.stream = None

    def _try(self, letter: Letter) -> None:
        letter.attempts += 1
        outcome, answer, via = self.deliver(letter)
        with self.lock:
            letter.last = answer
            waited = self.clock() - letter.queued
            if outcome == "temporary" and waited < GIVE_UP * self.scale:
                backoff = min(LONGEST_RETRY, FIRST_RETRY * 2 ** (letter.attempts - 1))
                letter.next_try = self.clock() + backoff * self.scale
                return
            if outcome == "temporary":
                answer = f"5.4.7 delivery time expired after {letter.attempts} attempts: {answer}"
            letter.state = "delivered" if outcome == "delivered" else "bounced"
            letter.done_at, letter.delay_seconds, letter.last, letter.via = now_iso(), waited, answer, via

    # --- RFC 5321 §5.1 -----------------------------------------------------------------------------------------
    def route(self, domain: str) -> tuple[str, list[str], str]:
        """("permanent" | "temporary" | "hosts", the hosts by preference, why)."""
        mx = self.resolver.lookup(domain, "MX")
        if mx.status == "nxdomain":
            return "permanent", [], f"5.1.2 the domain {domain} does not exist (NXDOMAIN)"
        if mx.status == "servfail":
            return "temporary", [], f"4.4.3 the MX lookup of {domain} failed"
        if mx.status == "ok":
            ranked = sorted((int(v.split()[0]), v.split()[1].rstrip(".").lower()) for v in mx.values)
            if ranked == [(0, "")]:
                return "permanent", [], f"5.1.10 {domain} accepts no mail (null MX)"
            return "hosts", [host for _, host in ranked], ""
        address = self.resolver.lookup(domain, "A")  # the implicit MX
        if address.status == "ok":
            return "hosts", [domain.lower()], ""
        if address.status == "servfail":
            return "temporary", [], f"4.4.3 the address lookup of {domain} failed"
        return "permanent", [], f"5.4.4 {domain} has neither an MX nor an address record"

    def endpoint(self, host: str) -> tuple[str, int] | None:
        for pattern, where in self.hosts.items():
            if fnmatch.fnmatch(host, pattern):
                return where
        return None

    def deliver(self, letter: Letter) -> tuple[str, str, str]:
        """("delivered" | "temporary" | "permanent", the answer, the host)."""
        kind, hosts, why = self.route(letter.to.rpartition("@")[2])
        if kind != "hosts":
            return kind, why, ""
        answers = []
        for host in hosts:
            where = self.endpoint(host)
            if where is None:
                answers.append(f"{host}: connection refused (no mail server there)")
                continue
            outcome, answer = _smtp(where, letter)
            if outcome != "temporary":
                return outcome, f"{host}: {answer}", host
            answers.append(f"{host}: {answer}")
        return "temporary", "; ".join(answers), ""


def _smtp(where: tuple[str, int], letter: Letter) -> tuple[str, str]:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, letter.to, letter.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(f"letter{letter.number}", "partner.example")
    message.set_content(f"Letter {letter.number}, queued at {letter.queued_at} UTC, from outside the organisation.")
    try:
        with smtplib.SMTP(where[0], where[1], timeout=5) as smtp:
            smtp.ehlo("mail.partner.example")
            code, text = smtp.mail(SENDER)
            if code < 300:
                code, text = smtp.rcpt(letter.to)
            if code < 300:
                code, text = smtp.data(message.as_bytes())
    except (OSError, smtplib.SMTPException) as exc:
        return "temporary", f"no answer ({type(exc).__name__})"
    answer = f"{code} {text.decode('utf-8', 'replace')}"
    if code < 300:
        return "delivered", answer
    return ("permanent" if code >= 500 else "temporary"), answer


class HoldingServer(SmtpHost):
    """The admin's holding mail server: a temporary failure for every recipient while the domain moves (the knob
    ``holding_mx_answer`` makes it refuse with a 5xx instead, a wrongly configured host)."""

    banner = f"220 {HOLDING_HOST} ESMTP ready"

    def __init__(self, governor: Any, count: Callable[[str], None]) -> None:
        self.governor, self.count = governor, count

    def recipient(self, address: str) -> tuple[str, Any]:
        answer = str(getattr(self.governor.knobs, "holding_mx_answer", "defer"))
        self.count(f"holding server: {answer}")
        return HOLDING_ANSWERS.get(answer, HOLDING_ANSWERS["defer"]), None

    def accept(self, reached: list[Any], data: str) -> str:
        return HOLDING_ANSWERS["defer"]
