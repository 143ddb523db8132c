"""Typed confirmations before destructive steps.

One gate serves both modes (the msticpy way): under papermill the ``confirm`` parameter carries the
typed text; in JupyterLab a box takes it (Enter or the Confirm button). The confirmation cell makes the gate
(``gate = phase.confirm_gate(...)``, which draws the box) and then ``gate.wait()``: in JupyterLab that stops
"Run All" at the box — nothing after it runs — as a step of the procedure (its message and HINT). The gate
is bound before it stops, so the admin who confirms in the box may run the confirmation cell again, "Run All"
again (the confirmation is remembered for the kernel's session), or simply the next cell: each applies.
Cancel ends it. (A cell cannot wait for the box: JupyterLab holds a widget's messages until the running cell
ends, so a poll inside the cell never sees the click.) Either way :meth:`ConfirmGate.require` lets the
destructive step through only when confirmed, and prints who confirmed what and when. Confirmations and
refusals are appended to ``confirmations.jsonl``, each once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..clock import utc_now
from ..errors import ConfirmationMissing, TenantmoveError
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
        given = "typed" if self.via.startswith("widget") else "given"
        return (f"CONFIRMED by {self.by} at {self.at} (UTC), {how(self.via)}: {self.action} "
                f"[{given} '{self.typed}', run {self.run_id}, phase {self.phase}]")


HOW = {"parameter confirm": "given in the parameter file (confirm)", "widget": "typed by a person in the box",
       "widget (cancelled)": "typed by a person in the box, then cancelled"}


def how(via: str) -> str:
    """How a confirmation's text came, in the words the dossier uses: only a person at the box "typed"."""
    return HOW.get(via, via)


class ConfirmationPending(TenantmoveError):
    """JupyterLab: the box is shown and waits for the admin; "Run All" stops here until confirmed."""

    procedural = True


# confirmations given in a box, by (run, phase, action): the kernel's session remembers them, so running the
# confirmation cell again (or "Run All" again) finds the admin's answer instead of drawing a new, empty box
SESSION: dict[tuple[str, str, str], Confirmation] = {}


class ConfirmGate:
    def __init__(self, action: str, expected: str, *, given: str, interactive: bool, operator: str, run_id: str,
                 phase: str, record_dir: Path | None = None, dry_run: bool = False,
                 on_record: Callable[[dict[str, Any]], None] | None = None,
                 approver: Callable[[], dict[str, Any]] | None = None) -> None:
        self.action, self.expected = action, expected
        self.approver = approver  # the second person's approval of the plan, taken before the first change
        self.approval: dict[str, Any] | None = None
        self.on_record = on_record  # the ledger keeps each confirmation too (verify compares the two)
        self.dry_run = dry_run
        self._recorded = False
        self.interactive, self.operator, self.run_id, self.phase = interactive, operator, run_id, phase
        self.record_dir = record_dir
        self.confirmation: Confirmation | None = None
        self.cancelled = False
        self._widget: Any = None
        self._handle: Any = None
        self._last_refused: str | None = None  # a text refused once is not recorded again (Enter, then the click)
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
        """A wrong text is evidence too: who typed what, when, and that nothing was confirmed (once per text
        typed: the box's Enter and the button's click on the same text are one refusal)."""
        if typed.strip() == self._last_refused and via.startswith("widget") and not via.endswith("(cancelled)"):
            return
        self._last_refused = typed.strip()
        self._append({"action": self.action, "expected": self.expected, "typed": typed.strip(), "by": self.operator,
                      "at": utc_now(), "via": via, "run_id": self.run_id, "phase": self.phase, "refused": True})

    def show(self) -> None:
        """In a dry run: a line that there is nothing to confirm (no box). Unattended, or confirmed by the
        parameter: how it is confirmed. In JupyterLab: the confirmation this session already holds, or the
        box (:meth:`wait` then stops "Run All" until it is confirmed)."""
        if self.dry_run:
            ui.show(Report().text(f"**Destructive step:** {self.action}. This is a dry run: nothing will be "
                                  "changed, so there is nothing to confirm (set `dry_run: false` to apply)."))
            return
        ui.show(Report().text(f"**Destructive step:** {self.action}. To confirm, type **`{self.expected}`**."))
        if self.confirmation or not self.interactive or not ui.in_kernel():
            return
        earlier = SESSION.get(self._key())
        if earlier is not None:
            self.confirmation = earlier
            ui.show(Report().banner("ok", f"confirmed by {earlier.by} at {earlier.at} (UTC) in the box above; "
                                          "going on"))
            return
        self._box()

    def wait(self) -> None:
        """JupyterLab: stop here (nothing after this cell runs) while the box waits for the admin; a step of the
        procedure, shown as its message and HINT. Unattended, confirmed, or in a dry run: nothing to wait for."""
        if self.dry_run or self.confirmation is not None or not self.interactive or not ui.in_kernel():
            return
        earlier = SESSION.get(self._key())
        if earlier is not None:
            self.confirmation = earlier
            return
        if self.cancelled:
            raise ConfirmationMissing(f"'{self.action}' was cancelled; nothing was changed", where="the box above",
                                      hint="run this cell again for a new box to confirm in")
        raise ConfirmationPending(f"'{self.action}' waits for your confirmation in the box above; nothing was "
                                  "changed", hint=f"type {self.expected} in the box and press Enter (or Confirm), "
                                                  "then run the next cell (or Run All again)")

    def _key(self) -> tuple[str, str, str]:
        return (self.run_id, self.phase, self.action)

    def _box(self) -> None:
        import ipywidgets as widgets

        box = widgets.Text(placeholder=self.expected, description="Type:", continuous_update=False)
        button = widgets.Button(description="Confirm", button_style="danger")
        cancel = widgets.Button(description="Cancel")
        self._status = widgets.Label(f"type {self.expected} and press Enter (or Confirm)")

        def submit(_: Any = None) -> None:
            if self.confirmation or self.cancelled or not box.value.strip():
                return
            if self._accept(box.value, "widget"):
                assert self.confirmation is not None
                SESSION[self._key()] = self.confirmation
                box.disabled = button.disabled = cancel.disabled = True
                self._status.value = (f"confirmed by {self.operator} at {self.confirmation.at} (UTC): "
                                      "now run the next cell, or Run All again, to apply")
            else:
                self._refused(box.value, "widget")
                self._status.value = f"'{box.value.strip()}' is not '{self.expected}'; nothing is confirmed"
            ui.update_widget_text(self._handle, self._widget, f"confirmation box: {self._status.value}")

        def stop(_: Any) -> None:
            self.cancelled = True
            box.disabled = button.disabled = cancel.disabled = True
            self._refused(box.value, "widget (cancelled)")
            self._status.value = "cancelled; nothing was changed"
            ui.update_widget_text(self._handle, self._widget, "confirmation box: cancelled; nothing was changed")

        box.observe(lambda change: submit(), names="value")  # Enter (or leaving the box) sends the value
        button.on_click(submit)
        cancel.on_click(stop)
        self._widget = widgets.VBox([widgets.HBox([box, button, cancel]), self._status])
        self._handle = ui.show_widget(self._widget, f"confirmation box: type {self.expected} to confirm")

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    def require(self) -> Confirmation:
        """Stop unless confirmed; on success print and record the confirmation (once per gate)."""
        if self.dry_run:
            raise ConfirmationMissing(f"'{self.action}' cannot be applied in a dry run; nothing was changed",
                                      where="dry_run", hint="set dry_run: false and confirm to apply")
        if self.confirmation is None and self.interactive:
            self.confirmation = SESSION.get(self._key())  # confirmed in a box of this kernel's session
        if self.confirmation is None:
            how = ("run the confirmation cell, type it in its box and press Enter" if self.interactive else
                   f"add  confirm: {self.expected}  to the parameter file and run again")
            raise ConfirmationMissing(f"'{self.action}' was not confirmed; nothing was changed",
                                      where="confirm", hint=f"to apply it, {how}")
        if self._recorded:
            return self.confirmation
        if self.approver is not None:  # stops (nothing changed) unless a second person's approval counts
            self.approval = self.approver()
        self._recorded = True
        print(self.confirmation.text(), flush=True)
        self._append(asdict(self.confirmation))
        if self.on_record is not None:
            self.on_record(asdict(self.confirmation))
        return self.confirmation
