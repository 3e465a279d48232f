"""Tree ensembles predicted through Treelite, for a few rows at a time (or for all).

A scikit-learn forest predicts tree by tree in Python, through joblib: one row of a
300-tree forest takes 60-80 ms, nearly all of it overhead. Treelite's GTIL walks the
same trees in C++ (about 0.2 ms for that row) and gives the same numbers: scikit-learn's
thresholds and leaf values are imported as float64, and a forest's input is rounded to
float32 first, as scikit-learn rounds it (an XGBoost model's likewise, as XGBoost does;
LightGBM compares in double). A booster's call carries fixed costs too (0.3-0.6 ms a call for
XGBoost's), but on large batches the library's own prediction is often faster (its
OpenMP loops), so `compile_trees` times both, against the booster's in-place prediction
where it has one, on a batch and on one row: `CompiledTrees` takes every batch where
Treelite was no slower on the batch, batches of up to `SMALL_ROWS` rows where it was
faster on one row, and nothing otherwise (the model is left uncompiled).

Treelite, rather than a compiler: TL2cgen's C for a 300-tree forest took gcc over two
minutes and 2 GB (a job's budget cannot carry that), lleaves did not build against the
current llvmlite (and with an older one took over 400 s on a 1,600-tree LightGBM model),
and ONNX Runtime (skl2onnx) took 7-16 s to convert a forest, compares in float32 and
failed on extra trees in double precision. A Treelite model serialises to bytes inside
the artifact's pickle: there is no native library to load on another machine, and a
model Treelite cannot import keeps the library's path.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import numpy as np
from scipy import sparse

from automl.models.inplace import inplace_probabilities, inplace_values

logger = logging.getLogger(__name__)

#: a batch of up to this many rows is small: Treelite takes it where it was faster on one row
SMALL_ROWS = 16
#: probabilities that differ from the library's by more than this (values: relatively)
#: are not the same model
TOLERANCE = 1e-6


class CompiledTrees:
    """A tree ensemble's Treelite form beside the fitted model, used for batches of at most
    `max_rows` rows; a larger batch, a sparse one, or any failure goes to the model."""

    def __init__(self, model: Any, estimator: Any, max_rows: int) -> None:
        self._model = model
        self.estimator = estimator
        self.max_rows = max_rows
        #: scikit-learn's forests round their input to float32 and compare it with float64
        #: thresholds; XGBoost's thresholds are float32 too, so its rows go as float32
        self._float32 = isinstance(estimator, _float32_input())
        self._xgboost = _booster_kind(estimator) == "xgboost"
        self._classes = len(getattr(estimator, "classes_", ()))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = bytes(self._model.serialize_bytes())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import treelite

        state = dict(state)
        try:
            state["_model"] = treelite.Model.deserialize_bytes(state["_model"])
        except Exception:  # a Treelite that cannot read it: the model's own path still predicts
            logger.warning("a compiled tree model could not be loaded; its library predicts instead")
            state["_model"], state["max_rows"] = None, 0
        self.__dict__.update(state)

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def handles(self, Z: Any) -> bool:
        """Whether Treelite predicts this batch: dense, of at most `max_rows` rows."""
        return self._model is not None and not sparse.issparse(Z) and len(Z) <= self.max_rows

    def raw(self, Z: Any) -> np.ndarray:
        """Treelite's output for dense rows: probabilities (n, classes) or values (n,)."""
        import treelite

        values = np.asarray(Z, dtype=np.float32 if self._float32 or self._xgboost else np.float64)
        if self._float32:
            values = values.astype(np.float64)  # float32 values, compared in double as the library does
        out = treelite.gtil.predict(self._model, values, nthread=1 if len(values) <= SMALL_ROWS else -1)
        out = out.reshape(len(values), -1)
        if not self._classes:
            return out[:, 0]
        if self._classes == 2 and out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def predict(self, Z: Any) -> np.ndarray:
        """A regressor's values, as the estimator's `predict`."""
        return self._treelite_or(self.estimator.predict, Z)

    def predict_proba(self, Z: Any) -> np.ndarray:
        """A classifier's probabilities, as the estimator's `predict_proba`."""
        return self._treelite_or(self.estimator.predict_proba, Z)

    def _treelite_or(self, library: Any, Z: Any) -> np.ndarray:
        """Treelite's answer where it takes the batch; should it ever fail, it logs once and
        the library answers this call and every later one (a served model slows, not fails)."""
        if self.handles(Z):
            try:
                return self.raw(Z)
            except Exception:
                logger.exception(
                    "Treelite prediction failed; %s's own is used from now on", type(self.estimator).__name__
                )
                self._model = None
        return library(Z)


def _float32_input() -> tuple[type, ...]:
    """The models whose input scikit-learn rounds to float32 before comparing it with a
    threshold (imported here: a model with no trees never loads `sklearn.ensemble`)."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    return RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor


def _booster_kind(estimator: Any) -> str | None:
    """ "lightgbm" or "xgboost" for those libraries' scikit-learn models (only where the
    library is loaded: a model of it was unpickled or fitted), else None."""
    lgb, xgb = sys.modules.get("lightgbm"), sys.modules.get("xgboost")
    if lgb is not None and isinstance(estimator, lgb.LGBMModel):
        return "lightgbm"
    if xgb is not None and isinstance(estimator, xgb.XGBModel):
        return "xgboost"
    return None


def compilable(estimator: Any) -> bool:
    """A fitted forest, extra trees, histogram boosting, LightGBM or XGBoost model."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kinds = (*_float32_input(), HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    fitted = hasattr(estimator, "n_features_in_")
    return fitted and (isinstance(estimator, kinds) or _booster_kind(estimator) is not None)


def _import(estimator: Any) -> Any:
    """The estimator's trees as a Treelite model: for a booster that stopped early, only
    the rounds up to its best one, which are all its wrapper predicts with."""
    import treelite

    kind = _booster_kind(estimator)
    if kind == "xgboost":
        booster = estimator.get_booster()
        best = getattr(estimator, "best_iteration", None)
        if best is not None and best + 1 < booster.num_boosted_rounds():
            booster = booster[: best + 1]
        return treelite.frontend.from_xgboost(booster)
    if kind == "lightgbm":
        import lightgbm

        booster = estimator.booster_
        best = estimator.best_iteration_
        if best and best < booster.current_iteration():
            booster = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=best))
        return treelite.frontend.from_lightgbm(booster)
    return treelite.sklearn.import_model(estimator)


def compile_trees(estimator: Any, rows: np.ndarray, *, max_rows: int | None = None) -> CompiledTrees | None:
    """The estimator's Treelite form, checked and timed on `rows` (preprocessed, as the
    model sees them), or None: not a tree ensemble, not importable, not equal, or no faster.

    Treelite takes batches of any size where it measured clearly faster than the library
    on `rows` (the better of two calls each), else those of up to `SMALL_ROWS` rows where
    it was faster on one row. Given `max_rows` (another fold's decision), it is not timed
    and takes batches of up to that many rows; the equality check stays."""
    if not compilable(estimator) or sparse.issparse(rows) or len(rows) == 0:
        return None
    try:
        model = _import(estimator)
    except Exception as exc:  # an ensemble Treelite does not read (or no Treelite): the library predicts
        logger.info("not compiling %s: %s", type(estimator).__name__, exc)
        return None
    compiled = CompiledTrees(model, estimator, max_rows=len(rows))
    own = estimator.predict_proba if compiled._classes else estimator.predict
    expected, got = np.asarray(own(rows)), compiled.raw(rows)  # also each path's first, slower call
    relative = 0.0 if compiled._classes else TOLERANCE  # float32 libraries' values agree to their precision
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=relative, atol=TOLERANCE):
        logger.warning("%s: Treelite's predictions differ from the library's; not compiled", type(estimator).__name__)
        return None
    if max_rows is None:
        max_rows = fastest_batches(
            compiled, (inplace_probabilities if compiled._classes else inplace_values)(estimator) or own, rows
        )
    if max_rows <= 0:
        return None
    compiled.max_rows = max_rows
    return compiled


#: Treelite takes large batches too only when it was at most this share of the library's time
BATCH_MARGIN = 0.9
ALL_ROWS = int(np.iinfo(np.int64).max)


def fastest_batches(compiled: CompiledTrees, library: Any, rows: np.ndarray) -> int:
    """The largest batch Treelite should take: every batch (`ALL_ROWS`), `SMALL_ROWS`, or 0."""
    library(rows)  # its first, slower call
    batch = min(_seconds(compiled.raw, rows) for _ in range(2)), min(_seconds(library, rows) for _ in range(2))
    if batch[0] <= BATCH_MARGIN * batch[1]:
        return ALL_ROWS
    one = rows[:1]
    if min(_seconds(compiled.raw, one) for _ in range(3)) < min(_seconds(library, one) for _ in range(3)):
        return SMALL_ROWS
    return 0


def _seconds(predict: Any, rows: np.ndarray) -> float:
    started = time.perf_counter()
    predict(rows)
    return time.perf_counter() - started
