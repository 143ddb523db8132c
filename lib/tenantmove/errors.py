"""Typed exceptions. Each carries what the caller (and the admin reading it) needs: what is
wrong, where, and a HINT naming the fix."""

from __future__ import annotations


class TenantmoveError(Exception):
    """Base of every error tenantmove raises on purpose.

    ``where`` names the parameter, file (and row) or endpoint at fault; ``hint`` says how to fix it.
    ``procedural``: a stop the runbook means (a confirmation to give), shown as a step of the procedure, not as
    an exception led by its class name.
    """

    procedural = False

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" HINT: {self.hint}"
        return text

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error in place of a traceback: the message, where, and the HINT."""
        return error_lines(type(self), self)


def error_lines(etype: type, value: BaseException) -> list[str]:
    """The lines shown for an error: message, where, and the HINT; one per problem. A stop the runbook means
    (``procedural``) reads as a step, not as an exception led by its class name."""
    from .redact import redact

    problems = getattr(value, "problems", None)
    if problems:
        return [f"{etype.__name__}: {redact(p.one_line())}" for p in problems]
    err = value if isinstance(value, TenantmoveError) else None
    text = redact(err.message if err else str(value))
    lines = [f"STOP: {text}" if err is not None and err.procedural else f"{etype.__name__}: {text}"]
    if err and err.where:
        lines.append(f"WHERE: {redact(err.where)}")
    if err and err.hint:
        lines.append(f"HINT: {redact(err.hint)}")
    return lines


class ParameterError(TenantmoveError):
    """One or more parameters are missing, mistyped or inconsistent."""

    def __init__(self, problems: list[TenantmoveError]) -> None:
        self.problems = problems
        lines = [p.one_line() for p in problems]
        super().__init__("; ".join(lines) if len(lines) == 1 else f"{len(lines)} parameter problems")

    def one_line(self) -> str:  # every problem on its own line
        return "\n".join(p.one_line() for p in getattr(self, "problems", [])) or self.message


class ConfigFileError(TenantmoveError):
    """A file named by a parameter cannot be read or parsed."""


class SignInError(TenantmoveError):
    """Sign-in to a tenant failed (unknown tenant, bad credential, unreachable service)."""


class ServiceUnreachable(SignInError):
    """The sign-in service or the sandbox does not answer."""


class PermissionMissing(TenantmoveError):
    """A token lacks a Graph permission that the phase needs."""


class ConfirmationMissing(TenantmoveError):
    """A destructive step was not confirmed with the expected typed text."""


class NotReady(TenantmoveError):
    """The readiness verdict says the migration may not continue."""


class UnknownPhase(TenantmoveError):
    """A phase named on the command line has no notebook."""


class PhaseFailed(TenantmoveError):
    """A phase notebook stopped with an error."""

    def __init__(self, phase: str, cell: int | None, ename: str, evalue: str) -> None:
        self.phase, self.cell, self.ename, self.evalue = phase, cell, ename, evalue
        where = f"phase {phase}" + (f", cell {cell}" if cell is not None else "")
        super().__init__(f"{ename}: {evalue}".strip(), where=where)
