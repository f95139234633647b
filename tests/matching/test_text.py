"""The n-gram texts' normalisation: `matching.text.nfkc` is NFKC exactly, whatever the text."""

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.text import _WIDTH_FORMS, nfkc

# width forms, halfwidth katakana and their sound marks, combining marks, compatibility letters, CJK and ASCII:
# characters that decompose, compose with a neighbour, or reorder
ALPHABET = (
    [chr(point) for point in (0x3000, *range(0xFF01, 0xFFEF))]
    + list("カガｶﾞﾟは\u3099\u309a\u0301\u0308\u0323e\u00e9\ufb01\u2460\u1100\u1161\u11a8가焊接，。、 a,.Σσ")
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=12))
def test_nfkc_is_unicodes_nfkc(text):
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_every_width_form_alone_and_before_a_combining_mark():
    assert len(_WIDTH_FORMS) > 200
    for point in (0x3000, *range(0xFF01, 0xFFEF)):
        for text in (chr(point), f"工{chr(point)}\u3099", f"{chr(point)}\u0301a"):
            assert nfkc(text) == unicodedata.normalize("NFKC", text), hex(point)


def test_a_usual_description_takes_the_quick_path():
    text = "压力容器焊缝开裂，需要（现场）诊断：焊接工艺评定"
    assert not unicodedata.is_normalized("NFKC", text)
    assert unicodedata.is_normalized("NFKC", text.translate(_WIDTH_FORMS))
    assert nfkc(text) == unicodedata.normalize("NFKC", text) == "压力容器焊缝开裂,需要(现场)诊断:焊接工艺评定"
