"""Runs last (file order): nothing the whole session wrote — run folders, state folders, parameter
files, the sandbox's own log — contains a canary secret or a token."""

from __future__ import annotations

import re

import pytest

from tenantmove.sandbox import Sandbox

from .conftest import CANARY_SOURCE, CANARY_TARGET, grep_tree

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")


def test_no_canary_or_token_in_anything_the_session_wrote(sandbox: Sandbox,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.getbasetemp()
    written = [p for p in base.rglob("*") if p.is_file()]
    assert any(p.name == "run.json" for p in written), "expected the notebook tests to have written run folders"
    assert any(p.name == "sandbox.log" for p in written)
    assert not grep_tree(base, [CANARY_SOURCE, CANARY_TARGET])
    assert not [p for p in written if JWT.search(p.read_bytes())]
