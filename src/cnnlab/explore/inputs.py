"""Shiny glue shared by the tabs: checked inputs, the one-line message area, controls built from the bounds.

Every control of a tab is read through :class:`CheckedInputs`: one effect per control passes what the
browser sent through :func:`cnnlab.explore.bounds.check`, stores the checked value, and resets the control
when it shows something else (a box holding 40 where 16 is the most shows 16). Computations read only the
stored values. Failures are exceptions: :func:`attempt` runs a calc and turns a :class:`CnnlabError` or
``ValueError`` into one line for the tab's message area.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from shiny import reactive, ui

from cnnlab.errors import CnnlabError
from cnnlab.explore import html as H
from cnnlab.explore.bounds import BOUNDS, Bound, Choice, check

T = TypeVar("T")


class Waiting(CnnlabError):
    """Nothing to show yet (no file uploaded): shown as a grey note, not as an error."""


# -- controls built from the bounds ---------------------------------------------------------------------
def slider(name: str, **kw: Any) -> ui.Tag:
    b = BOUNDS[name]
    assert isinstance(b, Bound)
    return ui.input_slider(name, b.label, min=b.lo, max=b.hi, value=b.default, step=b.step, **kw)


def numeric(name: str, label: str | None = "", **kw: Any) -> ui.Tag:
    b = BOUNDS[name]
    assert isinstance(b, Bound)
    return ui.input_numeric(
        name, b.label if label == "" else label, b.default, min=b.lo, max=b.hi, step=b.step, **kw
    )


def select(name: str, **kw: Any) -> ui.Tag:
    b = BOUNDS[name]
    assert isinstance(b, Choice)
    return ui.input_select(name, b.label, b.choices, selected=b.default, **kw)


def radio(name: str, **kw: Any) -> ui.Tag:
    b = BOUNDS[name]
    assert isinstance(b, Choice)
    return ui.input_radio_buttons(name, b.label, b.choices, selected=b.default, **kw)


_UPDATERS: dict[str, Callable[..., None]] = {
    "slider": lambda name, v, b: ui.update_slider(name, value=v),
    "numeric": lambda name, v, b: ui.update_numeric(name, value=v),
    "select": lambda name, v, b: ui.update_select(name, selected=v),
    "radio": lambda name, v, b: ui.update_radio_buttons(name, selected=v),
}


class CheckedInputs:
    """The checked values of a tab's controls (``controls``: name -> ``"slider"``, ``"numeric"``,
    ``"select"`` or ``"radio"``), and the notes about values that had to be replaced.

    ``values[name]()`` is the value to compute with; ``notes()`` the one-line notes, in control order.
    A note stays until the control sends a value other than the one it was reset to.
    """

    def __init__(self, input: Any, controls: dict[str, str]) -> None:
        self.input = input
        self.controls = dict(controls)
        self.values: dict[str, reactive.Value] = {}
        self._notes: reactive.Value[dict[str, tuple[str, Any]]] = reactive.Value({})
        for name, kind in self.controls.items():
            b = BOUNDS[name]
            default = b.default if isinstance(b, Choice) else (int(b.default) if b.integer else b.default)
            self.values[name] = reactive.Value(default)
            self._watch(name, kind)

    def _watch(self, name: str, kind: str) -> None:
        input = self.input

        @reactive.effect
        def _check() -> None:
            raw = input[name]()
            chk = check(name, raw)
            with reactive.isolate():
                notes = dict(self._notes())
            if chk.note is not None:
                notes[name] = (chk.note, chk.value)
            elif name in notes and notes[name][1] != chk.value:
                del notes[name]
            with reactive.isolate():
                if notes != self._notes():
                    self._notes.set(notes)
            self.values[name].set(chk.value)
            if chk.reset:
                _UPDATERS[kind](name, chk.value, BOUNDS[name])

    def __call__(self, name: str) -> Any:
        return self.values[name]()

    def note(self, name: str, text: str | None) -> None:
        """Add (or with ``None`` drop) a note that is not about a control of :attr:`controls`."""
        with reactive.isolate():
            notes = dict(self._notes())
        if text is None:
            notes.pop(name, None)
        else:
            notes[name] = (text, None)
        self._notes.set(notes)

    def notes(self) -> list[str]:
        return [text for text, _ in self._notes().values()]


def attempt(fn: Callable[[], T]) -> tuple[T | None, str | None, bool]:
    """``(value, None, False)`` from ``fn()``, or ``(None, message, waiting)`` when it raised a
    :class:`CnnlabError` or ``ValueError`` (``waiting``: the message is a :class:`Waiting` note)."""
    try:
        return fn(), None, False
    except Waiting as exc:
        return None, str(exc), True
    except (CnnlabError, ValueError) as exc:
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, False


def message_html(msg_id: str, error: str | None, waiting: bool, notes: list[str]) -> ui.HTML | None:
    """The tab's message area: the error (one line, red) or the waiting note, then the notes about
    replaced values, each one line with ``class="input-note"``."""
    parts = []
    if error is not None:
        if waiting:
            parts.append(f'<div class="note" id="{msg_id}_text">{H.html.escape(error)}</div>')
        else:
            parts.append(H.error(error).replace("<div ", f'<div id="{msg_id}_text" ', 1))
    for text in notes:
        parts.append(f'<div class="note input-note" role="status">{H.html.escape(text)}</div>')
    return ui.HTML("".join(parts)) if parts else None
