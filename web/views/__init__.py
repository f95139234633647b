"""HTML blueprints: public (enterprises), auth, coordinator workspace."""

from __future__ import annotations

from flask import Flask


def register_views(app: Flask) -> None:
    from web import policy

    policy.init_app(app)  # every endpoint must declare who may call it (fails closed otherwise)
    from web.views.auth import bp as auth_bp
    from web.views.coordinator import bp as coordinator_bp
    from web.views.public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(coordinator_bp)

    from web.views.pool import bp as pool_bp

    app.register_blueprint(pool_bp)

    from web.views.rounds import bp as rounds_bp

    app.register_blueprint(rounds_bp)

    from web.views.outcomes import bp as outcomes_bp

    app.register_blueprint(outcomes_bp)

    from web.views.engagements import bp as engagements_bp

    app.register_blueprint(engagements_bp)

    from web.views.demands import bp as demands_bp
    from web.views.intake import bp as intake_bp

    app.register_blueprint(intake_bp)
    app.register_blueprint(demands_bp)

    from web.views.staff_intake import bp as staff_intake_bp

    app.register_blueprint(staff_intake_bp)

    from web.views.reports import bp as reports_bp

    app.register_blueprint(reports_bp)

    from web.views.admin_tokens import bp as admin_tokens_bp

    app.register_blueprint(admin_tokens_bp)
