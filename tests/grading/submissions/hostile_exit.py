# zero_pad calls sys.exit(3); the two functions after it are right.
import sys

import numpy as np


def zero_pad(X, pad):
    sys.exit(3)


def create_mask_from_window(x):
    return x == np.max(x)


def distribute_value(dz, shape):
    (n_H, n_W) = shape
    return np.ones(shape) * dz / (n_H * n_W)
