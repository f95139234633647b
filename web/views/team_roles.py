"""The team-roles rows (跨界攻关小组) shared by the public demand form and the coordinator's edit form.

A few plain rows of (speciality, count) that work without JavaScript; rows left without a speciality are
ignored. Every rule (counts, duplicates, the team size agreeing) lives in ``web.schemas.demands.Roles``.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import FieldList, Form, FormField, StringField

from web.schemas.demands import MAX_ROLES, TEAM_SIZE_MAX

ROLE_ROWS = 4
PUBLIC_ROLE_ROWS = 3  # the public form's page has a size budget (tests/web/test_intake_speed.py); a team of three


class RoleRow(Form):
    """One role: a skill (code, Chinese or English name, offered from a <datalist>) and how many craftsmen."""

    skill = StringField(_l("Speciality"))
    count = StringField(_l("Number of craftsmen"), default="1",
                        render_kw={"type": "number", "min": 1, "max": TEAM_SIZE_MAX, "inputmode": "numeric"})


def roles_field(rows: int = ROLE_ROWS) -> FieldList:
    return FieldList(FormField(RoleRow), label=_l("Team roles (optional)"), min_entries=rows, max_entries=MAX_ROLES)


def roles_data(field: FieldList) -> list[dict[str, Any]]:
    """The rows with a speciality chosen, as the contract's ``roles``."""
    return [{"skill": row.skill.data, "count": (row.count.data or "").strip()}
            for row in field if (row.skill.data or "").strip()]


def show_roles(field: FieldList, roles, label) -> None:
    """Put a demand's stored roles (``Demand.roles``) into the rows by ``label(skill)`` (its name in the page's
    language, which the contract reads back), adding rows when there are more."""
    for index, role in enumerate(roles):
        while len(field) <= index:
            field.append_entry()
        field[index].skill.data = label(role.skill)
        field[index].count.data = str(role.count)
