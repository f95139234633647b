"""Jinja helpers shared by every page: locale switch, labels of coded values."""

from __future__ import annotations

from flask import Flask, current_app, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from web import navigation
from web.policy import EDITOR, ROLES_FOR, covers, may_open
from web.services import points
from web.services.masks import mask_phone, mask_phones_in


def _registered(entries):
    return [(endpoint, label) for endpoint, label in entries if endpoint in current_app.view_functions]


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def inject_locale():
        def switch_locale_url(locale: str) -> str:
            args = dict(request.view_args or {})
            args.update(request.args.to_dict())
            args["lang"] = locale
            return url_for(request.endpoint or "public.index", **args)

        current = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        return {
            "current_locale": current,
            "switch_locale_url": switch_locale_url,
            "public_nav_links": lambda: _registered(navigation.PUBLIC_NAV),
            "public_action_links": lambda: _registered(navigation.PUBLIC_ACTIONS),
            # a viewer's or a coordinator's menu does not lead to a page that refuses him (API tokens: admins)
            "workspace_nav_links": lambda: [(endpoint, label) for endpoint, label in _registered(navigation.WORKSPACE_NAV)
                                            if may_open(app, endpoint)],
        }

    @app.template_filter("localized")
    def localized(entity, field: str = "name") -> str:
        """``name_zh`` or ``name_en`` of a taxonomy row, by the current locale."""
        if entity is None:
            return ""
        locale = str(get_locale() or "zh_CN")
        suffix = "en" if locale.startswith("en") else "zh"
        return getattr(entity, f"{field}_{suffix}", None) or getattr(entity, f"{field}_zh", "")

    @app.template_filter("region_name")
    def region_name(region, full: bool = False) -> str:
        """A region's name in the page's language (its English name once the seeds gave it one)."""
        if region is None:
            return ""
        if str(get_locale() or "zh_CN").startswith("en"):
            return region.full_name_en if full else (region.name_en or region.name)
        return region.full_name if full else region.name

    app.add_template_filter(points.explanation, "points_explanation")  # a points entry's text, translated

    def sees_full_numbers(region_id: int | None) -> bool:
        return bool(current_user and current_user.is_authenticated and current_user.role in ROLES_FOR[EDITOR]
                    and covers(current_user, region_id))

    @app.template_filter("masked_phone")
    def masked_phone(phone: str | None, region_id: int | None) -> str:
        """The full number for a coordinator or admin whose region covers ``region_id``; masked for everyone else."""
        return phone or "" if sees_full_numbers(region_id) else mask_phone(phone)

    @app.template_filter("masked_phones")
    def masked_phones(text: str | None, region_id: int | None) -> str:
        """A text (a message's body names the enterprise's contact) with every mobile number in it as
        ``masked_phone`` shows one."""
        return text or "" if sees_full_numbers(region_id) else mask_phones_in(text)
