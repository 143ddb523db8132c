"""quickXorHash, SharePoint's name rules and the rename rule, target paths, fragments: no sandbox."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator

import pandas as pd
import pytest

from tenantmove import spnames
from tenantmove.quickxor import QuickXorHash, quickxor
from tenantmove.report import Report
from tenantmove.services.drives import FRAGMENT_UNIT, _Fragments
from tenantmove.workloads.files import LONG_PATHS, paths_of, target_path
from tenantmove.workloads.onedrive import Pair


def reference_quickxor(data: bytes) -> str:
    """Microsoft's published algorithm as written (three 64-bit cells, one byte at a time): slow, and
    independent of the vectorised implementation."""
    cells = [0, 0, 0]
    width, shift, index, offset = 160, 11, 0, 0
    for byte in data:
        bits = 32 if index == 2 else 64
        if offset <= bits - 8:
            cells[index] ^= byte << offset
        else:
            cells[index] ^= (byte << offset) & ((1 << bits) - 1)
            cells[0 if index == 2 else index + 1] ^= byte >> (bits - offset)
        offset += shift
        while offset >= (32 if index == 2 else 64):
            offset -= 32 if index == 2 else 64
            index = 0 if index == 2 else index + 1
    cells = [c & ((1 << 64) - 1) for c in cells]
    raw = bytearray(cells[0].to_bytes(8, "little") + cells[1].to_bytes(8, "little") + cells[2].to_bytes(8, "little")[:4])
    for i, b in enumerate(len(data).to_bytes(8, "little")):
        raw[width // 8 - 8 + i] ^= b
    return base64.b64encode(bytes(raw)).decode()


# vectors from the C implementation on PyPI (quickxorhash 1.0.5)
VECTORS = {
    b"": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    b"hello world": "aCgDG9jwBhDc4Q1yawMZAAAAAAA=",
    bytes(range(256)) * 4: "h7xr2dbCayZCQYR9KKhlwDuT4UI=",
    b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(40000)): "aTfyS7j0LglsgolH4hME1+ZmHHw=",
}


@pytest.mark.parametrize("data", list(VECTORS), ids=lambda d: f"{len(d)} bytes")
def test_quickxor_matches_known_vectors(data: bytes) -> None:
    assert quickxor(data) == VECTORS[data]


def test_quickxor_is_the_same_in_any_chunking_and_matches_the_reference() -> None:
    rnd = random.Random(7)
    for size in (1, 19, 20, 159, 160, 161, 1000, 4099):
        data = rnd.randbytes(size)
        h = QuickXorHash()
        pos = 0
        while pos < size:
            step = rnd.randint(1, 300)
            h.update(data[pos:pos + step])
            pos += step
        assert h.b64digest() == quickxor(data) == reference_quickxor(data), size


@pytest.mark.parametrize("name,reason", [
    ("a:b.txt", "characters :"), ('q"*<>?|.txt', "characters"), (" x", "leading space"), ("x ", "trailing space"),
    ("x.", "trailing dot"), ("CON", "reserved name"), ("lpt7", "reserved name"), (".lock", "reserved name"),
    ("desktop.ini", "reserved name"), ("my_vti_folder", "_vti_"), ("~$draft.docx", "~$"),
])
def test_names_sharepoint_refuses(name: str, reason: str) -> None:
    assert any(reason in p for p in spnames.problems(name)), spnames.problems(name)


@pytest.mark.parametrize("name", ["report.docx", "Zürich – Sommer ☀.jpg", "日本語.txt", "CON.txt", "a~$b", "x.y.z"])
def test_names_sharepoint_accepts_are_left_alone(name: str) -> None:
    assert not spnames.problems(name) and spnames.encode(name) == name


def test_the_rename_rule_is_reversible_and_always_accepted() -> None:
    rnd = random.Random(11)
    alphabet = 'ab :?"*.<>|/\\~$_vtiCONlpt‛␠Ａ．～'
    for _ in range(20000):
        name = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 10)))
        if spnames.problems(name):
            encoded = spnames.encode(name)
            assert not spnames.problems(encoded), (name, encoded)
            assert spnames.decode(encoded) == name, (name, encoded)


def test_target_paths_rename_segments_and_move_paths_over_400_characters() -> None:
    pair = Pair("a@x", "a@y", {"id": "s"}, {"id": "t", "webUrl": "https://t-my.sharepoint.com/personal/a_y/Documents"})
    assert target_path(pair, "/Legacy/report: draft?.txt") == ("/Legacy/report： draft？.txt",
                                                                ["report: draft?.txt -> report： draft？.txt"])
    deep = "/" + "/".join(["folder" * 10] * 7) + "/file.pdf"
    path, notes = target_path(pair, deep)
    assert path.startswith(f"/{LONG_PATHS}/") and path.endswith("/file.pdf") and "over 400" in notes[-1]
    assert target_path(pair, deep) == (path, notes)  # deterministic: a rerun finds the same place


def test_paths_are_rebuilt_from_parent_ids() -> None:
    items = {"r": {"id": "r", "root": {}}, "a": {"id": "a", "name": "A", "parentReference": {"id": "r"}},
             "b": {"id": "b", "name": "b.txt", "parentReference": {"id": "a"}}}
    assert paths_of(items) == {"r": "", "a": "/A", "b": "/A/b.txt"}


def test_fragments_hold_one_fragment_and_restart_at_an_offset() -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB

    def reader(offset: int) -> Iterator[bytes]:
        for i in range(offset, len(data), 100_000):
            yield data[i:i + 100_000]

    cut = _Fragments(reader, 0)
    first = cut.take(FRAGMENT_UNIT)
    assert bytes(first) == data[:FRAGMENT_UNIT]
    assert len(cut.spare) < 100_000  # never more than one piece ahead
    again = _Fragments(reader, FRAGMENT_UNIT)
    assert bytes(again.take(FRAGMENT_UNIT)) == data[FRAGMENT_UNIT:2 * FRAGMENT_UNIT]


def test_bars_render_in_html_and_as_text() -> None:
    df = pd.DataFrame([{"user": "a", "moved": 10, "left": 5}, {"user": "b", "moved": 0, "left": 0}])
    report = Report().bars(df, "user", ["moved", "left"], "Bytes", "bytes")
    html = report._repr_html_()
    assert "width:200.0px" in html and "width:100.0px" in html and "moved" in str(report)


def test_the_onedrive_plan_says_when_a_delta_link_had_expired() -> None:
    from tenantmove.phases.onedrive import OneDrivePlan

    empty = pd.DataFrame()
    plan = OneDrivePlan(empty, empty, empty, [], [], ["megan.bowen@contoso.example"])
    assert "megan.bowen@contoso.example (delta link expired, 410)" in str(plan)
    assert "delta link expired" not in str(OneDrivePlan(empty, empty, empty, [], [], []))


def test_onenote_names_follow_onenotes_own_rules() -> None:
    """A section name the service refuses (a character, or over 50 characters) gets a recorded rule, as
    SharePoint's names do; a notebook takes 128 characters and & # % ~."""
    from tenantmove.workloads.onenote import note_name

    assert note_name("section", "R&D: plans #2") == "R＆D： plans ＃2"
    long = "Quarterly planning for the northern and southern regions 2026"
    cut = note_name("section", long)
    assert len(cut) == 50 and cut != note_name("section", long + " (copy)")[:50]
    assert note_name("notebook", "R&D 100%") == "R&D 100%" and note_name("notebook", 'a"b') == "a＂b"
    assert note_name("sectionGroup", "~") == "～"
