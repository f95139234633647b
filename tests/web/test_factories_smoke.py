"""The factories build valid rows that the database accepts (guards every other test's setup)."""

from stdnum.cn import uscc

from tests import factories


def test_factories_build_a_linked_engagement(session):
    enterprise = factories.make_enterprise(session)
    craftsman = factories.make_craftsman(session, skills={factories.some_codes(session, factories.Skill, 1)[0]: 5})
    demand = factories.make_demand(session, enterprise, team_size=2)
    engagement = factories.make_engagement(session, demand, [craftsman])

    assert uscc.is_valid(enterprise.credit_code)
    assert demand.enterprise_id == enterprise.id
    assert engagement.members[0].craftsman_id == craftsman.id
    assert craftsman.skills[0].proficiency == 5
