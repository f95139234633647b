"""A page rendered once with a few per-request values (a CSRF token, a one-time key) cut out of it, so that
a request only fills the slots: as text, or as a gzip stream whose static parts were compressed once.

The gzip stream is one valid member (RFC 1951/1952) built from raw deflate pieces, as parallel gzip tools
build theirs: the part before the first slot is compressed once and ends on a flush (byte-aligned), the
slots and the short static text between them go out as one stored block, and the part after the last slot
was compressed once by a fresh compressor (so nothing in it refers back to the slots) and carries the final
block. Only the CRC-32 over the whole page is computed per request (continued from the head's). The slots
are never compressed, so the response's length tells nothing about a token (no BREACH-style oracle).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# gzip header: magic, deflate, no flags, no mtime, maximum compression, unknown OS
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
STORED_BLOCK_MAX = 0xFFFF


def _raw_deflate(data: bytes, flush: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(flush)


@dataclass(frozen=True)
class SlottedPage:
    pieces: tuple[str, ...]  # static text around the slots: one more piece than slots
    head_deflated: bytes  # the first piece, ending on a full flush
    head_crc: int
    head_size: int
    tail: bytes  # the last piece (for the CRC), and compressed with the final block
    tail_deflated: bytes

    @classmethod
    def cut(cls, page: str, values: Sequence[str]) -> SlottedPage | None:
        """The page with ``values`` (each random, present exactly once, in this order) as slots; None when a
        value is missing, repeated or out of order."""
        pieces, rest = [], page
        for value in values:
            if not value or page.count(value) != 1 or value not in rest:
                return None
            piece, _value, rest = rest.partition(value)
            pieces.append(piece)
        pieces.append(rest)
        head, tail = pieces[0].encode(), pieces[-1].encode()
        return cls(tuple(pieces), _raw_deflate(head, zlib.Z_FULL_FLUSH), zlib.crc32(head), len(head), tail,
                   _raw_deflate(tail, zlib.Z_FINISH))

    def text(self, values: Sequence[str]) -> str:
        parts = [self.pieces[0]]
        for value, piece in zip(values, self.pieces[1:], strict=True):
            parts += (value, piece)
        return "".join(parts)

    def gzip(self, values: Sequence[str]) -> bytes:
        """The page with ``values`` in its slots, gzip-compressed (the same bytes as ``text(values)``)."""
        middle = "".join(value + piece for value, piece in zip(values, self.pieces[1:-1] + ("",), strict=True))
        middle_bytes = middle.encode()
        if len(middle_bytes) > STORED_BLOCK_MAX:  # never for a token and a key; a stored block's limit
            raise ValueError("the slots and the text between them exceed one stored block")
        stored = b"\x00" + struct.pack("<HH", len(middle_bytes), len(middle_bytes) ^ 0xFFFF) + middle_bytes
        crc = zlib.crc32(self.tail, zlib.crc32(middle_bytes, self.head_crc))
        size = self.head_size + len(middle_bytes) + len(self.tail)
        return b"".join((GZIP_HEADER, self.head_deflated, stored, self.tail_deflated,
                         struct.pack("<II", crc, size & 0xFFFFFFFF)))

    def body(self, values: Sequence[str], gzipped: bool) -> bytes:
        return self.gzip(values) if gzipped else self.text(values).encode()


# The WSGI environ's key under which a view leaves the SharedPage it answered with.
SHARED_PAGE_ENVIRON = "craftmatch.shared_page"


@dataclass(frozen=True)
class SharedPage:
    """A page every visitor gets (but for its slots) as one response answered it: which page (its key in the
    reference data's derived cache), the values in its slots, gzip or plain text."""

    key: tuple[str, ...]
    page: SlottedPage
    values: tuple[str, ...]
    gzipped: bool
