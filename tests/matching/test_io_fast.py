"""The fast readers of `python -m matching`: the columnar JSON path reads exactly what the precise
path reads and hands every doubtful document to it; the .npz format round-trips and refuses
malformed archives in one line."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.__main__ import main
from matching.io import _parse_fast, loads_json, parse_problem, problem_to_json, read_problem, write_npz

from .conftest import random_problem
from .test_io import MALFORMED, VALID

ARRAYS = ("capacity", "slots", "priority", "pair_craftsman", "pair_demand", "pair_score")


def assert_same_problem(left, right):
    assert left.craftsmen == right.craftsmen and left.demands == right.demands
    for name in ARRAYS:
        assert np.array_equal(getattr(left, name), getattr(right, name)), name
    assert (left.relevance is None) == (right.relevance is None)
    if left.relevance is not None:
        assert np.array_equal(left.relevance, right.relevance)
    for name in ("forbidden", "locked", "min_score", "load_penalty", "relevance_mode"):
        assert getattr(left, name) == getattr(right, name), name


ids = st.text(st.characters(codec="utf-8", exclude_characters='"\\:'), min_size=1, max_size=6)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    craftsman_ids=st.lists(ids, min_size=1, max_size=6, unique=True),
    demand_ids=st.lists(ids, min_size=1, max_size=5, unique=True),
    data=st.data(),
    ensure_ascii=st.booleans(),
)
def test_the_fast_path_reads_what_the_precise_path_reads(craftsman_ids, demand_ids, data, ensure_ascii):
    number = st.one_of(st.integers(0, 5), st.floats(0, 10, allow_nan=False))
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(craftsman_ids), st.sampled_from(demand_ids)), unique=True))
    tiered = data.draw(st.booleans())
    scores = []
    for c, d in pairs:
        item = {"craftsman": c, "demand": d, "score": data.draw(number)}
        if tiered and data.draw(st.booleans()):
            item["tier"] = data.draw(st.sampled_from([0, 1, 2, 1.0]))
        scores.append(item)
    demands = []
    for d in demand_ids:
        item = {"id": d, "slots": data.draw(st.integers(1, 3))}
        if data.draw(st.booleans()):
            item["priority"] = data.draw(st.sampled_from([0.5, 1, 2.0]))
        demands.append(item)
    document = {
        "craftsmen": [{"id": c, "capacity": data.draw(st.integers(0, 3))} for c in craftsman_ids],
        "demands": demands,
        "scores": scores,
        "locked": [{"craftsman": c, "demand": d} for c, d in pairs[:1]],
        "forbidden": [{"craftsman": c, "demand": d} for c, d in pairs[1:2]],
        "load_penalty": data.draw(number),
        "relevance": data.draw(st.sampled_from(["first", "only", "off"])),
    }
    text = json.dumps(document, ensure_ascii=ensure_ascii)
    fast = _parse_fast(text.encode())
    assert fast is not None
    assert_same_problem(fast, parse_problem(loads_json(text)))


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_the_fast_path_hands_every_malformed_document_to_the_precise_path(case):
    document, _ = MALFORMED[case]
    text = document if isinstance(document, str) else json.dumps(document)
    assert _parse_fast(text.encode()) is None


VALID_TEXT = json.dumps(VALID)
HAZARDS = {
    # a JSON parser keeps the last of two equal keys: the first score would be lost silently
    "a key twice in a score": VALID_TEXT.replace('"score": 0.83', '"score": 0.83, "score": 0.1'),
    "an escaped key twice": VALID_TEXT.replace('"score": 0.83', '"score": 0.83, "\\u0073core": 0.1'),
    "a score as a string": VALID_TEXT.replace("0.83", '"0.83"'),
    "a tier as a bool": VALID_TEXT.replace('"score": 0.83', '"score": 0.83, "tier": true'),
    "a craftsman id as a number": VALID_TEXT.replace('{"id": "c1", "capacity": 2}', '{"id": 1, "capacity": 2}'),
    "a capacity as a float": VALID_TEXT.replace('"capacity": 2', '"capacity": 2.0'),
    "a nested object": VALID_TEXT.replace('"capacity": 2', '"capacity": {"a": 2}'),
}


@pytest.mark.parametrize("case", sorted(HAZARDS))
def test_documents_the_fast_path_cannot_vouch_for_go_the_precise_way(tmp_path, capsys, case):
    text = HAZARDS[case]
    assert _parse_fast(text.encode()) is None
    source = tmp_path / "in.json"
    source.write_text(text, encoding="utf-8")
    assert main([str(source), "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_a_colon_inside_an_id_is_read_all_the_same(tmp_path):
    document = json.loads(json.dumps(VALID).replace('"c2"', '"c:2"'))
    source = tmp_path / "in.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    assert _parse_fast(source.read_bytes()) is None  # too many colons: the precise path reads it
    assert_same_problem(read_problem(str(source)), parse_problem(document))


def npz_file(tmp_path, problem, name="in.npz"):
    target = tmp_path / name
    write_npz(problem, target)
    return target


@pytest.mark.parametrize("seed", range(4))
def test_npz_and_json_give_the_same_result(tmp_path, seed):
    problem = random_problem(seed, 12, 7, locks=2, forbidden=2, load_penalty=0.05, sparse=True, relevance="first")
    json_source = tmp_path / "in.json"
    json_source.write_text(json.dumps(problem_to_json(problem)), encoding="utf-8")
    npz_source = npz_file(tmp_path, problem)
    assert_same_problem(read_problem(str(npz_source)), read_problem(str(json_source)))
    outputs = []
    for source in (json_source, npz_source):
        target = tmp_path / f"{source.name}.out"
        assert main([str(source), "-o", str(target)]) == 0
        outputs.append(json.loads(target.read_text(encoding="utf-8")))
    assert outputs[0] == outputs[1] and outputs[0]["status"] == "optimal"


def _rewrite(tmp_path, **changes):
    problem = random_problem(0, 5, 3, sparse=True)
    with np.load(npz_file(tmp_path, problem, "base.npz")) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    target = tmp_path / "bad.npz"
    np.savez(target, **arrays)
    return target


MALFORMED_NPZ = {
    "unknown array": ({"weights": np.zeros(3)}, "weights"),
    "missing scores": ({"pair_score": None}, "pair_score"),
    "ids as numbers": ({"craftsmen": np.arange(5)}, "craftsmen"),
    "an empty id": ({"demands": np.array(["d0", "", "d2"])}, "demands"),
    "negative capacity": ({"capacity": np.array([1, -1, 1, 1, 1])}, "capacity"),
    "capacity 1e7": ({"capacity": np.array([1, 10**7, 1, 1, 1])}, "capacity"),
    "NaN score": ({"pair_score": "nan"}, "pair_score"),
    "index out of range": ({"pair_demand": "out"}, "pair_demand"),
    "lock out of range": ({"locked_craftsman": np.array([9]), "locked_demand": np.array([0])}, "locked_craftsman"),
    "relevance unknown": ({"relevance": np.array("sometimes")}, "relevance"),
    "load penalty as a list": ({"load_penalty": np.array([0.1, 0.2])}, "load_penalty"),
    "pickled objects": ({"tier": np.array([object()] * 2, dtype=object)}, "input"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_NPZ))
def test_a_malformed_npz_exits_2_with_one_line_naming_the_array(tmp_path, capsys, case):
    changes, field = MALFORMED_NPZ[case]
    problem = random_problem(0, 5, 3, sparse=True)
    if changes.get("pair_score") == "nan":
        changes["pair_score"] = np.where(np.arange(problem.pair_score.size) == 1, np.nan, problem.pair_score)
    if changes.get("pair_demand") == "out":
        changes["pair_demand"] = problem.pair_demand + 3
    if "tier" in changes:  # np.savez pickles object arrays; np.load refuses them
        np.savez(tmp_path / "bad.npz", tier=changes["tier"], allow_pickle=True)
        source = tmp_path / "bad.npz"
    else:
        source = _rewrite(tmp_path, **changes)
    assert main([str(source), "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {field}"), err


def test_a_file_that_is_not_an_archive_exits_2(tmp_path, capsys):
    source = tmp_path / "in.npz"
    source.write_text("{}", encoding="utf-8")
    assert main([str(source)]) == 2
    assert capsys.readouterr().err.startswith("error: input: not a .npz archive")
