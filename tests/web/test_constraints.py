"""Bad data is refused with a clear message by the services, and the database refuses it too."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests import factories
from tests.conftest import NOW
from web.models import Craftsman, Demand, Enterprise
from web.services.craftsmen import create_craftsman
from web.services.enterprises import register_enterprise
from web.services.errors import Conflict, ServiceError, ValidationFailed


def enterprise_data(**overrides):
    data = {"name": "重庆秋田齿轮有限责任公司", "credit_code": factories.valid_credit_code(), "type": "zjtx",
            "region_code": "500110", "industries": [], "contact_name": "王经理", "contact_phone": "13912345678"}
    data.update(overrides)
    return data


def craftsman_data(**overrides):
    data = {"name": "刘源", "gender": "M", "phone": factories.valid_mobile(), "employer": "重庆长安汽车股份有限公司",
            "region_code": "500112", "skills": [], "honours": [{"code": "great_craftsman", "year": 2025}]}
    data.update(overrides)
    return data


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def messages(error: ServiceError) -> dict[str, list[str]]:
    return error.as_errors()


def test_duplicate_credit_code_is_refused(session):
    data = enterprise_data()
    register_enterprise(session, data, actor="test", now=NOW)
    with pytest.raises(Conflict) as caught:
        register_enterprise(session, {**data, "name": "另一家公司"}, actor="test", now=NOW)
    assert caught.value.field == "credit_code"
    assert "已登记" in str(caught.value.message)
    assert _count(session, Enterprise) == 1


@pytest.mark.parametrize(("locale", "expected"), [("zh_CN", "校验位不正确"), ("en", "check digit")])
def test_bad_check_digit_is_refused_in_both_languages(session, locale, expected):
    good = factories.valid_credit_code()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with force_locale(locale), pytest.raises(ValidationFailed) as caught:
        register_enterprise(session, enterprise_data(credit_code=bad), actor="test", now=NOW)
    with force_locale(locale):
        assert expected in messages(caught.value)["credit_code"][0]
    assert _count(session, Enterprise) == 0


@pytest.mark.parametrize("phone", ["12345", "1391234567", "23912345678", "02812345678", "电话"])
def test_bad_mobile_is_refused(session, phone):
    with pytest.raises(ValidationFailed) as caught:
        create_craftsman(session, craftsman_data(phone=phone), actor="test", now=NOW)
    assert "11 位" in messages(caught.value)["phone"][0]
    assert _count(session, Craftsman) == 0


def test_mobile_is_normalised(session):
    craftsman = create_craftsman(session, craftsman_data(phone="+86 139-1234-5670"), actor="test", now=NOW)
    assert craftsman.phone == "13912345670"


def test_unknown_region_is_refused(session):
    with pytest.raises(ServiceError) as caught:
        register_enterprise(session, enterprise_data(region_code="999999"), actor="test", now=NOW)
    assert caught.value.field == "region_code" and "999999" in str(caught.value.message)
    assert _count(session, Enterprise) == 0


def test_negative_capacity_is_refused(session):
    with pytest.raises(ValidationFailed) as caught:
        create_craftsman(session, craftsman_data(round_capacity=-1), actor="test", now=NOW)
    assert "round_capacity" in messages(caught.value)
    assert _count(session, Craftsman) == 0


def test_duplicate_craftsman_phone_is_refused(session):
    data = craftsman_data()
    create_craftsman(session, data, actor="test", now=NOW)
    with pytest.raises(Conflict):
        create_craftsman(session, {**data, "name": "另一位"}, actor="test", now=NOW)


def test_craftsman_creation_is_audited(session):
    from web.models import AuditLog

    craftsman = create_craftsman(session, craftsman_data(), actor="test", now=NOW)
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "craftsman",
                                                     AuditLog.entity_id == craftsman.id))
    assert entry.action == "craftsman.create" and entry.after["name"] == "刘源"


# The database guards the data even when a caller skips the services.

def _violates(session, statement) -> bool:
    savepoint = session.begin_nested()
    try:
        session.execute(statement)
        session.flush()
    except sa.exc.IntegrityError:
        savepoint.rollback()
        return True
    savepoint.rollback()
    return False


def test_database_refuses_team_size_below_one(session):
    demand = factories.make_demand(session)
    assert _violates(session, sa.update(Demand).where(Demand.id == demand.id).values(team_size=0))
    assert not _violates(session, sa.update(Demand).where(Demand.id == demand.id).values(team_size=3))


def test_database_refuses_negative_capacity_and_duplicate_phone(session):
    first = factories.make_craftsman(session)
    second = factories.make_craftsman(session)
    assert _violates(session, sa.update(Craftsman).where(Craftsman.id == first.id).values(round_capacity=-1))
    assert _violates(session, sa.update(Craftsman).where(Craftsman.id == second.id).values(phone=first.phone))


def test_database_refuses_duplicate_credit_code_and_unknown_region(session):
    first = factories.make_enterprise(session)
    second = factories.make_enterprise(session)
    assert _violates(session, sa.update(Enterprise).where(Enterprise.id == second.id)
                     .values(credit_code=first.credit_code))
    assert _violates(session, sa.update(Enterprise).where(Enterprise.id == second.id).values(region_id=10_000_000))
