"""Whole models: PyTorch parity (float64), gradient checks vs centred differences, summary vs torchinfo."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.nn import build_model, softmax_cross_entropy
from cnnlab.nn.convert import from_torch_layout, to_torch_layout
from cnnlab.nn.summary import summarize
from tests.oracles import nhwc_to_nchw, rel_error


def _torch_model(name, **kw):
    """The torch backend's model, float64 (skips when the backend is not there)."""
    torch = pytest.importorskip("torch")
    try:
        from cnnlab.torch_backend import build_model as torch_build
    except ImportError as exc:  # pragma: no cover - depends on the other part being present
        pytest.skip(f"cnnlab.torch_backend.build_model is not available: {exc}")
    torch.manual_seed(0)
    return torch_build(name, **kw).double()


@pytest.mark.torch
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cnn_matches_pytorch_logits_loss_and_every_gradient(eps):
    torch = pytest.importorskip("torch")
    tmodel = _torch_model("cnn")
    model = build_model("cnn", dtype=np.float64, seed=1)
    model.load_state_dict(from_torch_layout({k: v.numpy() for k, v in tmodel.state_dict().items()}))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 64, 64, 3))
    y = np.array([0, 1, 1, 0])

    logits = model.forward(x)
    loss, dlogits = softmax_cross_entropy(logits, y, eps)
    model.backward(dlogits)

    tlogits = tmodel(torch.tensor(nhwc_to_nchw(x)))
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.tensor(y), label_smoothing=eps)
    tloss.backward()
    assert rel_error(logits, tlogits.detach().numpy()) < 1e-10
    assert loss == pytest.approx(tloss.item(), rel=1e-10)
    tgrads = from_torch_layout({k: p.grad.numpy() for k, p in tmodel.named_parameters()})
    grads = model.gradients()
    assert sorted(grads) == sorted(tgrads)
    for k in grads:
        assert rel_error(grads[k], tgrads[k]) < 1e-10, k


def test_parameter_names_match_torch_sequential():
    tmodel = _torch_model("cnn", dropout=0.3)
    model = build_model("cnn", dropout=0.3)
    theirs = {k: tuple(v.shape) for k, v in tmodel.state_dict().items()}
    ours = {k: v.shape for k, v in to_torch_layout(model.state_dict()).items()}
    assert ours == theirs


def _loss_of(model, x, y, eps):
    return softmax_cross_entropy(model.forward(x), y, eps)[0]


@pytest.mark.parametrize(("name", "size"), [("simple", 6), ("cnn", 8)])
def test_whole_model_gradients_match_centred_differences(name, size):
    """dL/dparam for sampled entries of every parameter, and dL/dx, against centred differences."""
    rng = np.random.default_rng(2)
    model = build_model(name, image_size=size, num_classes=3, dtype=np.float64, seed=3, init="torch")
    x = rng.uniform(-1, 1, (3, size, size, 3))
    y = np.array([0, 2, 1])
    eps, h = 0.1, 1e-6
    _, dlogits = softmax_cross_entropy(model.forward(x), y, eps)
    dx = model.backward(dlogits)
    grads = {k: g.copy() for k, g in model.gradients().items()}
    for k, p in model.parameters().items():
        flat = p.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 40), replace=False)
        num = np.empty(picks.size)
        for j, i in enumerate(picks):
            old = flat[i]
            flat[i] = old + h
            plus = _loss_of(model, x, y, eps)
            flat[i] = old - h
            minus = _loss_of(model, x, y, eps)
            flat[i] = old
            num[j] = (plus - minus) / (2 * h)
        assert rel_error(grads[k].reshape(-1)[picks], num) < 1e-6, k
    xf = x.reshape(-1)
    picks = rng.choice(xf.size, size=40, replace=False)
    num = np.empty(picks.size)
    for j, i in enumerate(picks):
        old = xf[i]
        xf[i] = old + h
        plus = _loss_of(model, x, y, eps)
        xf[i] = old - h
        minus = _loss_of(model, x, y, eps)
        xf[i] = old
        num[j] = (plus - minus) / (2 * h)
    assert rel_error(dx.reshape(-1)[picks], num) < 1e-6


def test_state_dict_roundtrip_and_errors():
    a = build_model("simple", seed=0)
    b = build_model("simple", seed=1)
    assert not np.array_equal(a.parameters()["0.weight"], b.parameters()["0.weight"])
    b.load_state_dict(a.state_dict())
    for k, v in a.parameters().items():
        np.testing.assert_array_equal(v, b.parameters()[k])
    sd = a.state_dict()
    sd["0.weight"] += 1  # a copy: the model is untouched
    assert not np.array_equal(sd["0.weight"], a.parameters()["0.weight"])
    with pytest.raises(ValueError, match=r"missing \['4.bias'\]"):
        b.load_state_dict({k: v for k, v in sd.items() if k != "4.bias"})
    with pytest.raises(ValueError, match=r"0.weight has shape \(3, 3, 3, 15\) but the model expects"):
        b.load_state_dict({**sd, "0.weight": np.zeros((3, 3, 3, 15))})


def test_convert_roundtrip():
    sd = build_model("cnn", seed=0).state_dict()
    t = to_torch_layout(sd)
    assert (
        t["0.weight"].shape == (16, 3, 3, 3)
        and t["0.bias"].shape == (16,)
        and t["10.weight"].shape == (128, 4096)
    )
    back = from_torch_layout(t)
    for k in sd:
        np.testing.assert_array_equal(back[k], sd[k])


def test_build_model_shapes_and_init():
    model = build_model("simple")
    assert model.parameters()["4.weight"].shape == (1296, 2)  # 16 * 9 * 9 at 16x16
    assert model.dtype == np.float32
    big = build_model("cnn", seed=0, init="kaiming")
    w = big.parameters()["3.weight"]
    assert w.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 16)), rel=0.05)
    lab = build_model("cnn", seed=0, init="lab")
    assert lab.parameters()["3.weight"].std() == pytest.approx(0.01, rel=0.05)
    assert not lab.parameters()["3.bias"].any()
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown init"):
        build_model("simple", init="xavier")
    with pytest.raises(ValueError, match="too small"):
        build_model("cnn", image_size=4)


def test_same_seed_same_weights():
    a, b = build_model("cnn", seed=5), build_model("cnn", seed=5)
    for k, v in a.parameters().items():
        np.testing.assert_array_equal(v, b.parameters()[k])


@pytest.mark.torch
@pytest.mark.parametrize(
    ("name", "size", "dropout"), [("cnn", 64, 0.0), ("cnn", 32, 0.3), ("simple", 16, 0.0)]
)
def test_summary_matches_torchinfo(name, size, dropout):
    torchinfo = pytest.importorskip("torchinfo")
    tmodel = _torch_model(name, image_size=size, dropout=dropout).float()
    info = torchinfo.summary(tmodel, input_size=(1, 3, size, size), verbose=0)
    ours = summarize(build_model(name, image_size=size, dropout=dropout))
    leaves = [layer for layer in info.summary_list if layer.depth == 1]
    assert [r.layer.lower().replace("2d", "") for r in ours.rows] == [
        layer.class_name.lower().replace("2d", "") for layer in leaves
    ]
    assert [list(r.output_shape) for r in ours.rows] == [list(layer.output_size) for layer in leaves]
    assert [r.params for r in ours.rows] == [layer.num_params for layer in leaves]
    assert ours.total_params == info.total_params
    assert ours.trainable_params == info.trainable_params
    assert ours.total_mult_adds == info.total_mult_adds
    if (name, size) == ("cnn", 64):
        assert ours.total_params == 548_258
        assert "Total params: 548,258" in str(ours)


def test_backward_without_input_gradient_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(9)
    model = build_model("cnn", image_size=16, dtype=np.float64, seed=0)
    x = rng.uniform(-1, 1, (2, 16, 16, 3))
    _, d = softmax_cross_entropy(model.forward(x), np.array([0, 1]))
    assert model.backward(d.copy()).shape == x.shape
    full = {k: g.copy() for k, g in model.gradients().items()}
    model.forward(x)
    assert model.backward(d, input_grad=False) is None
    for k, g in model.gradients().items():
        np.testing.assert_array_equal(g, full[k])
