"""What every backend is given and supplies, below the fit loop and the backends.

- :mod:`cnnlab.engine.settings`  :class:`TrainSettings`, their validation, the one resume rule
- :mod:`cnnlab.engine.protocol`  what a backend supplies: the engine and runtime protocols, the data
- :mod:`cnnlab.engine.average`   the weight average's rule (each backend gives its arithmetic)

The fit loop (:mod:`cnnlab.training`) and the backends (:mod:`cnnlab.nn.engine`,
:mod:`cnnlab.torch_backend.engine`) import these; they import nothing of either. This package's
``__init__`` imports nothing, so importing one of its modules loads only that module.
"""
