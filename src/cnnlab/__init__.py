"""cnnlab: the CNN lab as software.

Layers of the package (see docs/architecture.md):

- ``cnnlab.ops``            the lab's eight functions, vectorized (``cnnlab.ops.loops``: as taught)
- ``cnnlab.nn``             a small NumPy network framework on top of the ops, and its trainer
- ``cnnlab.data``           image folders, the decoded-image cache, augmentation, the built-in dataset
- ``cnnlab.torch_backend``  the same models in PyTorch (optional extra)
- ``cnnlab.runs``           the run directory both trainers write, plots and the HTML report
- ``cnnlab.grading``        the lab's auto-grader
- ``cnnlab.explore``        the Shiny explorer (optional extra)
- ``cnnlab.cli``            the ``cnnlab`` command

Only NumPy is needed to import ``cnnlab`` and ``cnnlab.ops``.
"""

__version__ = "0.1.0"
