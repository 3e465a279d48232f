"""The leaderboard: every trial of a search, best first, failures and stops last."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from automl.evaluation.metrics import Metric
from automl.pipeline.trial import TrialStatus

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
    "params",
    "error",
]


def leaderboard_frame(rows: Iterable[Any], metric: Metric, ensemble: Any = None) -> pd.DataFrame:
    """One line per trial (`search.TrialRow`), ranked by CV score in the metric's direction.

    With an `ensemble` plan that combines several trials, its row comes first (status
    "ensemble", its honest nested-CV score, member weights as its parameters).
    """
    records = []
    for number, row in enumerate(rows, start=1):  # rows come in start order
        outcome = row.outcome
        ok = row.status == "done" and outcome is not None
        records.append(
            {
                "trial": number,
                "trial_id": row.trial_id,
                "model": row.family,
                "status": TrialStatus(row.status).value,
                "cv_score": outcome.score if ok else None,
                "cv_std": outcome.score_std if ok else None,
                "fit_s": round(outcome.fit_s, 4) if ok else None,
                "predict_ms_per_row": round(outcome.predict_s_per_row * 1000, 5) if ok else None,
                "params": json.dumps(row.params, sort_keys=True),
                "error": row.error or "",
            }
        )
    frame = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS if c != "rank"])
    done = frame[frame["status"] == "done"].sort_values(
        "cv_score", ascending=not metric.greater_is_better, kind="stable"
    )
    rest = frame[frame["status"] != "done"]
    frame = pd.concat([done, rest], ignore_index=True)
    frame.insert(0, "rank", [i + 1 if i < len(done) else None for i in range(len(frame))])
    frame["rank"] = frame["rank"].astype("Int64")
    if ensemble is not None and ensemble.method != "best":
        weights = dict(zip(ensemble.trial_ids, (round(w, 4) for w in ensemble.weights), strict=True))
        row = {
            "trial_id": "ensemble",
            "model": f"ensemble:{ensemble.method}",
            "status": "ensemble",
            "cv_score": ensemble.cv_score,
            "params": json.dumps({"members": weights}, sort_keys=True),
            "error": "",
        }
        frame = pd.concat([pd.DataFrame([row]), frame], ignore_index=True)
        frame["rank"] = frame["rank"].astype("Int64")
    return frame
