"""Feature selection after preprocessing: the top share of the columns by mutual
information with the target, or by a small forest's impurity importance.

Scored on a seeded sample of at most `MAX_SCORING_ROWS` training rows, so its cost stays
bounded as the table grows (k-NN estimates of mutual information grow as n log n per
column); keeping the columns is indexing, which the compiled path replays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

MAX_SCORING_ROWS = 2_000
#: trees of the forest a model-based selection scores with
FOREST_TREES = 50


class TopShare(TransformerMixin, BaseEstimator):
    """Keep the `share` of input columns (at least one) that score highest.

    Args:
        method: "mutual_info" or "model" (an extra-trees forest's importances).
        share: in (0, 1].
        classification: the target is class labels.
        seed: the scoring sample and the estimators.
    """

    def __init__(self, method: str = "mutual_info", share: float = 0.5, classification: bool = True, seed: int = 0):
        self.method = method
        self.share = share
        self.classification = classification
        self.seed = seed

    def fit(self, X: Any, y: Any) -> TopShare:
        n, width = X.shape
        self.n_features_in_ = width
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(n, size=MAX_SCORING_ROWS, replace=False)) if n > MAX_SCORING_ROWS else np.arange(n)
        Z = X[rows]
        Z = Z.toarray() if sparse.issparse(Z) else np.asarray(Z, dtype=np.float64)
        target = np.asarray(y)[rows]
        scores = self._scores(Z, target)
        keep = max(1, int(round(self.share * width)))
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        mask = np.zeros(width, dtype=bool)
        mask[order[:keep]] = True
        self.scores_ = scores
        self.support_ = mask
        return self

    def _scores(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.method == "mutual_info":
            score = mutual_info_classif if self.classification else mutual_info_regression
            return np.asarray(score(Z, y, random_state=self.seed), dtype=np.float64)
        if self.method == "model":
            forest = ExtraTreesClassifier if self.classification else ExtraTreesRegressor
            fitted = forest(n_estimators=FOREST_TREES, max_features="sqrt", random_state=self.seed, n_jobs=1).fit(Z, y)
            return np.asarray(fitted.feature_importances_, dtype=np.float64)
        raise ValueError(f"unknown selection method {self.method!r}")

    def get_support(self) -> np.ndarray:
        return self.support_

    def transform(self, X: Any) -> Any:
        return X[:, self.support_]
