"""The JSON format of `python -m matching` / `craftmatch solve`.

Input (extra keys are refused at every level; defaults in brackets)::

    {"craftsmen": [{"id": "c1", "capacity": 2}],
     "demands":   [{"id": "d1", "slots": 1, "priority": 1.0 [1.0]}],
     "scores":    [{"craftsman": "c1", "demand": "d1", "score": 0.83}],
     "forbidden": [{"craftsman": "c1", "demand": "d2"}]   [[]],
     "locked":    [{"craftsman": "c1", "demand": "d1"}]   [[]],
     "min_score": 0.0 [0], "load_penalty": 0.0 [0]}

A pair absent from "scores" is not allowed.  Malformed input raises `ProblemError`
naming the field by its path (``scores[3].score``); a lock that cannot be honoured is
not malformed: `solve` reports it as "infeasible".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np

from matching.problem import Problem, ProblemError
from matching.result import Result

_TOP_LEVEL = {"craftsmen", "demands", "scores", "forbidden", "locked", "min_score", "load_penalty"}


def loads_json(text: str):
    """`json.loads` that refuses NaN/Infinity and duplicate keys (Python accepts both)."""

    def refuse_constant(name: str):
        raise ProblemError("input", f"{name} is not a JSON number")

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


def _integer(path: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProblemError(path, f"must be an integer ≥ {minimum}")
    return value


def _number(path: str, value, *, positive: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ProblemError(path, f"must be a finite number {'> 0' if positive else '≥ 0'}")
    return float(value)


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


def _pair_refs(path: str, value, craftsmen: dict, demands: dict, extra: dict[str, Callable] | None = None):
    """Parse a list of {"craftsman", "demand", ...}; returns index pairs and extra values."""
    extra = extra or {}
    pairs, values = [], {name: [] for name in extra}
    for i, item in enumerate(_list(path, value)):
        item = _object(f"{path}[{i}]", item, {"craftsman", "demand"} | extra.keys())
        craftsman = _id(f"{path}[{i}].craftsman", item["craftsman"])
        demand = _id(f"{path}[{i}].demand", item["demand"])
        if craftsman not in craftsmen:
            raise ProblemError(f"{path}[{i}].craftsman", f"unknown craftsman {craftsman!r}")
        if demand not in demands:
            raise ProblemError(f"{path}[{i}].demand", f"unknown demand {demand!r}")
        pairs.append((craftsman, demand))
        for name, parse in extra.items():
            values[name].append(parse(f"{path}[{i}].{name}", item[name]))
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
        "scores", obj["scores"], craftsman_index, demand_index, {"score": _number}
    )
    seen: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(scored):
        if pair in seen:
            raise ProblemError(f"scores[{i}]", f"duplicate pair {pair} (first at scores[{seen[pair]}])")
        seen[pair] = i
    forbidden, _ = _pair_refs("forbidden", obj.get("forbidden", []), craftsman_index, demand_index)
    locked, _ = _pair_refs("locked", obj.get("locked", []), craftsman_index, demand_index)
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
    )


def result_to_json(result: Result) -> dict:
    """The output document: status, message, objective, assignments, unfilled, loads, metrics."""
    return {
        "status": result.status,
        "message": result.message,
        "objective": result.objective,
        "assignments": [
            {"craftsman": a.craftsman, "demand": a.demand, "score": a.score} for a in result.assignments
        ],
        "unfilled": [{"demand": demand, "missing": missing} for demand, missing in result.unfilled],
        "loads": dict(result.loads),
        "metrics": dict(result.metrics),
    }
