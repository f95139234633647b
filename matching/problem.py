"""The matching problem: craftsmen, demands, candidate pairs and the round's rules.

A `Problem` holds its candidate scores either DENSE (a craftsman × demand matrix and an
`allowed` mask) or SPARSE (parallel arrays of allowed pairs, see `Problem.from_pairs`).
Everything is validated on construction; the one error type is `ProblemError`, whose
`field` names what is wrong.  Lock conflicts (more locks than a capacity, a locked pair
that is forbidden…) are NOT construction errors: `solve` reports them as "infeasible".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

Pair = tuple[Hashable, Hashable]
RELEVANCE_MODES = ("first", "only", "off")


class ProblemError(ValueError):
    """Invalid problem input; `field` names the offending field (e.g. ``"scores"``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy: a later change to the caller's array cannot change the problem.

    An array that is already read-only and owns its memory is taken as is: its maker handed it
    over (see ``handed_over``), and copying the score matrices of a province-scale round costs
    most of a second.
    """
    if isinstance(array, np.ndarray) and not array.flags.writeable and array.flags.owndata:
        return array
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def handed_over(array: np.ndarray) -> np.ndarray:
    """Mark a freshly built array read-only so that ``Problem`` can keep it without a copy."""
    if isinstance(array, np.ndarray) and array.flags.owndata:
        array.flags.writeable = False
    return array


def _ids(name: str, values: Iterable[Hashable]) -> tuple[Hashable, ...]:
    ids = tuple(int(v) if isinstance(v, np.integer) else v for v in values)  # JSON-ready ids
    for i, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, str | int | np.integer):
            raise ProblemError(f"{name}[{i}]", "an id must be a string or an integer")
    if len(set(ids)) != len(ids):
        seen: set[Hashable] = set()
        duplicate = next(v for v in ids if v in seen or seen.add(v))
        raise ProblemError(name, f"duplicate id {duplicate!r}")
    return ids


def _integers(name: str, values, length: int, minimum: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (length,):
        raise ProblemError(name, f"expected shape ({length},), got {array.shape}")
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array))
    )
    if not integral:
        raise ProblemError(name, "must hold integers")
    if length and array.min() < minimum:
        index = int(np.argmax(array < minimum))
        raise ProblemError(f"{name}[{index}]", f"must be ≥ {minimum}, got {array[index]}")
    return _frozen(array.astype(np.int64))


def _reals(name: str, values, shape: tuple[int, ...], *, positive: bool = False) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ProblemError(name, "must hold numbers") from error
    if array.shape != shape:
        raise ProblemError(name, f"expected shape {shape}, got {array.shape}")
    # two reductions, no full-size temporaries: a NaN makes the minimum NaN, which compares False
    lowest = array.min(initial=np.inf)
    if not ((lowest > 0 if positive else lowest >= 0) and np.isfinite(array.max(initial=0.0))):
        bad = ~np.isfinite(array) | ((array <= 0) if positive else (array < 0))
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        rule = "> 0" if positive else "≥ 0"
        raise ProblemError(name, f"must be finite and {rule}; entry {where} is {array[where]}")
    return _frozen(array)


def _scalar(name: str, value, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ProblemError(name, "must be a number")
    if not np.isfinite(value) or value < 0 or (integer and value != int(value)):
        kind = "an integer" if integer else "a finite number"
        raise ProblemError(name, f"must be {kind} ≥ 0, got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True, eq=False)
class Role:
    """One role of a team demand: ``count`` distinct craftsmen among ``eligible`` (a (C,) bool mask:
    who holds the role's speciality) fill it.

    Parameters
    ----------
    demand : Hashable
        The demand's id.
    role : Hashable
        The role's id within the demand (e.g. the speciality's code, "焊接").
    count : int
        Craftsmen wanted in this role (≥ 1).
    eligible : (C,) bool array
        Craftsmen holding the speciality; pairs must also be allowed candidates of the demand.
    """

    demand: Hashable
    role: Hashable
    count: int
    eligible: np.ndarray


def _roles(roles: Iterable[Role], demands: tuple, n_c: int, slots: np.ndarray) -> tuple[Role, ...]:
    result, seen, total = [], set(), {}
    index = {d: j for j, d in enumerate(demands)}
    for i, role in enumerate(roles):
        if not isinstance(role, Role):
            raise ProblemError(f"roles[{i}]", "must be a matching.problem.Role")
        if role.demand not in index:
            raise ProblemError(f"roles[{i}].demand", f"unknown demand {role.demand!r}")
        if (role.demand, role.role) in seen:
            raise ProblemError(f"roles[{i}].role", f"role {role.role!r} of demand {role.demand!r} listed twice")
        seen.add((role.demand, role.role))
        if isinstance(role.count, bool) or not isinstance(role.count, int | np.integer) or role.count < 1:
            raise ProblemError(f"roles[{i}].count", f"must be an integer ≥ 1, got {role.count!r}")
        eligible = np.asarray(role.eligible)
        if eligible.shape != (n_c,) or eligible.dtype != bool:
            raise ProblemError(f"roles[{i}].eligible", f"must be a bool array of shape ({n_c},)")
        total[role.demand] = total.get(role.demand, 0) + int(role.count)
        result.append(Role(role.demand, role.role, int(role.count), _frozen(eligible)))
    for demand, count in total.items():
        if count != slots[index[demand]]:
            raise ProblemError("roles", f"demand {demand!r} has {slots[index[demand]]} slots but roles for {count}")
    return tuple(result)


def _pairs(name: str, pairs: Iterable[Pair], craftsmen: set, demands: set) -> tuple[Pair, ...]:
    result = []
    for i, pair in enumerate(pairs):
        try:
            craftsman, demand = pair
        except (TypeError, ValueError) as error:
            raise ProblemError(f"{name}[{i}]", "must be a (craftsman, demand) pair") from error
        if craftsman not in craftsmen:
            raise ProblemError(f"{name}[{i}]", f"unknown craftsman {craftsman!r}")
        if demand not in demands:
            raise ProblemError(f"{name}[{i}]", f"unknown demand {demand!r}")
        result.append((craftsman, demand))
    return tuple(result)


@dataclass(frozen=True, eq=False)
class Problem:
    """One matching round, validated on construction (arrays are kept as read-only copies).

    Parameters
    ----------
    craftsmen, demands : sequences of str or int
        Distinct ids, in the order of the arrays' rows (craftsmen) and columns (demands).
    capacity : (C,) integers ≥ 0
        Demands a craftsman may take.
    slots : (D,) integers ≥ 1
        Craftsmen a demand wants.
    priority : (D,) floats > 0, optional
        Weight of a demand's slots (default 1).
    scores, allowed : (C, D) arrays, optional
        Dense mode: scores in [0, ∞) and the mask of allowed pairs (default: all allowed).
    pair_craftsman, pair_demand, pair_score : (P,) arrays, optional
        Sparse mode: the allowed pairs as indices and their scores; any other pair is not allowed.
    components : mapping of str to arrays, optional
        The named, weighted parts of each score (aligned with the scores), used only to explain.
    locked, forbidden : sequences of (craftsman id, demand id)
        Pairs that must / must not be assigned.
    min_score, load_penalty : float ≥ 0
        Pairs scoring below ``min_score`` are not chosen (unless locked); a craftsman with L
        demands costs ``load_penalty`` · L(L−1)/2.
    previous : sequence of pairs, optional
        The last published assignment: its pairs get ``stickiness`` added to their weight, so a
        re-solve moves only where it gains more.
    alternates_k : int ≥ 0
        Alternates listed per demand in the result.
    relevance : int8 array of tiers 0/1/2, optional
        Per pair, aligned with the scores; with ``relevance_mode`` "first" (fill relevant slots
        first, exactly), "only" (leave a slot open rather than fill it irrelevantly) or "off".
    roles : sequence of `Role`
        Team demands: each role is filled by distinct craftsmen holding its speciality.
    floor : bool
        Demand-floor fairness first (see `matching.floor`).

    Raises
    ------
    ProblemError
        On any invalid input; its ``field`` names the offending field.

    Notes
    -----
    Lock conflicts (more locks than a capacity, a locked pair that is forbidden…) are not
    construction errors: `solve` reports them with status "infeasible".

    Examples
    --------
    >>> import numpy as np
    >>> problem = Problem(["c1", "c2"], ["d1"], capacity=[1, 1], slots=[1],
    ...                   scores=np.array([[0.9], [0.4]]))
    >>> problem.shape, problem.is_sparse
    ((2, 1), False)
    """

    craftsmen: Sequence[Hashable]
    demands: Sequence[Hashable]
    capacity: np.ndarray
    slots: np.ndarray
    priority: np.ndarray | None = None
    scores: np.ndarray | None = None
    allowed: np.ndarray | None = None
    pair_craftsman: np.ndarray | None = None
    pair_demand: np.ndarray | None = None
    pair_score: np.ndarray | None = None
    components: Mapping[str, np.ndarray] = field(default_factory=dict)
    locked: Sequence[Pair] = ()
    forbidden: Sequence[Pair] = ()
    min_score: float = 0.0
    load_penalty: float = 0.0
    previous: Sequence[Pair] | None = None
    stickiness: float = 0.0
    alternates_k: int = 3
    relevance: np.ndarray | None = None
    relevance_mode: str = "first"
    roles: Sequence[Role] = ()
    floor: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__
        craftsmen = _ids("craftsmen", self.craftsmen)
        demands = _ids("demands", self.demands)
        n_c, n_d = len(craftsmen), len(demands)
        put(self, "craftsmen", craftsmen)
        put(self, "demands", demands)
        put(self, "capacity", _integers("capacity", self.capacity, n_c, 0))
        put(self, "slots", _integers("slots", self.slots, n_d, 1))
        priority = np.ones(n_d) if self.priority is None else self.priority
        put(self, "priority", _reals("priority", priority, (n_d,), positive=True))

        sparse_parts = (self.pair_craftsman, self.pair_demand, self.pair_score)
        if self.scores is not None and any(p is not None for p in sparse_parts):
            raise ProblemError("scores", "give either dense scores or pair arrays, not both")
        if self.scores is not None:
            shape = (n_c, n_d)
            put(self, "scores", _reals("scores", self.scores, shape))
            allowed = np.ones(shape, dtype=bool) if self.allowed is None else np.asarray(self.allowed)
            if allowed.shape != shape or allowed.dtype != bool:
                raise ProblemError("allowed", f"must be a bool array of shape {shape}")
            put(self, "allowed", _frozen(allowed))
        elif all(p is not None for p in sparse_parts):
            if self.allowed is not None:
                raise ProblemError("allowed", "only used with dense scores")
            self._check_pairs(n_c, n_d)
        else:
            raise ProblemError("scores", "give dense scores or all three pair arrays")

        shape = self.scores.shape if self.scores is not None else self.pair_score.shape
        components = {}
        for name, values in dict(self.components).items():
            if not isinstance(name, str):
                raise ProblemError("components", f"component names must be strings, got {name!r}")
            array = np.asarray(values)
            if array.dtype.kind != "f":  # float32 components stay float32 (memory)
                array = array.astype(np.float64)
            if array.shape != shape or not np.all(np.isfinite(array)):
                raise ProblemError(f"components[{name}]", f"must be finite with shape {shape}")
            components[name] = _frozen(array)
        put(self, "components", MappingProxyType(components))

        scores = self.scores if self.scores is not None else self.pair_score
        if scores.size and n_d and not np.isfinite(float(scores.max()) * float(self.priority.max())):
            raise ProblemError("priority", "priority × score overflows: scale priorities or scores down")
        known_c, known_d = set(craftsmen), set(demands)
        put(self, "locked", _pairs("locked", self.locked, known_c, known_d))
        put(self, "forbidden", _pairs("forbidden", self.forbidden, known_c, known_d))
        if self.previous is not None:
            put(self, "previous", _pairs("previous", self.previous, known_c, known_d))
        for name in ("min_score", "load_penalty", "stickiness"):
            put(self, name, _scalar(name, getattr(self, name)))
        put(self, "alternates_k", _scalar("alternates_k", self.alternates_k, integer=True))
        if self.relevance_mode not in RELEVANCE_MODES:
            raise ProblemError("relevance_mode", f"must be one of {RELEVANCE_MODES}, got {self.relevance_mode!r}")
        if self.relevance is not None:
            tiers = np.asarray(self.relevance)
            if tiers.shape != shape or tiers.dtype.kind not in "iu" or (tiers.size and not (
                    tiers.min() >= 0 and tiers.max() <= 2)):
                raise ProblemError("relevance", f"must hold tiers 0, 1 or 2 with shape {shape}")
            put(self, "relevance", _frozen(tiers.astype(np.int8, copy=False)))  # a handed-over int8 kept as is
        put(self, "roles", _roles(self.roles, demands, n_c, self.slots))
        if not isinstance(self.floor, bool | np.bool_):
            raise ProblemError("floor", f"must be true or false, got {self.floor!r}")
        put(self, "floor", bool(self.floor))

    def _check_pairs(self, n_c: int, n_d: int) -> None:
        put = object.__setattr__
        score = _reals("pair_score", self.pair_score, np.shape(self.pair_score))
        if score.ndim != 1:
            raise ProblemError("pair_score", "must be one-dimensional")
        for name, bound in (("pair_craftsman", n_c), ("pair_demand", n_d)):
            index = np.asarray(getattr(self, name))
            if index.shape != score.shape:
                raise ProblemError(name, f"expected shape {score.shape}, got {index.shape}")
            if index.size and (index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= bound):
                raise ProblemError(name, f"must hold integer indices in [0, {bound})")
            put(self, name, _frozen(index.astype(np.int64)))
        key = self.pair_craftsman * max(n_d, 1) + self.pair_demand
        unique, counts = np.unique(key, return_counts=True)
        if unique.size != key.size:
            duplicate = int(unique[np.argmax(counts > 1)])
            c, d = divmod(duplicate, max(n_d, 1))
            raise ProblemError("pair_score", f"duplicate pair ({self.craftsmen[c]!r}, {self.demands[d]!r})")
        put(self, "pair_score", score)

    @classmethod
    def from_pairs(
        cls,
        craftsmen: Sequence[Hashable],
        demands: Sequence[Hashable],
        capacity,
        slots,
        pair_craftsman,
        pair_demand,
        pair_score,
        **options,
    ) -> Problem:
        """A sparse problem whose pairs are given by ids (the constructor takes indices)."""
        craftsmen, demands = _ids("craftsmen", craftsmen), _ids("demands", demands)
        return cls(
            craftsmen,
            demands,
            capacity,
            slots,
            pair_craftsman=_indices("pair_craftsman", pair_craftsman, craftsmen),
            pair_demand=_indices("pair_demand", pair_demand, demands),
            pair_score=pair_score,
            **options,
        )

    def to_pairs(self, pair_craftsman=None, pair_demand=None) -> Problem:
        """This dense problem in sparse form over the allowed ones of the given index
        pairs (default: all allowed pairs); scores and components are carried over."""
        if self.is_sparse:
            raise ProblemError("scores", "the problem is already sparse")
        if pair_craftsman is None or pair_demand is None:
            pair_craftsman, pair_demand = np.nonzero(self.allowed)
        keep = self.allowed[pair_craftsman, pair_demand]
        c, d = np.asarray(pair_craftsman)[keep], np.asarray(pair_demand)[keep]
        return dataclasses.replace(
            self,
            scores=None,
            allowed=None,
            pair_craftsman=c,
            pair_demand=d,
            pair_score=self.scores[c, d],
            components={name: values[c, d] for name, values in self.components.items()},
        )

    @property
    def is_sparse(self) -> bool:
        return self.scores is None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.craftsmen), len(self.demands)


def _indices(name: str, values, ids: tuple[Hashable, ...]) -> np.ndarray:
    values = list(values)
    position = {value: i for i, value in enumerate(ids)}
    try:
        return np.fromiter((position[v] for v in values), dtype=np.int64, count=len(values))
    except KeyError as error:
        raise ProblemError(name, f"unknown id {error.args[0]!r}") from None
