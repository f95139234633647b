"""Every user-visible string has its Chinese translation, and the compiled catalog is up to date."""

from __future__ import annotations

from babel.messages.mofile import read_mo

from web import i18n_catalog


def test_every_source_string_has_a_chinese_translation():
    _catalog, missing = i18n_catalog.build_catalog()
    assert missing == [], f"add these to a fragment in web/translations/fragments/: {missing[:20]}"


def test_compiled_catalog_matches_sources_and_fragments():
    expected, _missing = i18n_catalog.build_catalog()
    mo_path = i18n_catalog.TRANSLATIONS_DIR / i18n_catalog.LOCALE / "LC_MESSAGES" / "messages.mo"
    with open(mo_path, "rb") as mo_file:
        compiled = read_mo(mo_file)
    stale = [message.id for message in expected if message.id and
             (compiled.get(message.id) is None or compiled.get(message.id).string != message.string)]
    assert stale == [], f"run `make translations`: {stale[:10]}"


def test_fragments_keep_placeholders():
    for msgid, translated in i18n_catalog.fragment_translations().items():
        for placeholder in _placeholders(msgid):
            assert placeholder in translated, f"{msgid!r} → {translated!r} lost {placeholder}"


def _placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"%\([a-z_]+\)[sd]", text)


def test_fragments_have_no_stray_percent_sign():
    # Jinja's gettext always applies ``%`` formatting: a bare "%" in a translation crashes the page.
    import re

    stray = re.compile(r"%(?!\([a-z_]+\)(?:\.\d+)?[sdf]|%)")
    offenders = {msgid: text for msgid, text in i18n_catalog.fragment_translations().items() if stray.search(text)}
    assert offenders == {}, "use the full-width ％ or a placeholder"


# Chinese words a user types into a field or sheet, quoted in the English hint that asks for them
TYPED_WORDS = {"焊接", "数控铣", "线下", "线上", "混合", "高", "中", "低"}


def test_english_source_strings_are_plain_english():
    # The page crawl in test_english_pages.py lets a Han run through when seeded user data contains it (万元
    # does), so the English source strings themselves are checked: no Chinese gloss beside the English.
    import re

    han = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
    glossed = {msgid: runs for msgid in i18n_catalog.source_messages()
               if (runs := set(han.findall(msgid)) - TYPED_WORDS)}
    assert glossed == {}, "write these in plain English; the Chinese goes in a fragment"
