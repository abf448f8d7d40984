# zero_pad asks for 3 GiB (more than the memory limit); the two functions after it are right.
import numpy as np


def zero_pad(X, pad):
    big = np.ones(3 * 2**30 // 8)
    return big


def create_mask_from_window(x):
    return x == np.max(x)


def distribute_value(dz, shape):
    (n_H, n_W) = shape
    return np.ones(shape) * dz / (n_H * n_W)
