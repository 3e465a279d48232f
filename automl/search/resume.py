"""Turn a journal's trials back into the Optuna history a resumed search starts from.

Tune can restore an experiment with its searcher (`Tuner.restore`), but only from its
last experiment checkpoint, which trails the trials by seconds, and a restore that drops
the searcher does so without a word (ray-project/ray#30861). The journal is written per
batch, so the searcher's history is rebuilt from it instead: each journaled trial becomes a
finished Optuna trial, with the distributions its family's define-by-run space declares.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from automl.pipeline.trial import TrialOutcome, join_config
from automl.search.journal import JournalState
from automl.search.space import ConditionalSpace

STUDY_NAME = "optuna"  # the name OptunaSearch gives an in-memory study


def restored_storage(
    outcomes: dict[str, TrialOutcome], space: ConditionalSpace, mode: str
) -> optuna.storages.InMemoryStorage:
    """An in-memory Optuna storage whose study holds the journaled trials as finished ones.

    A trial whose parameters no longer fit the space (a default outside a range, say) is
    left out of Optuna's history; it still counts, and stays in the leaderboard.
    """
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage, study_name=STUDY_NAME, direction="maximize" if mode == "max" else "minimize"
    )
    for outcome in outcomes.values():
        params = join_config(outcome.family, outcome.params)
        try:
            fixed = optuna.trial.FixedTrial(params)
            space(fixed)
            if outcome.ok:
                state, value = optuna.trial.TrialState.COMPLETE, float(outcome.score)
            else:
                state = optuna.trial.TrialState.PRUNED if outcome.stopped else optuna.trial.TrialState.FAIL
                value = None
            if value is not None and not math.isfinite(value):
                continue
            study.add_trial(
                optuna.trial.create_trial(
                    params=fixed.params, distributions=fixed.distributions, value=value, state=state
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return storage


def remaining_defaults(defaults: list[dict[str, Any]], restored: JournalState) -> list[dict[str, Any]]:
    """The family defaults a resumed search has still to evaluate."""
    done = {_key(join_config(o.family, o.params)) for o in restored.outcomes.values()}
    return [point for point in defaults if _key(point) not in done]


def _key(config: dict[str, Any]) -> str:
    return repr(sorted(config.items()))
