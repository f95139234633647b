"""Build the zh_CN catalog from the source strings and the per-feature translation fragments.

Each feature keeps its translations in ``web/translations/fragments/<feature>.json``
({English msgid: Chinese}), so that parallel work never edits one shared file. This tool
extracts the msgids from the code and templates, fills them from the fragments, and writes
``zh_Hans_CN/LC_MESSAGES/messages.po`` and the compiled ``.mo``. Run: ``python -m web.i18n_catalog``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

WEB_DIR = Path(__file__).resolve().parent
TRANSLATIONS_DIR = WEB_DIR / "translations"
FRAGMENTS_DIR = TRANSLATIONS_DIR / "fragments"
# Babel parses "zh_CN" as zh_Hans_CN and looks the catalog up under that name.
LOCALE = "zh_Hans_CN"
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None}


def source_messages() -> dict[str, list[tuple[str, int]]]:
    """msgid → places it occurs (file, line)."""
    found: dict[str, list[tuple[str, int]]] = {}
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.do", "trimmed": "false"}}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        WEB_DIR, METHOD_MAP, options_map=options, keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            found.setdefault(message, []).append((filename, lineno))
    return found


def fragment_translations() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(FRAGMENTS_DIR.glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def build_catalog() -> tuple[Catalog, list[str]]:
    """The catalog for zh_CN and the msgids that have no translation yet."""
    messages = source_messages()
    translations = fragment_translations()
    catalog = Catalog(locale=LOCALE, domain="messages", project="craftmatch", fuzzy=False)
    missing = []
    for msgid in sorted(messages):
        translated = translations.get(msgid, "")
        if not translated:
            missing.append(msgid)
        catalog.add(msgid, translated, locations=sorted(set(messages[msgid])))
    return catalog, missing


def write_catalog(catalog: Catalog) -> None:
    target = TRANSLATIONS_DIR / LOCALE / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "messages.po", "wb") as po_file:
        write_po(po_file, catalog, width=120, omit_header=False, sort_output=True, include_lineno=False)
    with open(target / "messages.mo", "wb") as mo_file:
        write_mo(mo_file, catalog)


def main() -> int:
    catalog, missing = build_catalog()
    write_catalog(catalog)
    print(f"{LOCALE}: {len(catalog) - len(missing)} of {len(catalog)} messages translated")
    for msgid in missing:
        print(f"  missing: {msgid!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
