"""The lab's eight NumPy functions, vectorized (the default); :mod:`cnnlab.ops.loops` has them as taught.

>>> from cnnlab.ops import conv_forward, conv_backward, pool_forward, pool_backward

Conventions: NHWC activations ``(m, n_H, n_W, n_C)``; conv weights ``W (f, f, n_C_prev, n_C)`` and biases
``b (1, 1, 1, n_C)``; conv ``hparameters={"stride", "pad"}``, pool ``{"f", "stride"}``; output size
``n_H = floor((n_H_prev - f + 2*pad) / stride) + 1``; conv is cross-correlation; conv cache
``(A_prev, W, b, hparameters)``, pool cache ``(A_prev, hparameters)``; max-pool ties send the gradient to
the first maximum in row-major order (as PyTorch). Bad input raises ``ValueError`` naming the shapes.

Beyond the lab's signatures, all optional: ``conv_backward(dZ, cache, compute_dA_prev=False)`` skips the
input gradient (a network's first layer) and returns ``None`` in its place; ``conv_forward_cols`` /
``conv_backward(..., cols=...)`` hand the im2col matrix from the forward to the backward pass instead of
rebuilding it (rebuilding chunk by chunk is about as fast, and holds no big array between the passes).
Batches run in chunks on ``CNNLAB_OPS_THREADS`` worker threads (default: the CPUs available).
"""

from cnnlab.ops.vectorized import (
    conv_backward,
    conv_forward,
    conv_forward_cols,
    conv_single_step,
    create_mask_from_window,
    distribute_value,
    pool_backward,
    pool_forward,
    zero_pad,
)

__all__ = [
    "conv_backward",
    "conv_forward",
    "conv_forward_cols",
    "conv_single_step",
    "create_mask_from_window",
    "distribute_value",
    "pool_backward",
    "pool_forward",
    "zero_pad",
]
