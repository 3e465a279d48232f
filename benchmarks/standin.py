"""Write the 26-class stand-in table (20,000 rows, 16 numeric columns) as a one-table suite.

A costly table for the search: a boosting round of a 26-class model grows 26 trees. The
search-quality issue's target is that `automl fit` on it ends within its budget + 20 s at
15 s and 60 s with at least 10 trials:

    python benchmarks/standin.py runs/standin-suite
    python benchmarks/quality.py runs/standin-suite --time-budget 15,60 --output runs/standin
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/standin-suite")
    out.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(
        n_samples=20_000, n_features=16, n_informative=12, n_classes=26, n_clusters_per_class=1, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(16)]).assign(target=[f"c{v:02d}" for v in y])
    frame.to_parquet(out / "classes26.parquet", index=False)
    entry = {"name": "classes26", "file": "classes26.parquet", "target": "target", "task": "multiclass",
             "metric": "log_loss", "rows": 20_000, "columns": 16, "categorical": 0, "missing_cells": 0}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps([entry], indent=1))
    print(out)


if __name__ == "__main__":
    main()
