"""The backends, by name: ``BACKENDS["numpy"]``, ``BACKENDS["torch"]``. Nothing else chooses by string.

Each :class:`Backend` entry says how to start its runtime (threads, device, processes: the training
engine of :mod:`cnnlab.engine.protocol`), how to check the settings that concern it, how to load a
trained run's predictor, and how to print a model's layer table. Its modules are imported on first use
(PyTorch only when the torch backend is used). Adding a backend is one module and one entry here.

Default threads (``--threads`` not given) do not oversubscribe the machine: the NumPy ops use the CPUs
this process may use (at most 8, :mod:`cnnlab.ops._threads`); PyTorch uses
:func:`cnnlab.torch_backend.device.default_torch_threads`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cnnlab.errors import CnnlabError, require

if TYPE_CHECKING:
    from cnnlab.engine.protocol import Runtime
    from cnnlab.engine.settings import TrainSettings
    from cnnlab.predict import Predictor
    from cnnlab.rundir import RunDir


def _numpy_engine() -> ModuleType:
    from cnnlab.nn import engine

    return engine


def _numpy_predictor() -> ModuleType:
    from cnnlab.nn import predictor

    return predictor


def _numpy_summary() -> ModuleType:
    from cnnlab.nn import summary

    return summary


def _torch_engine() -> ModuleType:
    require("torch", "torch")
    from cnnlab.torch_backend import engine

    return engine


def _torch_predictor() -> ModuleType:
    require("torch", "torch")
    from cnnlab.torch_backend import predictor

    return predictor


def _torch_summary() -> ModuleType:
    require("torch", "torch")
    from cnnlab.torch_backend import summary

    return summary


@dataclass(frozen=True)
class Backend:
    """One backend: its name, its checkpoints' suffix and where its parts live (imported lazily)."""

    name: str
    suffix: str  # of best/last checkpoints
    engine_module: Any  # () -> module with problems(settings), start(settings) -> Runtime
    predictor_module: Any  # () -> module with load(run, checkpoint) -> Predictor
    summary_module: Any  # () -> module with layer_table(...), layer_rows(...)

    def problems(self, settings: TrainSettings) -> list[str]:
        """One line per setting this backend cannot use (``--device cuda`` with NumPy...)."""
        return self.engine_module().problems(settings)

    def start(self, settings: TrainSettings) -> Runtime:
        """Set threads and device, join the other processes (DDP); the runtime builds the engine."""
        return self.engine_module().start(settings)

    def load_predictor(self, run: RunDir, checkpoint: str = "best") -> Predictor:
        return self.predictor_module().load(run, checkpoint)

    def layer_table(self, model: str, image_size: int | None, num_classes: int, dropout: float) -> str:
        return self.summary_module().layer_table(model, image_size, num_classes, dropout)

    def layer_rows(
        self, model: str, image_size: int | None, num_classes: int, dropout: float
    ) -> list[dict[str, Any]]:
        return self.summary_module().layer_rows(model, image_size, num_classes, dropout)


BACKENDS: dict[str, Backend] = {
    "numpy": Backend("numpy", ".npz", _numpy_engine, _numpy_predictor, _numpy_summary),
    "torch": Backend("torch", ".pt", _torch_engine, _torch_predictor, _torch_summary),
}


def get_backend(name: str | None) -> Backend:
    """``BACKENDS[name]``; ``ValueError`` naming the choices for an unknown name."""
    try:
        return BACKENDS[str(name)]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None


def backend_or_error(name: str | None) -> Backend:
    """:func:`get_backend`, as a one-line :class:`CnnlabError` for users."""
    try:
        return get_backend(name)
    except ValueError as exc:
        raise CnnlabError(str(exc)) from None
