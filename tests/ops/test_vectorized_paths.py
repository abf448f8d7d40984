"""The vectorized ops' own machinery: batch chunks, reused scratch buffers, the optional fast paths.

Every result is compared with :mod:`cnnlab.ops.loops`, so a stale or shared scratch buffer shows up as a
wrong number.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cnnlab.ops as ops
from cnnlab.ops import loops, vectorized

TOL = 1e-12


def _conv_inputs(seed, m, n_H, n_W, c_in, c_out, f, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((m, n_H, n_W, c_in)).astype(dtype),
        rng.standard_normal((f, f, c_in, c_out)).astype(dtype),
        rng.standard_normal((1, 1, 1, c_out)).astype(dtype),
        rng,
    )


def _check_conv(A, W, b, hp, rng):
    Z_ref, cache_ref = loops.conv_forward(A, W, b, hp)
    Z, cache = ops.conv_forward(A, W, b, hp)
    np.testing.assert_allclose(Z, Z_ref, rtol=TOL, atol=TOL)
    dZ = rng.standard_normal(Z.shape)
    for got, ref in zip(ops.conv_backward(dZ, cache), loops.conv_backward(dZ, cache_ref), strict=True):
        np.testing.assert_allclose(got, ref, rtol=TOL, atol=TOL)


@pytest.fixture
def two_per_chunk(monkeypatch):
    """``set(bytes_per_image)``: chunks of two images, so 5 images run as 2 + 2 + 1."""

    def set_chunk(bytes_per_image: int) -> None:
        monkeypatch.setattr(vectorized, "CHUNK_BYTES", 2 * bytes_per_image)
        assert vectorized._chunk(5, bytes_per_image) == 2

    vectorized.clear_workspace()
    yield set_chunk
    vectorized.clear_workspace()


@pytest.mark.parametrize(("stride", "pad", "f"), [(1, 1, 3), (2, 0, 2), (2, 2, 3), (3, 1, 2)])
def test_conv_in_several_chunks(two_per_chunk, stride, pad, f):
    A, W, b, rng = _conv_inputs(0, 5, 6, 7, 2, 3, f)
    n_H, n_W = (6 - f + 2 * pad) // stride + 1, (7 - f + 2 * pad) // stride + 1
    two_per_chunk(n_H * n_W * f * f * 2 * A.itemsize)  # one image's rows of the im2col matrix
    _check_conv(A, W, b, {"stride": stride, "pad": pad}, rng)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(("f", "stride"), [(2, 2), (3, 2), (2, 3)])
def test_pool_in_several_chunks(two_per_chunk, mode, f, stride):
    rng = np.random.default_rng(1)
    A = np.round(rng.standard_normal((5, 7, 6, 3)), 1)  # ties
    two_per_chunk(A[0].nbytes)
    hp = {"f": f, "stride": stride}
    P_ref, c_ref = loops.pool_forward(A, hp, mode)
    P, c = ops.pool_forward(A, hp, mode)
    np.testing.assert_allclose(P, P_ref, rtol=TOL, atol=TOL)
    dP = rng.standard_normal(P.shape)
    np.testing.assert_allclose(ops.pool_backward(dP, c, mode), loops.pool_backward(dP, c_ref, mode), atol=TOL)


def test_scratch_buffers_do_not_leak_between_shapes():
    """Same padded size from different (size, pad) pairs, and dtypes in turn: each call stays exact."""
    cases = [
        ((2, 6, 6, 2), 1, np.float64),  # padded to 8x8
        ((2, 4, 4, 2), 2, np.float64),  # padded to 8x8 too, with a wider zero border
        ((2, 6, 6, 2), 1, np.float32),
        ((2, 6, 6, 2), 1, np.float64),
        ((2, 4, 4, 2), 2, np.float64),
    ]
    for seed, (shape, pad, dtype) in enumerate(cases):
        A, W, b, rng = _conv_inputs(seed, *shape, 3, 3, dtype=dtype)
        if dtype == np.float64:
            _check_conv(A, W, b, {"stride": 1, "pad": pad}, rng)
        else:
            Z, _ = ops.conv_forward(A, W, b, {"stride": 1, "pad": pad})
            Z_ref, _ = loops.conv_forward(A, W, b, {"stride": 1, "pad": pad})
            np.testing.assert_allclose(Z, Z_ref, rtol=1e-5, atol=1e-5)


def test_results_are_not_overwritten_by_later_calls():
    A, W, b, rng = _conv_inputs(3, 2, 5, 5, 2, 3, 3)
    hp = {"stride": 1, "pad": 1}
    Z1, cache1 = ops.conv_forward(A, W, b, hp)
    dZ = rng.standard_normal(Z1.shape)
    grads1 = ops.conv_backward(dZ, cache1)
    P1, pcache1 = ops.pool_forward(Z1, {"f": 2, "stride": 2})
    dA1 = ops.pool_backward(np.ones_like(P1), pcache1)
    saved = [x.copy() for x in (Z1, *grads1, P1, dA1)]
    Z2, cache2 = ops.conv_forward(A * 2, W, b, hp)  # same shapes: the same scratch buffers
    ops.conv_backward(dZ * 3, cache2)
    P2, pcache2 = ops.pool_forward(Z2, {"f": 2, "stride": 2})
    ops.pool_backward(np.ones_like(P2) * 5, pcache2)
    for before, now in zip(saved, (Z1, *grads1, P1, dA1), strict=True):
        np.testing.assert_array_equal(before, now)


def test_compute_dA_prev_false_skips_only_dA_prev():
    A, W, b, rng = _conv_inputs(4, 3, 6, 5, 2, 4, 3)
    _, cache = ops.conv_forward(A, W, b, {"stride": 2, "pad": 1})
    dZ = rng.standard_normal((3, 3, 3, 4))
    dA_prev, dW, db = ops.conv_backward(dZ, cache, compute_dA_prev=False)
    assert dA_prev is None
    _, dW_ref, db_ref = loops.conv_backward(dZ, cache)
    np.testing.assert_allclose(dW, dW_ref, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(db, db_ref, rtol=TOL, atol=TOL)


def test_cols_must_match_the_cache():
    A, W, b, _ = _conv_inputs(5, 2, 5, 5, 2, 3, 3)
    hp = {"stride": 1, "pad": 1}
    Z, cache, cols = ops.conv_forward_cols(A, W, b, hp)
    assert cols.shape == (2 * 5 * 5, 3 * 3 * 2) and cols.flags.writeable
    with pytest.raises(ValueError, match="cols has shape"):
        ops.conv_backward(np.ones_like(Z), cache, cols=cols.astype(np.float32))


def test_threads_use_their_own_scratch():
    """Two threads running the same shapes at once get the same results as one thread."""
    A, W, b, rng = _conv_inputs(6, 8, 12, 12, 3, 4, 3)
    hp = {"stride": 1, "pad": 1}
    dZ = rng.standard_normal((8, 12, 12, 4))

    def work(scale):
        Z, cache = ops.conv_forward(A * scale, W, b, hp)
        return [Z, *ops.conv_backward(dZ, cache)]

    expected = {s: work(s) for s in (1.0, -2.0)}
    with ThreadPoolExecutor(2) as pool:
        for _ in range(5):
            for s, got in zip((1.0, -2.0), pool.map(work, (1.0, -2.0)), strict=True):
                for x, y in zip(got, expected[s], strict=True):
                    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_worker_threads_give_the_same_results(monkeypatch, two_per_chunk, threads):
    """Chunks in 1, 2 or 3 worker threads: the same numbers as the loops, and BLAS threads restored."""
    from cnnlab.ops import _threads

    monkeypatch.setenv("CNNLAB_OPS_THREADS", threads)
    assert _threads.num_threads() == int(threads)
    blas_before = _threads._BLAS[0]() if _threads._BLAS else None
    A, W, b, rng = _conv_inputs(7, 5, 6, 6, 2, 3, 3)
    two_per_chunk(6 * 6 * 3 * 3 * 2 * A.itemsize)
    _check_conv(A, W, b, {"stride": 1, "pad": 1}, rng)
    two_per_chunk(A[0].nbytes)
    P_ref, c_ref = loops.pool_forward(A, {"f": 2, "stride": 1})
    P, c = ops.pool_forward(A, {"f": 2, "stride": 1})
    np.testing.assert_allclose(P, P_ref, atol=TOL)
    dP = rng.standard_normal(P.shape)
    np.testing.assert_allclose(ops.pool_backward(dP, c), loops.pool_backward(dP, c_ref), atol=TOL)
    if blas_before is not None:
        assert _threads._BLAS[0]() == blas_before


def test_bad_thread_setting_is_named(monkeypatch):
    from cnnlab.ops import _threads

    monkeypatch.setenv("CNNLAB_OPS_THREADS", "two")
    with pytest.raises(ValueError, match="CNNLAB_OPS_THREADS must be a positive integer, got 'two'"):
        _threads.num_threads()
