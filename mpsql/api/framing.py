"""JSONL framing of an export body: raw HTTP chunks in, whole lines on disk out, or a loud failure.

Python only moves bytes here; DuckDB parses the JSON later (DESIGN.md: one Python object per event caps ingest
near 0.15 M rows/s). What this module guarantees is that the file holds every line of a *complete* body:

- chunks may split a record, a UTF-8 character or the gzip stream anywhere;
- a body that stops mid-line, has a broken or unfinished gzip stream, or ends with Mixpanel's plain-text
  ``terminated early`` line raises ``StreamTruncated`` instead of yielding fewer rows.

JSON strings never contain a raw newline (JSON escapes it), so splitting strictly on ``\\n`` is exact; other
terminators such as U+2028 are part of the data (FACTS.md §5.1).
"""

from __future__ import annotations

import json
import zlib
from typing import BinaryIO

from mpsql.errors import StreamTruncated

TERMINATED_EARLY = b"terminated early"


class JsonlBody:
    """Writes the decoded lines of one export body to ``out``; ``finish()`` proves the body was complete."""

    def __init__(self, out: BinaryIO, *, gzip: bool, endpoint: str = "export") -> None:
        self._out = out
        self._endpoint = endpoint
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._tail = b""  # bytes after the last newline seen so far
        self._last_line = b""  # the last complete line (for the "terminated early" check)
        self.wire_bytes = 0
        self.bytes = 0
        self.lines = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk exactly as it came off the wire."""
        self.wire_bytes += len(chunk)
        if self._inflate is None:
            if chunk:
                self._write(chunk)
            return
        while chunk:
            try:
                data = self._inflate.decompress(chunk)
            except zlib.error as exc:
                raise StreamTruncated(f"{self._endpoint}: corrupt gzip body ({exc})") from exc
            if data:
                self._write(data)
            # A gzip body may hold several members back to back (RFC 1952); a proxy may send one that way.
            chunk = self._inflate.unused_data if self._inflate.eof else b""
            if chunk:
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _write(self, data: bytes) -> None:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail += data
            return
        self._out.write(self._tail)
        self._out.write(data[: cut + 1])
        self.bytes += len(self._tail) + cut + 1
        self.lines += data.count(b"\n", 0, cut + 1)
        before = data.rfind(b"\n", 0, cut)
        self._last_line = data[before + 1 : cut] if before >= 0 else self._tail + data[:cut]
        self._tail = data[cut + 1 :]

    def finish(self) -> None:
        """Flush the last line; raise ``StreamTruncated`` if the body was not whole."""
        if self._inflate is not None:
            try:
                rest = self._inflate.flush()
            except zlib.error as exc:
                raise StreamTruncated(f"{self._endpoint}: corrupt gzip body ({exc})") from exc
            if rest:
                self._write(rest)
            if not self._inflate.eof and self.wire_bytes:
                raise StreamTruncated(f"{self._endpoint}: the gzip body ended before its end marker "
                                      f"({self.wire_bytes} bytes received)")
        if self._tail:
            # Mixpanel ends every line with a newline; accept a last line without one only if it is a whole record.
            if not _is_whole_record(self._tail):
                if self._tail.strip() == TERMINATED_EARLY:
                    raise StreamTruncated(f"{self._endpoint}: Mixpanel ended the body with 'terminated early'")
                raise StreamTruncated(f"{self._endpoint}: the body stopped mid-record after {self.lines} lines")
            self._out.write(self._tail + b"\n")
            self.bytes += len(self._tail) + 1
            self.lines += 1
            self._last_line, self._tail = self._tail, b""
        if self._last_line.strip() == TERMINATED_EARLY:
            raise StreamTruncated(f"{self._endpoint}: Mixpanel ended the body with 'terminated early'")


def _is_whole_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
