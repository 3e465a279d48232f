"""A multi-layer perceptron: smooth functions of scaled features, a kind of model no tree
family gives an ensemble (AutoGluon's presets carry one for the same reason).

scikit-learn's network trains by Adam one epoch per `partial_fit`, so epochs are this
family's boosting rounds: a fold stops on its inner validation split, the round clock
ends it gracefully, and a refit on all rows trains for the folds' mean best epoch count.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor

from automl.models.base import (
    ModelFamily,
    StaleRounds,
    Suggester,
    after_round,
    check_fit_time,
    is_classification,
    rounds_time_up,
)

#: epochs of a fit without a validation split and no epoch count given (the search never does)
DEFAULT_EPOCHS = 60
#: the most epochs an early-stopping fit may take; the stopping rows end it long before
EPOCH_CAP = 500
#: epochs without a gain on the stopping rows before a fit stops: an epoch, a pass over
#: every row, moves a network further than a boosting round moves a booster (whose
#: patience is 20-200 rounds), but Adam's validation loss is noisy from epoch to epoch
PATIENCE = 12
#: the smallest probability a stopping row's class is scored with (log loss stays finite)
_EPSILON = 1e-12


class NeuralNetwork(ModelFamily):
    key = "mlp"
    scale = True
    high_cardinality = "target"
    early_stopping = True
    # scaling always (a network on raw magnitudes trains badly); no projection either
    feature_choices = frozenset({"fe_impute", "fe_encoding", "fe_datetime", "fe_select", "fe_class_weight"})

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_int("width", 16, 512, log=True)
        trial.suggest_int("layers", 1, 3)
        trial.suggest_float("alpha", 1e-7, 1e-1, log=True)
        trial.suggest_float("learning_rate_init", 1e-4, 3e-2, log=True)
        trial.suggest_categorical("batch_size", [32, 64, 128, 256, 512])

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {"width": 128, "layers": 2, "alpha": 1e-4, "learning_rate_init": 1e-3, "batch_size": 128}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        # n_threads: NumPy's BLAS threads are the process's; the trial sets them
        return EpochNetwork(classification=is_classification(task), random_state=seed, **params)

    def stopping_patience(self, estimator: Any) -> int:
        return PATIENCE

    def fit_early_stopping(
        self, estimator: Any, X: Any, y: Any, X_valid: Any, y_valid: Any, *, patience: int, sample_weight: Any = None
    ) -> int:
        return int(estimator.fit_stopping(X, y, X_valid, y_valid, patience, sample_weight))


class EpochNetwork(BaseEstimator):
    """scikit-learn's MLP trained epoch by epoch: the fit clock is checked after each epoch,
    and `fit_stopping` keeps the weights of the epoch that scored best on stopping rows.

    A regression target is standardised for training (a network's output layer learns
    values near 0 far better than raw magnitudes) and predictions are scaled back.
    """

    def __init__(
        self,
        classification: bool = True,
        width: int = 128,
        layers: int = 2,
        alpha: float = 1e-4,
        learning_rate_init: float = 1e-3,
        batch_size: int = 128,
        n_estimators: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.classification = classification
        self.width = width
        self.layers = layers
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.n_estimators = n_estimators  # epochs, under the name a refit gives (`ROUNDS_PARAM`)
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EpochNetwork:
        """Train for `n_estimators` epochs (`DEFAULT_EPOCHS` when unset)."""
        self._start(X, y)
        target = self._target(y)
        for epoch in range(int(self.n_estimators or DEFAULT_EPOCHS)):
            check_fit_time()
            self._epoch(X, target, sample_weight)
            after_round(epoch + 1)
        return self

    def fit_stopping(self, X: Any, y: Any, X_valid: Any, y_valid: Any, patience: int, sample_weight: Any) -> int:
        """Train until `patience` epochs bring no gain on `X_valid, y_valid` (or the round
        clock runs out, or `EPOCH_CAP`); keep the best epoch's weights; return its count."""
        self._start(X, y)
        target, stopper = self._target(y), StaleRounds(patience)
        best_loss, best_epoch, best_weights = np.inf, 0, None
        for epoch in range(1, EPOCH_CAP + 1):
            check_fit_time()
            self._epoch(X, target, sample_weight)
            loss = self._stopping_loss(X_valid, y_valid)
            if loss < best_loss:
                best_loss, best_epoch = loss, epoch
                best_weights = copy.deepcopy((self.network_.coefs_, self.network_.intercepts_))
            after_round(epoch)
            if stopper.update(loss) or rounds_time_up():
                break
        if best_weights is not None:
            self.network_.coefs_, self.network_.intercepts_ = best_weights
        self.n_estimators = max(1, best_epoch)
        return self.n_estimators

    def predict(self, X: Any) -> np.ndarray:
        if self.classification:
            return np.asarray(self.classes_)[np.argmax(self.predict_proba(X), axis=1)]
        return np.asarray(self.network_.predict(X), dtype=np.float64) * self.y_scale_ + self.y_mean_

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.network_.predict_proba(X), dtype=np.float64)

    def _start(self, X: Any, y: Any) -> None:
        rows = X.shape[0]
        cls = MLPClassifier if self.classification else MLPRegressor
        self.network_ = cls(
            hidden_layer_sizes=(int(self.width),) * int(self.layers),
            alpha=float(self.alpha),
            learning_rate_init=float(self.learning_rate_init),
            batch_size=int(min(self.batch_size, max(1, rows))),
            random_state=self.random_state,
        )
        self.epochs_ = 0  # trained so far (scikit-learn's n_iter_ counts one per partial_fit)
        y = np.asarray(y)
        if self.classification:
            self.classes_ = np.unique(y)
        else:
            self.y_mean_ = float(np.mean(y))
            self.y_scale_ = float(np.std(y)) or 1.0

    def _target(self, y: Any) -> np.ndarray:
        y = np.asarray(y)
        return y if self.classification else (y.astype(np.float64) - self.y_mean_) / self.y_scale_

    def _epoch(self, X: Any, target: np.ndarray, sample_weight: Any) -> None:
        self.epochs_ += 1
        if self.classification:
            self.network_.partial_fit(X, target, sample_weight=sample_weight, classes=self.classes_)
        else:
            self.network_.partial_fit(X, target, sample_weight=sample_weight)

    def _stopping_loss(self, X_valid: Any, y_valid: Any) -> float:
        """Log loss (classes) or mean squared error on the standardised target (values)."""
        y_valid = np.asarray(y_valid)
        if not self.classification:
            return float(np.mean((self.network_.predict(X_valid) - self._target(y_valid)) ** 2))
        proba = self.predict_proba(X_valid)
        index = np.searchsorted(self.classes_, y_valid)
        known = (index < len(self.classes_)) & (self.classes_[np.minimum(index, len(self.classes_) - 1)] == y_valid)
        if not known.any():
            return 0.0
        picked = proba[np.flatnonzero(known), index[known]]
        return float(-np.mean(np.log(np.clip(picked, _EPSILON, None))))
