"""Reference data: regions (GB/T 2260), industries, skills, demand categories, honour levels."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base
from web.models._types import one_of

REGION_LEVELS = ("province", "prefecture", "county", "functional_area")
HONOUR_KINDS = ("craftsman", "model_worker", "trainee")


class Region(Base):
    __tablename__ = "region"
    __table_args__ = (
        one_of("level", REGION_LEVELS),
        sa.CheckConstraint("latitude IS NULL OR (latitude BETWEEN -90 AND 90)", name="latitude_range"),
        sa.CheckConstraint("longitude IS NULL OR (longitude BETWEEN -180 AND 180)", name="longitude_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), server_default="")  # "" = shown by its Chinese name
    level: Mapped[str] = mapped_column(sa.String(20))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("region.id"), index=True)
    # The two-digit GB/T 2260 province prefix: "51" Sichuan, "50" Chongqing.
    province_code: Mapped[str] = mapped_column(sa.String(2), index=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    parent: Mapped[Region | None] = relationship(remote_side=[id])

    @property
    def full_name(self) -> str:
        names = [self.name]
        node = self.parent
        while node is not None:
            if node.name not in names[0]:
                names.insert(0, node.name)
            node = node.parent
        return "".join(names)

    @property
    def full_name_en(self) -> str:
        """Smallest first, as English writes addresses: "Wuhou District, Chengdu, Sichuan"."""
        names, node = [], self
        while node is not None:
            names.append(node.name_en or node.name)
            node = node.parent
        return ", ".join(names)


class Industry(Base):
    __tablename__ = "industry"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120))
    group: Mapped[str] = mapped_column(sa.String(40))
    gbt4754_section: Mapped[str | None] = mapped_column(sa.String(1))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("industry.id"), index=True)


class Skill(Base):
    __tablename__ = "skill"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("skill.id"), index=True)

    parent: Mapped[Skill | None] = relationship(remote_side=[id])


class DemandCategory(Base):
    __tablename__ = "demand_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    sort: Mapped[int] = mapped_column(default=0)


class HonourLevel(Base):
    __tablename__ = "honour_level"
    __table_args__ = (one_of("kind", HONOUR_KINDS), sa.CheckConstraint("rank BETWEEN 0 AND 9", name="rank_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(20))
    rank: Mapped[int]
    province_code: Mapped[str | None] = mapped_column(sa.String(2))
