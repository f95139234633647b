"""`matching.text.ngram_counts` numbers the n-grams by table lookups (`_ngram_terms`): the same vocabulary, in the
same order, and the same counts as n-grams collected text by text in Python and sorted, on both of its routes."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching.text as text
from matching.text import _CODE_SPACE, _is_break, nfkc, ngram_counts

# letters, breaks (space, ASCII and CJK punctuation, width forms) and characters that lower or normalise
LETTERS = list("焊接压力容器缝开裂工艺评定abcAB é1") + ["，", "。", "、", "（", "\u3000", "-", ".", "Σ", "ﾞ", "\u0301"]


def collected(texts, ngram_range):
    """Per text its n-grams (no break inside) counted in Python; the vocabulary sorted by n, then code points."""
    per_text, seen = [], set()
    for raw in texts:
        cleaned = nfkc(raw).lower()
        breaks = _is_break(np.array([ord(ch) for ch in cleaned], dtype=np.int64)) if cleaned else []
        grams: dict[str, int] = {}
        for n in range(ngram_range[0], ngram_range[1] + 1):
            for start in range(len(cleaned) - n + 1):
                if not any(breaks[start : start + n]):
                    gram = cleaned[start : start + n]
                    grams[gram] = grams.get(gram, 0) + 1
        per_text.append(grams)
        seen |= set(grams)
    vocabulary = sorted(seen, key=lambda gram: (len(gram), [ord(ch) for ch in gram]))
    codes = []
    for gram in vocabulary:
        code = 0
        for ch in gram:
            code = code * _CODE_SPACE + ord(ch)
        codes.append(code * 4 + len(gram))
    column = {gram: i for i, gram in enumerate(vocabulary)}
    dense = np.zeros((len(texts), len(vocabulary)))
    for row, grams in enumerate(per_text):
        for gram, count in grams.items():
            dense[row, column[gram]] = count
    return dense, np.array(codes, dtype=np.int64)


def assert_as_collected(texts, ngram_range):
    counts, vocabulary = ngram_counts(texts, ngram_range)
    dense, codes = collected(texts, ngram_range)
    np.testing.assert_array_equal(vocabulary, codes)
    assert vocabulary.dtype == np.int64
    np.testing.assert_array_equal(counts.toarray(), dense)
    assert counts.has_canonical_format  # each row's columns sorted and stored once, as the products expect


# every n by a table, every n sorted, and (on these small alphabets) some n one way, some the other
ROUTES = pytest.mark.parametrize("cells", [text.DENSE_NGRAM_CELLS, 0, 64], ids=["table", "sorted", "mixed"])


@ROUTES
@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=LETTERS, max_size=14), max_size=6),
    ngram_range=st.sampled_from([(2, 3), (1, 1), (1, 3), (2, 2), (3, 3)]),
)
def test_ngrams_are_those_collected_text_by_text(cells, texts, ngram_range):
    with mock.patch.object(text, "DENSE_NGRAM_CELLS", cells):
        assert_as_collected(texts, ngram_range)


@ROUTES
def test_a_usual_corpus_on_both_routes(cells):
    texts = ["压力容器焊缝开裂，需要（现场）诊断：焊接工艺评定", "焊接工艺评定与焊缝检测", "", "。", "ab abc ΣΑΣ", "焊"]
    with mock.patch.object(text, "DENSE_NGRAM_CELLS", cells):
        assert_as_collected(texts, (2, 3))
        assert_as_collected(texts, (1, 3))
