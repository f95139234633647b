"""The solver benchmarks still run (at toy size; they print, they do not judge)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("load_penalty", ["0", "0.05"])
def test_bench_solver_runs_at_toy_size(capsys, load_penalty):
    argv = ["--craftsmen", "60", "--demands", "25", "--repeat", "1", "--load-penalty", load_penalty]
    assert load("bench_solver").main(argv) == 0
    out = capsys.readouterr().out
    assert "ratio solve / bare LSA" in out


def test_bench_scale_runs_at_toy_size(capsys):
    argv = [
        "--craftsmen",
        "300",
        "--demands",
        "150",
        "--k",
        "5",
        "--gap-craftsmen",
        "40",
        "--gap-demands",
        "20",
    ]
    assert load("bench_scale").main(argv) == 0
    out = capsys.readouterr().out
    assert "peak RSS" in out and "objective gap" in out


def test_bench_scale_solves_its_saved_problem_alone(capsys, tmp_path):
    saved = tmp_path / "round.npz"
    small = ["--craftsmen", "300", "--demands", "150", "--k", "5", "--gap-craftsmen", "40", "--gap-demands", "20"]
    assert load("bench_scale").main([*small, "--save-problem", str(saved)]) == 0
    full_path = capsys.readouterr().out
    objective = full_path.split("solve: ", 1)[1].split("objective ", 1)[1].split(";")[0]
    for method, route in (("auto", "mincostflow"), ("flow", "HiGHS run:")):
        assert load("bench_scale").main(["--solve-problem", str(saved), "--method", method]) == 0
        alone = capsys.readouterr().out
        assert float(alone.split("objective ", 1)[1].split()[0]) == pytest.approx(float(objective), abs=1e-4)
        assert route in alone


@pytest.mark.parametrize("file_format", ["json", "npz"])
def test_bench_solver_compares_with_its_peers_at_toy_size(capsys, file_format):
    argv = ["--peers", "--sizes", "60x25", "--penalties", "0.05", "--repeat", "1", "--format", file_format]
    assert load("bench_solver").main(argv) == 0
    out = capsys.readouterr().out
    assert "60 x 25, load penalty 0.05" in out and "ratio ours / ortools" in out and "ratio ours / highs" in out
