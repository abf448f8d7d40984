"""Move a state dict between the NumPy layouts of :mod:`cnnlab.nn` and PyTorch's.

=============  ============================  =========================
parameter      NumPy (``cnnlab.nn``)          PyTorch
=============  ============================  =========================
conv weight    ``(f, f, C_in, C_out)``        ``(C_out, C_in, f, f)``
conv bias      ``(1, 1, 1, C_out)``           ``(C_out,)``
linear weight  ``(in, out)``                  ``(out, in)``
linear bias    ``(out,)``                     ``(out,)``
=============  ============================  =========================

Names are the same in both (``"{index}.weight"``). Flatten uses PyTorch's ``(C, H, W)`` order in both
backends, so a Linear weight only needs a transpose. The functions take and return NumPy arrays (pass
``{k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}`` from PyTorch); no torch import.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def to_torch_layout(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """NumPy state dict -> arrays in PyTorch's layouts (contiguous copies)."""
    out = {}
    for k, v in state.items():
        v = np.asarray(v)
        if v.ndim == 4 and k.endswith(".weight"):  # conv W (f, f, Cin, Cout) -> (Cout, Cin, f, f)
            v = v.transpose(3, 2, 0, 1)
        elif v.ndim == 4 and k.endswith(".bias"):  # conv b (1, 1, 1, Cout) -> (Cout,)
            v = v.reshape(-1)
        elif v.ndim == 2 and k.endswith(".weight"):  # linear W (in, out) -> (out, in)
            v = v.T
        elif v.ndim != 1:
            raise ValueError(f"to_torch_layout: cannot place {k} of shape {v.shape}")
        out[k] = np.ascontiguousarray(v)
    return out


def from_torch_layout(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays in PyTorch's layouts -> NumPy state dict (contiguous copies).

    A 1-D bias is taken as a conv bias when the same layer's weight is 4-D.
    """
    out = {}
    for k, v in state.items():
        v = np.asarray(v)
        if v.ndim == 4 and k.endswith(".weight"):  # (Cout, Cin, f, f) -> (f, f, Cin, Cout)
            v = v.transpose(2, 3, 1, 0)
        elif v.ndim == 2 and k.endswith(".weight"):  # (out, in) -> (in, out)
            v = v.T
        elif v.ndim == 1 and k.endswith(".bias"):
            weight = state.get(k[: -len("bias")] + "weight")
            if weight is not None and np.ndim(weight) == 4:
                v = v.reshape(1, 1, 1, -1)
        else:
            raise ValueError(f"from_torch_layout: cannot place {k} of shape {v.shape}")
        out[k] = np.ascontiguousarray(v)
    return out
