"""The JSON format and `python -m matching`: round trip, defaults, and one stderr line
with exit status 2 for every kind of malformed input."""

import copy
import json
import subprocess
import sys

import pytest

from matching import ProblemError
from matching.__main__ import main
from matching.io import loads_json, parse_problem

VALID = {
    "craftsmen": [{"id": "c1", "capacity": 2}, {"id": "c2", "capacity": 1}],
    "demands": [{"id": "d1", "slots": 2, "priority": 2.0}, {"id": "d2", "slots": 1}],
    "scores": [
        {"craftsman": "c1", "demand": "d1", "score": 0.83},
        {"craftsman": "c2", "demand": "d1", "score": 0.5},
        {"craftsman": "c1", "demand": "d2", "score": 0.4},
        {"craftsman": "c2", "demand": "d2", "score": 0.9},
    ],
    "forbidden": [{"craftsman": "c2", "demand": "d2"}],
    "locked": [{"craftsman": "c1", "demand": "d2"}],
    "min_score": 0.1,
    "load_penalty": 0.05,
}


def run_main(tmp_path, document, *extra):
    source = tmp_path / "in.json"
    source.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    target = tmp_path / "out.json"
    code = main([str(source), "-o", str(target), *extra])
    return code, (json.loads(target.read_text(encoding="utf-8")) if target.exists() else None)


def test_a_valid_file_round_trips(tmp_path):
    code, output = run_main(tmp_path, VALID)
    assert code == 0
    assert set(output) == {"status", "message", "objective", "assignments", "unfilled", "loads", "metrics"}
    assert output["status"] == "optimal"
    pairs = {(a["craftsman"], a["demand"]) for a in output["assignments"]}
    assert pairs == {("c1", "d1"), ("c2", "d1"), ("c1", "d2")}
    # 2·0.83 + 2·0.5 + 0.4 − 0.05 (c1's second demand)
    assert output["objective"] == pytest.approx(2 * 0.83 + 2 * 0.5 + 0.4 - 0.05)
    assert output["loads"] == {"c1": 2, "c2": 1}
    assert output["unfilled"] == []


def test_defaults_apply(tmp_path):
    document = {key: VALID[key] for key in ("craftsmen", "demands", "scores")}
    document["demands"] = [{"id": "d1", "slots": 2}, {"id": "d2", "slots": 1}]
    problem = parse_problem(document)
    assert list(problem.priority) == [1.0, 1.0]
    assert problem.locked == () and problem.forbidden == ()
    assert problem.min_score == 0.0 and problem.load_penalty == 0.0


def test_unhonourable_locks_are_an_infeasible_result_not_an_error(tmp_path):
    document = copy.deepcopy(VALID)
    document["locked"] = [
        {"craftsman": "c2", "demand": "d1"},
        {"craftsman": "c2", "demand": "d2"},
    ]
    code, output = run_main(tmp_path, document)
    assert code == 0
    assert output["status"] == "infeasible"
    assert "c2" in output["message"] and "forbidden" in output["message"]


def mutate(path, value):
    """A copy of VALID with the item at `path` (a tuple of keys/indices) set to `value`."""
    document = copy.deepcopy(VALID)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


MALFORMED = {
    "bad json": ("{", "input"),
    "top level list": ("[]", "input"),
    "missing field": ({"craftsmen": [], "demands": []}, "scores"),
    "capacity as string": (mutate(("craftsmen", 0, "capacity"), "2"), "craftsmen[0].capacity"),
    "capacity as bool": (mutate(("craftsmen", 0, "capacity"), True), "craftsmen[0].capacity"),
    "score as bool": (mutate(("scores", 1, "score"), True), "scores[1].score"),
    "negative capacity": (mutate(("craftsmen", 1, "capacity"), -1), "craftsmen[1].capacity"),
    "zero slots": (mutate(("demands", 0, "slots"), 0), "demands[0].slots"),
    "zero priority": (mutate(("demands", 0, "priority"), 0), "demands[0].priority"),
    "negative score": (mutate(("scores", 3, "score"), -0.5), "scores[3].score"),
    "NaN score": (json.dumps(VALID).replace("0.83", "NaN"), "scores[0].score: NaN"),
    "Infinity score": (json.dumps(VALID).replace("0.83", "Infinity"), "scores[0].score: Infinity"),
    "NaN priority": (json.dumps(VALID).replace("2.0", "NaN"), "demands[0].priority: NaN"),
    "NaN capacity": (json.dumps(VALID).replace('"capacity": 2', '"capacity": NaN'), "craftsmen[0].capacity: NaN"),
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "input: nested too deeply"),
    "capacity 1e30": (mutate(("craftsmen", 0, "capacity"), 10**30), "craftsmen[0].capacity"),
    "capacity 1e30 as float": (mutate(("craftsmen", 0, "capacity"), 1e30), "craftsmen[0].capacity"),
    "slots 2**63": (mutate(("demands", 0, "slots"), 2**63), "demands[0].slots"),
    "400-digit score": (json.dumps(VALID).replace("0.83", "1" + "0" * 400), "scores[0].score"),
    "priority 1e300": (mutate(("demands", 0, "priority"), 1e300), "demands[0].priority"),
    "lock listed twice": (
        mutate(("locked",), [{"craftsman": "c1", "demand": "d2"}, {"craftsman": "c1", "demand": "d2"}]),
        "locked[1]: pair ('c1', 'd2') is already locked at locked[0]",
    ),
    "unknown relevance": (mutate(("relevance",), "sometimes"), "relevance"),
    "tier 3": (mutate(("scores", 0, "tier"), 3), "scores[0].tier"),
    "unknown craftsman": (mutate(("scores", 2, "craftsman"), "zz"), "scores[2].craftsman"),
    "unknown demand in locked": (mutate(("locked", 0, "demand"), "zz"), "locked[0].demand"),
    "duplicate id": (mutate(("craftsmen", 1, "id"), "c1"), "craftsmen[1].id"),
    "duplicate pair": (mutate(("scores", 1), VALID["scores"][0]), "scores[1]"),
    "extra top-level key": (mutate(("weights",), {}), "weights"),
    "extra craftsman key": (mutate(("craftsmen", 0, "name"), "x"), "craftsmen[0].name"),
    "extra score key": (mutate(("scores", 0, "reason"), "x"), "scores[0].reason"),
    "negative min_score": (mutate(("min_score",), -0.1), "min_score"),
    "string load_penalty": (mutate(("load_penalty",), "1"), "load_penalty"),
    "duplicate key": ('{"craftsmen": [], "craftsmen": [], "demands": [], "scores": []}', "input"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_exits_2_with_one_line_naming_the_field(tmp_path, capsys, case):
    document, field = MALFORMED[case]
    code, output = run_main(tmp_path, document)
    err = capsys.readouterr().err
    assert code == 2 and output is None
    assert err.count("\n") == 1 and err.startswith(f"error: {field}")


def test_the_module_runs_as_a_program(tmp_path):
    source = tmp_path / "in.json"
    source.write_text(json.dumps(VALID), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "matching", str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "optimal"


# Each run of the program pays for importing numpy and scipy (1–2 s here), so by default
# one case per family goes through a real process; `-m slow` runs them all.
PROGRAM_CASES = {
    "bad json", "NaN score", "capacity as bool", "duplicate pair", "extra score key", "nested 100,000 deep",
    "slots 2**63", "400-digit score", "lock listed twice",
}


@pytest.mark.parametrize(
    "case", [c if c in PROGRAM_CASES else pytest.param(c, marks=pytest.mark.slow) for c in sorted(MALFORMED)]
)
def test_the_program_refuses_malformed_input_in_one_line(case):
    document, field = MALFORMED[case]
    text = document if isinstance(document, str) else json.dumps(document)
    done = subprocess.run([sys.executable, "-m", "matching", "-"], input=text, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {field}")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_nan_is_refused_by_the_field_that_holds_it():
    with pytest.raises(ProblemError) as caught:
        parse_problem(loads_json(json.dumps(VALID).replace("0.4", "-Infinity")))
    assert caught.value.field == "scores[2].score"


@pytest.mark.parametrize("priority", [1e19, 1e-6, 1e-12])
def test_huge_and_tiny_priorities_solve(tmp_path, priority):
    code, output = run_main(tmp_path, mutate(("demands", 0, "priority"), priority))
    assert code == 0 and output["status"] == "optimal"


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_an_unwritable_output_exits_2_with_one_line(tmp_path, capsys, where):
    source = tmp_path / "in.json"
    source.write_text(json.dumps(VALID), encoding="utf-8")
    target = tmp_path / "nowhere" / "out.json" if where == "missing folder" else tmp_path
    assert main([str(source), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {target}: cannot write")


def test_a_lock_listed_twice_is_reported_as_such_by_the_solver():
    from matching import Problem, solve

    problem = Problem(["c"], ["d"], [1], [1], scores=[[0.5]], locked=[("c", "d"), ("c", "d")])
    result = solve(problem)
    assert result.status == "infeasible"
    assert result.message == "locked pair (c, d) is listed twice"


def test_tiers_round_trip_through_the_json_format(tmp_path):
    document = mutate(("scores", 0, "tier"), 0)
    document["relevance"] = "first"
    code, output = run_main(tmp_path, document)
    assert code == 0
    tiers = {(a["craftsman"], a["demand"]): (a["tier"], a["flags"]) for a in output["assignments"]}
    assert all(t == 2 and f == [] for pair, (t, f) in tiers.items() if pair != ("c1", "d1"))
