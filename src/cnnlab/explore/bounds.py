"""The bounds of every control of the explorer, in one table that both the page and the server read.

The page builds its sliders, number boxes and selects from :data:`BOUNDS`; the server passes every value
the browser sends through :func:`check` before using it. A browser can send anything (a
``Shiny.setInputValue("conv-pad", 4000)`` from the console): a number outside the bounds is clamped and
the control is reset to the clamped value, with a one-line note; a value that is not a number (or not one
of a select's choices) falls back to the default, with a note. No computation ever sees an unchecked value,
so the largest work one control change can ask for is fixed by this table (a 64 × 64 × 3 input,
f = 7, pad = 4, 4 filters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """A numeric control: ``lo <= value <= hi``; ``integer`` ones are rounded to the nearest integer."""

    label: str
    lo: float
    hi: float
    default: float
    integer: bool = True
    step: float = 1

    def range_text(self) -> str:
        """``"0 to 4"``."""
        lo, hi = (int(self.lo), int(self.hi)) if self.integer else (f"{self.lo:g}", f"{self.hi:g}")
        return f"{lo} to {hi}"


@dataclass(frozen=True)
class Choice:
    """A select or radio control: one of ``choices`` (id -> label)."""

    label: str
    choices: dict[str, str]
    default: str


class Checked:
    """The checked value of one control, and the note to show when the sent value was not usable.

    ``value``: what the server uses. ``note``: ``None``, or a one-line message such as
    ``"pad: 4000 is outside 0 to 4, so 4 is used"``. ``reset``: the page's control must be set to
    ``value`` (it shows something else).
    """

    __slots__ = ("note", "reset", "value")

    def __init__(self, value: Any, note: str | None = None, reset: bool = False) -> None:
        self.value = value
        self.note = note
        self.reset = reset


SEED_MAX = 2**31 - 1

#: The Convolution tab's inputs.
SOURCES = {
    "random": "Small random integers",
    "cat": "Built-in cat (RGB)",
    "dog": "Built-in dog (RGB)",
    "upload": "Upload a picture",
}
IMAGE_SIZES = {"8": "8 × 8", "16": "16 × 16", "32": "32 × 32", "64": "64 × 64"}

BOUNDS: dict[str, Bound | Choice] = {
    # convolution
    "source": Choice("Input", SOURCES, "random"),
    "channels": Bound("input channels n_C_prev", 1, 3, 3),
    "filters": Bound("filters n_C", 1, 4, 2),
    "rand_h": Bound("rows", 1, 16, 6),
    "rand_w": Bound("columns", 1, 16, 6),
    "rand_seed": Bound("seed", 0, SEED_MAX, 1),
    "sample_seed": Bound("which sample (seed)", 0, SEED_MAX, 0),
    "img_size": Choice("Resize to", IMAGE_SIZES, "16"),
    "filter": Choice("Filter 1", {}, "vertical"),  # choices filled in from compute.FILTERS below
    "filter_seed": Bound("filter seed", 0, SEED_MAX, 0),
    "f": Bound("f (filter size)", 1, 7, 3),
    "pad": Bound("pad", 0, 4, 1),
    "stride": Bound("stride", 1, 4, 1),
    "bias": Bound("bias b (every filter)", -1000, 1000, 0, integer=False, step=0.5),
    "speed": Bound("speed (windows per second)", 1, 10, 2),
    "dz": Choice(
        "upstream gradient dZ", {"cell": "1 at the chosen cell, 0 elsewhere", "ones": "all ones"}, "cell"
    ),
    # pooling
    "pool_source": Choice(
        "Input",
        {"random": "Small random integers", "conv": "The Convolution tab's map of filter 1"},
        "random",
    ),
    "pool_h": Bound("rows", 1, 16, 6),
    "pool_w": Bound("columns", 1, 16, 6),
    "pool_seed": Bound("seed", 0, SEED_MAX, 3),
    "pool_mode": Choice("Mode", {"max": "max", "average": "average"}, "max"),
    "pool_f": Bound("f (window size)", 1, 5, 2),
    "pool_stride": Bound("stride", 1, 4, 2),
    "pool_grad": Bound("upstream gradient dA of the chosen cell", -1000, 1000, 1, integer=False, step=0.5),
    # model
    "m_source": Choice("Picture", {"test": "The run's test images", "upload": "Upload a picture"}, "test"),
    "m_class": Choice("True class", {"all": "every class"}, "all"),  # the run's classes are added at start
    "m_mode": Choice(
        "Explain with",
        {"saliency": "saliency (|d score / d input|)", "gradcam": "Grad-CAM (last conv)"},
        "saliency",
    ),
}

#: The custom 3x3 filter's nine boxes.
CUSTOM_DEFAULT = [1, 0, -1, 1, 0, -1, 1, 0, -1]
for _i, _v in enumerate(CUSTOM_DEFAULT):
    BOUNDS[f"cw{_i}"] = Bound(f"custom filter entry {_i + 1}", -100, 100, _v, integer=False)


def set_choices(name: str, choices: dict[str, str], default: str | None = None) -> None:
    """Fill in the choices of select ``name`` (the filter names, the run's classes) at start-up."""
    old = BOUNDS[name]
    assert isinstance(old, Choice)
    BOUNDS[name] = Choice(old.label, dict(choices), default if default is not None else old.default)


def check(name: str, value: Any, bound: Bound | Choice | None = None) -> Checked:
    """``value`` as sent by the browser for control ``name``, checked against :data:`BOUNDS`.

    Numbers: ``None`` or ``""`` (an emptied box) is the default without a note; anything that is not a
    finite number is the default with a note; a number outside ``[lo, hi]`` is clamped, with a note and
    ``reset``; integer controls round (``2.6`` -> ``3``, with ``reset``). Choices: anything not in the
    choices is the default, with a note and ``reset``.
    """
    b = bound if bound is not None else BOUNDS[name]
    if isinstance(b, Choice):
        if isinstance(value, str) and value in b.choices:
            return Checked(value)
        shown = _short(value)
        used = b.choices.get(b.default, b.default)
        return Checked(b.default, f"{b.label}: {shown} is not one of the choices, so {used!r} is used", True)
    default = int(b.default) if b.integer else float(b.default)
    if value is None or value == "":
        return Checked(default)
    nan = Checked(default, f"{b.label}: {_short(value)} is not a number, so {default} is used", True)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return nan
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return nan
    if not math.isfinite(v):
        return nan
    clamped: float = min(max(v, b.lo), b.hi)
    if b.integer:
        clamped = round(clamped)
    if v < b.lo or v > b.hi:
        used = clamped if b.integer else f"{clamped:g}"
        note = f"{b.label}: {_short(value)} is outside {b.range_text()}, so {used} is used"
        return Checked(clamped, note, True)
    return Checked(clamped, reset=b.integer and clamped != v)


def _short(value: Any) -> str:
    """A value as the note quotes it: at most 40 characters."""
    text = repr(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:g}"
    return text if len(text) <= 40 else text[:37] + "..."
