"""A portfolio: configurations that did well on many tables, evaluated before the sampler.

Most of what AutoGluon reaches in its first seconds comes from such a list (its
"zeroshot" portfolio). Ours is data, `portfolio.json` beside this module, built by
`benchmarks/portfolio.py` from the project's own cross-validated runs over public tables;
the file says which tables, how (greedy on normalised scores) and what each entry scored.

A configuration is fitted to the table before it is tried (`fit_to_space`): each value is
clipped into the family's range for this table's rows and task, and parameters the space
no longer has are dropped, so every point handed to the sampler is one it could propose.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from automl.errors import SpecError
from automl.features.choices import (
    OPTIONS,
    SELECT_SHARE,
    SELECT_SHARE_RANGE,
    TableTraits,
    feature_params,
    with_choice_defaults,
)
from automl.models.base import ModelFamily
from automl.pipeline.trial import MODEL_KEY, join_config, split_config

logger = logging.getLogger(__name__)

#: the shipped portfolio
PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")
#: `search.portfolio` values that are not files
DEFAULT, NONE = "default", "none"


def load_portfolio(source: str) -> list[dict[str, Any]]:
    """The configurations (flat, as Tune's) of a portfolio: `default` (the shipped one),
    `none` (an empty list: each family's default only), or a JSON file of the same form.

    Raises:
        SpecError: the file is missing or is not a portfolio.
    """
    if source == NONE:
        return []
    path = PORTFOLIO_FILE if source == DEFAULT else Path(source)
    try:
        document = json.loads(path.read_text())
        configs = document["configs"]
        if not isinstance(configs, list) or not all(isinstance(c, dict) and MODEL_KEY in c for c in configs):
            raise TypeError
    except FileNotFoundError:
        raise SpecError(f"search.portfolio: no file {str(path)!r}; give default, none or a portfolio file") from None
    except (ValueError, KeyError, TypeError):
        raise SpecError(
            f"search.portfolio: {str(path)!r} is not a portfolio (a JSON object whose 'configs' lists "
            f"configurations, each with a {MODEL_KEY!r} key)"
        ) from None
    return [dict(c) for c in configs]


class _Fitting:
    """A `Suggester` that answers each question of a family's space with the given value,
    clipped into the range asked (or the family's default where none is given)."""

    def __init__(self, given: dict[str, Any], default: dict[str, Any]) -> None:
        self.given, self.default = given, default
        self.params: dict[str, Any] = {}

    def _value(self, name: str) -> Any:
        return self.given.get(name, self.default.get(name))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        value = self._value(name)
        value = low if value is None else int(round(min(max(float(value), low), high)))
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        value = self._value(name)
        value = low if value is None else float(min(max(float(value), low), high))
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        value = self._value(name)
        value = value if value in list(choices) else list(choices)[0]
        self.params[name] = value
        return value


def fit_to_space(config: dict[str, Any], family: ModelFamily, n_rows: int, task: str) -> dict[str, Any]:
    """`config` as a point of `family`'s space for this table (see the module's note)."""
    key, given = split_config(config)
    fitting = _Fitting(given, family.default_params(n_rows, task))
    family.search_space(fitting, n_rows, task)
    return join_config(key, {**fitting.params, **_valid_choices(feature_params(given))})


def _valid_choices(choices: dict[str, Any]) -> dict[str, Any]:
    """The feature choices (`features.choices`) among `choices` that have a valid value."""
    kept = {k: v for k, v in choices.items() if k in OPTIONS and v in OPTIONS[k]}
    share = choices.get(SELECT_SHARE)
    if isinstance(share, (int, float)) and SELECT_SHARE_RANGE[0] <= share <= SELECT_SHARE_RANGE[1]:
        kept[SELECT_SHARE] = float(share)
    return kept


def portfolio_points(
    configs: list[dict[str, Any]], families: dict[str, ModelFamily], n_rows: int, task: str
) -> list[dict[str, Any]]:
    """The portfolio's configurations of the families searched, fitted to this table, in
    order and without repeats; then each searched family's default the portfolio lacks."""
    points: list[dict[str, Any]] = []
    for config in configs:
        family = families.get(config[MODEL_KEY])
        if family is None:
            continue
        point = fit_to_space(config, family, n_rows, task)
        if point not in points:
            points.append(point)
    covered = {p[MODEL_KEY] for p in points}
    for key, family in families.items():
        if key not in covered:
            points.append(join_config(key, family.default_params(n_rows, task)))
    return points


def with_feature_defaults(
    points: list[dict[str, Any]], families: dict[str, ModelFamily], traits: TableTraits | None
) -> list[dict[str, Any]]:
    """Flat configurations with the defaults of the feature choices they do not make, so
    that a default or portfolio configuration is evaluated as given, not with choices
    the sampler would fill in."""
    if traits is None:
        return points
    out = []
    for point in points:
        key, params = split_config(point)
        out.append(
            {**point, **join_config(key, with_choice_defaults(families[key], params, traits))}
            if key in families
            else point
        )
    return out


def relative_costs() -> dict[str, float]:
    """Each family's default, in seconds per linear model's default (the shipped file's
    median over the tables it was built on); empty if it has none."""
    try:
        costs = json.loads(PORTFOLIO_FILE.read_text()).get("relative_cost", {})
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in costs.items()}
