"""Moved to :mod:`cnnlab.training.crossval`; kept so old imports still work."""

from cnnlab.training.crossval import (  # noqa: F401
    CV_JSON,
    CrossValidation,
    FoldResult,
    cross_validate,
    stored_settings,
)
