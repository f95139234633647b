"""The ``craftmatch`` command group: db, seed, user, solve, round, worker and the rest below.

Each command is an entry point: it opens a session, calls services, and commits once.
"""

from __future__ import annotations

import contextlib
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from web.clock import utcnow
from web.extensions import db


def main() -> None:
    from web import create_app
    from web.heap import malloc_as_after_a_round, numpy_without_hugepages

    numpy_without_hugepages()  # before the app imports numpy
    malloc_as_after_a_round()

    cli = FlaskGroup(create_app=lambda: create_app(), add_default_commands=True,
                     help="craftmatch: craftsmen help enterprises (劳模工匠助企行).")
    cli.main(prog_name="craftmatch")


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(seed_group)
    app.cli.add_command(user_group)
    app.cli.add_command(solve_command)
    app.cli.add_command(round_group)
    app.cli.add_command(followup_group)
    app.cli.add_command(import_group)
    app.cli.add_command(token_group)
    app.cli.add_command(worker_command)


@click.group("db", cls=AppGroup, help="Database schema (alembic migrations).")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Upgrade the database to a revision (default: the latest).")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    from web import migrate

    migrate.upgrade(current_app.config["DATABASE_URL"], revision)


@db_group.command("downgrade", help="Downgrade the database to REVISION ('base' removes every table).")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    from web import migrate

    migrate.downgrade(current_app.config["DATABASE_URL"], revision)


@db_group.command("current", help="Show the database's current revision.")
def db_current() -> None:
    from web import migrate

    migrate.current(current_app.config["DATABASE_URL"])


@db_group.command("rebuild-summaries", help="Recompute the report summaries from the rows (the triggers keep "
                  "them exact; for a database whose triggers were off, e.g. restored without them).")
def db_rebuild_summaries() -> None:
    from web.services import summaries

    summaries.rebuild(db.session)
    db.session.commit()
    click.echo("report summaries rebuilt (报表汇总已重建)")


@click.group("seed", cls=AppGroup, help="Load reference data and demo or synthetic pools.")
def seed_group() -> None:
    pass


@seed_group.command("demo", help="Load reference data and the demo pools (idempotent).")
@click.option("--if-empty", is_flag=True, help="Do nothing if craftsmen already exist.")
def seed_demo(if_empty: bool) -> None:
    from web.services import seeding

    session = db.session
    if if_empty and seeding.has_pool_data(session):
        click.echo("The pools already hold data; demo seeds not loaded. (数据库已有数据，未加载演示数据)")
        if seeding.demo_users_exist(session):
            click.echo(f"demo login: {seeding.DEMO_USERS[0][0]} / {seeding.DEMO_PASSWORD}")
        return
    # the logins first: the demo engagements are the demo coordinator's
    logins = seeding.ensure_demo_users(session, now=utcnow(), production=current_app.config["ENV"] == "production")
    report = seeding.load_demo(session, now=utcnow())
    session.commit()
    click.echo(report.summary())
    for username, password, role in logins:
        click.echo(f"demo login ({role}): {username} / {password}")


@seed_group.command("reference", help="Load only the reference data (regions, taxonomies, honours); no demo pools. "
                                       "Idempotent.")
def seed_reference() -> None:
    from web.services import seeding

    with _database_ready():
        report = seeding.load_reference(db.session)
        db.session.commit()
    click.echo(report.summary())


@seed_group.command("synthetic", help="Add a large generated pool (for benchmarks).")
@click.option("--craftsmen", "n_craftsmen", type=click.IntRange(0, 200_000), default=5000, show_default=True)
@click.option("--demands", "n_demands", type=click.IntRange(0, 100_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
def seed_synthetic(n_craftsmen: int, n_demands: int, seed: int) -> None:
    from web.services import seeding

    session = db.session
    report = seeding.load_synthetic(session, n_craftsmen=n_craftsmen, n_demands=n_demands, seed=seed, now=utcnow())
    session.commit()
    click.echo(report.summary())


@click.group("user", cls=AppGroup, help="Staff accounts.")
def user_group() -> None:
    pass


@user_group.command("create", help="Create a staff account; the password is prompted (or read from stdin).")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "coordinator", "viewer"]), required=True)
@click.option("--display-name", default=None)
@click.option("--region", "region_code", default=None, help="Limit a coordinator to this region code.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(username: str, role: str, display_name: str | None, region_code: str | None,
                password_stdin: bool) -> None:
    from web.services.errors import ServiceError
    from web.services.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        create_user(db.session, username=username, password=password, role=role, actor="cli", now=utcnow(),
                    display_name=display_name, region_code=region_code)
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from None
    db.session.commit()
    click.echo(f"created {role} {username}")


@user_group.command("contact-phone", help="Set the phone number USERNAME's outbox messages give as the liaison's "
                                          "(empty to remove).")
@click.argument("username")
@click.argument("phone")
def user_contact_phone(username: str, phone: str) -> None:
    from sqlalchemy import select

    from web.models import User
    from web.services.errors import ServiceError
    from web.services.users import set_contact_phone

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no account {username}")
    try:
        set_contact_phone(db.session, user, phone=phone, actor="cli", now=utcnow())
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from None
    db.session.commit()
    click.echo(f"{username}: contact phone {phone or '(none)'}")


@click.command("solve", help="Solve a matching problem given as JSON (see README); writes the result as JSON.")
@click.argument("input_path", metavar="IN.json")
@click.option("-o", "--output", "output_path", default=None, metavar="OUT.json")
def solve_command(input_path: str, output_path: str | None) -> None:
    from matching.__main__ import main as solve_main

    argv = [input_path] + (["-o", output_path] if output_path else [])
    sys.exit(solve_main(argv))


@click.group("round", cls=AppGroup, help="Matching rounds for scripted runs: create, solve, publish.")
def round_group() -> None:
    pass


def _round_call(call):
    """Run a rounds service as the "cli" actor, commit once; a ServiceError (bad input) becomes one line on
    stderr and exit status 2."""
    from web.services.errors import ServiceError

    try:
        value = call()
    except ServiceError as error:
        db.session.rollback()
        details = "".join(f"; {line}" for lines in error.as_errors().values() for line in lines
                          if line != str(error.message))
        raise BadInput(" ".join((str(error.message) + details).split())) from None
    db.session.commit()
    return value


@round_group.command("create", help="Create a draft round over the open demands and active craftsmen.")
@click.option("--name", required=True)
@click.option("--demand-region", default="", help="Only demands of this region code (and below).")
@click.option("--craftsman-region", default="", help="Only craftsmen of this region code (and below).")
@click.option("--config", "config_json", default="{}", help='Round settings as JSON, e.g. {"min_score": 0.3}.')
@click.option("--capacity", type=click.IntRange(0, 50), default=None, help="Capacity of every craftsman.")
def round_create(name: str, demand_region: str, craftsman_region: str, config_json: str,
                 capacity: int | None) -> None:
    import json

    from web.services import rounds

    try:
        config = json.loads(config_json)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--config") from None
    if not isinstance(config, dict):
        raise click.BadParameter('a JSON object is expected, e.g. {"min_score": 0.3}', param_hint="--config")
    rnd = _round_call(lambda: rounds.create_round(
        db.session, name=name, demand_filters={"region": demand_region},
        craftsman_filters={"region": craftsman_region}, config=config,
        default_capacity=capacity, actor="cli", now=utcnow()))
    counts = rounds.round_counts(db.session, rnd)
    click.echo(f"round {rnd.id}: {counts['demands']} demands, {counts['craftsmen']} craftsmen (draft)")
    click.echo(rnd.id)  # the last line: the id alone, for scripts


@round_group.command("solve", help="Solve (or re-solve) round ROUND_ID in this process.")
@click.argument("round_id", type=int)
def round_solve(round_id: int) -> None:
    from web.services import rounds

    rnd = _round_call(lambda: rounds.get_round(db.session, round_id))
    result = _round_call(lambda: rounds.solve_round(db.session, rnd, actor="cli", now=utcnow()))
    timings = rnd.metrics["timings"]
    click.echo(f"round {round_id}: {result.status}, objective {result.objective}, "
               f"{len(result.assignments)} pairs, {len(result.unfilled)} demands short; "
               + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    if result.status != "optimal":
        raise click.ClickException(result.message or result.status)


@round_group.command("show", help="Show round ROUND_ID's proposals (who fills which role) and open places.")
@click.argument("round_id")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object (for scripts).")
def round_show(round_id: str, as_json: bool) -> None:
    import json

    from web.services import rounds
    from web.services.round_report import round_report

    if not round_id.strip().isdigit():
        raise BadInput(f"ROUND_ID must be a round's number (as `craftmatch round create` prints it), not {round_id!r}")
    rnd = _round_call(lambda: rounds.get_round(db.session, int(round_id)))
    report = round_report(db.session, rnd)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"round {report['round']}: {report['status']}, {len(report['proposals'])} pairs")
    for p in report["proposals"]:
        role = f" [{p['role']}]" if p["role"] else ""
        click.echo(f"  {p['tracking_code']} {p['demand_title']}{role}: {p['craftsman_name']} ({p['score']:.3f}; {p['why']})")
    for gap in report["unfilled"]:
        role = f" [{gap['role']}]" if gap["role"] else ""
        click.echo(f"  open: {gap['demand_title']}{role}: {gap['reason']}")


@round_group.command("publish", help="Publish round ROUND_ID: engagements, matched demands, notifications.")
@click.argument("round_id", type=int)
def round_publish(round_id: int) -> None:
    from web.services import rounds

    rnd = _round_call(lambda: rounds.get_round(db.session, round_id))
    done = _round_call(lambda: rounds.publish_round(db.session, rnd, actor="cli", now=utcnow()))
    if done.already_published:
        click.echo(f"round {round_id}: already published on {done.published_at:%Y-%m-%d %H:%M} UTC"
                   f"{' by ' + done.published_by if done.published_by else ''}; nothing new created")
    else:
        click.echo(f"round {round_id}: published, {done.created} engagements created")


@round_group.command("send-outbox", help="Send the outbox's due messages (the rounds' and the tracking codes of demands "
                                        "entered by staff): new ones, and failed ones whose retry wait is over (run it "
                                        "from cron so failures are retried).")
@click.option("--round", "round_id", type=int, default=None, help="Only this round's messages.")
def round_send_outbox(round_id: int | None) -> None:
    import sqlalchemy as sa

    from web.services import notifications
    from web.services.personal_data import send_outbox

    sent, failed = _round_call(lambda: send_outbox(
        db.session, sa.true(), round_id=round_id, actor="cli", now=utcnow(),
        backend=notifications.backend_from_config(current_app.config),
        retry=notifications.RetryPolicy.from_config(current_app.config)))
    click.echo(f"{sent} sent, {failed} failed (retried later, or marked failed after the last attempt)")


@click.group("followup", cls=AppGroup, help="The engagement loop: ratings into points, the points ledger.")
def followup_group() -> None:
    pass


@followup_group.command("sync-feedback", help="Apply new enterprise ratings: engagements evaluated, points for 4-5.")
def followup_sync_feedback() -> None:
    from web.services import engagements

    count = engagements.sync_feedback(db.session, actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"ratings applied: {count}")


@followup_group.command("open-ledgers", help="Explain imported point balances with an opening ledger entry.")
def followup_open_ledgers() -> None:
    from web.services import points

    count = points.open_ledgers(db.session, actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"opening entries written: {count}")


@followup_group.command("check-points", help="List craftsmen whose balance is not the sum of their ledger.")
def followup_check_points() -> None:
    from web.services import points

    rows = points.mismatches(db.session)
    for craftsman_id, balance, total in rows:
        click.echo(f"craftsman {craftsman_id}: balance {balance}, ledger {total}")
    click.echo(f"mismatches: {len(rows)}")
    if rows:
        sys.exit(1)


@click.group("import", cls=AppGroup, help="Import craftsmen or demands from a sheet (XLSX or CSV, Chinese or "
                                           "English headers as in the web templates); clean up staged uploads.")
def import_group() -> None:
    pass


@contextlib.contextmanager
def _database_ready():
    """A database that is missing or not migrated is one line and exit 2, not a traceback."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        yield
    except (OperationalError, ProgrammingError) as error:
        db.session.rollback()
        reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
        raise BadInput(f"the database is not ready (run `craftmatch db upgrade` first): {reason}") from None


def _import_sheet(path: str, skip_bad_rows: bool, preview, apply):
    """Read FILE, check every row, and write all rows or nothing (unless --skip-bad-rows); bad rows are
    listed by row and column in Chinese and English on stderr, and bad input exits 2."""
    from web.services.errors import ServiceError
    from web.services.importing import bilingual

    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror or error}") from None
    with _database_ready():
        try:
            report = preview(content)
            for error in report.errors[:200]:
                click.echo(f"{error.text_zh} | {error.text_en}", err=True)
            if len(report.errors) > 200:
                click.echo(f"… {len(report.errors) - 200} more errors", err=True)
            if report.errors and not skip_bad_rows:
                raise BadInput(f"{report.error_rows} rows have errors; nothing was written "
                               f"(fix them, or pass --skip-bad-rows to import the other rows).")
            report = apply(content)
        except ServiceError as error:  # the file as a whole is refused (format, size, header)
            db.session.rollback()
            zh, en = bilingual(error.message)
            raise BadInput(zh if zh == en else f"{zh} / {en}") from None
    db.session.commit()
    return report


@import_group.command("craftsmen", help="Import craftsmen from FILE (.xlsx or .csv): new ones added, known ones "
                                        "(same mobile, or name and employer) updated.")
@click.argument("path", metavar="FILE")
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows even if some rows have errors.")
def import_craftsmen(path: str, skip_bad_rows: bool) -> None:
    from web.services import importing

    report = _import_sheet(path, skip_bad_rows, lambda content: importing.preview_import(db.session, content, path),
                           lambda content: importing.apply_import(db.session, content, path, skip_invalid=True,
                                                                  actor="cli", now=utcnow()))
    click.echo(f"craftsmen: {report.create} added, {report.update} updated, {report.unchanged} unchanged, "
               f"{report.skipped_rows} rows skipped")


@import_group.command("demands", help="Import enterprise demands from FILE (.xlsx or .csv), checked as the public "
                                      "form checks them; a demand imported before is not added again.")
@click.argument("path", metavar="FILE")
@click.option("--approve", is_flag=True, help="Approve the new demands: open for the next matching round.")
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows even if some rows have errors.")
def import_demands(path: str, approve: bool, skip_bad_rows: bool) -> None:
    from web.services import demand_import

    report = _import_sheet(path, skip_bad_rows,
                           lambda content: demand_import.preview_demands(db.session, content, path),
                           lambda content: demand_import.apply_demands(db.session, content, path, skip_invalid=True,
                                                                       approve=approve, actor="cli", now=utcnow()))
    click.echo(f"demands: {report.create} added{' and approved (open for matching)' if approve else ''}, "
               f"{report.unchanged} already imported, {report.skipped_rows} rows skipped")


@import_group.command("cleanup", help="Delete import uploads (and their parsed rows) never confirmed.")
@click.option("--older-than-hours", type=click.IntRange(min=0), default=24, show_default=True)
def import_cleanup(older_than_hours: int) -> None:
    import datetime as dt

    from web.services import importing

    removed = importing.cleanup_stashes(importing.staging_directory(current_app.config["UPLOAD_DIR"]),
                                        now=utcnow(), max_age=dt.timedelta(hours=older_than_hours))
    click.echo(f"import files deleted: {removed}")


class BadInput(click.ClickException):
    """Bad input on the command line: one line on stderr, exit status 2 (as click's own usage errors)."""

    exit_code = 2


@click.group("token", cls=AppGroup, help="API tokens for tools calling /api/v1: issue, list, revoke.")
def token_group() -> None:
    pass


@contextlib.contextmanager
def _bad_input_exits_2():
    """A tokens service's refusal becomes one line on stderr and exit status 2; nothing is written."""
    from web.services.errors import ServiceError

    try:
        yield
    except ServiceError as error:
        db.session.rollback()
        raise BadInput(" ".join(" ".join(messages) for messages in error.as_errors().values())) from None


@token_group.command("issue", help="Issue a token for USERNAME; its clear text is printed once.")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. the tool's name.")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope (repeatable), e.g. solve.")
@click.option("--days", type=int, default=None, help="Days until it expires (default 90, at most 365).")
def token_issue(username: str, name: str, scopes: tuple[str, ...], days: int | None) -> None:
    from web.services import tokens

    with _bad_input_exits_2():
        user = tokens.account_named(db.session, username)
        token, clear = tokens.issue_token(db.session, user=user, name=name, scopes=scopes, days=days, actor="cli",
                                          now=utcnow())
    db.session.commit()
    click.echo(f"token {token.id} for {username} ({token.scopes}), expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
    click.echo("shown once, store it now:")
    click.echo(clear)


@token_group.command("list", help="List every token: id, prefix, account, scopes, dates, status.")
def token_list() -> None:
    from web.services import tokens

    now = utcnow()

    def when(value) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else "-"

    rows = tokens.list_tokens(db.session)
    for token in rows:
        click.echo("\t".join([str(token.id), f"{token.prefix or '-'}…", token.user.username, token.name,
                              token.scopes or "-", f"created {when(token.created_at)}",
                              f"expires {when(token.expires_at)}", f"last used {when(token.last_used_at)}",
                              tokens.token_state(token, now)]))
    click.echo(f"tokens: {len(rows)}")


@token_group.command("revoke", help="Revoke token TOKEN_ID (see token list); it stops working at once.")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    from web.services import tokens

    with _bad_input_exits_2():
        token = tokens.get_token(db.session, token_id)
        tokens.revoke_token(db.session, token, actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"token {token_id} ({token.prefix}…, {token.name}) revoked")



@click.command("worker", help="Solve queued matching rounds (CRAFTMATCH_REDIS_URL) one after another in this "
                              "process, which keeps what a re-solve reuses.")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@click.option("--job-monitoring-interval", type=click.IntRange(1, 3600), default=30, show_default=True,
              help="Seconds between a running job's heartbeats.")
@with_appcontext
def worker_command(burst: bool, job_monitoring_interval: int) -> None:
    from web.heap import freeze_startup_objects
    from web.services import jobs
    from web.worker import SolveWorker

    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        raise click.UsageError("CRAFTMATCH_REDIS_URL is not set: rounds are solved in the web process, no worker "
                               "is needed. / 未设置 CRAFTMATCH_REDIS_URL：匹配轮次在网站进程内求解，无需后台进程。")
    # the app the web's jobs name (see jobs.enqueue_solve), built now with all it imports (the solver among them)
    jobs.job_app(current_app.config["DATABASE_URL"])
    if not burst:  # a worker that lives on: what it holds now stays out of the collector (as gunicorn's workers)
        freeze_startup_objects()
    queue = jobs.queue(redis_url)
    SolveWorker([queue], connection=queue.connection, job_monitoring_interval=job_monitoring_interval).work(burst=burst)
