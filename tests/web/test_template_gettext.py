"""A template's ``_`` finds its catalogue once per render, and in the locale in force when the render began."""

from __future__ import annotations

from flask import render_template_string
from flask_babel import force_locale

from web import i18n

PAGE = "{{ _('Lock') }} / {{ _('Unlock') }}"


def test_a_render_looks_its_catalogue_up_once(app, monkeypatch):
    looked_up = []
    original = i18n.get_translations

    def counted():
        looked_up.append(1)
        return original()

    monkeypatch.setattr(i18n, "get_translations", counted)
    with app.test_request_context("/?lang=en"):
        assert render_template_string(PAGE) == "Lock / Unlock"
    assert len(looked_up) == 1


def test_the_catalogue_is_that_of_the_locale_in_force_when_the_render_begins(app):
    with app.test_request_context("/"):
        assert render_template_string(PAGE) == "锁定 / 取消锁定"
        with force_locale("en"):
            assert render_template_string(PAGE) == "Lock / Unlock"
        assert render_template_string(PAGE) == "锁定 / 取消锁定"
