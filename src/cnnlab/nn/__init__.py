"""A small NumPy network framework on :mod:`cnnlab.ops`: layers, losses, optimizers, the named models.

>>> from cnnlab.nn import build_model, softmax_cross_entropy, Adam
>>> model = build_model("cnn", seed=0)                 # the lab's CNNClassifier, float32, NHWC input
>>> opt = Adam(model.parameters(), lr=1e-3)
>>> logits = model.forward(x)                           # x: (N, 64, 64, 3) float32
>>> loss, dlogits = softmax_cross_entropy(logits, y)    # fused gradient (p - onehot) / N
>>> model.backward(dlogits); opt.step(model.gradients())

The trainer (:mod:`cnnlab.nn.trainer`) and the predictor (:mod:`cnnlab.nn.predictor`) build on these.
"""

from cnnlab.nn.ema import WeightAverage
from cnnlab.nn.layers import AvgPool2D, Conv2D, Dense, Dropout, Flatten, Layer, Linear, MaxPool2D, ReLU
from cnnlab.nn.losses import (
    cross_entropy,
    log_softmax,
    smoothed_targets,
    soft_cross_entropy,
    softmax,
    softmax_cross_entropy,
)
from cnnlab.nn.model import Sequential, build_model
from cnnlab.nn.optim import SGD, Adam, AdamW, Optimizer, make_optimizer

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "Linear",
    "MaxPool2D",
    "Optimizer",
    "ReLU",
    "Sequential",
    "WeightAverage",
    "build_model",
    "cross_entropy",
    "log_softmax",
    "make_optimizer",
    "smoothed_targets",
    "soft_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
]
