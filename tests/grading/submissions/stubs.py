# The notebook's stubs, untouched: every function raises NotImplementedError.
import numpy as np


def zero_pad(X, pad):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def conv_single_step(a_slice_prev, W, b):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def conv_forward(A_prev, W, b, hparameters):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def pool_forward(A_prev, hparameters, mode="max"):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def conv_backward(dZ, cache):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def create_mask_from_window(x):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def distribute_value(dz, shape):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError


def pool_backward(dA, cache, mode="max"):
    # YOUR CODE STARTS HERE

    # YOUR CODE ENDS HERE
    raise NotImplementedError
