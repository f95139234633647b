"""JSON columns are read by orjson (a review page reads hundreds of breakdowns) with the same values as the
standard library's parser, on both databases."""

from __future__ import annotations

import json

import orjson
import pytest
import sqlalchemy as sa

from web import db as web_db
from web.db import json_loads


@pytest.mark.parametrize("text", ['{"score": 0.1, "names": ["焊接", "x"], "n": 3}', "[NaN, Infinity]",
                                  "[123456789012345678901234567890]", "[-9999999999999999999, 18446744073709551615]",
                                  "[0.30000000000000004, 1.2345678901234567e-05]", '["\\ud800"]'])
def test_a_json_text_reads_as_the_standard_library_reads_it(text):
    # orjson reads integers beyond 64 bits as floats and refuses NaN and lone surrogates
    assert repr(json_loads(text)) == repr(json.loads(text))


def test_the_database_hands_json_columns_to_orjson(engine, monkeypatch):
    parsed = []
    parse = orjson.loads

    def spy(text):
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(web_db.orjson, "loads", spy)
    with engine.connect() as connection:
        text = sa.literal_column("""'{"score": 0.25}'""", type_=sa.JSON)
        # PostgreSQL's driver parses a json value; for SQLite, SQLAlchemy parses the text of a JSON column
        json_value = sa.cast(text, sa.JSON) if engine.dialect.name == "postgresql" else text
        value = connection.scalar(sa.select(json_value))
    assert value == {"score": 0.25}
    assert parsed
