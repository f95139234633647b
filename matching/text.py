"""Character n-gram TF-IDF, vectorised with numpy / scipy.sparse.

Chinese has no spaces, so words are not split; overlapping character 2- and
3-grams capture terms like 焊接 / 焊缝 / 压力容器 without a tokenizer.  n-grams
are formed from code points with integer arithmetic (no Python loop over
characters), and never cross whitespace or punctuation.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

_CODE_SPACE = 0x110000  # number of Unicode code points; K**3 still fits in int64
# The ideographic space and the halfwidth and fullwidth forms (Chinese text is full of ，（）：) → their NFKD
# decomposition.  Replacing a character by it leaves a text's NFKC unchanged (NFKC composes the text's NFKD, which
# decomposes character by character, and a decomposition decomposes to itself), and most texts are then already
# NFKC: the quick check passes and the costly normalisation is skipped.
_WIDTH_FORMS = {
    point: unicodedata.normalize("NFKD", chr(point))
    for point in (0x3000, *range(0xFF01, 0xFFEF))
    if unicodedata.normalize("NFKD", chr(point)) != chr(point)
}


# The same replacement as a table over the code points from U+3000 on (``_WIDTH_FORMS`` maps to one character, but
# for the forms listed in ``_WIDTH_SPREADS``, which the table leaves alone).
_WIDTH_START = 0x3000
_WIDTH_SPREADS = np.array(sorted(point for point, form in _WIDTH_FORMS.items() if len(form) != 1), dtype=np.uint32)
_WIDTH_TABLE = np.arange(_WIDTH_START, 0x10000, dtype=np.uint32)
_WIDTH_TABLE[[point - _WIDTH_START for point, form in _WIDTH_FORMS.items() if len(form) == 1]] = [
    ord(form) for form in _WIDTH_FORMS.values() if len(form) == 1
]


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, quicker for the usual text (see ``_WIDTH_FORMS``)."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    text = text.translate(_WIDTH_FORMS)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def _cleaned_points(texts: Sequence[str]) -> np.ndarray | None:
    """The code points of ``nfkc(text).lower()`` of every text, each followed by U+0000, for a usual corpus; None
    when a text needs `nfkc`'s long way (or holds U+0000, or a width form of ``_WIDTH_SPREADS``).

    The whole corpus at once: U+0000 is a starter that composes with nothing and is neither cased nor ignorable
    in case mappings, so NFKC and ``lower`` of the joined texts are the joined NFKC and ``lower`` of each, and the
    joined text is NFKC exactly when each is.  The width forms are replaced through ``_WIDTH_TABLE`` (a str's
    ``translate`` looks up every character in a dict: ~5x the time for a province round's 430,000).
    """
    joined = "\0".join(texts) + "\0"
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    if np.count_nonzero(points == 0) != len(texts) or np.isin(_WIDTH_SPREADS, points).any():
        return None
    wide = (points >= _WIDTH_START) & (points < _WIDTH_TABLE.size + _WIDTH_START)
    points = points.copy()
    points[wide] = _WIDTH_TABLE[points[wide] - _WIDTH_START]
    cleaned = points.tobytes().decode("utf-32-le")
    if not unicodedata.is_normalized("NFKC", cleaned):
        return None
    return np.frombuffer(cleaned.lower().encode("utf-32-le"), dtype=np.uint32)


def _codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of all texts' ``nfkc(text).lower()`` joined by a break (U+0000), and each position's document
    index."""
    points = _cleaned_points(texts)
    if points is not None:
        ends = np.flatnonzero(points == 0)  # one per text, at its end
        lengths = np.diff(ends, prepend=-1)
    else:
        cleaned = [nfkc(t).lower() for t in texts]
        points = np.frombuffer(("\0".join(cleaned) + "\0").encode("utf-32-le"), dtype=np.uint32)
        lengths = np.fromiter((len(t) + 1 for t in cleaned), dtype=np.int64, count=len(cleaned))
    doc = np.repeat(np.arange(len(texts)), lengths)
    return points.astype(np.int64), doc


def _is_break(points: np.ndarray) -> np.ndarray:
    """Whitespace, ASCII punctuation and the CJK / full-width punctuation blocks break n-grams."""
    ascii_punct = (points <= 0x2F) | ((points >= 0x3A) & (points <= 0x40))
    ascii_punct |= ((points >= 0x5B) & (points <= 0x60)) | ((points >= 0x7B) & (points <= 0xBF))
    general = (points >= 0x2000) & (points <= 0x206F)
    cjk = (points >= 0x3000) & (points <= 0x303F)
    fullwidth = ((points >= 0xFF00) & (points <= 0xFF0F)) | ((points >= 0xFF1A) & (points <= 0xFF20))
    return ascii_punct | general | cjk | fullwidth


def ngram_counts(
    texts: Sequence[str], ngram_range: tuple[int, int] = (2, 3)
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts (documents × vocabulary) and the vocabulary as int64 n-gram codes.

    The vocabulary is ordered by n, then by code points (the order of the codes): `_ngram_terms` numbers it.
    """
    if not len(texts):
        return sp.csr_matrix((0, 0)), np.zeros(0, dtype=np.int64)
    points, doc = _codepoints(texts)
    breaks = _is_break(points)
    terms, docs_all, vocabularies = [], [], []
    for n, term, valid, vocabulary in _ngram_terms(points, breaks, ngram_range):
        terms.append(term.astype(np.int64) + sum(v.size for v in vocabularies))
        docs_all.append(doc[: valid.size][valid])
        vocabularies.append(vocabulary * 4 + n)  # keep 2-grams and 3-grams apart
    term = np.concatenate(terms) if terms else np.zeros(0, dtype=np.int64)
    docs = np.concatenate(docs_all) if docs_all else np.zeros(0, dtype=np.int64)
    vocabulary = np.concatenate(vocabularies) if vocabularies else np.zeros(0, dtype=np.int64)
    # summed by columns, then turned into rows: each n's positions come document by document, so a column's
    # documents are nearly in order and its sort is quick, and the rows come out sorted (canonical, as before)
    counts = sp.csc_matrix(
        (np.ones(term.size), (docs, term)), shape=(len(texts), vocabulary.size), dtype=np.float64
    ).tocsr()
    return counts, vocabulary


# Cells of a table numbering the n-grams seen (one per (n−1)-gram of the vocabulary × letter): up to this many the
# numbering is a table lookup, beyond it a sort and a binary search.
DENSE_NGRAM_CELLS = 2**23


def _ngram_terms(points: np.ndarray, breaks: np.ndarray, ngram_range: tuple[int, int]):
    """Yield per n of the range ``(n, term, valid, codes)``: each valid position's term (its n-gram's rank among
    the corpus's n-grams in code point order), the positions that start an n-gram without a break, and the
    n-grams' code points as one int64 each (base 0x110000).

    The n-grams are numbered by growing n: an n-gram is its (n−1)-gram prefix's number and its last letter's, a
    key whose order is the code points' order (the letters are numbered in code point order); the keys seen are
    marked in a table and numbered in its order (`DENSE_NGRAM_CELLS`), with no sort of the n-grams.  Where no
    n-gram starts the number is never read, but it must keep the next n's keys inside that table.
    """
    valid = ~breaks
    alphabet = np.flatnonzero(_marked(points[valid], _CODE_SPACE))  # the letters' code points, in order
    letter = _numbered(alphabet, _CODE_SPACE)[points]
    number, codes = letter, alphabet.astype(np.int64)
    for n in range(1, ngram_range[1] + 1):
        if n > 1:
            m = points.size - n + 1
            if m <= 0:
                return
            valid = valid[:m] & ~breaks[n - 1 : n - 1 + m]
            key = np.multiply(number[:m], alphabet.size, dtype=np.int64)
            key += letter[n - 1 : n - 1 + m]
            size = codes.size * alphabet.size
            if not size:  # no letters: no n-grams
                kept, number = key[:0], np.zeros(m, dtype=np.int64)
            elif size <= DENSE_NGRAM_CELLS:
                kept = np.flatnonzero(_marked(key[valid], size))
                number = _numbered(kept, size)[key]
            else:
                kept = np.unique(key[valid])
                number = np.searchsorted(kept, key)
                number[~valid] = 0  # may be kept.size there, past the next n's table
            codes = codes[kept // alphabet.size] * _CODE_SPACE + alphabet[kept % alphabet.size]
        if n >= ngram_range[0]:
            yield n, number[valid], valid, codes


def _marked(keys: np.ndarray, size: int) -> np.ndarray:
    """(size,) bool: True at ``keys``."""
    seen = np.zeros(size, dtype=bool)
    seen[keys] = True
    return seen


def _numbered(kept: np.ndarray, size: int) -> np.ndarray:
    """(size,) int32 (half the memory of int64: a province round's 3-gram table has ~5M cells, at most
    `DENSE_NGRAM_CELLS`): ``i`` at ``kept[i]`` (0 elsewhere)."""
    table = np.zeros(size, dtype=np.int32)
    table[kept] = np.arange(kept.size, dtype=np.int32)
    return table


def tfidf_pair(left: Sequence[str], right: Sequence[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """L2-normalised TF-IDF rows for two corpora sharing one vocabulary and IDF.

    IDF is smooth (``ln((1+N)/(1+df)) + 1``) over both corpora, tf is
    sublinear (``1 + ln tf``).  Columns used by only one side are dropped
    *after* normalising: they cannot add to a cross similarity, and dropping
    them keeps the products small.
    """
    counts, _ = ngram_counts(list(left) + list(right))
    n_docs = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    weighted = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ weighted
    weighted = sp.csr_matrix(weighted)
    left_rows, right_rows = weighted[: len(left)], weighted[len(left) :]
    shared = (np.bincount(left_rows.indices, minlength=counts.shape[1]) > 0) & (
        np.bincount(right_rows.indices, minlength=counts.shape[1]) > 0
    )
    keep = np.flatnonzero(shared)
    return sp.csr_matrix(left_rows[:, keep]), sp.csr_matrix(right_rows[:, keep])
