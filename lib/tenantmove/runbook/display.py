"""What a notebook shows: header and summary cells, tables, the sign-in widget and its printed
twin, and errors shown as their message and HINT rather than a traceback.

Everything here renders in JupyterLab, in papermill's saved notebook and in its HTML rendering.
Widgets are used only when ``interactive`` is true; a headless run never waits on one.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from ..errors import TenantmoveError, error_lines
from ..redact import redact
from ..report import BANNER_ICONS, Report
from ..services.auth import PrintedPrompt


def render(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print the text form
        print(obj if isinstance(obj, str) else getattr(obj, "data", obj))
        return
    display(obj)


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab or papermill), where widgets can be shown and polled."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def show_widget(widget: Any, text: str) -> Any:
    """Show a live widget in JupyterLab whose saved form (notebook, HTML) is ``text``, not the widget's
    repr; returns a handle for :func:`update_widget_text`."""
    from IPython.display import display

    bundle = {"text/plain": redact(text), "application/vnd.jupyter.widget-view+json":
              {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}
    return display(bundle, raw=True, display_id=True)


def update_widget_text(handle: Any, widget: Any, text: str) -> None:
    """The saved form of a widget shown by :func:`show_widget` becomes ``text`` (e.g. its final value)."""
    if handle is not None:
        handle.update({"text/plain": redact(text), "application/vnd.jupyter.widget-view+json":
                       {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}, raw=True)


def show(obj: Any) -> None:
    """Show a :class:`~tenantmove.report.Report` (or anything IPython can show); a report's verdict
    lines are also printed, so a headless run's log carries them."""
    render(obj)
    if isinstance(obj, Report):
        for level, text in obj.banners():
            print(f"{BANNER_ICONS[level]} {redact(text)}", flush=True)


# --- errors as message + HINT ------------------------------------------------------------------
ERROR_HOOKS: list[Any] = []  # called with each error shown (e.g. to mark a by-hand run's record failed)


def _show_tenantmove_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    for hook in ERROR_HOOKS:
        hook(value)
    report = getattr(value, "report", None)
    if isinstance(report, Report):  # e.g. which items failed, before the message and its HINT
        render(report)
    lines = error_lines(etype, value)
    shell._showtraceback(etype, value, lines)
    return lines


def install_error_display() -> None:
    """In a kernel, show tenantmove's errors as their message and HINT (the cell still fails,
    so "Run all" and papermill stop there)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "_showtraceback"):
        shell.set_custom_exc((TenantmoveError,), _show_tenantmove_error)


# --- sign-in prompt ---------------------------------------------------------------------------
class WidgetPrompt:
    """The device code and link in a widget, with a status line that changes while it waits."""

    def __init__(self) -> None:
        import ipywidgets as widgets

        self._widgets = widgets
        self.box = widgets.VBox([])
        self.status_line = widgets.Label("")

    def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None:
        w = self._widgets
        uri = html.escape(flow["verification_uri"])
        code = html.escape(flow["user_code"])
        info = w.HTML(f"<b>Sign in to the {html.escape(role)} tenant ({html.escape(tenant)})</b><br>"
                      f"Open <a href='{uri}' target='_blank'>{uri}</a> and enter the code "
                      f"<code style='font-size:1.3em'>{code}</code>")
        self.box.children = [info, self.status_line]
        # the widget's text form is what the saved notebook and its HTML show: the code appears once, not again
        # as a printed line beside it
        self.text = (f"sign-in to the {role} tenant ({tenant}): open {flow['verification_uri']} and enter the code "
                     f"{flow['user_code']}")
        self.handle = show_widget(self.box, self.text)

    def status(self, text: str, waiting: bool = False) -> None:
        self.status_line.value = text
        update_widget_text(getattr(self, "handle", None), self.box, f"{getattr(self, 'text', 'sign-in')} — {text}")


def prompt_for(interactive: bool) -> Any:
    if interactive and in_kernel():
        try:
            return WidgetPrompt()
        except ImportError:
            return PrintedPrompt()
    return PrintedPrompt()


class Progress:
    """A progress bar in JupyterLab; in a headless run, a printed line at a new tenth when at least
    ``every`` seconds passed since the last one, and always the last line."""

    def __init__(self, label: str, interactive: bool, every: float = 10.0) -> None:
        self.label = label
        self.bar: Any = None
        self.every = every
        self._printed = -1
        self._last = -every
        if interactive and in_kernel():
            import ipywidgets as widgets

            self.bar = widgets.IntProgress(value=0, min=0, max=1, description=label[:20])
            self.text = widgets.Label("")
            self.box = widgets.HBox([self.bar, self.text])
            self.handle = show_widget(self.box, f"{label}: starting")

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        if self.bar is not None:
            self.bar.max, self.bar.value = max(total, 1), done
            self.text.value = f"{done}/{total} · {elapsed:.0f} s"
            if done >= total:  # the saved notebook and its HTML show the final count, not an empty bar
                update_widget_text(self.handle, self.box, f"{self.label}: {done}/{total} after {elapsed:.0f} s")
        tenth = (10 * done // total) if total else 10
        if tenth > self._printed and (done >= total or elapsed - self._last >= self.every):
            self._printed, self._last = tenth, elapsed
            print(f"{self.label}: {done}/{total} after {elapsed:.0f} s", flush=True)
