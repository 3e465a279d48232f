"""Feature engineering: the preprocessing each trial's pipeline starts with."""

from automl.features.preprocessing import DatetimeFeatures, build_preprocessor

__all__ = ["DatetimeFeatures", "build_preprocessor"]
