"""Write examples/data/churn.csv: a small synthetic customer-churn table.

It has what real tables have: numbers, low- and high-cardinality categories, a boolean,
a date, an ID column, missing values. Seeded, so the file is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make_churn(n_rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n_rows)
    monthly = np.round(rng.normal(70, 25, n_rows).clip(15, 150), 2)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n_rows, p=[0.55, 0.25, 0.2])
    city = rng.choice([f"city_{i:02d}" for i in range(40)], n_rows)
    paperless = rng.random(n_rows) < 0.6
    support_calls = rng.poisson(1.5, n_rows)
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n_rows), unit="D")
    logit = (
        -1.0
        - 0.04 * tenure
        + 0.02 * (monthly - 70)
        + 0.5 * support_calls
        + np.where(contract == "month-to-month", 1.2, -0.8)
        + 0.3 * paperless
    )
    churn = np.where(rng.random(n_rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(100000, 100000 + n_rows),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "contract": contract,
            "city": city,
            "paperless_billing": paperless,
            "support_calls": support_calls,
            "signup_date": signup.strftime("%Y-%m-%d"),
            "churn": churn,
        }
    )
    frame.loc[rng.random(n_rows) < 0.05, "monthly_charges"] = np.nan
    frame.loc[rng.random(n_rows) < 0.03, "contract"] = None
    return frame


if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "churn.csv"
    out.parent.mkdir(exist_ok=True)
    make_churn().to_csv(out, index=False)
    print(f"wrote {out}")
