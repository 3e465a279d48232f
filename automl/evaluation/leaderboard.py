"""The leaderboard: every trial of a search, best first, failures and stops last."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from automl.evaluation.metrics import Metric
from automl.features.choices import describe_choices
from automl.pipeline.trial import TrialOutcome, TrialRow, TrialStatus

if TYPE_CHECKING:  # the plan's type only: the ensemble's layer imports model code
    from automl.ensemble.builder import EnsemblePlan

#: the status column's value on the ensemble's own row
ENSEMBLE_STATUS = "ensemble"

COLUMNS = [
    "rank",
    "trial",
    "trial_id",
    "model",
    "status",
    "cv_score",
    "cv_std",
    "fit_s",
    "predict_ms_per_row",
    "rounds",
    "finished_s",
    "features",
    "params",
    "error",
]


def leaderboard_frame(rows: Iterable[TrialRow], metric: Metric, ensemble: EnsemblePlan | None = None) -> pd.DataFrame:
    """One line per trial, ranked by CV score in the metric's direction.

    Args:
        rows: the search's trials in start order (`TrialLedger.rows`); their order gives
            the "trial" column.
        metric: the metric the trials were scored with, for the ranking's direction.
        ensemble: the final model's plan; one that combines several trials gets a row of
            its own first (status "ensemble", its honest nested-CV score, member weights
            as its parameters).
    """
    records = []
    for number, row in enumerate(rows, start=1):
        outcome = row.outcome if TrialStatus(row.status) is TrialStatus.DONE else None
        records.append(
            {
                "trial": number,
                "trial_id": row.trial_id,
                "model": row.family,
                "status": TrialStatus(row.status).value,
                **_scores(outcome),
                "finished_s": None if row.finished_s is None else round(row.finished_s, 2),
                "features": describe_choices(row.params),
                "params": json.dumps(row.params, sort_keys=True),
                "error": row.error or "",
            }
        )
    frame = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS if c != "rank"])
    is_done = frame["status"] == TrialStatus.DONE.value
    done = frame[is_done].sort_values("cv_score", ascending=not metric.greater_is_better, kind="stable")
    rest = frame[~is_done]
    frame = pd.concat([done, rest], ignore_index=True)
    frame.insert(0, "rank", [i + 1 if i < len(done) else None for i in range(len(frame))])
    frame["rank"] = frame["rank"].astype("Int64")
    if ensemble is not None and ensemble.method != "best":
        weights = dict(zip(ensemble.trial_ids, (round(w, 4) for w in ensemble.weights), strict=True))
        ensemble_row = {
            "trial_id": "ensemble",
            "model": f"ensemble:{ensemble.method}",
            "status": ENSEMBLE_STATUS,
            "cv_score": ensemble.cv_score,
            "params": json.dumps({"members": weights}, sort_keys=True),
            "error": "",
        }
        frame = pd.concat([pd.DataFrame([ensemble_row]), frame], ignore_index=True)[COLUMNS]
        frame["rank"] = frame["rank"].astype("Int64")
    return frame


def _scores(outcome: TrialOutcome | None) -> dict[str, float | None]:
    """A done trial's score and timings; blank for the others."""
    if outcome is None:
        return dict.fromkeys(("cv_score", "cv_std", "fit_s", "predict_ms_per_row", "rounds"))
    return {
        "cv_score": outcome.score,
        "cv_std": outcome.score_std,
        "fit_s": round(outcome.fit_s, 4),
        "predict_ms_per_row": round(outcome.predict_s_per_row * 1000, 5),
        # an early-stopping family's mean best round count over its folds (the fidelity it reached)
        "rounds": round(sum(outcome.rounds) / len(outcome.rounds)) if outcome.rounds else None,
    }
