"""The admin's path in a real browser: phase 20 prepared as `make lab` prepares it (no confirmation
injected), opened in JupyterLab in headless Chromium, "Run All": the run stops at the confirmation box, a
wrong text is refused and changes nothing, the right text (Enter) is confirmed, and "Run All" again goes
through the remembered confirmation and applies the release."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tenantmove.sandbox import Sandbox

from .conftest import make_client
from .runner_helpers import only_run, tenantmove, write_params

pytestmark = pytest.mark.notebook
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOMAIN = "contoso.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(fresh_sandbox: Sandbox, tmp_path: Path) -> tuple[str, Path]:
    """Phases 00 and 10 run unattended; phase 20 prepared for the admin; JupyterLab serving its folder."""
    runs = tmp_path / "runs"
    first = tenantmove("run", str(write_params(tmp_path, fresh_sandbox)), "--phases", "00,10", "--runs-dir",
                       str(runs), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    params = write_params(tmp_path, fresh_sandbox, confirm=None)  # as make lab: no confirm
    prepared = tenantmove("prepare", str(params), "--phases", "20", "--runs-dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    run_dir = only_run(tmp_path / "lab")
    port, token = free_port(), secrets.token_hex(16)
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", f"--ServerApp.token={token}", f"--notebook-dir={run_dir}",
                               "--allow-root", "--LabApp.expose_app_in_browser=True"],
                              cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config")))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/lab/tree/20_release_domain.ipynb?token={token}", run_dir
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_run_all_stops_at_the_box_refuses_a_wrong_text_and_applies_the_right_one(
        fresh_sandbox: Sandbox, lab: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, run_dir = lab
    _, old = make_client(fresh_sandbox, "source")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=90_000)
        page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
            return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
                   && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=90_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

        box = page.get_by_placeholder(DOMAIN, exact=True)
        expect(box).to_be_visible(timeout=120_000)  # "Run All" stopped at the confirmation cell
        expect(page.get_by_text("waits for your confirmation in the box above").first).to_be_visible()
        assert page.get_by_text("ConfirmationPending").count() == 0  # a step of the procedure, not an exception
        assert DOMAIN in {d["id"] for d in old.get("domains")["value"]}  # nothing after it ran

        box.fill("contoso.com")
        box.press("Enter")
        expect(page.get_by_text("'contoso.com' is not 'contoso.example'; nothing is confirmed")).to_be_visible()
        assert old.get("users/megan.bowen@contoso.example")["userPrincipalName"] == "megan.bowen@contoso.example"

        box.fill(DOMAIN)
        box.press("Enter")
        expect(page.get_by_text("now run the next cell, or Run All again").first).to_be_visible()
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            expect(page.get_by_text("20_release_domain completed").first).to_be_visible(timeout=120_000)
        except AssertionError:
            shown = page.locator(".jp-OutputArea-output").all_inner_texts()
            raise AssertionError("the run did not complete; outputs:\n" + "\n---\n".join(shown)[-3000:]) from None
        finally:
            page.screenshot(path=str(tmp_path / "lab.png"), full_page=True)
            browser.close()

    assert DOMAIN not in {d["id"] for d in old.get("domains")["value"]}  # the release was applied
    entries = [json.loads(line) for line in
               (run_dir / "20_release_domain" / "confirmations.jsonl").read_text().splitlines()]
    assert [(e["typed"], e.get("refused", False), e["via"]) for e in entries] == [
        ("contoso.com", True, "widget"), (DOMAIN, False, "widget")]
