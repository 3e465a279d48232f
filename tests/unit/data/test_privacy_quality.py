"""Personal-data detection, salted hashing, and the data-quality report's checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from automl.data.privacy import detect_personal_data, hash_column, new_salt
from automl.data.quality import quality_report
from automl.data.schema import infer_schema


def _luhn_number(rng: np.random.Generator) -> str:
    digits = [4, *rng.integers(0, 10, 14).tolist()]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit goes last: these shift by one
        n = d * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4))


def test_each_kind_of_personal_data_is_found_and_ordinary_columns_are_not():
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "contact": [f"someone{i}@example.com" for i in range(n)],
            "tel": rng.choice(["+44 20 7946 0958", "(555) 123-4567", "030-1234567"], n),
            "card": [_luhn_number(rng) for _ in range(n)],
            "address": [f"10.0.{i % 250}.{i % 7}" for i in range(n)],
            "customer_name": rng.choice(["Ada Lovelace", "Alan Turing"], n),
            "amount": rng.normal(size=n),
            "city": rng.choice(["Paris", "Rome"], n),
            "code": rng.integers(1_000_000, 9_999_999, n),
        }
    )
    found = {p.column: p.kind for p in detect_personal_data(frame)}
    assert found == {
        "contact": "email",
        "tel": "phone",
        "card": "card",
        "address": "ip",
        "customer_name": "person_name",
    }
    assert detect_personal_data(frame, exclude=["contact"]) and "contact" not in {
        p.column for p in detect_personal_data(frame, exclude=["contact"])
    }
    assert not detect_personal_data(pd.DataFrame({"name": rng.integers(0, 5, n)}))  # numbers, not names


def test_hashing_is_salted_and_keeps_missing_values():
    values = pd.Series(["a", None, "b", "a"], dtype=object)
    salt = new_salt()
    once, again = hash_column(values, salt), hash_column(values, salt)
    assert list(once) == list(again) and once[0] == once[3] and once[0] != once[2]
    assert once[1] is None
    assert hash_column(values, new_salt())[0] != once[0]


def _clean() -> pd.DataFrame:
    X, y = make_classification(n_samples=500, n_features=5, n_informative=3, random_state=0)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(target=np.where(y == 1, "yes", "no"))


def _checks(frame: pd.DataFrame, **kwargs) -> dict[str, dict]:
    report = quality_report(frame, infer_schema(frame, "target"), **kwargs)
    return {c["check"]: c for c in report["checks"]}


def test_a_clean_table_raises_no_check():
    report = quality_report(_clean(), infer_schema(_clean(), "target"))
    assert report["checks"] == [] and report["duplicate_rows"] == 0
    assert report["class_balance"] == pytest.approx({"no": 0.5, "yes": 0.5}, abs=0.02)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.assign(x0=f["x0"].mask(f.index % 3 == 0)), "missing"),
        (lambda f: f.assign(flat=np.r_[np.ones(498), [2.0, 3.0]]), "near_constant"),
        (lambda f: f.assign(same=1.0), "constant"),
        (lambda f: pd.concat([f, f.head(40)], ignore_index=True), "duplicates"),
        (lambda f: f.assign(row_id=np.arange(len(f))), "id_like"),
        (lambda f: f.assign(x1=np.r_[f["x1"].to_numpy()[:-10], np.full(10, 500.0)]), "outliers"),
        (lambda f: f.assign(target=np.r_[np.full(495, "no"), np.full(5, "yes")]), "class_imbalance"),
        (lambda f: f.assign(leak=(f["target"] == "yes") * 2.0 + 0.001 * np.arange(len(f)) % 1), "leakage"),
        (lambda f: f.assign(copy=f["target"].map({"yes": "Y", "no": "N"})), "target_copy"),
    ],
)
def test_each_check_fires_on_a_table_built_for_it(change, expected):
    assert expected in _checks(change(_clean()))


def test_shift_is_found_against_a_shifted_test_table_only():
    frame = _clean()
    train, test = frame.iloc[:350], frame.iloc[350:]
    assert "shift" not in _checks(train, test=test)
    moved = test.assign(x0=test["x0"] + 2 * frame["x0"].std())
    found = _checks(train, test=moved)
    assert found["shift"]["columns"] == ["x0"]
