"""What a notebook shows: header and summary cells, tables, the sign-in widget and its printed
twin, and errors shown as their message and HINT rather than a traceback.

Everything here renders in JupyterLab, in papermill's saved notebook and in its HTML rendering.
Widgets are used only when ``interactive`` is true; a headless run never waits on one.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from ..errors import TenantmoveError
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


def show(obj: Any) -> None:
    """Show a :class:`~tenantmove.report.Report` (or anything IPython can show); a report's verdict
    lines are also printed, so a headless run's log carries them."""
    render(obj)
    if isinstance(obj, Report):
        for level, text in obj.banners():
            print(f"{BANNER_ICONS[level]} {redact(text)}", flush=True)


# --- errors as message + HINT ------------------------------------------------------------------
def error_lines(etype: type, value: BaseException) -> list[str]:
    """The lines shown for a tenantmove error: message, where, and the HINT; one per problem."""
    problems = getattr(value, "problems", None)
    if problems:
        return [f"{etype.__name__}: {redact(p.one_line())}" for p in problems]
    err = value if isinstance(value, TenantmoveError) else None
    lines = [f"{etype.__name__}: {redact(err.message if err else str(value))}"]
    if err and err.where:
        lines.append(f"WHERE: {redact(err.where)}")
    if err and err.hint:
        lines.append(f"HINT: {redact(err.hint)}")
    return lines


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
        render(self.box)
        # the printed line survives in the saved notebook even where widgets do not render
        PrintedPrompt().show(role, tenant, flow)

    def status(self, text: str) -> None:
        self.status_line.value = text


def prompt_for(interactive: bool) -> Any:
    if interactive and "ipykernel" in sys.modules:
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
        if interactive and "ipykernel" in sys.modules:
            import ipywidgets as widgets

            self.bar = widgets.IntProgress(value=0, min=0, max=1, description=label[:20])
            self.text = widgets.Label("")
            render(widgets.HBox([self.bar, self.text]))

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        if self.bar is not None:
            self.bar.max, self.bar.value = max(total, 1), done
            self.text.value = f"{done}/{total} · {elapsed:.0f} s"
        tenth = (10 * done // total) if total else 10
        if tenth > self._printed and (done >= total or elapsed - self._last >= self.every):
            self._printed, self._last = tenth, elapsed
            print(f"{self.label}: {done}/{total} after {elapsed:.0f} s", flush=True)
