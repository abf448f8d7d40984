"""``cnnlab explore``: a Shiny app to explore convolution (forward and backward), pooling and a trained model.

Pure parts (no Shiny): :mod:`~cnnlab.explore.compute` (the numbers, from :mod:`cnnlab.ops`),
:mod:`~cnnlab.explore.explain` (logits, saliency, Grad-CAM from the run's backend),
:mod:`~cnnlab.explore.bounds` (every control's bounds, checked on the server) and
:mod:`~cnnlab.explore.html` (grids, maps, colour bars, the linking script). One Shiny module per tab:
:mod:`~cnnlab.explore.conv_tab`, :mod:`~cnnlab.explore.backward_tab`, :mod:`~cnnlab.explore.pool_tab`,
:mod:`~cnnlab.explore.model_tab`, with :mod:`~cnnlab.explore.inputs` (checked inputs, one-line messages).
:mod:`~cnnlab.explore.app` wires them (``create_app``); :mod:`~cnnlab.explore.serve` serves it. Import the
Shiny parts only when the ``web`` extra is installed.
"""
