"""What a reader sees of an HTML page: the words, without tags, entities decoded, whitespace normalised. A
OneNote page comes back from the service wrapped in its own markup; its text is what must survive a copy."""

from __future__ import annotations

import html
import re

TAG_RE = re.compile(r"<[^>]+>")


def visible_text(markup: str) -> str:
    return " ".join(html.unescape(TAG_RE.sub(" ", markup)).split())
