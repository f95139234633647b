"""The n-gram texts' normalisation: `matching.text.nfkc` is NFKC exactly, whatever the text, and a corpus normalised
at once gives each text's own normalisation."""

import unicodedata

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.text import _WIDTH_FORMS, _cleaned_points, _codepoints, nfkc

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


def _codepoints_text_by_text(texts):
    cleaned = [unicodedata.normalize("NFKC", text).lower() for text in texts]
    points = np.frombuffer(("\0".join(cleaned) + "\0").encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    return points, np.repeat(np.arange(len(texts)), [len(text) + 1 for text in cleaned])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=[*ALPHABET, "\0", "\u0130", "\uffe3"], max_size=8), max_size=6))
def test_a_corpus_normalised_at_once_is_each_text_normalised(texts):
    # İ lowers to two characters, Σ by its neighbours, U+FFE3 is a width form of two characters
    for mine, theirs in zip(_codepoints(texts), _codepoints_text_by_text(texts), strict=True):
        np.testing.assert_array_equal(mine, theirs)
        assert mine.dtype == theirs.dtype


def test_a_usual_corpus_is_normalised_at_once():
    texts = ["压力容器焊缝开裂，需要（现场）诊断：焊接工艺评定", "ΣΟΦΟΣ ΣΑΣ", "İstanbul Ａ１", "溶接 é"]
    assert _cleaned_points(texts) is not None
    for mine, theirs in zip(_codepoints(texts), _codepoints_text_by_text(texts), strict=True):
        np.testing.assert_array_equal(mine, theirs)
