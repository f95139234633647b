"""agreements as records of their own; one six-month follow-up

- table ``agreement`` (parties, dates, scope, an attached document);
- every follow-up's "agreement signed" tick with its month count becomes an agreement record, and the two
  columns go;
- the "six-month impact check" (impact_6m) merges into the "six-month review" (review_6m): one row per
  engagement keeps the recorded one (both recorded: figures added up, as each record counts what is new),
  notes, attachments and outcomes move to it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:00:00
"""
import calendar
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KINDS = "kind IN ('check_2w', 'result', 'review_3m', 'review_6m')"
OLD_KINDS = "kind IN ('check_2w', 'result', 'review_3m', 'review_6m', 'impact_6m')"
FIGURES = ("problems_solved", "value_created_wan", "workers_trained", "apprentices")

follow_up = sa.table("follow_up", sa.column("id", sa.Integer), sa.column("engagement_id", sa.Integer),
                     sa.column("kind", sa.String), sa.column("due_on", sa.Date), sa.column("done_on", sa.Date),
                     sa.column("agreement_signed", sa.Boolean), sa.column("agreement_term_months", sa.Integer),
                     sa.column("recorded_by_id", sa.Integer), sa.column("recorded_at", sa.DateTime),
                     *(sa.column(name, sa.Float if name == "value_created_wan" else sa.Integer) for name in FIGURES))
note = sa.table("follow_up_note", sa.column("id", sa.Integer), sa.column("follow_up_id", sa.Integer),
                sa.column("body", sa.Text), sa.column("author_id", sa.Integer), sa.column("created_at", sa.DateTime),
                sa.column("corrects_id", sa.Integer))
attachment = sa.table("attachment", sa.column("follow_up_id", sa.Integer))
outcome = sa.table("outcome", sa.column("follow_up_id", sa.Integer))


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def upgrade() -> None:
    op.create_table(
        "agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("craftsman_id", sa.Integer(), nullable=True),
        sa.Column("studio_id", sa.Integer(), nullable=True),
        sa.Column("union_name", sa.String(length=120), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("document_name", sa.String(length=200), nullable=True),
        sa.Column("document_type", sa.String(length=100), nullable=True),
        sa.Column("document_size", sa.Integer(), nullable=True),
        sa.Column("document_key", sa.String(length=200), nullable=True),
        sa.Column("follow_up_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_agreement_dates_ordered")),
        sa.CheckConstraint("document_key IS NULL OR document_size >= 0",
                           name=op.f("ck_agreement_document_size_nonnegative")),
        sa.ForeignKeyConstraint(["craftsman_id"], ["craftsman.id"], name=op.f("fk_agreement_craftsman_id_craftsman")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_agreement_created_by_id_user_account")),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"],
                                name=op.f("fk_agreement_engagement_id_engagement")),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprise.id"],
                                name=op.f("fk_agreement_enterprise_id_enterprise")),
        sa.ForeignKeyConstraint(["follow_up_id"], ["follow_up.id"], name=op.f("fk_agreement_follow_up_id_follow_up"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["studio_id"], ["studio.id"], name=op.f("fk_agreement_studio_id_studio")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement")),
        sa.UniqueConstraint("document_key", name=op.f("uq_agreement_document_key")),
    )
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_craftsman_id"), ["craftsman_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_ends_on"), ["ends_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_engagement_id"), ["engagement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_studio_id"), ["studio_id"], unique=False)

    connection = op.get_bind()
    _ticks_to_agreements(connection)
    _merge_six_month_follow_ups(connection)

    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_follow_up_term_positive"), type_="check")
        batch_op.drop_constraint(op.f("ck_follow_up_kind_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_follow_up_kind_valid"), KINDS)
        batch_op.drop_column("agreement_term_months")
        batch_op.drop_column("agreement_signed")


def _ticks_to_agreements(connection: sa.Connection) -> None:
    """One agreement per ticked follow-up: the enterprise, the engagement's first craftsman (and his studio),
    the union of the demand's region; from the follow-up's date for the month count given."""
    rows = connection.execute(sa.text(
        "SELECT f.id, f.engagement_id, f.done_on, f.agreement_term_months, f.recorded_by_id, f.recorded_at, "
        "d.enterprise_id, d.title, r.name AS region_name, "
        "(SELECT m.craftsman_id FROM engagement_member m WHERE m.engagement_id = e.id ORDER BY m.id LIMIT 1) "
        "AS craftsman_id "
        "FROM follow_up f JOIN engagement e ON e.id = f.engagement_id JOIN demand d ON d.id = e.demand_id "
        "JOIN region r ON r.id = d.region_id "
        "WHERE f.agreement_signed = :yes AND f.done_on IS NOT NULL ORDER BY f.id"), {"yes": True}).all()
    for row in rows:
        done_on = row.done_on if isinstance(row.done_on, dt.date) else dt.date.fromisoformat(str(row.done_on))
        studio_id = connection.scalar(sa.text("SELECT studio_id FROM craftsman WHERE id = :id"),
                                      {"id": row.craftsman_id}) if row.craftsman_id else None
        connection.execute(sa.text(
            "INSERT INTO agreement (engagement_id, enterprise_id, craftsman_id, studio_id, union_name, starts_on, "
            "ends_on, scope, follow_up_id, created_by_id, created_at) VALUES (:engagement_id, :enterprise_id, "
            ":craftsman_id, :studio_id, :union_name, :starts_on, :ends_on, :scope, :follow_up_id, :created_by_id, "
            ":created_at)"),
            {"engagement_id": row.engagement_id, "enterprise_id": row.enterprise_id, "craftsman_id": row.craftsman_id,
             "studio_id": studio_id, "union_name": f"{row.region_name}总工会", "starts_on": done_on,
             "ends_on": add_months(done_on, row.agreement_term_months or 12), "scope": row.title,
             "follow_up_id": row.id, "created_by_id": row.recorded_by_id,
             "created_at": row.recorded_at or dt.datetime.combine(done_on, dt.time())})


def _merge_six_month_follow_ups(connection: sa.Connection) -> None:
    impacts = connection.execute(sa.select(follow_up).where(follow_up.c.kind == "impact_6m")).all()
    for impact in impacts:
        review = connection.execute(sa.select(follow_up).where(follow_up.c.engagement_id == impact.engagement_id,
                                                               follow_up.c.kind == "review_6m")).first()
        if review is None:
            connection.execute(sa.update(follow_up).where(follow_up.c.id == impact.id).values(kind="review_6m"))
            continue
        # keep the recorded one (the review when both or neither are recorded)
        keep, drop = (impact, review) if impact.done_on and not review.done_on else (review, impact)
        changes: dict = {"kind": "review_6m"}
        if keep.done_on and drop.done_on:
            changes.update({name: (getattr(keep, name) or 0) + (getattr(drop, name) or 0) for name in FIGURES})
            changes["done_on"] = max(keep.done_on, drop.done_on)
            connection.execute(sa.insert(note).values(
                follow_up_id=keep.id, author_id=drop.recorded_by_id,
                created_at=drop.recorded_at or dt.datetime.combine(drop.done_on, dt.time()),
                body=f"六个月成效复查（{drop.done_on}）的记录已并入六个月回访；数字已合计。"))
        elif not keep.done_on:
            changes["due_on"] = max(keep.due_on, drop.due_on)
        for table in (note, attachment, outcome):
            connection.execute(sa.update(table).where(table.c.follow_up_id == drop.id).values(follow_up_id=keep.id))
        connection.execute(sa.text("UPDATE agreement SET follow_up_id = :keep WHERE follow_up_id = :drop"),
                           {"keep": keep.id, "drop": drop.id})
        connection.execute(sa.delete(follow_up).where(follow_up.c.id == drop.id))
        connection.execute(sa.update(follow_up).where(follow_up.c.id == keep.id).values(**changes))


def downgrade() -> None:
    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agreement_signed", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("agreement_term_months", sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f("ck_follow_up_kind_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_follow_up_kind_valid"), OLD_KINDS)
        batch_op.create_check_constraint(op.f("ck_follow_up_term_positive"),
                                         "agreement_term_months IS NULL OR agreement_term_months > 0")
    # the ticks come back from the agreements that replaced them (merged six-month records stay merged)
    connection = op.get_bind()
    agreements = sa.table("agreement", sa.column("follow_up_id", sa.Integer), sa.column("starts_on", sa.Date),
                          sa.column("ends_on", sa.Date))
    for row in connection.execute(sa.select(agreements).where(agreements.c.follow_up_id.is_not(None))).all():
        months = max(1, (row.ends_on.year - row.starts_on.year) * 12 + row.ends_on.month - row.starts_on.month)
        connection.execute(sa.update(follow_up).where(follow_up.c.id == row.follow_up_id)
                           .values(agreement_signed=True, agreement_term_months=months))
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_studio_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_enterprise_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_engagement_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_ends_on"))
        batch_op.drop_index(batch_op.f("ix_agreement_craftsman_id"))
    op.drop_table("agreement")
