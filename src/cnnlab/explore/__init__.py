"""``cnnlab explore``: a Shiny app to explore convolution, pooling and a trained model.

:mod:`cnnlab.explore.compute` holds the numbers (from :mod:`cnnlab.ops`) and needs no Shiny;
:mod:`cnnlab.explore.app` builds the page (``create_app``) and serves it (``serve``); import it only
when the ``web`` extra is installed.
"""
