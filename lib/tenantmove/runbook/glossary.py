"""The words of the dossier an auditor may not know, explained once on the index pages, and linked where they
appear there."""

from __future__ import annotations

import html
import re

TERMS: dict[str, str] = {
    "UPN": "User principal name: the name a person signs in with, like an e-mail address (megan@contoso.com).",
    "MX": "Mail exchanger: the DNS record that tells other mail servers where to deliver a domain's mail.",
    "SPF": "Sender Policy Framework: a DNS TXT record naming the servers allowed to send a domain's mail.",
    "SKU": "A licence product (e.g. Microsoft 365 Business Premium) and how many seats of it a tenant has.",
    "TTL": "Time to live: how long a DNS answer may be kept by others; a change is seen everywhere only after it.",
    "forceDelete": "Microsoft Graph's deletion of a domain that renames what still uses it (up to 1,000 objects) "
                   "to the tenant's onmicrosoft domain.",
    "quickXorHash": "The checksum OneDrive and SharePoint keep for each file; a copy is checked against it.",
    "ledger": "The migration's database of every item (user, file, message, ...): planned, done, failed or manual, "
              "with each change; it makes a rerun do only what is left, and is the evidence per item.",
    "manual item": "A step no API can do: the runbook writes the exact command for the admin, and reads it back on "
                   "the next run to mark it done.",
    "adopted": "An item found already in the new tenant (made by an earlier, interrupted run or by hand) and taken "
               "into the ledger instead of being made twice.",
    "report-only": "Conditional-access policies created so that they are evaluated and logged but not enforced, "
                   "until the admin switches them on.",
}


def anchor(term: str) -> str:
    return "g-" + re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def section() -> str:
    """The glossary as an HTML section."""
    rows = "".join(f"<dt id='{anchor(t)}'><b>{html.escape(t)}</b></dt><dd>{html.escape(d)}</dd>"
                   for t, d in sorted(TERMS.items(), key=lambda kv: kv[0].lower()))
    return f"<h2 id='glossary'>Glossary</h2><dl>{rows}</dl>"


_PATTERN = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(TERMS, key=len, reverse=True)) + r")\b")


def link_terms(page: str) -> str:
    """Each glossary word in the page's text (not in its tags, links, code or the glossary itself) linked to its
    explanation, the first time it appears in a text run."""
    head, sep, tail = page.partition("<h2 id='glossary'>")
    parts = re.split(r"(<[^>]+>)", head)
    skip = 0
    out = []
    for part in parts:
        if part.startswith("<"):
            name = re.match(r"</?\s*([a-zA-Z0-9]+)", part)
            tag = name.group(1).lower() if name else ""
            if tag in ("a", "code", "script", "style", "title", "th"):
                skip += -1 if part.startswith("</") else (0 if part.endswith("/>") else 1)
            out.append(part)
        elif skip > 0:
            out.append(part)
        else:
            out.append(_PATTERN.sub(lambda m: f"<a class='term' href='#{anchor(m.group(1))}'>{m.group(1)}</a>", part))
    return "".join(out) + sep + tail
