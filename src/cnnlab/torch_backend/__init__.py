"""The PyTorch backend: the named models, the engine (one device or DDP), the predictor, the summary.

PyTorch is an optional extra: nothing outside this package imports torch, so the NumPy core works
without it. ``import cnnlab.torch_backend`` raises :class:`cnnlab.errors.MissingDependencyError`
(``pip install 'cnnlab[torch]'``) when torch is absent.
"""

from cnnlab.errors import require

require("torch", "torch")

from cnnlab.torch_backend.models import CNNClassifier, build_model, count_parameters  # noqa: E402

__all__ = ["CNNClassifier", "build_model", "count_parameters"]
