"""Distributed AutoML on Ray: search, ensembles, serving.

The public surface is small: `AutoML`, the scikit-learn estimators, `JobSpec`, and the
typed errors a user can cause.
"""

from automl.api import AutoML
from automl.errors import ArtifactError, AutoMLError, DataError, SearchError, SpecError
from automl.estimators import AutoMLClassifier, AutoMLRegressor
from automl.spec import JobSpec

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "AutoML",
    "AutoMLClassifier",
    "AutoMLError",
    "AutoMLRegressor",
    "DataError",
    "JobSpec",
    "SearchError",
    "SpecError",
    "__version__",
]
