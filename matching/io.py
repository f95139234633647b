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
from collections.abc import Callable

import numpy as np

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
