"""Mobile numbers shown or written where a reader need not call them: 138****1234."""

from __future__ import annotations

import re

# 11 digits as stored (validate_mobile), or as a person types one (a staff contact): +86, spaces, hyphens
MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1\d{2}[ -]?\d{4}[ -]?\d{4}(?!\d)")


def mask_phone(phone: str | None) -> str:
    """13812341234 → 138****1234: enough to tell numbers apart, not enough to call."""
    phone = phone or ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_phones_in(text: str | None) -> str:
    """``text`` with every mobile number in it masked (a message's body names the enterprise's contact)."""
    return MOBILE_IN_TEXT.sub(lambda number: mask_phone(re.sub(r"\D", "", number.group())[-11:]), text or "")
