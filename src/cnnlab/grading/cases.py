"""The cases each function is called on: the lab's own, and hidden ones drawn from a secret seed.

Two marking schemes (70 marks each, the same 14 checks of :data:`cnnlab.grading.lab.CHECKS`):

- ``lab``: the lab's visible case of each call only (seed 2023, :data:`cnnlab.grading.lab.CALLS`), so
  the marks are the notebook's own.
- ``full`` (the default): the lab's case *and* hidden cases that cover what it misses: stride 2 and 3,
  pad 0, inputs with H != W, one and several channels, f = 1 and f = H, overlapping pooling windows
  (stride < f), strides that do not tile the input, average pooling with a stride, and windows with tied
  maxima (where both the lab's mask ``x == max`` and a first-maximum mask pass). A check passes when
  every one of its cases passes.

The kinds of hidden case are fixed (:data:`HIDDEN`) and documented; their *values* are drawn from
``seed`` (``np.random.RandomState([seed, k])``: the same numbers on every NumPy), which the grader picks
fresh for each run unless the instructor gives one, and writes into every report so a re-grade gives the
same marks. Each case says in words what it is ("stride 2, pad 0, 5x7 input") so a failed check tells a
student what to fix without showing an expected array.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.grading.lab import CALLS

__all__ = ["HIDDEN", "SCHEMES", "Case", "cases", "new_seed"]

SCHEMES = ("full", "lab")
Inputs = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One call of one function on concrete inputs.

    call : the lab call it belongs to (``"pool_forward[max]"``), so it feeds that call's checks
    function : the student's function it calls
    label : what the case is, in words a student can act on
    tags : the kinds it covers (``stride``, ``pad0``, ``nonsquare``, ``f1``, ``fH``, ``overlap``,
        ``channels``, ``ties``): they choose the hints in feedback
    args, kwargs : the inputs (the grader's own copy; the worker gets a serialized one)
    ties : the inputs have tied maxima, so the lab's mask and a first-maximum mask both pass
    """

    call: str
    function: str
    label: str
    tags: tuple[str, ...]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ties: bool = False

    @property
    def hidden(self) -> bool:
        return self.label != LAB_LABEL


LAB_LABEL = "the lab's case"


def new_seed() -> int:
    """A fresh seed for the hidden cases (32 bits from the OS's random source)."""
    return secrets.randbits(32)


def _rs(seed: int, k: int) -> np.random.RandomState:
    return np.random.RandomState([seed & 0xFFFFFFFF, k])


def _tied(rs: np.random.RandomState, shape: tuple[int, ...]) -> np.ndarray:
    """Small integers as floats: many windows have tied maxima."""
    return rs.randint(0, 3, size=shape).astype(np.float64)


# (label, tags, A_prev shape, f, n_C, stride, pad)
_CONV = (
    ("stride 2, pad 0, 5x7 input", ("stride", "pad0", "nonsquare"), (2, 5, 7, 3), 3, 2, 2, 0),
    (
        "stride 3, pad 2, f 2, 8x6 input (windows do not tile)",
        ("stride", "nonsquare"),
        (2, 8, 6, 2),
        2,
        3,
        3,
        2,
    ),
    (
        "f 1, pad 0, one input channel, 4x3 input",
        ("f1", "pad0", "channels", "nonsquare"),
        (3, 4, 3, 1),
        1,
        2,
        1,
        0,
    ),
    (
        "f equal to the input height, pad 0, 4x6 input, batch of 1",
        ("fH", "pad0", "nonsquare"),
        (1, 4, 6, 2),
        4,
        3,
        1,
        0,
    ),
    ("stride 2, pad 1, 6x6 input, 4 channels", ("stride", "channels"), (2, 6, 6, 4), 3, 4, 2, 1),
)
# (label, tags, A_prev shape, f, stride)
_POOL = (
    ("f 3, stride 1 (overlapping windows), 6x5 input", ("overlap", "nonsquare"), (2, 6, 5, 2), 3, 1),
    ("f 2, stride 2, 4x6 input", ("stride", "nonsquare"), (2, 4, 6, 3), 2, 2),
    ("f 2, stride 3, 7x8 input (windows do not tile)", ("stride", "nonsquare"), (1, 7, 8, 2), 2, 3),
    (
        "f equal to the input height, stride 1, 4x6 input, one channel",
        ("fH", "nonsquare", "channels"),
        (2, 4, 6, 1),
        4,
        1,
    ),
)
_PAD = (
    ("pad 0", ("pad0",), (2, 3, 4, 2), 0),
    ("pad 1, 3x5 input, one channel", ("nonsquare", "channels"), (2, 3, 5, 1), 1),
    ("pad 3, 4x2 input", ("nonsquare",), (1, 4, 2, 3), 3),
)
_STEP = (
    ("a 1x1 window, one channel", ("f1", "channels"), (1, 1, 1)),
    ("a 2x2 window, 3 channels", ("channels",), (2, 2, 3)),
    ("a 4x4 window, 8 channels", ("channels",), (4, 4, 8)),
)
_WINDOWS = (
    ("a 3x3 window", (), (3, 3)),
    ("a 1x1 window", ("f1",), (1, 1)),
    ("a 2x4 window", ("nonsquare",), (2, 4)),
)


def _conv_inputs(rs: np.random.RandomState, shape: tuple[int, ...], f: int, n_C: int, stride: int, pad: int):
    A_prev = rs.randn(*shape)
    W = rs.randn(f, f, shape[3], n_C)
    b = rs.randn(1, 1, 1, n_C)
    return A_prev, W, b, {"pad": pad, "stride": stride}


def _conv_out_shape(shape: tuple[int, ...], f: int, n_C: int, stride: int, pad: int) -> tuple[int, ...]:
    m, n_H_prev, n_W_prev, _ = shape
    return (m, (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1, n_C)


def _hidden(seed: int) -> list[Case]:
    """Every hidden case, in :data:`CALLS` order, with values drawn from ``seed``."""
    out: list[Case] = []
    k = 0

    def rs() -> np.random.RandomState:
        nonlocal k
        k += 1
        return _rs(seed, k)

    for label, tags, shape, pad in _PAD:
        out.append(Case("zero_pad", "zero_pad", label, tags, (rs().randn(*shape), pad), {}))
    for label, tags, shape in _STEP:
        r = rs()
        args = (r.randn(*shape), r.randn(*shape), r.randn(1, 1, 1))
        out.append(Case("conv_single_step", "conv_single_step", label, tags, args, {}))
    for label, tags, shape, f, n_C, stride, pad in _CONV:
        args = _conv_inputs(rs(), shape, f, n_C, stride, pad)
        out.append(Case("conv_forward", "conv_forward", label, tags, args, {}))
    for mode in ("max", "average"):
        for label, tags, shape, f, stride in _POOL:
            args = (rs().randn(*shape), {"f": f, "stride": stride}, mode)
            out.append(Case(f"pool_forward[{mode}]", "pool_forward", label, tags, args, {}))
    for label, tags, shape, f, n_C, stride, pad in _CONV:
        r = rs()
        A_prev, W, b, hp = _conv_inputs(r, shape, f, n_C, stride, pad)
        dZ = r.randn(*_conv_out_shape(shape, f, n_C, stride, pad))
        out.append(Case("conv_backward", "conv_backward", label, tags, (dZ, (A_prev, W, b, hp)), {}))
    for label, tags, shape in _WINDOWS:
        out.append(
            Case("create_mask_from_window", "create_mask_from_window", label, tags, (rs().randn(*shape),), {})
        )
    tied = _tied(rs(), (3, 3))
    tied[0, 2] = tied[2, 0] = tied.max() + 1  # two maxima, the first at (0, 2)
    out.append(
        Case(
            "create_mask_from_window",
            "create_mask_from_window",
            "a 3x3 window with tied maxima",
            ("ties",),
            (tied,),
            {},
            ties=True,
        )
    )
    for label, tags, shape in _WINDOWS:
        label = label.replace("window", "window, a random dz")
        out.append(
            Case("distribute_value", "distribute_value", label, tags, (float(rs().randn()), shape), {})
        )
    for mode in ("max", "average"):
        for label, tags, shape, f, stride in _POOL:
            r = rs()
            A_prev = r.randn(*shape)
            out_shape = (shape[0], (shape[1] - f) // stride + 1, (shape[2] - f) // stride + 1, shape[3])
            args = (r.randn(*out_shape), (A_prev, {"f": f, "stride": stride}), mode)
            out.append(Case(f"pool_backward[{mode}]", "pool_backward", label, tags, args, {}))
    r = rs()
    A_prev = _tied(r, (2, 4, 4, 2))
    args = (r.randn(2, 3, 3, 2), (A_prev, {"f": 2, "stride": 1}), "max")
    label = "f 2, stride 1, windows with tied maxima"
    out.append(Case("pool_backward[max]", "pool_backward", label, ("ties", "overlap"), args, {}, ties=True))
    return out


#: The kinds of hidden case per call (labels only; the values come from the seed).
HIDDEN: dict[str, list[str]] = {}
for _case in _hidden(0):
    HIDDEN.setdefault(_case.call, []).append(_case.label)


def _lab_cases() -> list[Case]:
    out = []
    for call in CALLS:
        args, kwargs = call.make_inputs()
        out.append(Case(call.name, call.function, LAB_LABEL, (), tuple(args), dict(kwargs)))
    return out


def cases(scheme: str, seed: int | None = None) -> list[Case]:
    """The cases of ``scheme``: per call, the lab's case first, then (``full``) its hidden cases.

    ``seed`` is required for ``full`` (see :func:`new_seed`); ``lab`` ignores it.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown marking scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    lab = _lab_cases()
    if scheme == "lab":
        return lab
    if seed is None:
        raise ValueError(
            "the full scheme needs a seed for its hidden cases (cnnlab.grading.cases.new_seed())"
        )
    hidden = _hidden(seed)
    order: list[Case] = []
    for case in lab:
        order.append(case)
        order += [h for h in hidden if h.call == case.call]
    return order
