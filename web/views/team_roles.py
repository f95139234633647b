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


class RoleRow(Form):
    """One role: a skill code (rendered as a grouped <select>) and how many craftsmen hold it."""

    skill = StringField(_l("Speciality"))
    count = StringField(_l("Craftsmen"), default="1",
                        render_kw={"type": "number", "min": 1, "max": TEAM_SIZE_MAX, "inputmode": "numeric"})


def roles_field() -> FieldList:
    return FieldList(FormField(RoleRow), label=_l("Team roles (optional)"), min_entries=ROLE_ROWS,
                     max_entries=MAX_ROLES)


def roles_data(field: FieldList) -> list[dict[str, Any]]:
    """The rows with a speciality chosen, as the contract's ``roles``."""
    return [{"skill": row.skill.data, "count": (row.count.data or "").strip()}
            for row in field if (row.skill.data or "").strip()]


def show_roles(field: FieldList, roles) -> None:
    """Put a demand's stored roles (``Demand.roles``) into the rows, adding rows when there are more."""
    for index, role in enumerate(roles):
        while len(field) <= index:
            field.append_entry()
        field[index].skill.data = role.skill.code
        field[index].count.data = str(role.count)
