"""Tracking codes (``CQ-2026-7K3M9P``) and the public status lookup by code + mobile's last four digits.

A code is the province prefix (CQ Chongqing, SC Sichuan), the year and six characters drawn
with ``secrets`` from an alphabet without the look-alikes 0/O, 1/I/L: 31⁶ ≈ 887 million codes
per province and year, so a collision is rare; when one happens the database's unique
constraint refuses the row and the caller retries with a fresh code.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import Demand

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_LENGTH = 6
PROVINCE_PREFIXES = {"50": "CQ", "51": "SC"}
DEFAULT_PREFIX = "SC"
CODE_PATTERN = re.compile(rf"^(CQ|SC)-(\d{{4}})-([{ALPHABET}]{{{RANDOM_LENGTH}}})$")
_LOOSE = re.compile(rf"^(CQ|SC)-?(\d{{4}})-?([{ALPHABET}]{{{RANDOM_LENGTH}}})$")


def prefix_for(province_code: str | None) -> str:
    return PROVINCE_PREFIXES.get((province_code or "")[:2], DEFAULT_PREFIX)


def new_tracking_code(province_code: str | None, now: dt.datetime) -> str:
    """A fresh random code for a demand in this province (uniqueness is the database's job)."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{prefix_for(province_code)}-{now.year:04d}-{random_part}"


def normalize_code(raw: str | None) -> str | None:
    """Accept what people type (lower case, spaces, missing dashes); None when it cannot be a code."""
    if not raw:
        return None
    text = re.sub(r"[\s_–—]+", "", raw.upper().replace("－", "-"))
    match = _LOOSE.match(text)
    if match is None:
        return None
    return "-".join(match.groups())


def last_four(phone: str | None) -> str:
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    return digits[-4:]


def lookup(session: Session, code: str | None, digits: str | None) -> Demand | None:
    """The demand with this tracking code whose contact mobile ends in ``digits``; None on any mismatch.

    The caller shows one generic message for every failure, so a wrong code and a wrong
    number cannot be told apart (no enumeration of codes).
    """
    normalized = normalize_code(code)
    wanted = "".join(ch for ch in (digits or "") if ch.isdigit())
    if normalized is None or len(wanted) != 4:
        return None
    demand = session.scalar(sa.select(Demand).where(Demand.tracking_code == normalized))
    if demand is None:
        # compare anyway so that a missing code costs about as long as a wrong number
        hmac.compare_digest(wanted, "0000")
        return None
    if not hmac.compare_digest(wanted, last_four(demand.contact_phone)):
        return None
    return demand
