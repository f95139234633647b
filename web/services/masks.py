"""Mobile numbers shown or written where a reader need not call them: 138****1234."""

from __future__ import annotations

import re

MOBILE_IN_TEXT = re.compile(r"(?<!\d)1\d{10}(?!\d)")  # as stored (validate_mobile): 11 digits


def mask_phone(phone: str | None) -> str:
    """13812341234 → 138****1234: enough to tell numbers apart, not enough to call."""
    phone = phone or ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_phones_in(text: str | None) -> str:
    """``text`` with every mobile number in it masked (a message's body names the enterprise's contact)."""
    return MOBILE_IN_TEXT.sub(lambda number: mask_phone(number.group()), text or "")
