"""Hard rules → which pairs may be matched, and why not.

Every pair gets a reason code (int8): 0 = allowed, otherwise the first failing
rule in the order below (lower code = reported first).  Like scoring, the
rules evaluate a block (``block_indices``) or arbitrary 1-D pairs with the
same code, so the sparse candidate mode applies them chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import numpy as np

from matching.config import RoundConfig
from matching.features import MODE_HYBRID, MODE_ONSITE, MODE_REMOTE, CraftsmanFeatures, DemandFeatures
from matching.kernels import (
    availability_coverage,
    block_indices,
    great_circle_km,
    sparse_lookup,
)
from matching.prepared import PreparedRound, prepare
from matching.scoring import ScoreTable, score
from matching.threads import for_row_chunks

ALLOWED = 0
INACTIVE = 1  # craftsman paused, retired or exited (退出)
EXCLUDED = 2  # the coordinator excluded this pair
CONFLICT = 3  # employer is the demand's enterprise, or a declared link
MODE = 4  # the craftsman cannot serve in the demand's mode (on-site / remote)
TOO_FAR = 5  # on-site work beyond the craftsman's travel radius
CROSS_PROVINCE = 6  # the round keeps matches inside a province
UNAVAILABLE = 7  # no availability window overlaps the demand's window

REASONS = MappingProxyType(
    {
        ALLOWED: ("allowed", "可匹配"),
        INACTIVE: ("craftsman not active", "工匠未在服务状态"),
        EXCLUDED: ("excluded by the coordinator", "协调员已排除"),
        CONFLICT: ("conflict of interest", "存在利益关联"),
        MODE: ("service mode not possible", "服务方式不匹配"),
        TOO_FAR: ("beyond travel radius", "超出服务半径"),
        CROSS_PROVINCE: ("other province", "跨省匹配未开启"),
        UNAVAILABLE: ("not available in the demand's window", "时间窗无交集"),
    }
)


def wrong_mode(mode: np.ndarray, onsite: np.ndarray, remote: np.ndarray) -> np.ndarray:
    """The craftsman cannot serve in the demand's mode (hybrid needs either way of serving)."""
    return (
        ((mode == MODE_ONSITE) & ~onsite)
        | ((mode == MODE_REMOTE) & ~remote)
        | ((mode == MODE_HYBRID) & ~onsite & ~remote)
    )


def must_travel(mode: np.ndarray, remote: np.ndarray) -> np.ndarray:
    """On-site work: an on-site demand, or a hybrid one for someone who cannot work remotely."""
    return (mode == MODE_ONSITE) | ((mode == MODE_HYBRID) & ~remote)


def other_province(province_c: np.ndarray, province_d: np.ndarray) -> np.ndarray:
    """Both provinces known (index ≥ 0) and different."""
    return (province_c >= 0) & (province_d >= 0) & (province_c != province_d)


def _broken_rules(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None, cheap_only: bool):
    """Yield ``(code, failing mask)`` per rule, broadcastable to the block / pairs shape.

    ``cheap_only`` skips the rules that need lookup tables or calendars (exclusions, conflicts,
    availability): a quick first filter whose survivors still get every rule.
    """
    c = rnd.craftsmen
    yield INACTIVE, ~c.active[ci]
    enterprise = rnd.enterprise_d[di]
    if not cheap_only:
        yield EXCLUDED, sparse_lookup(rnd.excluded, ci, di).astype(bool)
        yield (
            CONFLICT,
            (rnd.employer_c[ci] == enterprise) | sparse_lookup(rnd.links, ci, enterprise).astype(bool),
        )

    mode = rnd.mode_d[di]
    onsite, remote = c.can_onsite[ci], c.can_remote[ci]
    yield MODE, wrong_mode(mode, onsite, remote)
    km = great_circle_km(rnd, ci, di, memo)
    yield TOO_FAR, must_travel(mode, remote) & (km > rnd.radius_c[ci])  # NaN (unknown distance) passes

    if not rnd.config.cross_province_allowed:
        yield CROSS_PROVINCE, other_province(rnd.province_c[ci], rnd.province_d[di])
    if not cheap_only:
        yield UNAVAILABLE, availability_coverage(rnd, ci, di, memo) <= 0.0


def possible_craftsmen(rnd: PreparedRound, mode: int) -> np.ndarray:
    """Indices of the craftsmen the activity and mode rules allow for a demand in ``mode``; no one else is."""
    c = rnd.craftsmen
    may = {MODE_ONSITE: c.can_onsite, MODE_REMOTE: c.can_remote}.get(mode, c.can_onsite | c.can_remote)
    return np.flatnonzero(c.active & may)


def rule_codes(
    rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None = None, *, cheap_only: bool = False
) -> np.ndarray:
    """Reason code per pair (0 = allowed) for a block or for 1-D pairs (``memo``: see great_circle_km).

    ``cheap_only``: only the rules without lookups (0 then means "maybe allowed"; see ``_broken_rules``).
    """
    shape = (ci.shape[0], di.shape[1]) if ci.ndim == 2 else ci.shape
    codes = np.zeros(shape, dtype=np.int8)
    broken = list(_broken_rules(rnd, ci, di, memo, cheap_only))
    for code, failing in reversed(broken):  # earlier rules overwrite later ones: lowest code wins
        codes[np.broadcast_to(failing, shape)] = code
    return codes


def allowed_pairs(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None = None) -> np.ndarray:
    """``rule_codes(...) == ALLOWED`` without the codes: no rule fails (one OR per rule instead of an
    assignment of its code, and no comparison afterwards)."""
    shape = (ci.shape[0], di.shape[1]) if ci.ndim == 2 else ci.shape
    broken = np.zeros(shape, dtype=bool)
    for _, failing in _broken_rules(rnd, ci, di, memo, False):
        broken |= failing
    return np.logical_not(broken, out=broken)


def allowed_mask(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig | None = None,
    *,
    exclusions: Iterable[tuple[str, str]] = (),
    prepared: PreparedRound | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``(allowed bool (C, D), reason int8 (C, D))``, evaluated in cache-sized row chunks."""
    rnd = prepared or prepare(craftsmen, demands, config or RoundConfig(), exclusions=exclusions)
    n_c, n_d = rnd.shape
    codes = np.empty((n_c, n_d), dtype=np.int8)
    columns = np.arange(n_d)

    def fill(rows: slice) -> None:
        codes[rows] = rule_codes(rnd, *block_indices(np.arange(rows.start, rows.stop), columns))

    for_row_chunks(n_c, n_d, fill)
    return codes == ALLOWED, codes


def score_and_mask(
    rnd: PreparedRound, *, with_components: bool = True, order: str = "C", with_codes: bool = True
) -> tuple[ScoreTable, np.ndarray, np.ndarray | None]:
    """:func:`score` and :func:`allowed_mask` in one pass: distances and coverage computed once per chunk
    (``order``: the arrays' memory layout, see :func:`score`).  Without ``with_codes`` the reason codes are
    not kept (None): the allowed mask is built directly (`allowed_pairs`)."""
    n_c, n_d = rnd.shape
    codes = np.empty((n_c, n_d), dtype=np.int8, order=order) if with_codes else None
    allowed = None if with_codes else np.empty((n_c, n_d), dtype=bool, order=order)

    def rules_first(rows: slice, ci: np.ndarray, di: np.ndarray, memo: dict) -> None:
        if with_codes:
            codes[rows] = rule_codes(rnd, ci, di, memo)
        else:
            allowed[rows] = allowed_pairs(rnd, ci, di, memo)

    table = score(
        rnd.craftsmen, rnd.demands, prepared=rnd, with_components=with_components, order=order, before_chunk=rules_first
    )
    return table, codes == ALLOWED if with_codes else allowed, codes


def reason_label(code: int, language: str = "en") -> str:
    """Human-readable reason for a code (``language`` "en" or "zh")."""
    english, chinese = REASONS[int(code)]
    return chinese if language.startswith("zh") else english
