"""How often `automl monitor`'s drift tests flag a shifted feature, and how often they
raise a false alarm, over many seeds of synthetic traffic.

The training table has four numeric features (normal, normal, exponential, small integers)
and two categorical ones; its reference is built as a job builds it
(`monitoring.feature_reference`). Each seed draws LIVE_ROWS rows of live traffic twice:
once with feature x0 shifted by SHIFT standard deviations, once from the training
distribution. Prints the power (seeds whose x0 was flagged), flags on the other features,
and false alarms (seeds of unshifted traffic with any flag).

    python benchmarks/drift_power.py --seeds 200 --rows 500 --shift 0.5
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from automl.monitoring import feature_reference
from automl.monitoring.statistics import P_VALUE, drift_report

KINDS = {**dict.fromkeys(("x0", "x1", "x2", "x3"), "numeric"), **dict.fromkeys(("colour", "size"), "categorical")}


def table(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x0": rng.normal(loc=shift, size=n),
            "x1": rng.normal(size=n),
            "x2": rng.exponential(size=n),
            "x3": rng.integers(0, 5, size=n).astype(float),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
            "size": rng.choice(["s", "m", "l", "xl"], n),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--rows", type=int, default=500, help="live rows per seed")
    parser.add_argument("--shift", type=float, default=0.5, help="x0's shift, in standard deviations")
    parser.add_argument("--p-value", type=float, default=P_VALUE)
    args = parser.parse_args()
    reference = {"features": feature_reference(table(5_000, np.random.default_rng(1234)), KINDS)}
    caught = others = alarms = 0
    for seed in range(args.seeds):
        shifted = drift_report(
            reference, table(args.rows, np.random.default_rng(seed), args.shift), kinds=KINDS, p_value=args.p_value
        )
        caught += "x0" in shifted["drifted"]
        others += sum(name != "x0" for name in shifted["drifted"])
        steady = drift_report(
            reference, table(args.rows, np.random.default_rng(10_000 + seed)), kinds=KINDS, p_value=args.p_value
        )
        alarms += bool(steady["drifted"])
    print(
        f"{args.seeds} seeds, {args.rows} live rows, x0 shifted {args.shift:g} SD, p = {args.p_value:g} over "
        f"{len(KINDS)} features: x0 flagged in {caught} ({caught / args.seeds:.1%}), {others} flag(s) on the "
        f"other features; unshifted traffic: {alarms} false alarm(s) ({alarms / args.seeds:.1%})"
    )


if __name__ == "__main__":
    main()
