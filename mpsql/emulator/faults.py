"""Fault injection as data: a FaultPlan lists Faults, each consumed by the next ``times`` matching requests.

Kinds:
- ``status``: answer ``status`` instead of serving (429/5xx bursts), JSON or text body, optional Retry-After;
- ``cut``: stream ``after_bytes`` body bytes, then close the socket without the terminating zero chunk;
- ``terminated_early``: append a plain-text ``terminated early`` line after the JSONL;
- ``split``: send the body in tiny odd-sized chunks (edges fall inside records and UTF-8 characters);
- ``drip``: sleep ``delay`` seconds between chunks of ``chunk_size`` bytes;
- ``garbage``: insert a non-JSON line after ``at_record`` records (default: the middle).
Status faults act before auth and rate limiting; the others act on successful streamed bodies only.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "STREAM_KINDS", "Fault", "FaultPlan"]

KINDS = ("status", "cut", "terminated_early", "split", "drip", "garbage")
STREAM_KINDS = ("cut", "terminated_early", "split", "drip", "garbage")


@dataclass
class Fault:
    """One misbehaviour for the next ``times`` requests whose path starts with ``path`` (-1 = forever)."""

    kind: str
    times: int = 1
    path: str = "/api/"
    status: int = 500
    body: str | None = None  # status: raw body text; None -> Mixpanel-style JSON error
    json_body: bool = True  # status: when body is None, JSON error (True) or plain text (False)
    retry_after: int | None = None  # status: Retry-After header seconds, None -> no header
    after_bytes: int = 1000  # cut: body bytes (on the wire, after gzip) before the socket closes
    chunk_sizes: tuple[int, ...] = (1, 7, 3, 13, 2, 29, 5)  # split: cycled chunk sizes
    delay: float = 0.01  # drip: seconds between chunks
    chunk_size: int = 4096  # drip: bytes per chunk
    at_record: int | None = None  # garbage: records before the bad line (None -> middle)
    line: str = "<html><body>502 Bad Gateway</body></html>"  # garbage: the bad line's text

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        self.chunk_sizes = tuple(int(c) for c in self.chunk_sizes)
        if not self.chunk_sizes or min(self.chunk_sizes) < 1:
            raise ValueError("chunk_sizes must be positive")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (used by the control plane)."""
        d = dataclasses.asdict(self)
        d["chunk_sizes"] = list(self.chunk_sizes)
        return d


class FaultPlan:
    """The faults a server currently injects; thread-safe consumption of ``times`` counters."""

    def __init__(self, *faults: Fault, **kw: Any) -> None:
        self.faults = list(faults)
        if kw:
            self.faults.append(Fault(**kw))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FaultPlan({', '.join(map(repr, self.faults))})"

    # ---------------------------------------------------------------- convenience constructors

    @classmethod
    def rate_limited(cls, times: int = 1, retry_after: int | None = 1, path: str = "/api/") -> FaultPlan:
        """A burst of 429s (with Retry-After unless ``retry_after`` is None)."""
        return cls(Fault("status", times=times, status=429, retry_after=retry_after, path=path))

    @classmethod
    def server_error(cls, status: int = 503, times: int = 1, text: bool = False,
                     path: str = "/api/") -> FaultPlan:
        """A burst of 5xx, JSON body by default or a plain-text body."""
        return cls(Fault("status", times=times, status=status, json_body=not text, path=path))

    @classmethod
    def cut(cls, after_bytes: int = 1000, times: int = 1) -> FaultPlan:
        """Drop the connection mid-body."""
        return cls(Fault("cut", times=times, after_bytes=after_bytes))

    @classmethod
    def terminated_early(cls, times: int = 1) -> FaultPlan:
        """Trailing ``terminated early`` line."""
        return cls(Fault("terminated_early", times=times))

    @classmethod
    def split(cls, times: int = 1, chunk_sizes: tuple[int, ...] = (1, 7, 3, 13, 2, 29, 5)) -> FaultPlan:
        """Tiny odd-sized chunks."""
        return cls(Fault("split", times=times, chunk_sizes=chunk_sizes))

    @classmethod
    def drip(cls, delay: float = 0.01, chunk_size: int = 4096, times: int = 1) -> FaultPlan:
        """Slow body."""
        return cls(Fault("drip", times=times, delay=delay, chunk_size=chunk_size))

    @classmethod
    def garbage(cls, at_record: int | None = None, times: int = 1) -> FaultPlan:
        """A non-JSON line in the middle of the JSONL."""
        return cls(Fault("garbage", times=times, at_record=at_record))

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        """Build from ``{"faults": [...]}``, a list of fault dicts, or one fault dict."""
        if isinstance(data, dict) and "faults" in data:
            data = data["faults"]
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ValueError("expected a fault object, a list of them, or {\"faults\": [...]}")
        return cls(*(Fault(**d) for d in data))

    def __add__(self, other: FaultPlan) -> FaultPlan:
        return FaultPlan(*self.faults, *other.faults)

    # ---------------------------------------------------------------- consumption

    def take_status(self, path: str) -> Fault | None:
        """Consume and return the first live status fault matching ``path``."""
        with self._lock:
            for f in self.faults:
                if f.kind == "status" and f.times != 0 and path.startswith(f.path):
                    if f.times > 0:
                        f.times -= 1
                    return f
        return None

    def take_stream(self, path: str) -> list[Fault]:
        """Consume and return every live body fault matching ``path`` (at most one per kind)."""
        taken: list[Fault] = []
        seen: set[str] = set()
        with self._lock:
            for f in self.faults:
                if f.kind in STREAM_KINDS and f.kind not in seen and f.times != 0 and path.startswith(f.path):
                    if f.times > 0:
                        f.times -= 1
                    seen.add(f.kind)
                    taken.append(f)
        return taken

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-able list of the faults with their remaining counts."""
        with self._lock:
            return [f.to_dict() for f in self.faults]
