"""A page cut at its per-request values: filled as text or as one gzip member whose static parts were
compressed once; any gzip reader gets exactly the page."""

from __future__ import annotations

import gzip
import secrets
import zlib

from web.views.slotted_page import SlottedPage

PAGE = ("<!doctype html><title>表单</title>" + "<option value='5101'>成都市 · 锦江区</option>" * 800
        + '<input name="csrf_token" value="TOKEN-SLOT">\n<input name="submission_key" value="KEY-SLOT">'
        + "<label>企业名称 · Enterprise name</label>" * 1500)


def test_the_gzip_page_is_the_text_page_for_every_reader():
    page = SlottedPage.cut(PAGE, ("TOKEN-SLOT", "KEY-SLOT"))
    for _ in range(3):
        values = (secrets.token_urlsafe(40), secrets.token_urlsafe(24))
        expected = PAGE.replace("TOKEN-SLOT", values[0]).replace("KEY-SLOT", values[1])
        compressed = page.gzip(values)
        assert page.text(values) == expected
        assert gzip.decompress(compressed).decode() == expected
        reader = zlib.decompressobj(wbits=31)  # one member, nothing after it, CRC and length checked
        assert reader.decompress(compressed) == expected.encode() and reader.eof and reader.unused_data == b""
        assert len(compressed) < len(expected.encode()) / 10


def test_a_damaged_checksum_is_noticed():
    compressed = bytearray(SlottedPage.cut(PAGE, ("TOKEN-SLOT",)).gzip(("a-token",)))
    compressed[-8] ^= 1
    try:
        gzip.decompress(bytes(compressed))
    except gzip.BadGzipFile:
        return
    raise AssertionError("a wrong CRC-32 went unnoticed")


def test_values_missing_repeated_or_out_of_order_are_refused():
    assert SlottedPage.cut(PAGE, ("NOT-THERE",)) is None
    assert SlottedPage.cut(PAGE + "TOKEN-SLOT", ("TOKEN-SLOT", "KEY-SLOT")) is None
    assert SlottedPage.cut(PAGE, ("KEY-SLOT", "TOKEN-SLOT")) is None
    assert SlottedPage.cut(PAGE, ("",)) is None
