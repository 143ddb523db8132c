"""Typed confirmations before destructive steps.

One gate serves both modes (the msticpy way): under papermill the ``confirm`` parameter carries the
typed text; in JupyterLab a widget takes it, with a button. Either way the next cell calls
:meth:`ConfirmGate.require`, which stops with the way to confirm when the text is missing or wrong,
and prints who confirmed what and when, so the confirmation survives in the executed notebook.
"""

from __future__ import annotations

import json
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
                 phase: str, record_dir: Path | None = None, dry_run: bool = False) -> None:
        self.action, self.expected = action, expected
        self.dry_run = dry_run
        self._recorded = False
        self.interactive, self.operator, self.run_id, self.phase = interactive, operator, run_id, phase
        self.record_dir = record_dir
        self.confirmation: Confirmation | None = None
        self._widget: Any = None
        if given:
            self._accept(given, "parameter confirm")

    def _accept(self, typed: str, via: str) -> bool:
        if typed.strip().lower() != self.expected.lower():
            return False
        self.confirmation = Confirmation(self.action, self.expected, typed.strip(), self.operator, utc_now(), via,
                                         self.run_id, self.phase)
        return True

    def show(self) -> None:
        """The widget (interactive and not yet confirmed); otherwise a line saying how to confirm.
        In a dry run there is nothing to confirm, and no box."""
        if self.dry_run:
            ui.show(Report().text(f"**Destructive step:** {self.action}. This is a dry run: nothing will be "
                                  "changed, so there is nothing to confirm (set `dry_run: false` to apply)."))
            return
        ui.show(Report().text(f"**Destructive step:** {self.action}. To confirm, type **`{self.expected}`**."))
        if self.confirmation or not self.interactive:
            return
        import ipywidgets as widgets

        box = widgets.Text(placeholder=self.expected, description="Type:")
        button = widgets.Button(description="Confirm", button_style="danger")
        status = widgets.Label("")

        def clicked(_: Any) -> None:
            if self._accept(box.value, "widget"):
                status.value = f"confirmed by {self.operator}; run the next cell to apply"
                button.disabled = box.disabled = True
            else:
                status.value = f"that is not '{self.expected}'; nothing is confirmed"

        button.on_click(clicked)
        self._widget = widgets.VBox([widgets.HBox([box, button]), status])
        ui.render(self._widget)

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    def require(self) -> Confirmation:
        """Stop unless confirmed; on success print and record the confirmation (once per gate)."""
        if self.dry_run:
            raise ConfirmationMissing(f"'{self.action}' cannot be applied in a dry run; nothing was changed",
                                      where="dry_run", hint="set dry_run: false and confirm to apply")
        if self.confirmation is None:
            how = ("type it in the box above, click Confirm, then run this cell again" if self.interactive else
                   f"add  confirm: {self.expected}  to the parameter file and run again")
            raise ConfirmationMissing(f"'{self.action}' was not confirmed; nothing was changed",
                                      where="confirm", hint=f"to apply it, {how}")
        if self._recorded:
            return self.confirmation
        self._recorded = True
        print(self.confirmation.text(), flush=True)
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            with open(self.record_dir / "confirmations.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(self.confirmation)) + "\n")
        return self.confirmation
