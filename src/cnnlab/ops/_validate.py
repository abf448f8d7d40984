"""Shape and hyper-parameter checks shared by :mod:`cnnlab.ops.loops` and the vectorized ops.

Every check raises :class:`ValueError` with a one-line message that names the function, the problem and
the shapes involved, e.g. ``conv_forward: A_prev has 5 channels but W expects 3 (W.shape=(3, 3, 3, 8))``.
Both implementations call the same checks, so they accept and reject exactly the same inputs.

Output size of a window of side ``f`` moved with ``stride`` over ``n`` (plus ``2*pad`` zeros)::

    n_out = floor((n - f + 2*pad) / stride) + 1
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

POOL_MODES = ("max", "average")


def as_array(x: Any, name: str, func: str, ndim: int | None = None) -> np.ndarray:
    """``np.asarray(x)``, checking the number of dimensions when ``ndim`` is given."""
    arr = np.asarray(x)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{func}: {name} must be {ndim}-D but has shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{func}: {name} must be numeric, got dtype {arr.dtype}")
    return arr


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype results are computed in: the inputs' common float type (float32 stays float32).

    Integer or boolean inputs compute in float64.
    """
    dt = np.result_type(*arrays)
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def int_param(value: Any, name: str, func: str, minimum: int) -> int:
    """``value`` as a Python int >= ``minimum``; floats (even 2.0), bools and strings are refused."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{func}: {name} must be an integer, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        kind = type(value).__name__
        raise ValueError(f"{func}: {name} must be an integer, got {value!r} ({kind})") from None
    if out < minimum:
        raise ValueError(f"{func}: {name} must be >= {minimum}, got {out}")
    return out


def get_hparams(hparameters: Any, keys: tuple[str, ...], func: str) -> dict[str, Any]:
    """The values of ``keys`` in ``hparameters`` (a mapping); names every missing key."""
    if not isinstance(hparameters, Mapping):
        raise ValueError(
            f"{func}: hparameters must be a dict with keys {list(keys)}, got {type(hparameters).__name__}"
        )
    missing = [k for k in keys if k not in hparameters]
    if missing:
        raise ValueError(
            f"{func}: hparameters is missing {missing} "
            f"(expected keys {list(keys)}, got {sorted(map(str, hparameters))})"
        )
    return {k: hparameters[k] for k in keys}


def out_size(n: int, f: int, stride: int, pad: int) -> int:
    """``floor((n - f + 2*pad) / stride) + 1``."""
    return (n - f + 2 * pad) // stride + 1


def conv_params(A_prev: Any, W: Any, b: Any, hparameters: Any, func: str = "conv_forward"):
    """Check conv inputs; returns ``(A_prev, W, b, stride, pad, (m, n_H, n_W, n_C))`` as arrays and ints.

    A_prev: (m, n_H_prev, n_W_prev, n_C_prev); W: (f, f, n_C_prev, n_C); b: (1, 1, 1, n_C).
    """
    A_prev = as_array(A_prev, "A_prev", func, 4)
    W = as_array(W, "W", func, 4)
    b = as_array(b, "b", func)
    hp = get_hparams(hparameters, ("stride", "pad"), func)
    stride = int_param(hp["stride"], "stride", func, 1)
    pad = int_param(hp["pad"], "pad", func, 0)
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, f2, w_C_prev, n_C = W.shape
    if f != f2:
        raise ValueError(f"{func}: W must be square (f, f, n_C_prev, n_C), got W.shape={W.shape}")
    if f < 1 or n_C < 1:
        raise ValueError(f"{func}: W must have f >= 1 and n_C >= 1, got W.shape={W.shape}")
    if n_C_prev != w_C_prev:
        raise ValueError(
            f"{func}: A_prev has {n_C_prev} channels but W expects {w_C_prev} (W.shape={W.shape})"
        )
    if b.shape != (1, 1, 1, n_C):
        raise ValueError(
            f"{func}: b must have shape (1, 1, 1, {n_C}) to match W.shape={W.shape}, got {b.shape}"
        )
    if f > n_H_prev + 2 * pad or f > n_W_prev + 2 * pad:
        raise ValueError(
            f"{func}: window f={f} is larger than the padded input "
            f"({n_H_prev + 2 * pad}x{n_W_prev + 2 * pad} from A_prev.shape={A_prev.shape}, pad={pad})"
        )
    out_shape = (m, out_size(n_H_prev, f, stride, pad), out_size(n_W_prev, f, stride, pad), n_C)
    return A_prev, W, b, stride, pad, out_shape


def conv_cache(dZ: Any, cache: Any, func: str = "conv_backward"):
    """Unpack and check a conv cache ``(A_prev, W, b, hparameters)`` against ``dZ``.

    Returns ``(dZ, A_prev, W, b, stride, pad)``.
    """
    if not isinstance(cache, tuple | list) or len(cache) != 4:
        raise ValueError(f"{func}: cache must be the tuple (A_prev, W, b, hparameters) from conv_forward")
    A_prev, W, b, stride, pad, out_shape = conv_params(*cache, func=func)
    dZ = as_array(dZ, "dZ", func)
    if dZ.shape != out_shape:
        raise ValueError(
            f"{func}: dZ has shape {dZ.shape} but the cache gives Z shape {out_shape} "
            f"(A_prev.shape={A_prev.shape}, W.shape={W.shape}, stride={stride}, pad={pad})"
        )
    return dZ, A_prev, W, b, stride, pad


def pool_params(A_prev: Any, hparameters: Any, mode: Any, func: str = "pool_forward"):
    """Check pool inputs; returns ``(A_prev, f, stride, (m, n_H, n_W, n_C))``.

    A_prev: (m, n_H_prev, n_W_prev, n_C_prev); hparameters {"f", "stride"}; mode "max" or "average".
    """
    if mode not in POOL_MODES:
        raise ValueError(f"{func}: mode must be one of {list(POOL_MODES)}, got {mode!r}")
    A_prev = as_array(A_prev, "A_prev", func, 4)
    hp = get_hparams(hparameters, ("f", "stride"), func)
    f = int_param(hp["f"], "f", func, 1)
    stride = int_param(hp["stride"], "stride", func, 1)
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    if f > n_H_prev or f > n_W_prev:
        raise ValueError(f"{func}: window f={f} is larger than the input (A_prev.shape={A_prev.shape})")
    out_shape = (m, out_size(n_H_prev, f, stride, 0), out_size(n_W_prev, f, stride, 0), n_C)
    return A_prev, f, stride, out_shape


def pool_cache(dA: Any, cache: Any, mode: Any, func: str = "pool_backward"):
    """Unpack and check a pool cache ``(A_prev, hparameters)`` against ``dA``.

    Returns ``(dA, A_prev, f, stride)``.
    """
    if not isinstance(cache, tuple | list) or len(cache) != 2:
        raise ValueError(f"{func}: cache must be the tuple (A_prev, hparameters) from pool_forward")
    A_prev, f, stride, out_shape = pool_params(cache[0], cache[1], mode, func=func)
    dA = as_array(dA, "dA", func)
    if dA.shape != out_shape:
        raise ValueError(
            f"{func}: dA has shape {dA.shape} but the cache gives A shape {out_shape} "
            f"(A_prev.shape={A_prev.shape}, f={f}, stride={stride})"
        )
    return dA, A_prev, f, stride


def zero_pad_params(X: Any, pad: Any, func: str = "zero_pad") -> tuple[np.ndarray, int]:
    """X: (m, n_H, n_W, n_C); pad: int >= 0."""
    return as_array(X, "X", func, 4), int_param(pad, "pad", func, 0)


def single_step_params(a_slice_prev: Any, W: Any, b: Any, func: str = "conv_single_step"):
    """a_slice_prev and W: the same shape (f, f, n_C_prev); b: one value (e.g. shape (1, 1, 1))."""
    a = as_array(a_slice_prev, "a_slice_prev", func)
    W = as_array(W, "W", func)
    b = as_array(b, "b", func)
    if a.shape != W.shape:
        raise ValueError(f"{func}: a_slice_prev.shape={a.shape} must equal W.shape={W.shape}")
    if b.size != 1:
        raise ValueError(f"{func}: b must hold one value (shape (1, 1, 1)), got shape {b.shape}")
    return a, W, b


def window_param(x: Any, func: str = "create_mask_from_window") -> np.ndarray:
    """x: a non-empty window, usually (f, f)."""
    x = as_array(x, "x", func)
    if x.size == 0:
        raise ValueError(f"{func}: x must not be empty, got shape {x.shape}")
    return x


def distribute_params(dz: Any, shape: Any, func: str = "distribute_value") -> tuple[Any, tuple[int, int]]:
    """dz: a scalar; shape: (n_H, n_W) with positive ints."""
    arr = np.asarray(dz)
    if arr.size != 1:
        raise ValueError(f"{func}: dz must be a single value, got shape {arr.shape}")
    try:
        n_H, n_W = shape
    except (TypeError, ValueError):
        raise ValueError(f"{func}: shape must be a pair (n_H, n_W), got {shape!r}") from None
    return arr.reshape(()), (int_param(n_H, "n_H", func, 1), int_param(n_W, "n_W", func, 1))
