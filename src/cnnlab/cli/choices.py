"""The fixed choices of the command line's options, defined once for every command.

``Model``, ``RecipeName`` and ``Backend`` come from the registries
(:data:`cnnlab.architectures.ARCHITECTURES`, :data:`cnnlab.recipes.RECIPES`,
:data:`cnnlab.backends.BACKENDS`), so a new architecture, recipe or backend shows up in every
command's ``--help``.
"""

from __future__ import annotations

from enum import StrEnum

from cnnlab.architectures import ARCHITECTURES
from cnnlab.backends import BACKENDS
from cnnlab.recipes import RECIPES

Model = StrEnum("Model", {name: name for name in ARCHITECTURES})
RecipeName = StrEnum("RecipeName", {name: name for name in RECIPES})
Backend = StrEnum("Backend", {name: name for name in BACKENDS})


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class DType(StrEnum):
    float32 = "float32"
    float64 = "float64"


class Checkpoint(StrEnum):
    best = "best"
    last = "last"
