"""Typed confirmations before destructive steps.

One gate serves both modes (the msticpy way): under papermill the ``confirm`` parameter carries the
typed text; in JupyterLab a box takes it (Enter or the Confirm button). In JupyterLab the confirmation
cell *waits* for the admin — it polls the widget's events inside the cell — so "Run All" stops there
and goes on once confirmed; Cancel or the time limit stop the phase with nothing changed. Either way
:meth:`ConfirmGate.require` lets the destructive step through only when confirmed, and prints who
confirmed what and when. Confirmations and refusals are appended to ``confirmations.jsonl``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..clock import utc_now
from ..errors import ConfirmationMissing
from ..report import Report
from . import display as ui


@dataclass
class Confirmation:
    action: str
    expected: str
    typed: str
    by: str
    at: str
    via: str  # "parameter confirm" or "widget"
    run_id: str
    phase: str

    def text(self) -> str:
        return (f"CONFIRMED by {self.by} at {self.at} (UTC) via {self.via}: {self.action} "
                f"[typed '{self.typed}', run {self.run_id}, phase {self.phase}]")


class ConfirmGate:
    def __init__(self, action: str, expected: str, *, given: str, interactive: bool, operator: str, run_id: str,
                 phase: str, record_dir: Path | None = None, dry_run: bool = False,
                 wait_seconds: float = 900.0) -> None:
        self.action, self.expected = action, expected
        self.dry_run = dry_run
        self._recorded = False
        self.interactive, self.operator, self.run_id, self.phase = interactive, operator, run_id, phase
        self.record_dir = record_dir
        self.wait_seconds = wait_seconds
        self.confirmation: Confirmation | None = None
        self.cancelled = False
        self._widget: Any = None
        self._handle: Any = None
        if given and not self._accept(given, "parameter confirm"):
            self._refused(given, "parameter confirm")

    def _accept(self, typed: str, via: str) -> bool:
        if typed.strip().lower() != self.expected.lower():
            return False
        self.confirmation = Confirmation(self.action, self.expected, typed.strip(), self.operator, utc_now(), via,
                                         self.run_id, self.phase)
        return True

    def _append(self, entry: dict[str, Any]) -> None:
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            with open(self.record_dir / "confirmations.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")

    def _refused(self, typed: str, via: str) -> None:
        """A wrong text is evidence too: who typed what, when, and that nothing was confirmed."""
        self._append({"action": self.action, "expected": self.expected, "typed": typed.strip(), "by": self.operator,
                      "at": utc_now(), "via": via, "run_id": self.run_id, "phase": self.phase, "refused": True})

    def show(self) -> None:
        """In a dry run: a line that there is nothing to confirm (no box). Unattended, or confirmed by the
        parameter: how it is confirmed. In JupyterLab: the box, then wait for the admin (:meth:`wait`)."""
        if self.dry_run:
            ui.show(Report().text(f"**Destructive step:** {self.action}. This is a dry run: nothing will be "
                                  "changed, so there is nothing to confirm (set `dry_run: false` to apply)."))
            return
        ui.show(Report().text(f"**Destructive step:** {self.action}. To confirm, type **`{self.expected}`**."))
        if self.confirmation or not self.interactive or not ui.in_kernel():
            return
        self._box()
        self.wait()

    def _box(self) -> None:
        import ipywidgets as widgets

        box = widgets.Text(placeholder=self.expected, description="Type:", continuous_update=False)
        button = widgets.Button(description="Confirm", button_style="danger")
        cancel = widgets.Button(description="Cancel")
        self._status = widgets.Label(f"type {self.expected} and press Enter (or Confirm); this cell waits for you")

        def submit(_: Any = None) -> None:
            if self.confirmation or self.cancelled or not box.value.strip():
                return
            if self._accept(box.value, "widget"):
                self._status.value = f"confirmed by {self.operator}; applying"
                box.disabled = button.disabled = cancel.disabled = True
            else:
                self._refused(box.value, "widget")
                self._status.value = f"'{box.value.strip()}' is not '{self.expected}'; nothing is confirmed"

        def stop(_: Any) -> None:
            self.cancelled = True
            self._status.value = "cancelled; nothing was changed"
            box.disabled = button.disabled = cancel.disabled = True

        box.observe(lambda change: submit(), names="value")  # Enter (or leaving the box) sends the value
        button.on_click(submit)
        cancel.on_click(stop)
        self._widget = widgets.VBox([widgets.HBox([box, button, cancel]), self._status])
        self._handle = ui.show_widget(self._widget, f"confirmation box: type {self.expected} to confirm")

    def wait(self, poll_seconds: float = 0.1) -> None:
        """Keep this cell running until the admin confirms, cancels or the time runs out; JupyterLab's
        clicks and keys are handled meanwhile (the cells after this one wait their turn)."""
        from jupyter_ui_poll import ui_events

        deadline = time.monotonic() + self.wait_seconds
        with ui_events() as poll:
            while not (self.confirmation or self.cancelled) and time.monotonic() < deadline:
                poll(10)
                time.sleep(poll_seconds)
        if self.confirmation:
            final = f"confirmed by {self.operator} at {self.confirmation.at} (UTC)"
        else:
            final = "cancelled: nothing was changed" if self.cancelled else \
                f"not confirmed within {self.wait_seconds:.0f} s: nothing was changed"
            self._status.value = final
            self._refused("", "widget (cancelled)" if self.cancelled else "widget (time limit)")
        ui.update_widget_text(self._handle, self._widget, f"confirmation box: {final}")
        if not self.confirmation:
            raise ConfirmationMissing(f"'{self.action}' was not confirmed ({final})",
                                      where="confirm", hint="run this cell again to confirm; the phase stops here")

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    def require(self) -> Confirmation:
        """Stop unless confirmed; on success print and record the confirmation (once per gate)."""
        if self.dry_run:
            raise ConfirmationMissing(f"'{self.action}' cannot be applied in a dry run; nothing was changed",
                                      where="dry_run", hint="set dry_run: false and confirm to apply")
        if self.confirmation is None:
            how = ("run the confirmation cell again and type it in its box" if self.interactive else
                   f"add  confirm: {self.expected}  to the parameter file and run again")
            raise ConfirmationMissing(f"'{self.action}' was not confirmed; nothing was changed",
                                      where="confirm", hint=f"to apply it, {how}")
        if self._recorded:
            return self.confirmation
        self._recorded = True
        print(self.confirmation.text(), flush=True)
        self._append(asdict(self.confirmation))
        return self.confirmation
