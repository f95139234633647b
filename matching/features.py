"""Typed, validated feature containers for one matching round.

The web app builds these from the database (``web/services/features.py``); the
matching library never sees a row.  Every container is a frozen dataclass of
numpy arrays (or scipy.sparse CSR matrices for the wide skill / industry
tables) and validates shapes and value ranges when it is created, raising
:class:`FeatureError` with the offending field's name.

Conventions shared by all containers
- Day numbers are integers (e.g. days since 2000-01-01); windows are inclusive
  ``[start_day, end_day]``.
- Coordinates are WGS84 degrees, ``NaN`` when unknown.
- Province codes are the two-digit GB/T 2260 prefixes ("51" Sichuan,
  "50" Chongqing); "" when unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp

from matching.groupwise import number_runs
from matching.problem import ProblemError


class FeatureError(ProblemError):
    """Invalid feature data; ``field`` names the offending field.

    A ProblemError (and so a ValueError), so callers catch one type for the whole library.
    """


HONOUR_NONE, HONOUR_TRAINEE, HONOUR_MUNICIPAL, HONOUR_PROVINCIAL, HONOUR_NATIONAL = range(5)
DEMAND_MODES = ("onsite", "remote", "hybrid")
MODE_ONSITE, MODE_REMOTE, MODE_HYBRID = range(3)


# ---------------------------------------------------------------- helpers
def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


def _ids(obj, name: str) -> int:
    values = tuple(str(v) for v in getattr(obj, name))
    if len(set(values)) != len(values):
        raise FeatureError(name, "ids must be unique")
    if any(v == "" for v in values):
        raise FeatureError(name, "ids must be non-empty strings")
    _set(obj, name, values)
    return len(values)


def _strings(obj, name: str, n: int) -> None:
    values = tuple("" if v is None else str(v) for v in getattr(obj, name))
    if len(values) != n:
        raise FeatureError(name, f"expected {n} entries, got {len(values)}")
    _set(obj, name, values)


def _vector(obj, name: str, n: int, dtype, *, low=None, high=None, allow_nan=False) -> np.ndarray:
    try:
        arr = np.asarray(getattr(obj, name), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise FeatureError(name, f"cannot convert to {np.dtype(dtype).name}: {exc}") from None
    if arr.shape != (n,):
        raise FeatureError(name, f"expected shape ({n},), got {arr.shape}")
    if arr.dtype.kind == "f":
        bad = np.isnan(arr) if not allow_nan else np.isinf(arr)
        if bad.any():
            raise FeatureError(name, f"non-finite value at index {int(np.flatnonzero(bad)[0])}")
    finite = arr[~np.isnan(arr)] if arr.dtype.kind == "f" else arr
    if low is not None and finite.size and (finite < low).any():
        raise FeatureError(name, f"values must be >= {low}")
    if high is not None and finite.size and (finite > high).any():
        raise FeatureError(name, f"values must be <= {high}")
    arr = arr.copy()
    arr.flags.writeable = False
    _set(obj, name, arr)
    return arr


def _matrix(obj, name: str, n_rows: int, *, low: float, high: float) -> sp.csr_matrix:
    """Coerce to a float64 CSR matrix with ``n_rows`` rows and values in [low, high]."""
    raw = getattr(obj, name)
    try:
        mat = sp.csr_matrix(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FeatureError(name, f"cannot convert to a sparse matrix: {exc}") from None
    if mat.shape[0] != n_rows:
        raise FeatureError(name, f"expected {n_rows} rows, got {mat.shape[0]}")
    mat.sum_duplicates()
    mat.eliminate_zeros()
    if not np.isfinite(mat.data).all() or (mat.data < low).any() or (mat.data > high).any():
        raise FeatureError(name, f"values must be finite and in [{low}, {high}]")
    _set(obj, name, mat)
    return mat


def _latlon(obj, n: int) -> None:
    lat = _vector(obj, "lat", n, np.float64, low=-90, high=90, allow_nan=True)
    lon = _vector(obj, "lon", n, np.float64, low=-180, high=180, allow_nan=True)
    if not np.array_equal(np.isnan(lat), np.isnan(lon)):
        raise FeatureError("lat", "lat and lon must be both known or both NaN")


def _blank(n: int, n_industries: int) -> dict:
    """Defaults both sides share in ``build``: no industry, unknown place."""
    return {
        "industries": sp.csr_matrix((n, n_industries)),
        "lat": np.full(n, np.nan),
        "lon": np.full(n, np.nan),
        "province": ("",) * n,
    }


def _check_known_fields(cls, given) -> None:
    known = {f.name for f in fields(cls)} - {"ids"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise FeatureError(unknown[0], f"unknown field(s) {unknown} for {cls.__name__}")


# ---------------------------------------------------------------- windows
@dataclass(frozen=True)
class Windows:
    """Availability windows of many craftsmen, stored CSR-like.

    Windows of craftsman ``i`` are ``start[indptr[i]:indptr[i+1]]`` /
    ``end[...]`` (inclusive day numbers), sorted and disjoint.  A craftsman
    with no window has *not declared* a calendar and counts as always
    available (pools rarely hold calendars; a rule that forbade them would
    empty the round).
    """

    indptr: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def from_lists(cls, windows: Sequence[Sequence[tuple[int, int]]]) -> Windows:
        """Build from one list of ``(start_day, end_day)`` per craftsman; sorts and merges overlaps."""
        owners = [i for i, own in enumerate(windows) for _ in own]
        days = [(int(s), int(e)) for own in windows for s, e in own]
        return cls.from_arrays(len(windows), np.array(owners, dtype=np.int64),
                               np.array([s for s, _ in days], dtype=np.int64),
                               np.array([e for _, e in days], dtype=np.int64))

    @classmethod
    def from_arrays(cls, n: int, owners: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Windows:
        """Build from one ``(owners[k], starts[k], ends[k])`` per window, owners in ``range(n)``, in any order: each
        craftsman's windows sorted, and a window that overlaps or touches the ones before it (their furthest end
        + 1) merged into them."""
        owners, starts, ends = (np.asarray(a, dtype=np.int64) for a in (owners, starts, ends))
        order = np.lexsort((ends, starts, owners))
        owners, starts, ends = owners[order], starts[order], ends[order]
        if owners.size:  # the furthest end so far, per owner: owners ascend, so offset each owner's ends above the last's
            low = int(ends.min())
            span = int(ends.max()) - low + 2
            reach = np.maximum.accumulate(owners * span + (ends - low)) - owners * span + low
            begins = np.ones(owners.size, dtype=bool)
            begins[1:] = (owners[1:] != owners[:-1]) | (starts[1:] > reach[:-1] + 1)
            first = np.flatnonzero(begins)
            merged_starts, merged_ends = starts[first], np.maximum.reduceat(ends, first)
            count = np.bincount(owners[first], minlength=n)
        else:
            merged_starts = merged_ends = np.zeros(0, dtype=np.int64)
            count = np.zeros(n, dtype=np.int64)
        return cls(np.concatenate([[0], np.cumsum(count)]).astype(np.int64), merged_starts, merged_ends)

    def __post_init__(self):
        indptr = np.asarray(self.indptr, dtype=np.int64)
        start = np.asarray(self.start, dtype=np.int64)
        end = np.asarray(self.end, dtype=np.int64)
        if indptr.ndim != 1 or indptr.size == 0 or indptr[0] != 0 or (np.diff(indptr) < 0).any():
            raise FeatureError("availability.indptr", "must start at 0 and be non-decreasing")
        if start.shape != (indptr[-1],) or end.shape != start.shape:
            raise FeatureError("availability.start", "start/end must have indptr[-1] entries")
        if (end < start).any():
            raise FeatureError("availability.end", "every window needs end_day >= start_day")
        owner = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
        same_owner = owner[1:] == owner[:-1]
        if (same_owner & (start[1:] <= end[:-1])).any():
            raise FeatureError("availability.start", "windows of one craftsman must be sorted and disjoint")
        for name, arr in (("indptr", indptr), ("start", start), ("end", end)):
            arr.flags.writeable = False
            _set(self, name, arr)

    @property
    def owners(self) -> np.ndarray:
        """Craftsman index of every window."""
        return np.repeat(np.arange(self.indptr.size - 1), np.diff(self.indptr))

    @property
    def count(self) -> np.ndarray:
        return np.diff(self.indptr)


# ---------------------------------------------------------------- craftsmen
@dataclass(frozen=True)
class CraftsmanFeatures:
    """C craftsmen.  S = skill vocabulary size, I = industry vocabulary size.

    - ``skills`` (C, S): proficiency 0–5 (0 = lacks the skill); dense or sparse.
    - ``industries`` (C, I): multi-hot 0/1.
    - ``profile_text``: bio + skills + studio names, Chinese, one string each.
    - ``honour_rank``: 0 none, 1 trainee, 2 municipal, 3 provincial, 4 national.
    - ``model_worker``: holds a 劳模 honour (counts one rank higher, capped at national).
    - ``travel_radius_km``: NaN = use ``RoundConfig.max_onsite_km_default``.
    - ``employer_id``: enterprise id or "".
    - ``conflict_enterprise_ids``: declared links (relatives' enterprises...), one tuple each.
    """

    ids: tuple[str, ...]
    skills: sp.csr_matrix
    industries: sp.csr_matrix
    profile_text: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    province: tuple[str, ...]
    travel_radius_km: np.ndarray
    honour_rank: np.ndarray
    model_worker: np.ndarray
    can_onsite: np.ndarray
    can_remote: np.ndarray
    availability: Windows
    active: np.ndarray
    employer_id: tuple[str, ...]
    conflict_enterprise_ids: tuple[tuple[str, ...], ...]
    capacity: np.ndarray

    def __post_init__(self):
        n = _ids(self, "ids")
        _matrix(self, "skills", n, low=0, high=5)
        _matrix(self, "industries", n, low=0, high=1)
        for name in ("profile_text", "province", "employer_id"):
            _strings(self, name, n)
        _latlon(self, n)
        _vector(self, "travel_radius_km", n, np.float64, low=0, allow_nan=True)
        _vector(self, "honour_rank", n, np.int8, low=HONOUR_NONE, high=HONOUR_NATIONAL)
        for name in ("model_worker", "can_onsite", "can_remote", "active"):
            _vector(self, name, n, bool)
        if not isinstance(self.availability, Windows):
            raise FeatureError("availability", "must be a Windows (use Windows.from_lists)")
        if self.availability.indptr.size != n + 1:
            raise FeatureError("availability", f"expected windows for {n} craftsmen")
        links = tuple(tuple(str(e) for e in own if e) for own in self.conflict_enterprise_ids)
        if len(links) != n:
            raise FeatureError("conflict_enterprise_ids", f"expected {n} entries, got {len(links)}")
        _set(self, "conflict_enterprise_ids", links)
        _vector(self, "capacity", n, np.int64, low=0)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[str], *, n_skills: int, n_industries: int, **values) -> CraftsmanFeatures:
        """Construct with neutral defaults for every field not given (tests, imports with gaps).

        Defaults: no skills / industries / text, unknown place and province,
        default radius, no honour, both modes, always available, active, no
        employer or links, capacity 1.  ``availability`` may be a list of
        window lists.
        """
        n = len(ids)
        defaults = {
            **_blank(n, n_industries),
            "skills": sp.csr_matrix((n, n_skills)),
            "profile_text": ("",) * n,
            "travel_radius_km": np.full(n, np.nan),
            "honour_rank": np.zeros(n, dtype=np.int8),
            "model_worker": np.zeros(n, dtype=bool),
            "can_onsite": np.ones(n, dtype=bool),
            "can_remote": np.ones(n, dtype=bool),
            "availability": [[] for _ in range(n)],
            "active": np.ones(n, dtype=bool),
            "employer_id": ("",) * n,
            "conflict_enterprise_ids": ((),) * n,
            "capacity": np.ones(n, dtype=np.int64),
        }
        _check_known_fields(cls, values)
        merged = {**defaults, **values}
        if not isinstance(merged["availability"], Windows):
            merged["availability"] = Windows.from_lists(merged["availability"])
        return cls(ids=tuple(ids), **merged)

    @property
    def effective_rank(self) -> np.ndarray:
        """Honour rank with the model-worker flag counted as one more rank."""
        return np.minimum(self.honour_rank.astype(np.int64) + self.model_worker, HONOUR_NATIONAL)


# ---------------------------------------------------------------- demands
@dataclass(frozen=True)
class DemandFeatures:
    """D demands, using the craftsmen's skill and industry vocabularies.

    - ``required_skills`` (D, S): importance 1–3 (0 = not required).
    - ``mode``: "onsite" | "remote" | "hybrid" each.
    - ``window_start`` / ``window_end``: inclusive day numbers.
    - ``difficulty``: 0 routine / training, 1 substantial, 2 hard 联合攻关.
    - ``urgency``: 0 low, 1 medium, 2 high (shortens the distance decay).
    - ``slots``: team size; ``priority``: > 0, weight of filling this demand.
    """

    ids: tuple[str, ...]
    enterprise_id: tuple[str, ...]
    required_skills: sp.csr_matrix
    industries: sp.csr_matrix
    description: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    province: tuple[str, ...]
    mode: tuple[str, ...]
    window_start: np.ndarray
    window_end: np.ndarray
    difficulty: np.ndarray
    urgency: np.ndarray
    slots: np.ndarray
    priority: np.ndarray

    def __post_init__(self):
        n = _ids(self, "ids")
        for name in ("enterprise_id", "description", "province", "mode"):
            _strings(self, name, n)
        bad_modes = sorted(set(self.mode) - set(DEMAND_MODES))
        if bad_modes:
            raise FeatureError("mode", f"unknown mode(s) {bad_modes}; use one of {DEMAND_MODES}")
        _matrix(self, "required_skills", n, low=0, high=3)
        _matrix(self, "industries", n, low=0, high=1)
        _latlon(self, n)
        start = _vector(self, "window_start", n, np.int64)
        end = _vector(self, "window_end", n, np.int64)
        if (end < start).any():
            raise FeatureError("window_end", "every demand needs window_end >= window_start")
        _vector(self, "difficulty", n, np.int8, low=0, high=2)
        _vector(self, "urgency", n, np.int8, low=0, high=2)
        _vector(self, "slots", n, np.int64, low=1)
        priority = _vector(self, "priority", n, np.float64)
        if (priority <= 0).any():
            raise FeatureError("priority", "values must be > 0")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[str], *, n_skills: int, n_industries: int, **values) -> DemandFeatures:
        """Construct with neutral defaults for every field not given.

        Defaults: enterprise "E-<id>", no skills / industries / text, unknown
        place and province, on-site, window days 0–29, difficulty and urgency
        0, one slot, priority 1.
        """
        n = len(ids)
        defaults = {
            "enterprise_id": tuple(f"E-{i}" for i in ids),
            **_blank(n, n_industries),
            "required_skills": sp.csr_matrix((n, n_skills)),
            "description": ("",) * n,
            "mode": ("onsite",) * n,
            "window_start": np.zeros(n, dtype=np.int64),
            "window_end": np.full(n, 29, dtype=np.int64),
            "difficulty": np.zeros(n, dtype=np.int8),
            "urgency": np.zeros(n, dtype=np.int8),
            "slots": np.ones(n, dtype=np.int64),
            "priority": np.ones(n),
        }
        _check_known_fields(cls, values)
        return cls(ids=tuple(ids), **{**defaults, **values})

    def take(self, keep: np.ndarray) -> DemandFeatures:
        """The demands where the boolean mask ``keep`` is true, in their order (e.g. those still open).

        Parameters
        ----------
        keep : (D,) bool array

        Returns
        -------
        DemandFeatures
            Every per-demand field restricted to the kept rows; the vocabularies stay the same.
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(self),):
            raise FeatureError("keep", f"expected {len(self)} booleans, got shape {keep.shape}")
        rows = np.flatnonzero(keep)
        values = {}
        for field in fields(self):
            value = getattr(self, field.name)
            values[field.name] = tuple(value[i] for i in rows) if isinstance(value, tuple) else value[rows]
        return DemandFeatures(**values)

    @property
    def mode_code(self) -> np.ndarray:
        """MODE_ONSITE / MODE_REMOTE / MODE_HYBRID per demand."""
        lookup = {m: i for i, m in enumerate(DEMAND_MODES)}
        return np.fromiter((lookup[m] for m in self.mode), dtype=np.int8, count=len(self.mode))


# ---------------------------------------------------------------- history
@dataclass(frozen=True)
class History:
    """Past engagements: one entry per engagement; ``rating`` 1–5 or NaN (unrated)."""

    craftsman_id: tuple[str, ...]
    enterprise_id: tuple[str, ...]
    rating: np.ndarray

    def __post_init__(self):
        _strings(self, "craftsman_id", len(self.craftsman_id))
        n = len(self.craftsman_id)
        _strings(self, "enterprise_id", n)
        _vector(self, "rating", n, np.float64, low=1, high=5, allow_nan=True)

    @classmethod
    def empty(cls) -> History:
        return cls((), (), np.zeros(0))


@dataclass(frozen=True)
class TrackRecord:
    """A craftsman's past services, for the ``track_record`` component: one entry per engagement member.

    Parameters
    ----------
    craftsman_id : tuple of str
        Who served (entries of craftsmen outside the round are ignored).
    skills : (N, S) sparse matrix
        The skills the engagement's demand required (non-zero = required), on the round's skill
        vocabulary: they decide the skill families the entry counts for.
    rating : (N,) float
        The enterprise's rating 1–5, NaN if it gave none.
    outcomes : (N,) int
        Outcomes accepted into the outcome pool from the engagement's follow-ups.

    Examples
    --------
    >>> import numpy as np
    >>> record = TrackRecord(("7",), np.array([[0, 3]]), np.array([5.0]), np.array([1]))
    >>> len(record), record.skills.shape
    (1, (1, 2))
    """

    craftsman_id: tuple[str, ...]
    skills: sp.csr_matrix
    rating: np.ndarray
    outcomes: np.ndarray

    def __post_init__(self):
        _strings(self, "craftsman_id", len(self.craftsman_id))
        n = len(self.craftsman_id)
        _matrix(self, "skills", n, low=0, high=np.inf)
        _vector(self, "rating", n, np.float64, low=1, high=5, allow_nan=True)
        _vector(self, "outcomes", n, np.int64, low=0)

    def __len__(self) -> int:
        return len(self.craftsman_id)

    @classmethod
    def empty(cls, n_skills: int) -> TrackRecord:
        return cls((), sp.csr_matrix((0, n_skills)), np.zeros(0), np.zeros(0, dtype=np.int64))


def check_compatible(craftsmen: CraftsmanFeatures, demands: DemandFeatures) -> None:
    """Both sides must use the same skill and industry vocabularies."""
    if craftsmen.skills.shape[1] != demands.required_skills.shape[1]:
        raise FeatureError(
            "required_skills",
            f"{demands.required_skills.shape[1]} skill columns but craftsmen have {craftsmen.skills.shape[1]}",
        )
    if craftsmen.industries.shape[1] != demands.industries.shape[1]:
        raise FeatureError(
            "industries",
            f"{demands.industries.shape[1]} industry columns but craftsmen have {craftsmen.industries.shape[1]}",
        )


# ---------------------------------------------------------------- synthetic data (tests, benchmarks, demos)
_CITIES = (  # (lat, lon, province): cities named in the articles
    (30.67, 104.07, "51"),  # 成都
    (31.13, 104.40, "51"),  # 德阳
    (29.55, 103.77, "51"),  # 乐山
    (26.58, 101.72, "51"),  # 攀枝花
    (31.21, 107.47, "51"),  # 达州
    (31.47, 104.68, "51"),  # 绵阳
    (29.56, 106.55, "50"),  # 重庆
    (29.59, 106.23, "50"),  # 璧山
    (29.03, 106.65, "50"),  # 綦江
    (29.72, 106.63, "50"),  # 两江新区
)
_SKILL_GROUPS = (  # from the appendix demands of DOMAIN.md, then common trades
    "机电维修 真空系统 国产化替代 数据治理 信息系统部署 三维地质建模 粉末冶金 增材制造",
    "钒钛材料 能源管理 能耗分析 班组管理 焊接 压力容器焊接工艺 无损检测 起重作业安全",
    "行车操作 安全培训 模具设计 铝合金压铸 钳工 工业互联网 PLC 设备预测性维护 农产品烘干",
    "品质分级 包装 微组装工艺 金丝键合 工艺文件编写 数控加工 工业机器人 电气自动化",
    "网络安全 芯片制造 精密测量 热处理 液压系统 质量管理 精益生产",
)
_SPECIALITY = ("", "工艺", "检测", "维修")
_FILLER = ("现场指导", "师带徒", "技术攻关", "创新工作室", "培训一线员工", "工艺改进", "降本增效", "长期合作")


def synthetic_features(
    rng: np.random.Generator, n_craftsmen: int, n_demands: int, *, n_skills: int = 160, n_industries: int = 40
) -> tuple[CraftsmanFeatures, DemandFeatures, History]:
    """A random but realistic-looking round (Sichuan / Chongqing cities, Chinese skill words).

    Profile and description texts are built from the skills each side holds, so
    the text component correlates with the skill component as in real data.
    """
    n_enterprises = max(1, n_demands // 2)
    base_words = [word for group in _SKILL_GROUPS for word in group.split()]
    # skill j: a word from the articles plus a speciality, so a larger taxonomy keeps meaningful text
    words = np.array(
        [base_words[j % len(base_words)] + _SPECIALITY[(j // len(base_words)) % 4] for j in range(n_skills)]
    )

    def sparse_rows(n_rows: int, low: int, high: int, values) -> sp.csr_matrix:
        per_row = rng.integers(low, high + 1, size=n_rows)
        rows = np.repeat(np.arange(n_rows), per_row)
        cols = rng.integers(0, n_skills, size=rows.size)
        mat = sp.csr_matrix((values(rows.size), (rows, cols)), shape=(n_rows, n_skills))
        mat.sum_duplicates()
        mat.data = np.minimum(mat.data, values.high)
        return mat

    def texts(mat: sp.csr_matrix) -> tuple[str, ...]:
        filler = rng.integers(0, len(_FILLER), size=(mat.shape[0], 2))
        return tuple(
            "，".join(words[mat.indices[mat.indptr[i] : mat.indptr[i + 1]]])
            + "；"
            + _FILLER[f0]
            + _FILLER[f1]
            for i, (f0, f1) in enumerate(filler)
        )

    def places(n: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        city = rng.integers(0, len(_CITIES), size=n)
        lat = np.array([_CITIES[i][0] for i in city]) + rng.normal(0, 0.15, n)
        lon = np.array([_CITIES[i][1] for i in city]) + rng.normal(0, 0.15, n)
        unknown = rng.random(n) < 0.05
        lat[unknown] = lon[unknown] = np.nan
        return lat, lon, tuple(_CITIES[i][2] for i in city)

    def industries(n: int, most: int) -> sp.csr_matrix:
        per_row = rng.integers(1, most + 1, size=n)
        rows = np.repeat(np.arange(n), per_row)
        mat = sp.csr_matrix(
            (np.ones(rows.size), (rows, rng.integers(0, n_industries, rows.size))), shape=(n, n_industries)
        )
        mat.data[:] = 1.0
        return mat

    proficiency = _Draw(lambda k: rng.integers(1, 6, size=k).astype(float), high=5.0)
    importance = _Draw(lambda k: rng.integers(1, 4, size=k).astype(float), high=3.0)
    skills = sparse_rows(n_craftsmen, 2, 6, proficiency)
    required = sparse_rows(n_demands, 1, 4, importance)

    # availability: 0–3 disjoint windows per craftsman over a year, built directly as arrays
    count = rng.integers(0, 4, size=n_craftsmen)
    owner, slot = number_runs(count)
    start = slot * 122 + rng.integers(0, 40, size=owner.size)
    end = start + rng.integers(20, 80, size=owner.size)
    windows = Windows(np.concatenate([[0], np.cumsum(count)]), start, end)

    c_lat, c_lon, c_province = places(n_craftsmen)
    enterprise_ids = np.array([f"E{i:06d}" for i in range(n_enterprises)])
    employer = np.where(
        rng.random(n_craftsmen) < 0.3, enterprise_ids[rng.integers(0, n_enterprises, n_craftsmen)], ""
    )
    linked = rng.random(n_craftsmen) < 0.1
    link_target = enterprise_ids[rng.integers(0, n_enterprises, n_craftsmen)]
    radius = rng.uniform(100, 600, n_craftsmen)
    radius[rng.random(n_craftsmen) < 0.2] = np.nan
    craftsmen = CraftsmanFeatures(
        ids=tuple(f"C{i:06d}" for i in range(n_craftsmen)),
        skills=skills,
        industries=industries(n_craftsmen, 3),
        profile_text=texts(skills),
        lat=c_lat,
        lon=c_lon,
        province=c_province,
        travel_radius_km=radius,
        honour_rank=rng.choice(5, size=n_craftsmen, p=[0.1, 0.2, 0.45, 0.2, 0.05]),
        model_worker=rng.random(n_craftsmen) < 0.1,
        can_onsite=rng.random(n_craftsmen) < 0.9,
        can_remote=rng.random(n_craftsmen) < 0.6,
        availability=windows,
        active=rng.random(n_craftsmen) < 0.95,
        employer_id=tuple(employer),
        conflict_enterprise_ids=tuple(
            (e,) if flag else () for e, flag in zip(link_target, linked, strict=True)
        ),
        capacity=rng.integers(1, 4, size=n_craftsmen),
    )
    d_lat, d_lon, d_province = places(n_demands)
    window_start = rng.integers(0, 300, size=n_demands)
    demands = DemandFeatures(
        ids=tuple(f"D{i:06d}" for i in range(n_demands)),
        enterprise_id=tuple(enterprise_ids[rng.integers(0, n_enterprises, n_demands)]),
        required_skills=required,
        industries=industries(n_demands, 1),
        description=texts(required),
        lat=d_lat,
        lon=d_lon,
        province=d_province,
        mode=tuple(rng.choice(DEMAND_MODES, size=n_demands, p=[0.6, 0.15, 0.25])),
        window_start=window_start,
        window_end=window_start + rng.integers(30, 180, size=n_demands),
        difficulty=rng.integers(0, 3, size=n_demands),
        urgency=rng.integers(0, 3, size=n_demands),
        slots=rng.integers(1, 4, size=n_demands),
        priority=rng.integers(1, 4, size=n_demands).astype(float),
    )
    n_history = n_craftsmen // 2
    rating = rng.integers(1, 6, size=n_history).astype(float)
    rating[rng.random(n_history) < 0.3] = np.nan
    history = History(
        craftsman_id=tuple(np.array(craftsmen.ids)[rng.integers(0, n_craftsmen, n_history)]),
        enterprise_id=tuple(enterprise_ids[rng.integers(0, n_enterprises, n_history)]),
        rating=rating,
    )
    return craftsmen, demands, history


@dataclass(frozen=True)
class _Draw:
    """A value sampler with its maximum (duplicates summed by CSR get clipped back to it)."""

    draw: object
    high: float

    def __call__(self, k: int) -> np.ndarray:
        return self.draw(k)
