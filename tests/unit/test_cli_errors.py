"""Bad input: one readable line, exit code 2, nothing written. None of these start Ray."""

from __future__ import annotations

import subprocess
import sys

import pytest

from automl.cli import main


@pytest.fixture
def table(tmp_path, binary_table):
    path = tmp_path / "train.csv"
    binary_table.to_csv(path, index=False)
    return path


def _bad_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01 not parquet")
    one_class = tmp_path / "one_class.csv"
    one_class.write_text("x,y\n1,a\n2,a\n3,a\n")
    unknown_type = tmp_path / "table.xlsx"
    unknown_type.write_text("x")
    return {"empty": empty, "garbage": garbage, "one_class": one_class, "xlsx": unknown_type}


CASES = {
    "missing-file": (["fit", "{tmp}/nope.csv", "--target", "target"], "file not found"),
    "empty-table": (["fit", "{empty}", "--target", "a"], "the table is empty"),
    "unreadable-file": (["fit", "{garbage}", "--target", "a"], "cannot read as parquet"),
    "unknown-format": (["fit", "{xlsx}", "--target", "a"], "unsupported file type .xlsx"),
    "unknown-target": (["fit", "{table}", "--target", "label"], "target column 'label' not found"),
    "one-class-target": (["fit", "{one_class}", "--target", "y"], "1 distinct value"),
    "unknown-metric": (["fit", "{table}", "--target", "target", "--metric", "auc"], "unknown metric 'auc'"),
    "metric-task-mismatch": (["fit", "{table}", "--target", "target", "--metric", "rmse"], "does not fit a binary"),
    "unknown-family": (["fit", "{table}", "--target", "target", "--models", "linear,tabpfn"], "'tabpfn'"),
    "zero-budget": (["fit", "{table}", "--target", "target", "--time-budget", "0"], "must be positive"),
    "negative-trials": (["fit", "{table}", "--target", "target", "--max-trials", "-2"], "must be positive"),
    "missing-spec": (["run", "{tmp}/job.yaml"], "spec file not found"),
    "bad-register-name": (
        ["fit", "{table}", "--target", "target", "--register", "a name!", "--registry", "{tmp}/registry"],
        "model name 'a name!'",
    ),
    "resume-not-a-run": (["resume", "{tmp}"], "not a run directory of a job (no job.yaml)"),
    "output-is-a-file": (["fit", "{table}", "--target", "target", "--output", "{table}"], "is not a directory"),
    "missing-model": (["predict", "{tmp}/model", "{table}", "--output", "{tmp}/p.csv"], "model directory not found"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, table, capsys):
    args, fragment = CASES[case]
    names = {"tmp": tmp_path, "table": table, **_bad_files(tmp_path)}
    out_dir = tmp_path / "run"
    argv = [a.format(**names) for a in args]
    if argv[0] == "fit" and "--output" not in argv:
        argv += ["--output", str(out_dir)]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out_dir.exists()


def test_the_console_script_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "automl.cli", "fit", str(tmp_path / "nope.csv"), "--target", "y"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.csv'}: file not found"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "data.csv"])  # --target missing
    assert info.value.code == 2
    assert "--target" in capsys.readouterr().err
