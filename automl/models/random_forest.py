"""Random forest: bootstrap-aggregated decision trees."""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from automl.models.trees import BaggedTrees


class RandomForest(BaggedTrees):
    key = "random_forest"
    classifier = RandomForestClassifier
    regressor = RandomForestRegressor
