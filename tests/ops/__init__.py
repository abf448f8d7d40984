"""Tests of cnnlab.ops (loops and vectorized)."""
