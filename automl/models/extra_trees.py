"""Extremely randomised trees: random splits, a strong and cheap ensemble member."""

from __future__ import annotations

from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

from automl.models.trees import BaggedTrees


class ExtraTrees(BaggedTrees):
    key = "extra_trees"
    classifier = ExtraTreesClassifier
    regressor = ExtraTreesRegressor
