"""Chunked, maybe gzipped, body writer with the body faults: cut, split, drip, garbage, terminated early."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from mpsql.emulator.faults import Fault

__all__ = ["GZIP_MIN_BYTES", "PIECE_BYTES", "BodyPlan", "ConnectionCut"]

GZIP_MIN_BYTES = 1400  # gzip only bodies larger than this (docs/mixpanel-api.md, "Export")
PIECE_BYTES = 64 * 1024  # normal chunk size
GARBAGE_DEFAULT_AT = 5


class ConnectionCut(Exception):
    """The ``cut`` fault fired: the caller must drop the socket without finishing the response."""


class BodyPlan:
    """Turns JSONL lines into wire chunks according to gzip negotiation and the active body faults."""

    def __init__(self, lines: Iterable[bytes], faults: list[Fault], accept_gzip: bool,
                 throughput: float | None = None) -> None:
        self.faults = {f.kind: f for f in faults}
        self.throughput = throughput  # wire bytes a second, or None
        self._lines = self._with_line_faults(iter(lines))
        self._head: list[bytes] = []
        head_len = 0
        for line in self._lines:  # look ahead just far enough to decide on gzip
            self._head.append(line)
            head_len += len(line)
            if head_len > GZIP_MIN_BYTES:
                break
        self.gzip = accept_gzip and head_len > GZIP_MIN_BYTES
        self.bytes_sent = 0

    def _with_line_faults(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        garbage = self.faults.get("garbage")
        at = (garbage.at_record if garbage.at_record is not None else GARBAGE_DEFAULT_AT) if garbage else -1
        n = 0
        for line in lines:
            if n == at:
                yield garbage.line.encode("utf-8") + b"\n"  # type: ignore[union-attr]
            yield line
            n += 1
        if garbage and n < at:
            yield garbage.line.encode("utf-8") + b"\n"
        if "terminated_early" in self.faults:
            yield b"terminated early\n"

    def _raw_pieces(self) -> Iterator[bytes]:
        buf: list[bytes] = self._head
        size = sum(map(len, buf))
        for line in self._lines:
            buf.append(line)
            size += len(line)
            if size >= PIECE_BYTES:
                yield b"".join(buf)
                buf, size = [], 0
        if buf:
            yield b"".join(buf)

    def _wire_pieces(self) -> Iterator[bytes]:
        if not self.gzip:
            yield from self._raw_pieces()
            return
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        for raw in self._raw_pieces():
            out = comp.compress(raw)
            if out:
                yield out
        yield comp.flush()

    def _chunks(self) -> Iterator[bytes]:
        split, drip = self.faults.get("split"), self.faults.get("drip")
        if split is None and drip is None:
            yield from (p for p in self._wire_pieces() if p)
            return
        sizes = split.chunk_sizes if split else (drip.chunk_size,)  # type: ignore[union-attr]
        k = 0
        pending = b""
        for piece in self._wire_pieces():
            pending += piece
            while len(pending) >= sizes[k % len(sizes)]:
                n = sizes[k % len(sizes)]
                yield pending[:n]
                pending = pending[n:]
                k += 1
        if pending:
            yield pending

    def write(self, wfile: BinaryIO, on_end: Callable[[int], None] | None = None) -> None:
        """Write all chunks and the terminating zero chunk; raises ConnectionCut for the ``cut`` fault.

        ``on_end(bytes_sent)`` runs just before the final bytes go out, so a client that has read the
        whole response can rely on the server's bookkeeping being done.
        """
        on_end = on_end or (lambda n: None)
        cut = self.faults.get("cut")
        drip = self.faults.get("drip")
        flush_each = "split" in self.faults or drip is not None or self.throughput is not None
        started = time.monotonic()
        for chunk in self._chunks():
            if cut is not None and self.bytes_sent + len(chunk) > cut.after_bytes:
                part = chunk[: max(0, cut.after_bytes - self.bytes_sent)]
                self.bytes_sent += len(part)
                on_end(self.bytes_sent)
                wfile.write(b"%x\r\n" % len(chunk) + part)  # announce the whole chunk, deliver a part
                wfile.flush()
                raise ConnectionCut
            wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.bytes_sent += len(chunk)
            if flush_each:
                wfile.flush()
            if drip is not None and drip.delay > 0:
                time.sleep(drip.delay)
            if self.throughput is not None:  # no faster than the cap, measured from the first byte
                ahead = self.bytes_sent / self.throughput - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        on_end(self.bytes_sent)
        if cut is not None:  # body shorter than after_bytes: still drop before the final chunk
            wfile.flush()
            raise ConnectionCut
        wfile.write(b"0\r\n\r\n")
        wfile.flush()
