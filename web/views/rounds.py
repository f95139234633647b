"""Matching rounds in the workspace: create, solve (inline or queued), review, adjust, publish, outbox."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from redis.exceptions import RedisError
from sqlalchemy.orm import selectinload
from wtforms import (
    DecimalRangeField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from matching.config import COMPONENTS, DEFAULT_WEIGHTS, RoundConfig
from web.clock import local, local_today, utcnow
from web.extensions import db
from web.i18n import is_english
from web.models import (
    Craftsman,
    CraftsmanSkill,
    DemandCategory,
    Engagement,
    EngagementMember,
    Enterprise,
    HonourLevel,
    MatchingRound,
    Notification,
    Skill,
)
from web.policy import EDITOR, ROUND, ROUND_MEMBER, STAFF, current_record, policy, scope, visible_to
from web.services import craftsmen as pool_service
from web.services import eligibility, explain, jobs, notifications, placing, reference, rounds
from web.services import engagements as engagement_labels
from web.services.errors import ServiceError
from web.services.exporting import XLSX_MIMETYPE, csv_bytes, single_sheet
from web.services.personal_data import record_export, send_outbox
from web.views.actions import run_service

bp = Blueprint("rounds", __name__, url_prefix="/workspace/rounds")

COMPONENT_LABELS = {
    "skill": _l("Skills"), "industry": _l("Industry"), "text": _l("Description fit"), "distance": _l("Distance"),
    "honour": _l("Honour"), "availability": _l("Availability"), "continuity": _l("Past ratings"),
    "track_record": _l("Track record in the field"),
}
_DEFAULTS = RoundConfig()
STATUS_LABELS = {
    "draft": _l("Draft"), "queued": _l("Queued"), "solving": _l("Solving"), "solved": _l("Solved"),
    "failed": _l("Failed"), "published": _l("Published"),
}
NOTIFICATION_LABELS = {"pending": _l("Pending"), "sent": _l("Sent"), "failed": _l("Failed")}


@bp.context_processor
def _labels() -> dict:
    return {"round_status_labels": STATUS_LABELS, "notification_labels": NOTIFICATION_LABELS,
            "engagement_labels": engagement_labels.STATUS_LABELS,
            "member_labels": engagement_labels.MEMBER_STATUS_LABELS, "describe": explain.proposal_describer(db.session)}


def _weight_field(name: str) -> DecimalRangeField:
    return DecimalRangeField(COMPONENT_LABELS[name], default=DEFAULT_WEIGHTS[name], places=2,
                             validators=[NumberRange(min=0, max=1)], render_kw={"min": 0, "max": 1, "step": 0.05})


class RoundForm(FlaskForm):
    name = StringField(_l("Name of the round"), validators=[DataRequired(), Length(max=120)])
    demand_region = SelectField(_l("Demands: region"), choices=[], validate_choice=False)
    demand_category = SelectField(_l("Demands: category"), choices=[], validate_choice=False)
    demand_industry = SelectField(_l("Demands: industry"), choices=[], validate_choice=False)
    demand_urgency = SelectField(_l("Demands: urgency"), validate_choice=False, choices=[])
    craftsman_region = SelectField(_l("Craftsmen: region"), choices=[], validate_choice=False)
    craftsman_honour = SelectField(_l("Craftsmen: honour"), choices=[], validate_choice=False)
    craftsman_industry = SelectField(_l("Craftsmen: industry"), choices=[], validate_choice=False)
    craftsman_skill = SelectField(_l("Craftsmen: skill"), choices=[], validate_choice=False)
    weight_skill = _weight_field("skill")
    weight_industry = _weight_field("industry")
    weight_text = _weight_field("text")
    weight_distance = _weight_field("distance")
    weight_honour = _weight_field("honour")
    weight_availability = _weight_field("availability")
    weight_continuity = _weight_field("continuity")
    weight_track_record = _weight_field("track_record")
    min_score = FloatField(_l("Minimum score"), default=_DEFAULTS.min_score, validators=[NumberRange(min=0, max=1)])
    load_penalty = FloatField(_l("Fairness penalty (per extra demand of one craftsman)"),
                              default=_DEFAULTS.load_penalty, validators=[NumberRange(min=0, max=10)])
    default_capacity = IntegerField(_l("Capacity per craftsman in this round (blank: each one's own)"),
                                    validators=[Optional(), NumberRange(min=0, max=50)])


class ActionForm(FlaskForm):
    version = HiddenField()


class PairForm(ActionForm):
    craftsman_id = IntegerField(validators=[DataRequired()])
    demand_id = IntegerField(validators=[DataRequired()])
    mode = SelectField(choices=[SelectChoice(m) for m in ("lock", "exclude", "clear")])


class CapacityForm(ActionForm):
    craftsman_id = IntegerField(validators=[DataRequired()])
    capacity = IntegerField(_l("Capacity"), validators=[NumberRange(min=0, max=50)])


class DeclineForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=300)])


def _option(value: str, label) -> SelectChoice:
    return SelectChoice(value, str(label))


def _fill_choices(form: RoundForm) -> None:
    session = db.session
    name = current_app.jinja_env.filters["localized"]  # name_zh or name_en by the page's language
    every = [_option("", _("All"))]
    regions = every + [_option(code, name if level == "province" else f"\u3000{name}")
                       for code, name, level in reference.filter_regions(session, english=is_english())]
    form.demand_region.choices = regions
    form.craftsman_region.choices = regions
    form.demand_category.choices = every + [
        _option(c.code, name(c)) for c in session.scalars(sa.select(DemandCategory).order_by(DemandCategory.sort))]
    industries = every + [_option(i.code, f"\u3000{name(i)}" if i.parent_id else name(i))
                          for i in reference.filter_industries(session)]
    form.demand_industry.choices = industries
    form.craftsman_industry.choices = industries
    form.demand_urgency.choices = every + [_option("high", _("High")), _option("medium", _("Medium")),
                                           _option("low", _("Low"))]
    form.craftsman_honour.choices = every + [_option(h.code, name(h)) for h in session.scalars(
        sa.select(HonourLevel).order_by(HonourLevel.rank.desc()))]
    form.craftsman_skill.choices = every + [_option(s.code, name(s)) for s in session.scalars(
        sa.select(Skill).where(Skill.parent_id.is_(None)).order_by(Skill.id))]


def _round(_round_id: int) -> MatchingRound:
    return current_record()  # loaded and checked by the route's policy


def _version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


def _back(rnd: MatchingRound, **args):
    return redirect(url_for("rounds.show", round_id=rnd.id, **args))


def _act(rnd: MatchingRound, form: FlaskForm, call, done: str, **back_args):
    """Validate the form, run the service, commit and flash; a ServiceError (e.g. a Conflict) is flashed."""
    if not form.validate_on_submit():
        flash(_("The request was incomplete; nothing was changed."), "error")
        return _back(rnd, **back_args)
    run_service(lambda: call(form), done)
    return _back(rnd, **back_args)


# ---------------------------------------------------------------- list, create
@bp.get("/")
@policy(STAFF)
def index():
    query = visible_to(sa.select(MatchingRound).order_by(MatchingRound.id.desc()).limit(200), current_user,
                       MatchingRound.region_id)
    return render_template("rounds/index.html", rounds=db.session.scalars(query).all())


@bp.route("/new", methods=["GET", "POST"])
@policy(EDITOR)
def create():
    form = RoundForm()
    _fill_choices(form)
    if request.method == "GET" and not form.name.data:
        form.name.data = _("Matching round %(date)s", date=local(utcnow()).strftime("%Y-%m-%d %H:%M"))
    if form.validate_on_submit():
        config = {"weights": {name: float(getattr(form, f"weight_{name}").data or 0) for name in COMPONENTS},
                  "min_score": float(form.min_score.data), "load_penalty": float(form.load_penalty.data)}
        try:
            rnd = rounds.create_round(
                db.session, name=form.name.data,
                demand_filters={"region": form.demand_region.data, "category": form.demand_category.data,
                                "industry": form.demand_industry.data, "urgency": form.demand_urgency.data},
                craftsman_filters={"region": form.craftsman_region.data, "honour": form.craftsman_honour.data,
                                   "industry": form.craftsman_industry.data, "skill": form.craftsman_skill.data},
                config=config, default_capacity=form.default_capacity.data, actor=current_user, now=utcnow())
        except ServiceError as error:
            db.session.rollback()
            for key, messages in error.as_errors().items():
                flash(f"{key}: {' '.join(messages)}" if key not in ("_schema", "name") else " ".join(messages),
                      "error")
        else:
            db.session.commit()
            flash(_("The round was created as a draft. Solve it to see proposals."), "success")
            return redirect(url_for("rounds.show", round_id=rnd.id))
    return render_template("rounds/new.html", form=form, components=COMPONENTS)


# ---------------------------------------------------------------- show, status
def _settle_stuck_solve(rnd: MatchingRound) -> jobs.Progress:
    """The solve's progress, from one look at the queue. A background solve that can never finish is recorded as
    failed, in a short writing session of its own (this is a GET), so that the page stops waiting and offers to
    solve again."""
    now = utcnow()
    progress = jobs.progress(current_app, rnd, now)
    if progress.stuck is None:
        return progress
    round_id = rnd.id
    db.session.rollback()  # end this request's read (and touch nothing until the write): SQLite's writer waits on it
    with db.new_session() as session:
        rounds.mark_solve_interrupted(session, session.get(MatchingRound, round_id), reason=str(progress.stuck),
                                      actor="system", now=now)
        session.commit()
    db.session.refresh(rnd)
    return progress


@bp.get("/<int:round_id>")
@policy(STAFF, record=ROUND)
def show(round_id: int):
    rnd = _round(round_id)
    progress = _settle_stuck_solve(rnd)
    session = db.session
    only_warnings = request.args.get("warnings") == "1"
    page = request.args.get("page", 1, type=int) or 1
    review = rounds.review_rows(session, rnd, only_warnings=only_warnings, page=page)
    engagements = []
    if rnd.status == "published":
        engagements = session.execute(
            sa.select(Engagement, EngagementMember).join(EngagementMember)
            .options(selectinload(Engagement.demand), selectinload(EngagementMember.craftsman))  # shown per row
            .where(Engagement.round_id == rnd.id).order_by(Engagement.id).limit(200)).all()
    flagged = eligibility.flagged_pairs(session, rnd)  # read once for the three checks below
    pool_changes = eligibility.changes_since_solve(session, rnd, local_today(), flagged=flagged) \
        if rnd.status == "solved" else []
    load_args = _load_table_args()
    return render_template(
        "rounds/show.html", rnd=rnd, review=review.items, total=review.total, page=review.page, pages=review.pages,
        only_warnings=only_warnings, loads=rounds.craftsman_loads(session, rnd, **load_args, flagged=flagged),
        load_query=load_args["q"],
        counts=rounds.round_counts(session, rnd, flagged), pending=rounds.pending_changes(session, rnd, flagged),
        labels=_translated(COMPONENT_LABELS), warning_labels=_translated(rounds.WARNING_LABELS), action=ActionForm(),
        engagements=engagements, decline_form=DeclineForm(), changed=rounds.change_names(session, rnd),
        progress=progress, pool_changes=pool_changes,
        progress_text=_progress_text(rnd, progress) if rnd.status in ("queued", "solving") else "",
        changed_in_pool={(change.kind, change.id): change for change in pool_changes},
        interrupted=rnd.solver_status == rounds.INTERRUPTED)


def _translated(labels: dict) -> dict[str, str]:
    """``labels`` in the page's language, translated once: a lazy label is looked up again on every use (the review
    shows each of ~400 proposals' breakdowns)."""
    return {key: str(label) for key, label in labels.items()}


def _load_table_args() -> dict:
    """The load table's search and page (``lq``, ``lpage``), apart from the review's ``page``."""
    return {"q": request.args.get("lq", "").strip()[:100], "page": request.args.get("lpage", 1, type=int) or 1}


def _back_to_load_table() -> dict:
    args = _load_table_args()
    return {"lq": args["q"] or None, "lpage": args["page"] if args["page"] > 1 else None, "_anchor": "loads"}


@bp.get("/<int:round_id>/export")
@policy(STAFF, record=ROUND)
def export(round_id: int):
    """The round's proposals and alternates with their warnings and why, as XLSX (default) or CSV (``?format=csv``),
    in the page's language."""
    rnd = _round(round_id)
    fmt = "csv" if request.args.get("format") == "csv" else "xlsx"
    header, rows = explain.round_rows(db.session, rnd)
    record_export(db.session, what="round", rows=len(rows), filters={"round": round_id}, actor=current_user,
                  now=utcnow())
    db.session.commit()
    if fmt == "csv":
        return send_file(io.BytesIO(csv_bytes(header, rows)), mimetype="text/csv", as_attachment=True,
                         download_name=f"round-{round_id}.csv")
    return send_file(io.BytesIO(single_sheet(rnd.name, header, rows)), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"round-{round_id}.xlsx")


@bp.get("/<int:round_id>/status.json")
@policy(STAFF, record=ROUND)
def status(round_id: int):
    rnd = _round(round_id)
    progress = _settle_stuck_solve(rnd)
    asked = progress.state is not None or rnd.status in ("queued", "solving")  # Redis once per request
    job = progress.state if asked else jobs.job_state(current_app, rnd.job_id)
    running = rnd.status in ("queued", "solving")
    return jsonify({"id": rnd.id, "status": rnd.status, "version": rnd.version, "objective": rnd.objective,
                    "job": job, "message": rnd.solver_message, "label": str(STATUS_LABELS.get(rnd.status, rnd.status)),
                    "progress": _progress_text(rnd, progress) if running else None})


def _progress_text(rnd: MatchingRound, progress: jobs.Progress) -> str:
    """What the progress card says of a queued or solving round; the page shows it and its script takes it from
    status.json when a worker takes the round, instead of loading the page again."""
    def clock(moment) -> str:
        return format_datetime(moment, "HH:mm:ss") if moment else "—"

    if rnd.status == "queued":
        return _("Queued since %(time)s: waiting for a free worker.", time=clock(rnd.queued_at))
    return _("Solving since %(time)s.", time=clock(progress.started_at or rnd.queued_at))


# ---------------------------------------------------------------- solve, adjust, publish
@bp.post("/<int:round_id>/solve")
@policy(EDITOR, record=ROUND)
def solve(round_id: int):
    rnd = _round(round_id)
    form = ActionForm()
    if jobs.queue_configured(current_app):
        if not form.validate_on_submit():
            abort(400)
        try:
            rounds.mark_queued(db.session, rnd, job_id=None, actor=current_user, now=utcnow(),
                               expected_version=_version())
        except ServiceError as error:
            db.session.rollback()
            flash(str(error.message), "error")
            return _back(rnd)
        db.session.commit()  # the worker must see the queued round before it starts
        try:
            rnd.job_id = jobs.enqueue_solve(current_app, rnd.id, current_user.id, keep_unaffected=_keep())
        except RedisError:
            rounds.mark_solve_interrupted(db.session, rnd, reason=_("The task queue cannot be reached."),
                                          actor=current_user, now=utcnow())
            db.session.commit()
            flash(_("The task queue cannot be reached, so the round was not solved. Try again in a moment."),
                  "error")
            return _back(rnd)
        db.session.commit()
        flash(_("The round is queued for solving."), "success")
        return _back(rnd)
    return _act(rnd, form, lambda _f: rounds.solve_round(db.session, rnd, actor=current_user, now=utcnow(),
                                                         expected_version=_version(), keep_unaffected=_keep()),
                _("The round was solved."))


def _keep() -> bool:
    """The repair after the pools moved: hold every proposal that no change touches."""
    return request.form.get("keep") == "1"


@bp.post("/<int:round_id>/pair")
@policy(EDITOR, record=ROUND)
def pair(round_id: int):
    rnd = _round(round_id)
    form = PairForm()
    done = {"lock": _("The pair is locked; re-solve to apply."), "exclude": _("The pair is excluded; re-solve to "
                                                                              "apply."),
            "clear": _("The lock or exclusion was removed.")}.get(form.mode.data or "", "")
    return _act(rnd, form, lambda f: rounds.set_pair(db.session, rnd, f.craftsman_id.data, f.demand_id.data,
                                                     f.mode.data, actor=current_user, now=utcnow(),
                                                     expected_version=_version(), alternate_role=True), done,
                **({"page": request.args["page"]} if request.args.get("page") else {}))


class PlaceForm(ActionForm):
    craftsman_id = IntegerField(validators=[DataRequired()])
    role = StringField()  # a team role's skill code; empty: the solver chooses his role


PLACE_FILTER_KEYS = ("q", "skill", "region")


def _place_filters() -> dict[str, str]:
    return {key: request.args.get(key, "").strip()[:100] for key in PLACE_FILTER_KEYS}


def _demand_of(rnd: MatchingRound, demand_id: int):
    try:
        return placing.demand_of_round(db.session, rnd, demand_id)
    except ServiceError:
        abort(404)


@bp.route("/<int:round_id>/demands/<int:demand_id>/place", methods=["GET", "POST"])
@policy(EDITOR, record=ROUND)
def place(round_id: int, demand_id: int):
    """Search the pool (name, skill, region) for a craftsman to lock onto the demand, showing who cannot be and
    why; a POST locks the chosen one, or comes back to the search with the rule that refused him."""
    rnd = _round(round_id)
    demand, slots = _demand_of(rnd, demand_id)
    filters = _place_filters()
    form = PlaceForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The request was incomplete; nothing was changed."), "error")
        elif run_service(lambda: placing.place_craftsman(
                db.session, rnd, demand_id, form.craftsman_id.data, role=(form.role.data or "").strip() or None,
                actor=current_user, now=utcnow(), expected_version=_version()), _("The craftsman is locked onto “%(title)s”; re-solve to apply.",
                                                title=demand.title)):
            return _back(rnd)
        return redirect(url_for("rounds.place", round_id=rnd.id, demand_id=demand_id,
                                **{k: v for k, v in filters.items() if v}))
    found = pool_service.list_craftsmen(db.session, filters, scope=scope(current_user), search_phones=False,
                                        page=request.args.get("page", 1, type=int) or 1, per_page=20,
                                        options=[selectinload(Craftsman.skills).selectinload(CraftsmanSkill.skill)])
    ids = [craftsman.id for craftsman in found.items]
    return render_template(
        "rounds/place.html", rnd=rnd, demand=demand, slots=slots, found=found, filters=filters,
        obstacles=placing.obstacles(db.session, rnd, demand_id, ids, today=local_today()),
        members=placing.in_round(db.session, rnd, ids), form=form,
        regions=reference.filter_regions(db.session, english=is_english()),
        skills=db.session.scalars(sa.select(Skill).where(Skill.parent_id.is_(None)).order_by(Skill.id)).all())


@bp.post("/<int:round_id>/capacity")
@policy(EDITOR, record=ROUND)
def capacity(round_id: int):
    rnd = _round(round_id)
    return _act(rnd, CapacityForm(), lambda f: rounds.set_capacity(
        db.session, rnd, f.craftsman_id.data, f.capacity.data, actor=current_user, now=utcnow(),
        expected_version=_version()), _("The capacity was changed; re-solve to apply."), **_back_to_load_table())


@bp.post("/<int:round_id>/publish")
@policy(EDITOR, record=ROUND)
def publish(round_id: int):
    rnd = _round(round_id)
    if not ActionForm().validate_on_submit():
        flash(_("The request was incomplete; nothing was changed."), "error")
        return _back(rnd)
    try:
        done = rounds.publish_round(db.session, rnd, actor=current_user, now=utcnow(), expected_version=_version())
    except ServiceError as error:  # RoundOutdated too: the page lists what changed beside a re-solve button
        db.session.rollback()
        flash(str(error.message), "error")
        return _back(rnd)
    db.session.commit()
    if done.already_published:
        flash(_("This round was already published on %(date)s by %(name)s; nothing new was created.",
                date=format_datetime(done.published_at, "yyyy-MM-dd HH:mm"),
                name=done.published_by or _("the system")), "info")
    else:
        flash(_("The round is published: engagements created: %(n)d; the notifications are in the outbox.",
                n=done.created), "success")
    return _back(rnd)


@bp.post("/members/<int:member_id>/decline")
@policy(EDITOR, record=ROUND_MEMBER)
def decline(member_id: int):
    member = current_record()
    if member.engagement.round_id is None:
        abort(404)
    rnd = db.session.get(MatchingRound, member.engagement.round_id)
    return _act(rnd, DeclineForm(), lambda f: rounds.decline_member(
        db.session, member, reason=f.reason.data, actor=current_user, now=utcnow()),
        _("The decline was recorded; the demand is open again and this pair will not be proposed again."))


# ---------------------------------------------------------------- outbox
RECIPIENT_LABELS = {"enterprise": _l("Enterprise"), "craftsman": _l("Craftsman")}
CHANNEL_LABELS = {"sms": _l("SMS"), "email": _l("E-mail")}
RETRYING = _l("Waiting to retry")


def status_label(message: Notification) -> str:
    """The status in words: a pending message that failed before waits for its retry."""
    if message.status == "pending" and message.attempts:
        return str(RETRYING)
    return str(NOTIFICATION_LABELS.get(message.status, message.status))


class SendForm(FlaskForm):
    """Sending asks first: the confirmation page carries the number it showed, and a changed number asks again."""

    count = IntegerField(validators=[DataRequired(), NumberRange(min=1)])


def _visible_messages() -> sa.ColumnElement[bool]:
    """The messages of the rounds the user's region covers (province-wide staff: every message)."""
    if scope(current_user) is None:
        return sa.true()
    of_rounds = Notification.round_id.in_(visible_to(sa.select(MatchingRound.id), current_user, MatchingRound.region_id))
    # a message outside any round (the tracking code of a demand entered by staff) goes by its enterprise's region
    tracking_codes = sa.and_(Notification.round_id.is_(None), Notification.recipient_kind == "enterprise",
                             Notification.recipient_id.in_(visible_to(sa.select(Enterprise.id), current_user,
                                                                      Enterprise.region_id)))
    return sa.or_(of_rounds, tracking_codes)


def _outbox_where(round_id: int | None) -> sa.ColumnElement[bool]:
    visible = _visible_messages()
    return sa.and_(visible, Notification.round_id == round_id) if round_id else visible


def _outbox_query(round_id: int | None):
    return sa.select(Notification).where(_outbox_where(round_id)).order_by(Notification.id.desc())


def _rounds_of(messages) -> dict[int, MatchingRound]:
    ids = {n.round_id for n in messages if n.round_id is not None}
    return {r.id: r for r in db.session.scalars(sa.select(MatchingRound).where(MatchingRound.id.in_(ids)))}


@bp.get("/outbox")
@policy(STAFF)
def outbox():
    round_id = request.args.get("round", type=int)
    messages = db.session.scalars(_outbox_query(round_id).limit(500)).all()
    return render_template("rounds/outbox.html", messages=messages, round_id=round_id, rounds_by_id=_rounds_of(messages),
                           names=notifications.recipient_names(db.session, messages),
                           recipient_labels=RECIPIENT_LABELS, channel_labels=CHANNEL_LABELS, status_label=status_label,
                           due=notifications.count_due(db.session, now=utcnow(), where=_outbox_where(round_id)),
                           failed=db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
                               Notification.status == "failed", _outbox_where(round_id))),
                           form=FlaskForm())


@bp.get("/outbox.xlsx")
@policy(EDITOR)  # recipients' mobile numbers: not for read-only viewers
def outbox_export():
    round_id = request.args.get("round", type=int)
    messages = db.session.scalars(_outbox_query(round_id)).all()
    names = notifications.recipient_names(db.session, messages)
    rounds_by_id = _rounds_of(messages)
    rows = [[n.id, rounds_by_id[n.round_id].name if n.round_id in rounds_by_id else "",
             str(RECIPIENT_LABELS[n.recipient_kind]), names.get((n.recipient_kind, n.recipient_id), ""),
             str(CHANNEL_LABELS.get(n.channel, n.channel)), n.address, n.subject, n.body, status_label(n),
             n.attempts, n.last_error or "", n.created_at, n.sent_at] for n in messages]
    record_export(db.session, what="outbox", rows=len(rows), filters={"round": round_id}, actor=current_user,
                  now=utcnow())
    db.session.commit()
    header = ["编号 / id", "轮次 / round", "对象 / recipient", "名称 / name", "渠道 / channel",
              "地址 / address", "主题 / subject", "内容 / body", "状态 / status", "尝试次数 / attempts",
              "最近错误 / last error", "创建 / created", "发送 / sent"]
    return send_file(io.BytesIO(single_sheet("outbox 通知", header, rows)), mimetype=XLSX_MIMETYPE,
                     as_attachment=True, download_name="notifications.xlsx")


@bp.get("/outbox/send")
@policy(EDITOR)
def outbox_confirm():
    round_id = request.args.get("round", type=int)
    count = notifications.count_due(db.session, now=utcnow(), where=_outbox_where(round_id))
    form = SendForm(count=count)
    rnd = db.session.get(MatchingRound, round_id) if round_id else None
    return render_template("rounds/outbox_confirm.html", form=form, count=count, round_id=round_id, rnd=rnd)


@bp.post("/outbox/send")
@policy(EDITOR)
def outbox_send():
    round_id = request.args.get("round", type=int)
    form = SendForm()
    if not form.validate_on_submit():
        flash(_("Confirm the number of messages to send first."), "error")
        return redirect(url_for("rounds.outbox_confirm", round=round_id))
    now = utcnow()
    where = _outbox_where(round_id)
    if notifications.count_due(db.session, now=now, where=where) != form.count.data:
        flash(_("The number of messages waiting changed since you confirmed; nothing was sent. "
                "Check the number and confirm again."), "error")
        return redirect(url_for("rounds.outbox_confirm", round=round_id))
    backend = notifications.backend_from_config(current_app.config)
    sent, failed = send_outbox(db.session, _visible_messages(), round_id=round_id, backend=backend,
                               actor=current_user, now=now,
                               retry=notifications.RetryPolicy.from_config(current_app.config))
    db.session.commit()
    if failed:
        flash(_("%(sent)d messages sent, %(failed)d failed; failed messages are retried later (see their "
                "status and error below).", sent=sent, failed=failed), "error")
    else:
        flash(_("%(sent)d messages sent.", sent=sent), "success")
    return redirect(url_for("rounds.outbox", round=round_id))  # url_for leaves out a None round


@bp.post("/outbox/requeue")
@policy(EDITOR)
def outbox_requeue():
    round_id = request.args.get("round", type=int)
    if not FlaskForm().validate_on_submit():
        abort(400)
    requeued = notifications.requeue_failed(db.session, where=_outbox_where(round_id), actor=current_user,
                                            now=utcnow())
    db.session.commit()
    flash(_("%(n)d failed messages are back in the queue; send them when ready.", n=requeued), "success")
    return redirect(url_for("rounds.outbox", round=round_id))
