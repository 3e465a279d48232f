"""Benchmarking search strategies on real tables: the same suite, folds, budget, CPU
shares and seeds for each strategy; traces, a report, and a replay on a surrogate."""

from automl.benchmark.execute import BenchmarkResult, run_benchmark
from automl.benchmark.runs import RunSettings
from automl.benchmark.suite import Suite, SuiteTable, load_suite

__all__ = ["BenchmarkResult", "RunSettings", "Suite", "SuiteTable", "load_suite", "run_benchmark"]
