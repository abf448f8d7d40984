# zero_pad never returns; the two functions after it are right (10 marks).
import numpy as np


def zero_pad(X, pad):
    while True:
        pass


def create_mask_from_window(x):
    return x == np.max(x)


def distribute_value(dz, shape):
    (n_H, n_W) = shape
    return np.ones(shape) * dz / (n_H * n_W)
