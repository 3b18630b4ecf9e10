"""Helpers shared by the emulator tests (export params, raw-socket HTTP with visible chunk edges)."""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from mpsql.emulator import Emulator


def export_params(emu: Emulator, **kw: object) -> dict[str, object]:
    """Service-account export params for the last data day unless overridden."""
    last = emu.dataset.last_date.isoformat()
    params: dict[str, object] = {"project_id": emu.credentials.project_id, "from_date": last, "to_date": last}
    params.update(kw)
    return params


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False  # saw the terminating zero-length chunk

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def raw_get(emu: Emulator, path: str, params: dict[str, object], gzip: bool = False) -> RawResponse:
    """GET over a bare socket, keeping chunk boundaries visible; tolerates a cut connection."""
    c = emu.credentials
    host, port = urlsplit(emu.url).hostname, urlsplit(emu.url).port
    token = base64.b64encode(f"{c.username}:{c.secret}".encode()).decode()
    lines = [
        f"GET {path}?{urlencode(params)} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Authorization: Basic {token}",
        "Connection: close",
    ]
    if gzip:
        lines.append("Accept-Encoding: gzip")
    data = b""
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                break
            if not got:
                break
            data += got
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    resp = RawResponse(int(status_line.split()[1]), headers)
    if headers.get("transfer-encoding") != "chunked":
        resp.chunks = [rest]
        resp.complete = True
        return resp
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0:
            resp.complete = True
            break
        resp.chunks.append(rest[:size])
        if len(rest) < size + 2:
            break
        rest = rest[size + 2 :]
    return resp


def dedup(rows: list[dict]) -> list[dict]:
    """Export rows with ``time`` in milliseconds (``time_in_ms``) deduplicated on (event, distinct_id, time,
    $insert_id), keeping the latest-processed copy (the one served last on a tie); rows without an $insert_id are
    never collapsed. The kept rows come back with ``time`` in seconds, as /export serves it by default."""
    kept: dict[tuple, dict] = {}
    for i, r in enumerate(rows):
        p = r["properties"]
        key = (r["event"], p["distinct_id"], p["time"], p.get("$insert_id", ("none", i)))
        if key not in kept or p["mp_processing_time_ms"] >= kept[key]["properties"]["mp_processing_time_ms"]:
            kept[key] = r
    return [{**r, "properties": {**r["properties"], "time": r["properties"]["time"] // 1000}} for r in kept.values()]
