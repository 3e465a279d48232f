"""The network family: epochs as rounds, the best epoch's weights kept, targets rescaled."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from automl.models import get_family
from automl.models.mlp import EpochNetwork


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(limits=1):
        yield


def _regression(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, 20_000.0 + 3_000.0 * X[:, 0] - 1_000.0 * X[:, 1] ** 2 + rng.normal(scale=100.0, size=n)


def test_a_regression_on_a_large_scale_is_predicted_on_that_scale():
    X, y = _regression()
    family = get_family("mlp")
    network = family.make_estimator(family.default_params(500, "regression"), "regression", 0, 1)
    epochs = family.fit_early_stopping(network, X[:400], y[:400], X[400:500], y[400:500], patience=12)
    error = np.sqrt(np.mean((network.predict(X[500:]) - y[500:]) ** 2))
    assert 1 <= epochs < 500
    assert error < 0.3 * np.std(y)  # far better than the mean; an unscaled target trains to nothing


def test_the_weights_kept_are_those_of_the_best_epoch():
    X, y = _regression(seed=1)
    network = EpochNetwork(classification=False, learning_rate_init=0.03, random_state=0)
    best = network.fit_stopping(X[:400], y[:400], X[400:], y[400:], patience=5, sample_weight=None)
    again = EpochNetwork(classification=False, learning_rate_init=0.03, random_state=0, n_estimators=best)
    again.fit(X[:400], y[:400])  # the same seed, stopped after exactly that many epochs
    np.testing.assert_allclose(network.predict(X[400:]), again.predict(X[400:]))
    assert network.epochs_ > best  # it trained on past the best before stopping


def test_a_fitted_classifier_pickles_and_gives_every_class_a_column():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = np.digitize(X[:, 0], [-0.5, 0.5])  # three classes
    network = EpochNetwork(classification=True, n_estimators=5, random_state=0).fit(X, y)
    loaded = pickle.loads(pickle.dumps(network))
    proba = loaded.predict_proba(X)
    assert proba.shape == (300, 3) and np.allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(loaded.predict(X), network.predict(X))
    assert list(loaded.classes_) == [0, 1, 2]
