"""What the inbox's and the pool's bulk forms share: the selection fields and the report of what was done."""

from __future__ import annotations

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField

from web.services.bulk import BulkResult

SHOWN_REFUSALS = 20  # refusals listed one by one; the rest are counted


class BulkForm(FlaskForm):
    """Rows ticked on the page (``ids``) or every record matching the filter (``all_matching``)."""

    ids = SelectMultipleField(_l("Selected"), choices=[], validate_choice=False)
    all_matching = BooleanField(_l("All records matching the filter"))
    action = SelectField(_l("Action"), choices=[], validate_choice=False)

    def set_actions(self, actions: dict[str, object]) -> None:
        self.action.choices = [SelectChoice("", _("Choose an action"))] + [
            SelectChoice(key, label) for key, label in actions.items()]

    def chosen_ids(self) -> list[int]:
        return [int(raw) for raw in self.ids.data or [] if raw.isascii() and raw.isdigit() and len(raw) < 10]

    def is_chosen(self, record_id: int) -> bool:
        return str(record_id) in (self.ids.data or [])


def report(result: BulkResult, done_message: str) -> None:
    """Flash how many records changed, then each refused record with its reason."""
    flash(_("%(action)s: %(count)d changed, %(refused)d not changed.", action=done_message, count=len(result.done),
            refused=len(result.refused)), "success" if result.done else "warning")
    for name, reason in result.refused[:SHOWN_REFUSALS]:
        flash(_("Not changed: %(record)s. %(reason)s", record=name, reason=reason), "warning")
    if len(result.refused) > SHOWN_REFUSALS:
        flash(_("%(count)d more records not changed.", count=len(result.refused) - SHOWN_REFUSALS), "warning")
