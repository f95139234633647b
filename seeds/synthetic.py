"""Synthetic data at scale for matching benchmarks and load tests.

``generate_synthetic(n_craftsmen, n_demands, seed)`` returns craftsmen,
enterprises (about one per three demands) and open demands with exactly the
record shapes of ``seeds.demo``.  Phones, credit codes and tracking codes are
unique and valid.  Reference data is loaded once and cached, so 5,000
craftsmen x 2,000 demands take well under a second.
"""

from __future__ import annotations

import random

from seeds.common import (
    CHONGQING,
    SICHUAN,
    CreditCodes,
    PhoneBook,
    TrackingCodes,
    invent_craftsman,
    reference_index,
)
from seeds.demo import invent_enterprises, template_demands

SICHUAN_SHARE = 0.55


def generate_synthetic(n_craftsmen: int, n_demands: int, seed: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    index = reference_index()
    phones = PhoneBook(rng)
    craftsmen = [
        invent_craftsman(
            rng, index, f"SY{number:06d}", SICHUAN if rng.random() < SICHUAN_SHARE else CHONGQING, phones
        )
        for number in range(1, n_craftsmen + 1)
    ]
    enterprise_count = max(1, round(n_demands / 3)) if n_demands else 0
    enterprises, specialty_of = invent_enterprises(
        rng, index, phones, CreditCodes(rng), enterprise_count, set()
    )
    demands = template_demands(
        rng, index, enterprises, specialty_of, TrackingCodes(rng), ["open"] * n_demands
    )
    return {"craftsmen": craftsmen, "enterprises": enterprises, "demands": demands}
