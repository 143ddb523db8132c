"""The names SharePoint and OneDrive for Business refuse, and tenantmove's documented, reversible rule
for renaming them (the rename is recorded in the ledger and listed in the report).

Refused (Microsoft's "Restrictions and limitations in OneDrive and SharePoint"):
  the characters ``" * : < > ? / \\ |``; leading or trailing spaces; a trailing dot; the names ``.lock``,
  ``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``, ``desktop.ini``; ``_vti_``
  anywhere in a name; a name beginning with ``~$``; a decoded path longer than 400 characters.

The rule (only for a name that SharePoint refuses; an accepted name is never touched):
  1. a refused character becomes its fullwidth twin (``:`` -> ``：``, ``?`` -> ``？`` ...);
  2. a leading or trailing space becomes ``␠`` (U+2420), a trailing dot ``．`` (U+FF0E);
  3. a reserved name has its first character made fullwidth (``CON`` -> ``ＣON``, ``.lock`` -> ``．lock``),
     ``_vti_`` becomes ``＿vti_``, a leading ``~$`` becomes ``～$``;
  4. before that, every character of the name that is already one of those substitutes (a fullwidth
     form, ``␠``) or the escape ``‛`` (U+201B) itself is escaped with ``‛``.
``decode`` undoes it exactly: ``decode(encode(n)) == n`` for every name.
"""

from __future__ import annotations

import re

REFUSED_CHARACTERS = '"*:<>?/\\|'
RESERVED_NAMES = {".lock", "con", "prn", "aux", "nul", "desktop.ini"} | {f"com{i}" for i in range(10)} | {
    f"lpt{i}" for i in range(10)}
MAX_PATH = 400  # characters of the decoded path, site and library included
ESCAPE = "\u201b"
SPACE = "\u2420"
_FULLWIDTH_OFFSET = 0xFEE0  # '!' (0x21) .. '~' (0x7E) -> U+FF01 .. U+FF5E
_RESERVED_RE = re.compile(r"^(?:\.lock|con|prn|aux|nul|desktop\.ini|com\d|lpt\d)$", re.IGNORECASE)


def _wide(ch: str) -> str:
    return chr(ord(ch) + _FULLWIDTH_OFFSET)


def _is_substitute(ch: str) -> bool:
    return ch in (ESCAPE, SPACE) or 0xFF01 <= ord(ch) <= 0xFF5E


def problems(name: str) -> list[str]:
    """Why SharePoint refuses this name (one reason per rule broken); empty if it takes it."""
    found = []
    bad = sorted({c for c in name if c in REFUSED_CHARACTERS})
    if bad:
        found.append("characters " + " ".join(bad))
    if name != name.lstrip(" "):
        found.append("leading space")
    if name != name.rstrip(" "):
        found.append("trailing space")
    if name.endswith("."):
        found.append("trailing dot")
    if name.lower() in RESERVED_NAMES:
        found.append(f"reserved name {name}")
    if "_vti_" in name.lower():
        found.append("contains _vti_")
    if name.startswith("~$"):
        found.append("begins with ~$")
    if not name:
        found.append("empty name")
    return found


def encode(name: str) -> str:
    """The name SharePoint takes: ``name`` itself if it is accepted, else renamed by the rule above."""
    if not problems(name):
        return name
    chars = [ESCAPE + c if _is_substitute(c) else c for c in name]
    chars = [_wide(c) if c in REFUSED_CHARACTERS else c for c in chars]
    for i in range(len(chars)):  # leading spaces
        if chars[i] != " ":
            break
        chars[i] = SPACE
    for i in range(len(chars) - 1, -1, -1):  # trailing spaces and dots
        if chars[i] == " ":
            chars[i] = SPACE
        elif chars[i] == "." and i == len(chars) - 1:
            chars[i] = _wide(".")
        else:
            break
    out = "".join(chars)
    if _RESERVED_RE.match(name):
        out = _wide(out[0]) + out[1:]
    out = re.sub("_vti_", lambda m: _wide("_") + m.group(0)[1:], out, flags=re.IGNORECASE)
    if out.startswith("~$"):
        out = _wide("~") + out[1:]
    return out


def decode(name: str) -> str:
    """The original name of one that :func:`encode` renamed (apply only to names recorded as renamed)."""
    out, i = [], 0
    while i < len(name):
        ch = name[i]
        if ch == ESCAPE and i + 1 < len(name):
            out.append(name[i + 1])
            i += 2
            continue
        if ch == SPACE:
            out.append(" ")
        elif 0xFF01 <= ord(ch) <= 0xFF5E:
            out.append(chr(ord(ch) - _FULLWIDTH_OFFSET))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def path_too_long(decoded_path: str) -> bool:
    return len(decoded_path) > MAX_PATH
