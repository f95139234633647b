"""The JSON format of `python -m matching` / `craftmatch solve`.

Input (extra keys are refused at every level; defaults in brackets)::

    {"craftsmen": [{"id": "c1", "capacity": 2}],
     "demands":   [{"id": "d1", "slots": 1, "priority": 1.0 [1.0]}],
     "scores":    [{"craftsman": "c1", "demand": "d1", "score": 0.83}],
     "forbidden": [{"craftsman": "c1", "demand": "d2"}]   [[]],
     "locked":    [{"craftsman": "c1", "demand": "d1"}]   [[]],
     "min_score": 0.0 [0], "load_penalty": 0.0 [0],
     "relevance": "first" | "only" | "off" ["first"]}

A score entry may carry a relevance "tier" (0, 1 or 2; [2] when some entry gives one, none
at all: no tiers).  Counts are at most 1,000,000, numbers at most 1e100; NaN / Infinity are
refused by the field that holds them, a pair locked twice by the second entry.

A pair absent from "scores" is not allowed.  Malformed input raises `ProblemError`
naming the field by its path (``scores[3].score``); a lock that cannot be honoured is
not malformed: `solve` reports it as "infeasible".
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable

import numpy as np

from matching.collector import collector_paused
from matching.problem import RELEVANCE_MODES, Problem, ProblemError
from matching.result import Result

_TOP_LEVEL = {"craftsmen", "demands", "scores", "forbidden", "locked", "min_score", "load_penalty", "relevance"}
MAX_COUNT = 1_000_000  # capacities and slots above this are typing errors, and overflow int64 sums
MAX_NUMBER = 1e100  # scores, priorities, penalties: their products stay finite


class NotANumber:
    """Where the document said NaN, Infinity or -Infinity: refused by the field that holds it."""

    def __init__(self, name: str) -> None:
        self.name = name


def loads_json(text: str):
    """`json.loads` that refuses duplicate keys and marks NaN/Infinity (Python accepts both), so the
    field holding one can name itself; too deep a nesting is refused too."""

    def refuse_constant(name: str):
        return NotANumber(name)

    def refuse_duplicates(pairs):
        keys = [key for key, _ in pairs]
        repeated = next((key for key in keys if keys.count(key) > 1), None)
        if repeated is not None:
            raise ProblemError("input", f"key {repeated!r} appears twice in one object")
        return dict(pairs)

    try:
        return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=refuse_duplicates)
    except json.JSONDecodeError as error:
        raise ProblemError("input", f"invalid JSON: {error}") from None
    except RecursionError:
        raise ProblemError("input", "nested too deeply") from None


def _object(path: str, value, required: set[str], optional: set[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise ProblemError(path, "must be an object")
    missing = sorted(required - value.keys())
    if missing:
        raise ProblemError(f"{path}.{missing[0]}" if path else missing[0], "is required")
    extra = sorted(value.keys() - required - optional, key=str)
    if extra:
        raise ProblemError(f"{path}.{extra[0]}" if path else str(extra[0]), "is not a known field")
    return value


def _list(path: str, value) -> list:
    if not isinstance(value, list):
        raise ProblemError(path, "must be a list")
    return value


def _refuse_not_a_number(path: str, value) -> None:
    if isinstance(value, NotANumber):
        raise ProblemError(path, f"{value.name} is not a JSON number")


def _integer(path: str, value, minimum: int) -> int:
    _refuse_not_a_number(path, value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_COUNT:
        raise ProblemError(path, f"must be an integer in [{minimum}, {MAX_COUNT}]")
    return value


def _number(path: str, value, *, positive: bool = False) -> float:
    _refuse_not_a_number(path, value)
    try:
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > MAX_NUMBER:
        rule = "> 0" if positive else "≥ 0"
        raise ProblemError(path, f"must be a finite number {rule} and ≤ {MAX_NUMBER:g}")
    return number


def _id(path: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise ProblemError(path, "must be a non-empty string")
    return value


def _entities(path: str, value, fields: dict[str, Callable], optional: set[str] = frozenset()):
    """Parse a list of objects with an "id"; returns ids, per-field values and the index."""
    ids, columns, index = [], {name: [] for name in fields}, {}
    for i, item in enumerate(_list(path, value)):
        item = _object(f"{path}[{i}]", item, {"id"} | (fields.keys() - optional), optional)
        entity = _id(f"{path}[{i}].id", item["id"])
        if entity in index:
            raise ProblemError(f"{path}[{i}].id", f"duplicate id {entity!r}")
        index[entity] = i
        ids.append(entity)
        for name, parse in fields.items():
            columns[name].append(parse(f"{path}[{i}].{name}", item[name]) if name in item else None)
    return ids, columns, index


def _tier(path: str, value) -> int:
    if isinstance(value, bool) or value not in (0, 1, 2):
        raise ProblemError(path, "must be 0, 1 or 2")
    return int(value)


def _pair_refs(
    path: str,
    value,
    craftsmen: dict,
    demands: dict,
    extra: dict[str, Callable] | None = None,
    optional: dict[str, Callable] | None = None,
):
    """Parse a list of {"craftsman", "demand", ...}; returns index pairs and extra values
    (None where an optional one is absent)."""
    extra, optional = extra or {}, optional or {}
    pairs, values = [], {name: [] for name in extra | optional}
    for i, item in enumerate(_list(path, value)):
        item = _object(f"{path}[{i}]", item, {"craftsman", "demand"} | extra.keys(), set(optional))
        craftsman = _id(f"{path}[{i}].craftsman", item["craftsman"])
        demand = _id(f"{path}[{i}].demand", item["demand"])
        if craftsman not in craftsmen:
            raise ProblemError(f"{path}[{i}].craftsman", f"unknown craftsman {craftsman!r}")
        if demand not in demands:
            raise ProblemError(f"{path}[{i}].demand", f"unknown demand {demand!r}")
        pairs.append((craftsman, demand))
        for name, parse in extra.items():
            values[name].append(parse(f"{path}[{i}].{name}", item[name]))
        for name, parse in optional.items():
            values[name].append(parse(f"{path}[{i}].{name}", item[name]) if name in item else None)
    return pairs, values


def parse_problem(obj) -> Problem:
    """The `Problem` of a parsed JSON document; `ProblemError` names any malformed field."""
    if not isinstance(obj, dict):
        raise ProblemError("input", "must be a JSON object")
    obj = _object("", obj, {"craftsmen", "demands", "scores"}, _TOP_LEVEL)
    craftsmen, craftsman_fields, craftsman_index = _entities(
        "craftsmen", obj["craftsmen"], {"capacity": lambda p, v: _integer(p, v, 0)}
    )
    demands, demand_fields, demand_index = _entities(
        "demands",
        obj["demands"],
        {"slots": lambda p, v: _integer(p, v, 1), "priority": lambda p, v: _number(p, v, positive=True)},
        optional={"priority"},
    )
    scored, score_fields = _pair_refs(
        "scores", obj["scores"], craftsman_index, demand_index, {"score": _number}, {"tier": _tier}
    )
    given = [t for t in score_fields["tier"] if t is not None]
    tiers = [2 if t is None else t for t in score_fields["tier"]] if given else None
    relevance_mode = obj.get("relevance", "first")
    if relevance_mode not in RELEVANCE_MODES:
        raise ProblemError("relevance", f"must be one of {RELEVANCE_MODES}")
    seen: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(scored):
        if pair in seen:
            raise ProblemError(f"scores[{i}]", f"duplicate pair {pair} (first at scores[{seen[pair]}])")
        seen[pair] = i
    forbidden, _ = _pair_refs("forbidden", obj.get("forbidden", []), craftsman_index, demand_index)
    locked, _ = _pair_refs("locked", obj.get("locked", []), craftsman_index, demand_index)
    first_lock: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(locked):
        if pair in first_lock:
            raise ProblemError(f"locked[{i}]", f"pair {pair} is already locked at locked[{first_lock[pair]}]")
        first_lock[pair] = i
    priority = [1.0 if p is None else p for p in demand_fields["priority"]]
    return Problem(
        craftsmen,
        demands,
        np.array(craftsman_fields["capacity"], dtype=np.int64),
        np.array(demand_fields["slots"], dtype=np.int64),
        priority=np.array(priority, dtype=np.float64),
        pair_craftsman=np.array([craftsman_index[c] for c, _ in scored], dtype=np.int64),
        pair_demand=np.array([demand_index[d] for _, d in scored], dtype=np.int64),
        pair_score=np.array(score_fields["score"], dtype=np.float64),
        forbidden=forbidden,
        locked=locked,
        min_score=_number("min_score", obj.get("min_score", 0.0)),
        load_penalty=_number("load_penalty", obj.get("load_penalty", 0.0)),
        relevance=None if tiers is None else np.array(tiers, dtype=np.int8),
        relevance_mode=relevance_mode,
    )


def result_to_json(result: Result) -> dict:
    """The output document: status, message, objective, assignments, unfilled, loads, metrics."""
    return {
        "status": result.status,
        "message": result.message,
        "objective": result.objective,
        "assignments": [
            {"craftsman": a.craftsman, "demand": a.demand, "score": a.score, "tier": a.tier,
             "relevant": a.relevant, "flags": list(a.flags)}
            for a in result.assignments
        ],
        "unfilled": [{"demand": demand, "missing": missing} for demand, missing in result.unfilled],
        "loads": dict(result.loads),
        "metrics": dict(result.metrics),
    }


# ---------------------------------------------------------------------------------------------
# The fast path.  A document is first read by `_parse_fast`: one C-level parse (orjson when
# installed) and whole-column checks.  It accepts exactly what `parse_problem` accepts and hands
# anything doubtful (an error, an escaped key that could hide a duplicate, a bool among numbers…)
# to the precise path above, which names the field; so a malformed document costs a second read,
# a valid one a fraction of the first.

try:
    import orjson

    _fast_loads = orjson.loads
    _FastDecodeError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - orjson is a dependency; json is the slower stand-in
    _fast_loads = json.loads
    _FastDecodeError = ValueError

_KEYS = {
    "craftsmen": ("id", "capacity"),
    "demands": ("id", "slots", "priority"),
    "scores": ("craftsman", "demand", "score", "tier"),
    "forbidden": ("craftsman", "demand"),
    "locked": ("craftsman", "demand"),
}


def read_problem_bytes(data: bytes) -> Problem:
    """The `Problem` of a JSON document given as bytes (UTF-8): the fast path, else the precise one.

    Raises
    ------
    ProblemError
        Naming the malformed field (by the precise path, `parse_problem`).
    UnicodeDecodeError
        When the bytes are not UTF-8.
    """
    problem = _parse_fast(data)
    if problem is None:
        problem = parse_problem(loads_json(data.decode("utf-8")))
    return problem


def _parse_fast(data: bytes) -> Problem | None:
    try:
        with collector_paused():  # a million small dicts
            return _parse_columns(data)
    except (_FastDecodeError, RecursionError, KeyError, TypeError, ValueError, OverflowError):
        return None  # ProblemError is a ValueError: the precise path names the field


def _parse_columns(data: bytes) -> Problem | None:
    document = _fast_loads(data)
    if type(document) is not dict or not {"craftsmen", "demands", "scores"} <= document.keys() <= _TOP_LEVEL:
        return None
    lists = {name: document.get(name, []) for name in _KEYS}
    if any(type(items) is not list or set(map(type, items)) - {dict} for items in lists.values()):
        return None
    craftsmen, demands, scores = lists["craftsmen"], lists["demands"], lists["scores"]
    # every required key of every object is read here (a KeyError: the precise path), optional ones are
    # None where absent
    craftsman_ids, capacity = _column(craftsmen, "id"), _column(craftsmen, "capacity")
    demand_ids, slots, priority = _column(demands, "id"), _column(demands, "slots"), _optional(demands, "priority")
    score_c, score_d = _column(scores, "craftsman"), _column(scores, "demand")
    score, tier = _column(scores, "score"), _optional(scores, "tier")
    pair_lists = {name: (_column(lists[name], "craftsman"), _column(lists[name], "demand"))
                  for name in ("forbidden", "locked")}
    held = len(document) + sum(len(items) * len(_KEYS[name]) for name, items in lists.items())
    held -= priority.count(None) + tier.count(None)
    if sum(sum(map(len, items)) for items in lists.values()) + len(document) != held:
        return None  # an unknown key
    # Every key of every object has its colon outside strings and colons inside strings only add, so
    # this equality means that no object spelled a key twice (which a JSON parser would silently drop).
    if data.count(b":") != held:
        return None

    if not (_typed(craftsman_ids, str) and _typed(demand_ids, str)) or "" in craftsman_ids or "" in demand_ids:
        return None
    craftsman_index = dict(zip(craftsman_ids, range(len(craftsman_ids)), strict=True))
    demand_index = dict(zip(demand_ids, range(len(demand_ids)), strict=True))
    if len(craftsman_index) != len(craftsman_ids) or len(demand_index) != len(demand_ids):
        return None
    tiered = tier.count(None) < len(tier)
    priority = [1.0 if p is None else p for p in priority] if None in priority else priority
    tier = [2 if t is None else t for t in tier] if tiered and None in tier else tier
    if not (_typed(capacity, int) and _typed(slots, int) and _typed(priority, int, float)
            and _typed(score, int, float) and (not tiered or _typed(tier, int, float))):
        return None
    capacity, slots = np.array(capacity, dtype=np.int64), np.array(slots, dtype=np.int64)
    priority, score = np.array(priority, dtype=np.float64), np.array(score, dtype=np.float64)
    tiers = np.array(tier, dtype=np.float64) if tiered else None
    if (np.any((capacity < 0) | (capacity > MAX_COUNT)) or np.any((slots < 1) | (slots > MAX_COUNT))
            or np.any((priority <= 0) | (priority > MAX_NUMBER)) or np.any((score < 0) | (score > MAX_NUMBER))
            or (tiered and not np.all((tiers == 0) | (tiers == 1) | (tiers == 2)))):
        return None
    relevance_mode = document.get("relevance", "first")
    if relevance_mode not in RELEVANCE_MODES:
        return None
    forbidden, locked = (_pair_ids(*pair_lists[name], craftsman_index, demand_index) for name in ("forbidden", "locked"))
    if forbidden is None or locked is None or len(set(locked)) != len(locked):
        return None
    return Problem(
        craftsman_ids, demand_ids, capacity, slots, priority=priority,
        pair_craftsman=np.array(list(map(craftsman_index.__getitem__, score_c)), dtype=np.int64),
        pair_demand=np.array(list(map(demand_index.__getitem__, score_d)), dtype=np.int64),
        pair_score=score, forbidden=forbidden, locked=locked,
        min_score=_number("min_score", document.get("min_score", 0.0)),
        load_penalty=_number("load_penalty", document.get("load_penalty", 0.0)),
        relevance=None if tiers is None else tiers.astype(np.int8), relevance_mode=relevance_mode,
    )


def _typed(values: list, *kinds: type) -> bool:
    """Whether every value is exactly of one of `kinds` (a bool is not an int here)."""
    return set(map(type, values)) <= set(kinds)


def _column(items: list[dict], key: str) -> list:
    return [item[key] for item in items]


def _optional(items: list[dict], key: str) -> list:
    return [item.get(key) for item in items]


def _pair_ids(craftsmen: list, demands: list, craftsman_index: dict, demand_index: dict) -> list[tuple] | None:
    pairs = list(zip(craftsmen, demands, strict=True))
    if not all(c in craftsman_index and d in demand_index for c, d in pairs):
        return None
    return pairs


# ---------------------------------------------------------------------------------------------
# The columnar format: a NumPy .npz archive of named arrays, for rounds too large to spell in JSON.

NPZ_ARRAYS = {
    "craftsmen": "ids (strings)",
    "capacity": "int, one per craftsman",
    "demands": "ids (strings)",
    "slots": "int, one per demand",
    "priority": "float > 0, one per demand [1.0]",
    "pair_craftsman": "int, index into craftsmen, one per scored pair",
    "pair_demand": "int, index into demands, one per scored pair",
    "pair_score": "float ≥ 0, one per scored pair",
    "tier": "int 0, 1 or 2, one per scored pair [no tiers]",
    "forbidden_craftsman": "int index [none]",
    "forbidden_demand": "int index [none]",
    "locked_craftsman": "int index [none]",
    "locked_demand": "int index [none]",
    "min_score": "a float [0]",
    "load_penalty": "a float [0]",
    "relevance": 'a string: "first", "only" or "off" ["first"]',
}
_NPZ_REQUIRED = ("craftsmen", "capacity", "demands", "slots", "pair_craftsman", "pair_demand", "pair_score")


def read_npz(source) -> Problem:
    """The `Problem` held by a columnar .npz archive (see ``NPZ_ARRAYS``; pickled objects are refused).

    Parameters
    ----------
    source : str or file-like
        The archive.

    Raises
    ------
    ProblemError
        Naming the malformed array (``input`` when the file is not an archive of arrays).
    """
    try:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError) as error:  # not a zip, a pickled object, a torn file
        raise ProblemError("input", f"not a .npz archive of arrays: {error}") from None
    unknown = sorted(arrays.keys() - NPZ_ARRAYS.keys())
    if unknown:
        raise ProblemError(unknown[0], "is not a known array")
    missing = [name for name in _NPZ_REQUIRED if name not in arrays]
    if missing:
        raise ProblemError(missing[0], "is required")
    for name in ("craftsmen", "demands"):
        if arrays[name].ndim != 1 or arrays[name].dtype.kind != "U" or (arrays[name] == "").any():
            raise ProblemError(name, "must be a list of non-empty strings")
    for name, maximum in (("capacity", MAX_COUNT), ("slots", MAX_COUNT)):
        if arrays[name].dtype.kind in "iu" and arrays[name].size and arrays[name].max() > maximum:
            raise ProblemError(name, f"must hold integers ≤ {maximum}")
    for name in ("priority", "pair_score"):
        if name in arrays and arrays[name].dtype.kind in "iuf" and np.any(arrays[name] > MAX_NUMBER):
            raise ProblemError(name, f"must hold numbers ≤ {MAX_NUMBER:g}")
    craftsmen, demands = arrays["craftsmen"].tolist(), arrays["demands"].tolist()
    pairs = {}
    for name in ("forbidden", "locked"):
        c = arrays.get(f"{name}_craftsman", np.zeros(0, np.int64))
        d = arrays.get(f"{name}_demand", np.zeros(0, np.int64))
        if c.shape != d.shape or c.ndim != 1 or (c.size and (
                c.dtype.kind not in "iu" or d.dtype.kind not in "iu" or c.min() < 0 or d.min() < 0
                or c.max() >= len(craftsmen) or d.max() >= len(demands))):
            raise ProblemError(f"{name}_craftsman", "must pair with its _demand array as indices of the ids")
        pairs[name] = [(craftsmen[i], demands[j]) for i, j in zip(c.tolist(), d.tolist(), strict=True)]
    if len(set(pairs["locked"])) != len(pairs["locked"]):
        raise ProblemError("locked_craftsman", "a pair is locked twice")
    scalars = {}
    for name, default in (("min_score", 0.0), ("load_penalty", 0.0), ("relevance", "first")):
        value = arrays.get(name, np.array(default))
        if value.ndim:
            raise ProblemError(name, "must be a single value")
        scalars[name] = value.item()
    if scalars["relevance"] not in RELEVANCE_MODES:
        raise ProblemError("relevance", f"must be one of {RELEVANCE_MODES}")
    return Problem(
        craftsmen, demands, arrays["capacity"], arrays["slots"], priority=arrays.get("priority"),
        pair_craftsman=arrays["pair_craftsman"], pair_demand=arrays["pair_demand"], pair_score=arrays["pair_score"],
        forbidden=pairs["forbidden"], locked=pairs["locked"],
        min_score=_number("min_score", scalars["min_score"]), load_penalty=_number("load_penalty", scalars["load_penalty"]),
        relevance=arrays.get("tier"), relevance_mode=scalars["relevance"],
    )


def write_npz(problem: Problem, target) -> None:
    """Write a sparse `problem` (ids as strings) as a columnar .npz archive that `read_npz` reads back."""
    if not problem.is_sparse:
        problem = problem.to_pairs()
    arrays = {
        "craftsmen": np.array([str(c) for c in problem.craftsmen]), "capacity": problem.capacity,
        "demands": np.array([str(d) for d in problem.demands]), "slots": problem.slots, "priority": problem.priority,
        "pair_craftsman": problem.pair_craftsman, "pair_demand": problem.pair_demand, "pair_score": problem.pair_score,
        "min_score": np.array(problem.min_score), "load_penalty": np.array(problem.load_penalty),
        "relevance": np.array(problem.relevance_mode),
    }
    if problem.relevance is not None:
        arrays["tier"] = problem.relevance
    index_c = {c: i for i, c in enumerate(problem.craftsmen)}
    index_d = {d: j for j, d in enumerate(problem.demands)}
    for name in ("forbidden", "locked"):
        pairs = getattr(problem, name)
        arrays[f"{name}_craftsman"] = np.array([index_c[c] for c, _ in pairs], dtype=np.int64)
        arrays[f"{name}_demand"] = np.array([index_d[d] for _, d in pairs], dtype=np.int64)
    np.savez(target, **arrays)


def problem_to_json(problem: Problem) -> dict:
    """The JSON document of a sparse `problem` (the input format above)."""
    if not problem.is_sparse:
        problem = problem.to_pairs()
    craftsmen, demands = problem.craftsmen, problem.demands
    document = {
        "craftsmen": [{"id": c, "capacity": k} for c, k in zip(craftsmen, problem.capacity.tolist(), strict=True)],
        "demands": [{"id": d, "slots": s, "priority": p}
                    for d, s, p in zip(demands, problem.slots.tolist(), problem.priority.tolist(), strict=True)],
        "scores": [{"craftsman": craftsmen[c], "demand": demands[d], "score": s}
                   for c, d, s in zip(problem.pair_craftsman.tolist(), problem.pair_demand.tolist(),
                                      problem.pair_score.tolist(), strict=True)],
        "forbidden": [{"craftsman": c, "demand": d} for c, d in problem.forbidden],
        "locked": [{"craftsman": c, "demand": d} for c, d in problem.locked],
        "min_score": problem.min_score, "load_penalty": problem.load_penalty, "relevance": problem.relevance_mode,
    }
    if problem.relevance is not None:
        for item, tier in zip(document["scores"], problem.relevance.tolist(), strict=True):
            item["tier"] = tier
    return document


def read_problem(path: str) -> Problem:
    """The problem in file `path`: a .npz archive by its name, JSON otherwise; ``-`` is JSON on stdin.

    Raises
    ------
    ProblemError
        Naming the malformed field.
    OSError, UnicodeDecodeError
        When the file cannot be read as UTF-8 text.
    """
    if path == "-":
        return read_problem_bytes(sys.stdin.buffer.read())
    if path.endswith(".npz"):
        if not os.path.isfile(path):
            open(path, "rb").close()  # the OSError of a missing file or a folder, as for JSON
        return read_npz(path)
    with open(path, "rb") as handle:
        return read_problem_bytes(handle.read())


def dumps_result(result: Result) -> bytes:
    """The output document as indented UTF-8 JSON with a final newline."""
    document = result_to_json(result)
    if _fast_loads is json.loads:  # pragma: no cover - without orjson
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
