"""``with marks(n):`` blocks and the summary of marks, as the lab's notebook uses them.

>>> with marks(5, "zero_pad"):
...     check_hash(x_pad, expected)
>>> summary()                      # "N / M marks": an HTML table in a notebook, text in a terminal

A block passes when it ends without an exception; any ``Exception`` (a :class:`CheckFailed`, a failed
``assert``, an error in the student's code) fails it and is swallowed, so the next block still runs.
``KeyboardInterrupt`` and ``SystemExit`` are not swallowed. Each block records a :class:`MarkRecord` in a
:class:`Ledger` (by default one per process) and shows a tick or a cross at once: HTML in a notebook
(through IPython's ``display``), one line of text elsewhere.

Re-running a notebook cell must not count its marks twice, so a record is keyed by its label, or, for an
unlabelled block, by the file and line of the ``with`` statement (IPython names a cell's code by a hash of
its source, so re-running the same cell replaces its records).
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["Ledger", "MarkRecord", "Summary", "default_ledger", "marks", "reset_marks", "summary"]

TICK = "✓"
CROSS = "✘"
_GREEN = "#1a7f37"
_RED = "#cf222e"


@dataclass(frozen=True)
class MarkRecord:
    """One check: its label, the marks it earned out of ``max``, and why it failed."""

    label: str
    marks: float
    max: float
    passed: bool
    reason: str = ""

    def __str__(self) -> str:
        line = f"{TICK if self.passed else CROSS} {self.label + ': ' if self.label else ''}"
        line += f"{_num(self.marks)} / {_num(self.max)} marks"
        return line if self.passed else f"{line} ({self.reason})"

    def _repr_pretty_(self, p, cycle: bool) -> None:  # IPython in a terminal
        p.text(str(self))

    def _repr_html_(self) -> str:
        colour, sign = (_GREEN, TICK) if self.passed else (_RED, CROSS)
        label = f"<b>{html.escape(self.label)}</b>: " if self.label else ""
        reason = "" if self.passed else f" &mdash; {html.escape(self.reason)}"
        return (
            f'<div style="color:{colour};font-family:sans-serif">'
            f'<span style="font-size:1.2em">{sign}</span> {label}'
            f"{_num(self.marks)} / {_num(self.max)} marks{reason}</div>"
        )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass
class Summary:
    """Marks of several checks: ``str()`` is a plain-text table, ``_repr_html_`` an HTML one."""

    records: list[MarkRecord]
    title: str = ""

    @property
    def total(self) -> float:
        return sum(r.marks for r in self.records)

    @property
    def available(self) -> float:
        return sum(r.max for r in self.records)

    def __str__(self) -> str:
        lines = [self.title] if self.title else []
        lines += [str(r) for r in self.records]
        lines.append(f"{_num(self.total)} / {_num(self.available)} marks")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle: bool) -> None:  # IPython in a terminal
        p.text(str(self))

    def _repr_html_(self) -> str:
        rows = []
        for r in self.records:
            colour, sign = (_GREEN, TICK) if r.passed else (_RED, CROSS)
            rows.append(
                f'<tr><td style="color:{colour}">{sign}</td><td style="text-align:left">'
                f"{html.escape(r.label)}</td><td>{_num(r.marks)} / {_num(r.max)}</td>"
                f'<td style="text-align:left;color:{_RED}">{html.escape(r.reason)}</td></tr>'
            )
        title = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return (
            f'<table style="font-family:sans-serif">{title}'
            "<tr><th></th><th>check</th><th>marks</th><th></th></tr>"
            + "".join(rows)
            + f'<tr><td></td><td style="text-align:left"><b>total</b></td>'
            f"<td><b>{_num(self.total)} / {_num(self.available)} marks</b></td><td></td></tr></table>"
        )


@dataclass
class Ledger:
    """Where ``marks`` blocks record their results (keyed, so a re-run replaces instead of adding)."""

    _records: dict[str, MarkRecord] = field(default_factory=dict)

    def record(self, key: str, record: MarkRecord) -> None:
        self._records.pop(key, None)  # a re-run moves the record to the end, in run order
        self._records[key] = record

    @property
    def records(self) -> list[MarkRecord]:
        return list(self._records.values())

    def summary(self, title: str = "") -> Summary:
        return Summary(self.records, title)

    def clear(self) -> None:
        self._records.clear()


default_ledger = Ledger()


def _in_ipython() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        return shell.get_ipython() is not None
    except Exception:  # pragma: no cover - a broken IPython install
        return False


def show(obj: object) -> None:
    """Display ``obj`` as HTML under IPython/Jupyter (text in a terminal IPython), else print it."""
    if _in_ipython():
        from IPython.display import display

        display(obj)
    else:
        print(obj)


class marks:
    """Context manager: the block earns ``n`` marks if it raises no exception, else 0 and a reason.

    Parameters
    ----------
    n : marks the block is worth (> 0)
    label : what is checked, shown beside the tick ("conv_forward: mean"); also the record's key
    ledger : where to record (default: the process-wide one that :func:`summary` reads)
    quiet : do not display the tick or cross (the record is kept)

    After the block, ``.record`` is the :class:`MarkRecord`.
    """

    def __init__(self, n: float, label: str = "", *, ledger: Ledger | None = None, quiet: bool = False):
        if not n > 0:
            raise ValueError(f"marks: n must be > 0, got {n!r}")
        self.n = n
        self.label = label
        self.ledger = default_ledger if ledger is None else ledger
        self.quiet = quiet
        self.record: MarkRecord | None = None
        caller = sys._getframe(1)
        self._key = label or f"{caller.f_code.co_filename}:{caller.f_lineno}"

    def __enter__(self) -> marks:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc_type is not None and not issubclass(exc_type, Exception):
            return False  # KeyboardInterrupt, SystemExit: not the student's marks to lose silently
        if exc is None:
            self.record = MarkRecord(self.label, self.n, self.n, True)
        else:
            self.record = MarkRecord(self.label, 0, self.n, False, failure_reason(exc))
        self.ledger.record(self._key, self.record)
        if not self.quiet:
            show(self.record)
        return True


def failure_reason(exc: BaseException, limit: int = 160) -> str:
    """A one-line reason: the message of a failed check, else ``"ExceptionType: message"``."""
    from cnnlab.grading.hashing import CheckFailed

    message = " ".join(str(exc).split())
    if isinstance(exc, CheckFailed):
        text = message or "check failed"
    elif isinstance(exc, AssertionError):
        text = f"assertion failed: {message}" if message else "assertion failed"
    else:
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(ledger: Ledger | None = None, title: str = "") -> Summary:
    """The marks recorded so far: displays as an HTML table in a notebook, as text when printed."""
    return (default_ledger if ledger is None else ledger).summary(title)


def reset_marks(ledger: Ledger | None = None) -> None:
    """Forget the recorded marks (of the process-wide ledger unless one is given)."""
    (default_ledger if ledger is None else ledger).clear()
