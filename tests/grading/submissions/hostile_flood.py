# zero_pad prints without end; the two functions after it are right.
import numpy as np


def zero_pad(X, pad):
    while True:
        print("spam " * 100)


def create_mask_from_window(x):
    return x == np.max(x)


def distribute_value(dz, shape):
    (n_H, n_W) = shape
    return np.ones(shape) * dz / (n_H * n_W)
