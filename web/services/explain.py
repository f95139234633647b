"""A proposal's "why" in words: the one renderer of ``matching.explain``'s facts, in Chinese or English.

The round's solve stores the facts with every proposal (``Proposal.breakdown["facts"]``, skills and
industries by id: :func:`fact_identifier`); the review page, the round export and ``craftmatch round
show`` all call :func:`describe`, which names them (:func:`with_names`, one :func:`vocabulary` per page or
export), so a coordinator reads the same sentence everywhere. Rows stored with the names themselves (before
ids were stored) read as they always did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, aliased

from matching.explain import CROSS_PROVINCE, FAR, LOW, NO_REQUIRED_SKILL, OVERLOADED
from web.i18n import catalogue_fixed, parsed_locale, translations
from web.models import Craftsman, Demand, DemandRole, Industry, MatchingRound, Proposal, Skill

Ids = Sequence[int]  # per vocabulary column: the skill's or industry's id
Name = dict[str, str]  # {"zh": …, "en": …}
WARNING_LABELS = {
    FAR: _l("far away"),
    CROSS_PROVINCE: _l("cross-province (Sichuan ↔ Chongqing)"),
    LOW: _l("low score"),
    OVERLOADED: _l("craftsman overloaded"),
    NO_REQUIRED_SKILL: _l("holds no required skill"),
}


# ---------------------------------------------------------------- ids (at store time)
def vocabulary_ids(session: Session) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The id of every skill column and of every industry column, in column order.

    The columns are the ones ``web.services.features`` builds the round's feature arrays with (ids in order).
    """
    def ids(model) -> tuple[int, ...]:
        return tuple(session.scalars(sa.select(model.id).order_by(model.id)))

    return ids(Skill), ids(Industry)


def _placeholder(reference: int) -> Name:
    return {"zh": f"#{reference}", "en": f"#{reference}"}


def fact_identifier(skills: Ids, industries: Ids) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``facts`` (by the round's columns) → a copy that refers to every skill and industry by its id, as a
    proposal stores them: they are named when they are rendered (:func:`with_names`), from the names as they are
    then, and a round's 8,530 rows no longer each carry copies of the same names (932 -> 670 bytes a row).

    In the copy: ``skills`` ``{"level", "importance", "skill": id}``, ``family_skills`` ``{"via": id, "level",
    "skill": id}``, ``missing`` and ``industries`` lists of ids, ``role`` (an alternate's: ``for_role``) the role's
    skill id. A column beyond the vocabulary (none in practice) is stored as the placeholder name it has always
    been shown with."""
    def reference(ids: Ids, column: int) -> int | Name:
        return ids[column] if 0 <= column < len(ids) else _placeholder(column)

    def identify(facts: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(facts)
        out["skills"] = skills_held = []
        for held in facts.get("skills", []):
            entry = dict(held)
            entry["skill"] = reference(skills, entry.pop("column"))
            skills_held.append(entry)
        out["family_skills"] = family = []
        for held in facts.get("family_skills", []):
            entry = dict(held)
            entry["via"] = reference(skills, held["via"])
            entry["skill"] = reference(skills, entry.pop("column"))
            family.append(entry)
        out["missing"] = [reference(skills, column) for column in facts.get("missing", [])]
        out["industries"] = [reference(industries, column) for column in facts.get("industries", [])]
        for key in ("role", "for_role"):  # the team role (a skill column) he fills, or stands by for
            if facts.get(key) is not None:
                out[key] = reference(skills, int(facts[key]))
        return out

    return identify


# ---------------------------------------------------------------- names (at render time)
class Vocabulary:
    """Every skill's and industry's name by id (``{"zh": …, "en": …}``, English falling back to Chinese): what
    :func:`with_names` names stored facts with. One per page or export (:func:`vocabulary`)."""

    def __init__(self, skills: Iterable[tuple[int, str, str | None]],
                 industries: Iterable[tuple[int, str, str | None]]) -> None:
        self.skills = {row_id: {"zh": zh, "en": en or zh} for row_id, zh, en in skills}
        self.industries = {row_id: {"zh": zh, "en": en or zh} for row_id, zh, en in industries}


NO_VOCABULARY = Vocabulary((), ())


def vocabulary(session: Session) -> Vocabulary:
    """The names the facts' ids stand for, as they are now (one query)."""
    rows = session.execute(sa.union_all(
        sa.select(sa.literal(True).label("is_skill"), Skill.id, Skill.name_zh, Skill.name_en),
        sa.select(sa.literal(False), Industry.id, Industry.name_zh, Industry.name_en))).all()
    return Vocabulary([row[1:] for row in rows if row[0]], [row[1:] for row in rows if not row[0]])


def _named(reference: int | Mapping[str, str], names: Mapping[int, Name]) -> Mapping[str, str]:
    """A stored reference's name: an id named now, or a name stored with the facts (as rows were before)."""
    if isinstance(reference, Mapping):
        return reference
    return names.get(reference) or _placeholder(reference)


def with_names(facts: Mapping[str, Any], vocabulary: Vocabulary) -> Mapping[str, Any]:
    """Stored facts with every skill and industry named as :func:`describe` reads them (``skills[].name``,
    ``family_skills[].name``/``via_name``, ``missing`` and ``industries`` as names, ``role_name``,
    ``for_role_name``). Facts stored by :func:`fact_identifier` hold ids; facts stored before held the names
    themselves and are read as they are, so an old round's rows render as they always did."""
    skills, industries = vocabulary.skills, vocabulary.industries
    out = dict(facts)
    out["skills"] = [held if "name" in held else {**held, "name": _named(held["skill"], skills)}
                     for held in facts.get("skills", [])]
    out["family_skills"] = [held if "name" in held else {**held, "name": _named(held["skill"], skills),
                                                         "via_name": _named(held["via"], skills)}
                            for held in facts.get("family_skills", [])]
    out["missing"] = [_named(skill, skills) for skill in facts.get("missing", [])]
    out["industries"] = [_named(industry, industries) for industry in facts.get("industries", [])]
    if facts.get("role") is not None and "role_name" not in facts:
        out["role_name"] = _named(facts["role"], skills)
    if facts.get("for_role") is not None:
        out["for_role_name"] = _named(facts["for_role"], skills)
    return out


# ---------------------------------------------------------------- words
def _(string: str, **variables: Any) -> str:
    """flask_babel's ``gettext`` (same text), from the catalogue :func:`describe` fixes once per sentence."""
    text = translations().ugettext(string)
    return text % variables if variables else text


def _locale_code(locale: str | None) -> str:
    return "en" if str(locale or get_locale() or "zh_CN").startswith("en") else "zh_CN"


def _name(entry: Mapping[str, str] | str, code: str) -> str:
    if isinstance(entry, str):
        return entry
    return entry.get("en" if code == "en" else "zh") or entry.get("zh", "")


def _join(parts: list[str], code: str) -> str:
    return ("、" if code != "en" else ", ").join(parts)


def _honour(facts: Mapping[str, Any]) -> str:
    """His craftsman's title, and 劳模 if he is one. The rank counts a 劳模 honour one level up (a 市级工匠 who is a
    省部级劳模 ranks as a provincial craftsman): named by the rank he was given a title he does not hold. Facts
    stored before they carried ``title_rank`` are named by the rank, as they were."""
    labels = {0: _("no honour"), 1: _("craftsman trainee"), 2: _("municipal craftsman"),
              3: _("provincial craftsman"), 4: _("national craftsman")}
    if "title_rank" not in facts:
        return labels.get(int(facts.get("honour_rank", 0)), labels[0])
    title = labels.get(int(facts["title_rank"]), labels[0])
    if not facts.get("model_worker"):
        return title
    return _("%(title)s, model worker", title=title) if int(facts["title_rank"]) > 0 else _("model worker")


def _abilities(facts: Mapping[str, Any]) -> str:
    if facts.get("can_onsite") and facts.get("can_remote"):
        return _("serves on site and remotely")
    return _("serves on site only") if facts.get("can_onsite") else _("serves remotely only")


def _held_skills(facts: Mapping[str, Any], code: str) -> str:
    return _join([_("%(name)s level %(level)d", name=_name(s["name"], code),
                    level=int(s["level"])) for s in facts.get("skills", [])], code)


def _skill_clauses(facts: Mapping[str, Any], code: str) -> list[str]:
    clauses = []
    if facts.get("skills"):
        clauses.append(_("holds %(skills)s", skills=_held_skills(facts, code)))
    for s in facts.get("family_skills", []):
        clauses.append(_("for %(name)s, a skill of the same family: %(via)s level %(level)d",
                         name=_name(s.get("name", ""), code), via=_name(s.get("via_name", ""), code),
                         level=int(s["level"])))
    missing = [_name(m, code) for m in facts.get("missing", [])]
    if missing and not facts.get("skills") and not facts.get("family_skills"):
        clauses.append(_("holds none of the required skills (%(skills)s)", skills=_join(missing, code)))
    elif missing:
        clauses.append(_("lacks %(skills)s", skills=_join(missing, code)))
    return clauses


def _distance(facts: Mapping[str, Any], code: str) -> str:
    """How far and how he would serve: the demand's mode decides which of his ways counts."""
    km = facts.get("distance_km")
    where = _("distance unknown") if km is None else _("%(km)d km away", km=round(float(km)))
    how = {"onsite": _("on site"), "remote": _("remote service")}.get(facts.get("mode"), _abilities(facts))
    return (", " if code == "en" else "，").join([where, how])


def _track_record(record: Mapping[str, Any] | None) -> str:
    if not record or not record.get("services"):
        return _("no track record in this field yet")
    rating = record.get("mean_rating")
    return _("track record in this field: engagements %(services)d, mean rating %(rating)s, with an accepted "
             "outcome %(outcomes)d", services=int(record["services"]),
             rating=_("not rated") if rating is None else f"{float(rating):.1f}", outcomes=int(record.get("outcomes", 0)))


def _facts_sentence(facts: Mapping[str, Any], code: str) -> list[str]:
    clauses = [_("fills the role %(role)s", role=_name(facts["role_name"], code))] if facts.get("role_name") else []
    if facts.get("for_role_name"):
        clauses.append(_("could fill the role %(role)s", role=_name(facts["for_role_name"], code)))
    clauses += _skill_clauses(facts, code)
    if facts.get("industries"):
        clauses.append(_("works in %(industries)s", industries=_join([_name(i, code) for i in facts["industries"]],
                                                                       code)))
    clauses.append(_distance(facts, code))
    clauses.append(_("honour: %(honour)s", honour=_honour(facts)))
    clauses.append(_("available for %(share)d%% of the window", share=round(100 * float(facts.get("availability", 1)))))
    clauses.append(_track_record(facts.get("track_record")))
    if float(facts.get("continuity") or 0) > 0:
        clauses.append(_("has served this enterprise before"))
    return clauses


def _reason(reason: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    code = reason["code"]
    if code == "busy":
        return _("his capacity (%(capacity)d) is taken by other demands", capacity=int(reason["capacity"]))
    if code == "distance":
        km = facts.get("distance_km")
        far = _("distance unknown") if km is None else _("is %(km)d km away", km=round(float(km)))
        if facts.get("mode") != "onsite" and not facts.get("can_remote"):
            return _("%(far)s and serves on site only", far=far)
        return far
    simple = {
        "less_relevant": _("is less relevant to the required skills"),
        "skill": _("has lower levels in the required skills"),
        "industry": _("works in fewer of its industries"),
        "text": _("his profile is further from the description"),
        "availability": _("is available for only %(share)d%% of the window",
                          share=round(100 * float(facts.get("availability", 1)))),
        "continuity": _("has served this enterprise less"),
        "track_record": _("has a weaker track record in this field"),
        "below_min_score": _("scores below the round's minimum score"),
        "fairness": _("already serves %(load)d demands in this round and the fairness penalty spreads the work",
                      load=int(reason.get("load", 0))),
        "not_relevant": _("holds no required skill and the round takes relevant craftsmen only"),
    }
    if code == "honour":
        return _("holds a lower honour (%(honour)s)", honour=_honour(facts))
    return simple.get(code, code)


def _lost_sentence(facts: Mapping[str, Any], code: str) -> str:
    reasons = [_reason(r, facts) for r in facts.get("lost", [])] or [_("scores lower")]
    if code != "en":
        because = "，".join(reasons)
    else:
        because = reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + ", and " + reasons[-1]
    if facts.get("skills"):
        return _("Not proposed: has %(skills)s but %(reasons)s.", skills=_held_skills(facts, code), reasons=because)
    return _("Not proposed: %(reasons)s.", reasons=because)


def describe(facts: Mapping[str, Any] | None, locale: str | None = None, names: Vocabulary = NO_VOCABULARY) -> str:
    """One proposal's explanation in words (Chinese for ``zh``/``zh_CN``, English for ``en``; default: the page's).

    Parameters
    ----------
    facts : mapping
        ``Proposal.breakdown["facts"]``: `matching.explain.pair_facts` by id (:func:`fact_identifier`) or, as
        stored before, named; the best alternate's also hold ``lost`` (why he is not proposed).
    locale : str, optional
    names : Vocabulary, optional
        The names of the ids (:func:`vocabulary`); without it an id reads "#id".

    Returns
    -------
    str
        Empty when there are no facts (a round solved before explanations existed).

    Examples
    --------
    ``describe(p.breakdown.get("facts"), "en", vocabulary(session))`` → "Holds ERP level 5; 12 km away, serves on
    site and remotely; …"
    """
    if not facts:
        return ""
    code = _locale_code(locale)
    facts = with_names(facts, names)
    # forced only when it is not the page's already (a round page describes ~210 proposals: ~25 us each)
    forced = nullcontext() if parsed_locale(code) == get_locale() else force_locale(code)
    with forced, catalogue_fixed():
        clauses = _facts_sentence(facts, code)
        text = ("; " if code == "en" else "；").join(clauses)
        text = (text[:1].upper() + text[1:] + ".") if code == "en" else text + "。"
        if "lost" in facts:
            text += (" " if code == "en" else "") + _lost_sentence(facts, code)
    return text


def describe_proposal(proposal: Any, locale: str | None = None, names: Vocabulary | None = None) -> str:
    """:func:`describe` of a stored proposal (anything with a ``breakdown`` dict); without ``names`` they
    are read from the proposal's session (one query: a page describing many passes
    :func:`proposal_describer`'s instead)."""
    if names is None:
        session = getattr(sa.inspect(proposal, raiseerr=False), "session", None)
        names = NO_VOCABULARY if session is None else vocabulary(session)
    return describe((getattr(proposal, "breakdown", None) or {}).get("facts"), locale, names)


def proposal_describer(session: Session) -> Callable[..., str]:
    """:func:`describe_proposal` for a page: the names read once, when its first proposal is described."""
    read: list[Vocabulary] = []

    def describe_one(proposal: Any, locale: str | None = None) -> str:
        if not read:
            read.append(vocabulary(session))
        return describe_proposal(proposal, locale, read[0])

    return describe_one


# ---------------------------------------------------------------- the round export
def round_rows(session: Session, rnd: MatchingRound, locale: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a round's export: every proposed craftsman and alternate with his warnings and the why."""
    code = _locale_code(locale)
    # a team's members and alternates role by role, in the demand's order of its roles
    role = aliased(DemandRole)
    rows = session.execute(
        sa.select(Demand.tracking_code, Demand.title, Craftsman.name, Proposal.assigned, Proposal.alternate_rank,
                  Proposal.score, Proposal.warnings, Proposal.breakdown, Skill.name_zh, Skill.name_en)
        .join(Demand, Demand.id == Proposal.demand_id).join(Craftsman, Craftsman.id == Proposal.craftsman_id)
        .outerjoin(role, sa.and_(role.demand_id == Proposal.demand_id, role.skill_id == Proposal.role_skill_id))
        .outerjoin(Skill, Skill.id == role.skill_id)
        .where(Proposal.round_id == rnd.id, Proposal.excluded.is_(False),
               sa.or_(Proposal.assigned, Proposal.alternate_rank.is_not(None)))
        .order_by(Proposal.demand_id, Proposal.assigned.desc(), role.id.is_not(None), role.id,
                  Proposal.alternate_rank, Proposal.craftsman_id)).all()
    names = vocabulary(session)
    with force_locale(code):
        header = [_("Tracking code"), _("Demand"), _("Craftsman"), _("Proposed or alternate"), _("Score"),
                  _("Warnings"), _("Why")]
        body = [[tracking, title, name,
                 _role_label(_("proposed") if assigned else _("alternate %(rank)d", rank=rank or 0),
                             {"zh": role_zh, "en": role_en or role_zh} if role_zh else None, code),
                 round(float(score), 3), _join([str(WARNING_LABELS.get(w, w)) for w in warnings or []], code),
                 describe((breakdown or {}).get("facts"), code, names)]
                for tracking, title, name, assigned, rank, score, warnings, breakdown, role_zh, role_en in rows]
    return header, body


def _role_label(label: str, role: Mapping[str, str] | None, code: str) -> str:
    """"proposed" or "alternate 1", with the team role he fills or stands by for."""
    if role is None:
        return label
    return f"{label} ({_name(role, code)})" if code == "en" else f"{label}（{_name(role, code)}）"
