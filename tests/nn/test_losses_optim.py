"""Softmax cross-entropy and the optimizers against PyTorch (float64) and centred differences."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.nn import SGD, Adam, AdamW, cross_entropy, log_softmax, softmax, softmax_cross_entropy
from cnnlab.nn.optim import make_optimizer
from tests.oracles import numerical_gradient, rel_error


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_gradient_is_fused_and_exact(eps):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    loss, dz = softmax_cross_entropy(z, y, eps)
    assert loss == pytest.approx(cross_entropy(z, y, eps), rel=1e-15)
    num = numerical_gradient(lambda z_: np.array(cross_entropy(z_, y, eps)), z.copy(), np.array(1.0))
    assert rel_error(dz, num) < 1e-8
    # the fused form, from its definition
    target = (1 - eps) * np.eye(4)[y] + eps / 4
    np.testing.assert_allclose(dz, (softmax(z) - target) / 6, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_matches_torch(eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z = rng.standard_normal((8, 3)) * 5
    y = rng.integers(0, 3, 8)
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(y), label_smoothing=eps)
    lt.backward()
    loss, dz = softmax_cross_entropy(z, y, eps)
    assert loss == pytest.approx(lt.item(), rel=1e-13)
    assert rel_error(dz, zt.grad.numpy()) < 1e-13


def test_softmax_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0], [-1000.0, 1000.0]], dtype=np.float32)
    p = softmax(z)
    assert np.isfinite(p).all() and p.dtype == np.float32
    np.testing.assert_allclose(p, [[1, 0], [0, 1]])
    assert np.isfinite(log_softmax(z)).all()
    loss, dz = softmax_cross_entropy(z, np.array([1, 0]))
    assert loss == pytest.approx((1000.0 + 2000.0) / 2, rel=1e-6) and np.isfinite(dz).all()


def test_cross_entropy_rejects_bad_labels():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]"):
        softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        softmax_cross_entropy(z, np.array([0]))
    with pytest.raises(ValueError, match="logits must be"):
        softmax_cross_entropy(np.zeros(3), np.array([0]))


CASES = [
    ("sgd", {"momentum": 0.0, "weight_decay": 0.0}),
    ("sgd", {"momentum": 0.9, "weight_decay": 1e-2}),
    ("adam", {"weight_decay": 0.0}),
    ("adam", {"weight_decay": 1e-2}),
    ("adamw", {"weight_decay": 5e-2}),
]


@pytest.mark.parametrize(("name", "kw"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_optimizers_match_torch(name, kw):
    """Five steps with changing learning rates give torch.optim's parameters (float64)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    shapes = {"0.weight": (3, 3, 2, 4), "0.bias": (1, 1, 1, 4), "2.weight": (5, 2)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    lr = 0.05
    if name == "sgd":
        topt = torch.optim.SGD(list(tparams.values()), lr=lr, **kw)
        opt = SGD(params, lr=lr, **kw)
    elif name == "adam":
        topt = torch.optim.Adam(list(tparams.values()), lr=lr, **kw)
        opt = Adam(params, lr=lr, **kw)
    else:
        topt = torch.optim.AdamW(list(tparams.values()), lr=lr, **kw)
        opt = AdamW(params, lr=lr, **kw)
    for step in range(5):
        grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
        lr_now = lr * (1 + step) / 3
        opt.lr = lr_now
        for group in topt.param_groups:
            group["lr"] = lr_now
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        topt.step()
        opt.step(grads)
    for k in shapes:
        assert rel_error(params[k], tparams[k].detach().numpy()) < 1e-13, k


def test_optimizer_state_roundtrip():
    rng = np.random.default_rng(3)
    a = {"w": rng.standard_normal((4, 3))}
    b = {"w": a["w"].copy()}
    opt_a = Adam(a, lr=0.1, weight_decay=0.1, decoupled=True)
    grads = [{"w": rng.standard_normal((4, 3))} for _ in range(4)]
    for g in grads[:2]:
        opt_a.step(g)
    b["w"][...] = a["w"]
    opt_b = Adam(b, lr=0.1, weight_decay=0.1, decoupled=True)
    opt_b.load_state_dict(opt_a.state_dict())
    for g in grads[2:]:
        opt_a.step(g)
        opt_b.step(g)
    np.testing.assert_array_equal(a["w"], b["w"])
    assert opt_b.t == 4


def test_optimizer_errors():
    p = {"w": np.zeros(3)}
    with pytest.raises(ValueError, match=r"no gradient for \['w'\]"):
        Adam(p).step({})
    with pytest.raises(ValueError, match=r"gradient of w has shape \(2,\), parameter has \(3,\)"):
        SGD(p, lr=0.1).step({"w": np.zeros(2)})
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop", p, 0.1)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_mixed_targets_match_torch_mixup_loss_in_float64(eps):
    """Mixup's loss ``lam * CE(z, y) + (1 - lam) * CE(z, y[perm])`` as PyTorch computes it, against the
    NumPy trainer's form: one cross-entropy with the blended target."""
    torch = pytest.importorskip("torch")
    from cnnlab.nn.losses import smoothed_targets, soft_cross_entropy

    rng = np.random.default_rng(3)
    z = rng.standard_normal((7, 3)) * 4
    y = rng.integers(0, 3, 7)
    perm, lam = rng.permutation(7), 0.37
    zt = torch.tensor(z, requires_grad=True)
    ce = torch.nn.functional.cross_entropy
    yt = torch.tensor(y)
    lt = lam * ce(zt, yt, label_smoothing=eps) + (1 - lam) * ce(zt, yt[perm], label_smoothing=eps)
    lt.backward()
    target = lam * smoothed_targets(y, 3, eps, np.float64) + (1 - lam) * smoothed_targets(
        y[perm], 3, eps, np.float64
    )
    loss, dz = soft_cross_entropy(z, target)
    assert loss == pytest.approx(lt.item(), rel=1e-13)
    assert rel_error(dz, zt.grad.numpy()) < 1e-13
    num = numerical_gradient(lambda z_: np.array(soft_cross_entropy(z_, target)[0]), z.copy(), np.array(1.0))
    assert rel_error(dz, num) < 1e-8
    # with a one-hot target it is the ordinary loss
    hard = soft_cross_entropy(z, smoothed_targets(y, 3, eps, np.float64))
    assert hard[0] == pytest.approx(cross_entropy(z, y, eps), rel=1e-14)


def test_soft_cross_entropy_names_mismatched_shapes():
    from cnnlab.nn.losses import soft_cross_entropy

    with pytest.raises(ValueError, match=r"logits \(4, 2\) and target \(4, 3\)"):
        soft_cross_entropy(np.zeros((4, 2)), np.zeros((4, 3)))
