"""An export body on disk: raw HTTP chunks in, a file DuckDB's JSON reader can parse, or a loud failure.

Python only moves bytes here; DuckDB parses the JSON later (one Python object per event caps ingest near
0.15 M rows/s; docs/duckdb-hook.md, "Ingest speed"). Together with that parse, the guarantee is that a
window's rows come from a *complete* body:

- chunks may split a record, a UTF-8 character or the gzip stream anywhere;
- a plain body that stops mid-line or ends with Mixpanel's plain-text ``terminated early`` line raises
  ``StreamTruncated`` here;
- a gzip body is stored as it came (decompressing it in Python would cost a core for nothing): DuckDB's reader
  then rejects an unfinished or corrupt gzip stream, a cut line and a ``terminated early`` line, and the caller
  turns that into ``StreamTruncated`` (``tests/properties/test_export_body.py`` holds both paths to it).

JSON strings never contain a raw newline (JSON escapes it), so splitting strictly on ``\\n`` is exact; other
terminators such as U+2028 are part of the data (docs/mixpanel-api.md, "Streaming and volume").
"""

from __future__ import annotations

import json
from typing import BinaryIO

from mpsql.errors import StreamTruncated

TERMINATED_EARLY = b"terminated early"
_SHORT_LINE = 256  # a last line longer than this cannot be Mixpanel's 'terminated early' line


class JsonlBody:
    """Writes one export body to ``out``; ``finish()`` proves a plain body was complete."""

    def __init__(self, out: BinaryIO, *, gzip: bool, endpoint: str = "export") -> None:
        self._out = out
        self._endpoint = endpoint
        self.gzip = gzip
        # Bytes after the last newline seen so far, as the chunks came: joined once when their line ends, so a
        # very long line costs linear time (appending to one bytes object copied it on every chunk).
        self._tail: list[bytes] = []
        self._last_line = b""  # the last complete line (for the "terminated early" check)
        self.wire_bytes = 0
        self.bytes = 0
        self.lines = 0  # counted for plain bodies only

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk exactly as it came off the wire."""
        self.wire_bytes += len(chunk)
        if self.gzip:
            self._out.write(chunk)
        elif chunk:
            self._write(chunk)

    def _write(self, data: bytes) -> None:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail.append(data)
            return
        tail = sum(len(part) for part in self._tail)
        self._out.writelines(self._tail)
        self._out.write(data[: cut + 1])
        self.bytes += tail + cut + 1
        self.lines += data.count(b"\n", 0, cut + 1)
        before = data.rfind(b"\n", 0, cut)
        if before >= 0:
            self._last_line = data[before + 1 : cut]
        elif tail + cut <= _SHORT_LINE:
            self._last_line = b"".join(self._tail) + data[:cut]
        else:  # too long to be the 'terminated early' line: not worth keeping
            self._last_line = b""
        self._tail = [data[cut + 1 :]] if cut + 1 < len(data) else []

    def finish(self) -> None:
        """Flush the last line; raise ``StreamTruncated`` if a plain body was not whole."""
        if self.gzip:
            return
        if self._tail:
            tail = b"".join(self._tail)
            # Mixpanel ends every line with a newline; accept a last line without one only if it is a whole record.
            if not _is_whole_record(tail):
                if tail.strip() == TERMINATED_EARLY:
                    raise StreamTruncated(f"{self._endpoint}: Mixpanel ended the body with 'terminated early'")
                raise StreamTruncated(f"{self._endpoint}: the body stopped mid-record after {self.lines} lines")
            self._out.write(tail + b"\n")
            self.bytes += len(tail) + 1
            self.lines += 1
            self._last_line, self._tail = tail, []
        if self._last_line.strip() == TERMINATED_EARLY:
            raise StreamTruncated(f"{self._endpoint}: Mixpanel ended the body with 'terminated early'")


def _is_whole_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
