"""`automl benchmark`'s refusals: one line, exit code 2, before any run starts or is written."""

from __future__ import annotations

import pytest

from automl.cli import main


@pytest.fixture
def suite(tmp_path, binary_table):
    binary_table.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "suite.yaml").write_text("tables:\n  - {name: t, source: t.parquet, target: target}\n")
    (tmp_path / "broken.yaml").write_text("tables:\n  - {name: t, source: missing.parquet, target: target}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{dir}/suite.yaml", "--max-trials", "2", "--output", "{dir}/out"], "name the strategies"),
        (
            ["{dir}/suite.yaml", "--strategies", "tpe,bogus", "--max-trials", "2", "--output", "{dir}/out"],
            "unknown strategy 'bogus'",
        ),
        (["{dir}/suite.yaml", "--strategies", "tpe", "--output", "{dir}/out"], "give one budget"),
        (["{dir}/nope.yaml", "--strategies", "tpe", "--max-trials", "2", "--output", "{dir}/out"], "no such suite"),
        (["{dir}/broken.yaml", "--strategies", "tpe", "--max-trials", "2", "--output", "{dir}/out"], "not found"),
        (
            ["{dir}/suite.yaml", "--strategies", "tpe", "--max-trials", "2", "--tables", "x", "--output", "{dir}/out"],
            "has no table x",
        ),
        (["{dir}/suite.yaml", "--strategies", "tpe"], "needs a SUITE and --output"),
        (["--replay", "{dir}/empty"], "replay needs a benchmark directory"),
    ],
)
def test_bad_benchmark_input_is_one_line_and_exit_code_2(suite, capsys, args, message):
    (suite / "empty").mkdir(exist_ok=True)
    code = main(["benchmark", *(a.format(dir=suite) for a in args)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert not (suite / "out" / "runs").exists()


def test_list_shows_every_strategy_and_how_it_meets_the_space(capsys):
    assert main(["benchmark", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("tpe:", "random:", "qmc:", "cmaes:", "gp:", "tpe-asha:", "tpe-hyperband:"):
        assert name in out
    assert "fall back to random" in out
