"""The data-quality report of a training table: per column facts and the checks that fired.

Run before the search, so a user sees what the table holds (and what the job did about
it) before trusting a model fitted on it. Cost: counting missing values and duplicate
rows reads the whole table (linear in rows x columns); every other check reads a seeded
sample of at most `max_rows` rows, and the leakage check at most `LEAKAGE_MAX_COLUMNS`
columns of `LEAKAGE_MAX_ROWS` rows, so the report's cost is bounded as the table grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from automl.data.privacy import PersonalColumn
from automl.data.schema import TableSchema
from automl.data.values import to_numbers

MISSING_INFO = 0.05  # a column with this share of missing values is listed...
MISSING_WARNING = 0.5  # ... and a warning from this share
NEAR_CONSTANT = 0.99  # one value holds this share of a column that is not constant
DUPLICATES_WARNING = 0.05
#: outliers lie beyond 3 interquartile ranges from the quartiles: Tukey's "far out" fence,
#: so that the long right tail of counts and prices is not called an outlier
OUTLIER_IQR = 3.0
OUTLIER_SHARE = 0.01
IMBALANCE_INFO = 0.1  # the smallest class below this share of the largest is listed...
IMBALANCE_WARNING = 0.02  # ... and a warning below this one
LEAKAGE_SCORE = 0.99  # one feature alone reaching this accuracy (or R^2, or |Spearman|)
LEAKAGE_MARGIN = 0.05  # ... and beating the majority share by this much
LEAKAGE_MAX_COLUMNS = 200
LEAKAGE_MAX_ROWS = 20_000
TARGET_COPY_SHARE = 0.999
SHIFT_P = 0.001  # shift needs a tiny p-value and a large enough effect:
SHIFT_KS = 0.1  # a KS statistic, or ...
SHIFT_PSI = 0.1  # ... a population stability index, of at least this much


def quality_report(
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    test: pd.DataFrame | None = None,
    seed: int = 0,
    max_rows: int = 100_000,
    personal: Sequence[PersonalColumn] = (),
) -> dict[str, Any]:
    """The report as plain JSON values (see README's data-quality paragraph for the keys)."""
    target = schema.target
    features = [c for c in schema.columns if c.name in frame.columns]
    sample = frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame
    duplicates = int(frame.duplicated().sum())
    columns = []
    checks: list[dict[str, Any]] = []

    def check(name: str, cols: list[str], severity: str, message: str) -> None:
        checks.append({"check": name, "columns": cols, "severity": severity, "message": message})

    for info in features:
        missing = float(frame[info.name].isna().mean())
        values = sample[info.name].dropna()
        outliers = None
        if info.kind == "numeric":
            numbers = to_numbers(values).to_numpy(dtype=float, na_value=np.nan)
            outliers = _outlier_share(numbers[np.isfinite(numbers)])
        columns.append(
            {
                "name": info.name,
                "kind": info.kind,
                "missing_share": round(missing, 4),
                "cardinality": int(values.astype(str).nunique()),
                "outlier_share": None if outliers is None else round(outliers, 4),
                "note": info.note,
            }
        )
        if missing >= MISSING_INFO:
            severity = "warning" if missing >= MISSING_WARNING else "info"
            check("missing", [info.name], severity, f"{info.name}: {missing:.0%} of values are missing")
        if "constant" in info.note:
            check("constant", [info.name], "info", f"{info.name}: constant, left out")
        elif len(values) and values.astype(str).value_counts(normalize=True).iloc[0] >= NEAR_CONSTANT:
            check("near_constant", [info.name], "info", f"{info.name}: one value holds 99% or more of the rows")
        if "ID" in info.note:
            check("id_like", [info.name], "info", f"{info.name}: {info.note}")
        if outliers is not None and outliers >= OUTLIER_SHARE:
            check("outliers", [info.name], "info", f"{info.name}: {outliers:.1%} of values beyond 3 IQR")
    if duplicates:
        share = duplicates / max(len(frame), 1)
        severity = "warning" if share >= DUPLICATES_WARNING else "info"
        check("duplicates", [], severity, f"{duplicates} duplicate rows ({share:.1%})")
    balance = None
    if schema.task != "regression":
        shares = sample[target].astype(str).value_counts(normalize=True)
        balance = {str(k): round(float(v), 4) for k, v in shares.items()}
        ratio = float(shares.iloc[-1] / shares.iloc[0])
        if ratio < IMBALANCE_INFO:
            severity = "warning" if ratio < IMBALANCE_WARNING else "info"
            check("class_imbalance", [target], severity, f"the rarest class is {ratio:.1%} of the largest")
    usable = [c.name for c in features if c.kind != "excluded"]
    for name, kind, detail in _leaks(sample, usable, target, schema.task, seed):
        check(kind, [name], "warning", f"{name}: {detail}")
    for column in personal:
        check("personal_data", [column.column], "warning", f"{column.column}: looks like personal data ({column.kind})")
    shift = _shift(frame, test, schema, seed, max_rows) if test is not None else []
    shifted = [s["column"] for s in shift if s["shifted"]]
    if shifted:
        check("shift", shifted, "warning", f"train/test distributions differ: {', '.join(shifted)}")
    return {
        "n_rows": int(len(frame)),
        "n_columns": len(features),
        "sampled_rows": int(len(sample)) if len(sample) < len(frame) else None,
        "duplicate_rows": duplicates,
        "duplicate_share": round(duplicates / max(len(frame), 1), 4),
        "columns": columns,
        "class_balance": balance,
        "checks": checks,
        "shift": shift,
        "actions": [],
    }


def _outlier_share(numbers: np.ndarray) -> float | None:
    if len(numbers) < 4:
        return None
    q1, q3 = np.percentile(numbers, [25, 75])
    spread = OUTLIER_IQR * (q3 - q1)
    return float(((numbers < q1 - spread) | (numbers > q3 + spread)).mean())


def _codes(column: pd.Series) -> np.ndarray:
    """One feature as a number per row: numbers as they are, other values as codes; missing as -1e9."""
    numbers = to_numbers(column) if pd.api.types.is_numeric_dtype(column) else None
    if numbers is None:
        values = pd.Series(pd.factorize(column.astype(str).where(column.notna()))[0], index=column.index)
        return values.to_numpy(dtype=float)
    out = numbers.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(out), out, -1e9)


def _leaks(sample: pd.DataFrame, usable: list[str], target: str, task: str, seed: int) -> list[tuple[str, str, str]]:
    """Features that are a copy of the target, or that alone nearly predict it."""
    rows = sample.sample(n=LEAKAGE_MAX_ROWS, random_state=seed) if len(sample) > LEAKAGE_MAX_ROWS else sample
    rows = rows[rows[target].notna()]
    if len(rows) < 30:
        return []
    y = rows[target]
    found = []
    classification = task != "regression"
    y_codes = pd.factorize(y.astype(str))[0] if classification else to_numbers(y).to_numpy(dtype=float)
    majority = float(pd.Series(y_codes).value_counts(normalize=True).iloc[0]) if classification else 0.0
    for name in usable[:LEAKAGE_MAX_COLUMNS]:
        column = rows[name]
        text, target_text = column.astype(str), y.astype(str)
        same = float((text.to_numpy() == target_text.to_numpy()).mean())
        if same >= TARGET_COPY_SHARE or (classification and _bijective(text, target_text)):
            found.append((name, "target_copy", "a copy of the target (or a relabelling of it)"))
            continue
        x = _codes(column).reshape(-1, 1)
        if classification:
            folds = StratifiedKFold(3, shuffle=True, random_state=seed)
            model: Any = DecisionTreeClassifier(max_depth=4, random_state=seed)
            if np.bincount(y_codes).min() < 3:
                continue
            score = float(cross_val_score(model, x, y_codes, cv=folds, scoring="accuracy").mean())
            if score >= LEAKAGE_SCORE and score >= majority + LEAKAGE_MARGIN:
                found.append((name, "leakage", f"alone predicts the target with accuracy {score:.3f}"))
        else:
            rho = stats.spearmanr(x[:, 0], y_codes).statistic
            folds = KFold(3, shuffle=True, random_state=seed)
            model = DecisionTreeRegressor(max_depth=4, random_state=seed)
            r2 = float(cross_val_score(model, x, y_codes, cv=folds, scoring="r2").mean())
            if (np.isfinite(rho) and abs(rho) >= LEAKAGE_SCORE) or r2 >= LEAKAGE_SCORE:
                found.append((name, "leakage", f"alone predicts the target (Spearman {rho:.3f}, R^2 {r2:.3f})"))
    return found


def _bijective(values: pd.Series, target: pd.Series) -> bool:
    pairs = pd.DataFrame({"v": values.to_numpy(), "t": target.to_numpy()}).drop_duplicates()
    return bool(pairs["v"].is_unique and pairs["t"].is_unique and len(pairs) > 1)


def _psi(train: np.ndarray, test: np.ndarray) -> float | None:
    edges = np.unique(np.quantile(train, np.linspace(0, 1, 11)[1:-1]))
    if len(train) == 0 or len(test) == 0:
        return None
    expected = np.bincount(np.searchsorted(edges, train), minlength=len(edges) + 1) / len(train)
    actual = np.bincount(np.searchsorted(edges, test), minlength=len(edges) + 1) / len(test)
    expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shift(
    frame: pd.DataFrame, test: pd.DataFrame, schema: TableSchema, seed: int, max_rows: int
) -> list[dict[str, Any]]:
    """Each feature's train/test shift: two-sample KS (numbers) or chi-squared (categories)."""
    train = frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame
    test = test.sample(n=max_rows, random_state=seed) if len(test) > max_rows else test
    out = []
    for info in schema.columns:
        if info.kind in ("excluded", "datetime") or info.name not in test.columns:
            continue
        if info.kind == "numeric":
            a = to_numbers(train[info.name]).to_numpy(dtype=float, na_value=np.nan)
            b = to_numbers(test[info.name]).to_numpy(dtype=float, na_value=np.nan)
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if len(a) < 2 or len(b) < 2:
                continue
            result = stats.ks_2samp(a, b)
            psi = _psi(a, b)
            statistic, p_value = float(result.statistic), float(result.pvalue)
            shifted = p_value < SHIFT_P and statistic >= SHIFT_KS
            row = {"column": info.name, "test": "ks", "statistic": statistic, "p_value": p_value, "psi": psi}
        else:
            a_text, b_text = train[info.name].astype(str), test[info.name].astype(str)
            table = pd.crosstab(
                np.r_[np.zeros(len(a_text)), np.ones(len(b_text))], np.r_[a_text.to_numpy(), b_text.to_numpy()]
            )
            if table.shape[1] < 2:
                continue
            chi2 = stats.chi2_contingency(table.to_numpy())
            shares = table.div(table.sum(axis=1), axis=0).clip(lower=1e-4).to_numpy()
            psi = float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))
            statistic, p_value = float(chi2.statistic), float(chi2.pvalue)
            shifted = p_value < SHIFT_P and psi >= SHIFT_PSI
            row = {"column": info.name, "test": "chi2", "statistic": statistic, "p_value": p_value, "psi": psi}
        out.append({**{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}, "shifted": shifted})
    return out


__all__ = ["quality_report"]
