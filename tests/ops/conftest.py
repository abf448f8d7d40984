"""Fixtures for the ops tests: ``impl`` runs a test against both implementations."""

from __future__ import annotations

import pytest

import cnnlab.ops as vectorized
from cnnlab.ops import loops

IMPLS = {"loops": loops, "vectorized": vectorized}


@pytest.fixture(params=sorted(IMPLS))
def impl(request):
    """The module under test: ``cnnlab.ops.loops`` or ``cnnlab.ops`` (vectorized)."""
    return IMPLS[request.param]
