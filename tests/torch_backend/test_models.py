"""The torch models against the lab's own ``CNNClassifier`` (written out here as in the lab) and the specs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnnlab.architectures import get_architecture, output_shapes  # noqa: E402
from cnnlab.torch_backend import CNNClassifier, build_model, count_parameters  # noqa: E402


class LabCNN(nn.Module):
    """The lab notebook's Part-2 model, verbatim in structure."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, 2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = x.view(-1, 64 * 8 * 8)
        return self.fc2(F.relu(self.fc1(x)))


def test_cnn_has_the_labs_parameter_count_and_names():
    model = build_model("cnn")
    # 3*3*3*16+16 + 3*3*16*32+32 + 3*3*32*64+64 + 4096*128+128 + 128*2+2, counted by hand
    assert count_parameters(model) == 448 + 4640 + 18496 + 524416 + 258 == 548_258
    names = [n for n, _ in model.named_parameters()]
    assert names == [
        "0.weight",
        "0.bias",
        "3.weight",
        "3.bias",
        "6.weight",
        "6.bias",
        "10.weight",
        "10.bias",
        "12.weight",
        "12.bias",
    ]
    assert isinstance(model, CNNClassifier) and isinstance(model, nn.Sequential)


def test_cnn_computes_what_the_labs_class_computes():
    torch.manual_seed(0)
    lab = LabCNN().double()
    ours = build_model("cnn").double()
    lab_params = list(lab.parameters())
    with torch.no_grad():
        for p, q in zip(ours.parameters(), lab_params, strict=True):
            p.copy_(q)
    x = torch.randn(5, 3, 64, 64, dtype=torch.float64)
    torch.testing.assert_close(ours(x), lab(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["simple", "cnn"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_layer_shapes_follow_the_specs(name, dropout):
    size = {"simple": 16, "cnn": 64}[name]
    model = build_model(name, num_classes=3, dropout=dropout).eval()
    specs = get_architecture(name, 3, dropout)
    assert len(model) == len(specs)
    x = torch.zeros(2, 3, size, size)
    for layer, shape in zip(model, output_shapes(specs, size), strict=True):
        x = layer(x)
        assert tuple(x.shape[1:]) == shape, layer
    assert sum(isinstance(m, nn.Dropout) for m in model) == (
        0 if dropout == 0 else (1 if name == "simple" else 2)
    )


def test_other_image_sizes_resize_the_first_linear():
    model = build_model("cnn", image_size=32)
    assert model[10].in_features == 64 * 4 * 4
    assert build_model("simple", image_size=20)[4].in_features == 16 * 11 * 11


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "resnet"}, "unknown model 'resnet'"),
        ({"name": "cnn", "num_classes": 1}, "num_classes must be at least 2"),
        ({"name": "cnn", "dropout": 1.0}, "dropout must be in"),
        ({"name": "cnn", "image_size": 4}, "too small"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(**kwargs)
