"""Server-side per-project rate limiter (docs/mixpanel-api.md, "Rate limits") with an injectable clock, so
tests need no sleeps."""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from mpsql.emulator import messages

__all__ = ["Admission", "RateLimiter", "ServerLimits"]


@dataclass(frozen=True)
class ServerLimits:
    """Budgets per project; ``None`` means unlimited. Defaults are Mixpanel's documented numbers."""

    export_per_hour: int | None = 60
    export_per_second: int | None = 3
    export_concurrent: int | None = 100
    query_per_hour: int | None = 60
    query_concurrent: int | None = 5

    @classmethod
    def unlimited(cls) -> ServerLimits:
        """No limits at all."""
        return cls(None, None, None, None, None)


@dataclass(frozen=True)
class Admission:
    """Result of ``RateLimiter.admit``: ok, or a 429 message with seconds until a slot frees."""

    ok: bool
    message: str = ""
    retry_after: int = 0


class RateLimiter:
    """Sliding-window counters and concurrency gauges per (family, project)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, int], deque[float]] = defaultdict(deque)
        self._running: dict[tuple[str, int], int] = defaultdict(int)

    def reset(self) -> None:
        """Forget all counters (running requests still release safely)."""
        with self._lock:
            self._hits.clear()
            self._running.clear()

    def admit(self, family: str, project_id: int, limits: ServerLimits) -> Admission:
        """Count one request of ``family`` ("export" or "query"); call ``release`` when it ends if ok."""
        now = self.clock()
        key = (family, project_id)
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - 3600:
                hits.popleft()
            last_hour = len(hits)
            last_second = sum(1 for h in hits if h > now - 1)
            running = self._running[key]
            if family == "export":
                verdict = self._export(project_id, limits, hits, now, running, last_second, last_hour)
            else:
                verdict = self._query(project_id, limits, hits, now, running, last_hour)
            if verdict is None:
                hits.append(now)
                self._running[key] = running + 1
                return Admission(True)
            return verdict

    def release(self, family: str, project_id: int) -> None:
        """One admitted request finished."""
        with self._lock:
            key = (family, project_id)
            if self._running.get(key, 0) > 0:
                self._running[key] -= 1

    @staticmethod
    def _wait(hits: deque[float], now: float, window: float, allowed: int) -> int:
        """Seconds until the number of hits inside ``window`` drops below ``allowed``."""
        recent = [h for h in hits if h > now - window]
        if allowed <= 0 or len(recent) < allowed:
            return 1
        oldest_blocking = recent[len(recent) - allowed]
        return max(1, math.ceil(oldest_blocking + window - now))

    def _export(self, pid: int, lim: ServerLimits, hits: deque[float], now: float, running: int,
                last_second: int, last_hour: int) -> Admission | None:
        if lim.export_concurrent is not None and running >= lim.export_concurrent:
            return Admission(False, messages.EXPORT_CONCURRENCY, 1)
        if lim.export_per_hour is not None and last_hour >= lim.export_per_hour:
            msg = messages.export_rate_limited(pid, last_second + 1, lim.export_per_second, last_hour + 1,
                                               lim.export_per_hour)
            return Admission(False, msg, self._wait(hits, now, 3600, lim.export_per_hour))
        if lim.export_per_second is not None and last_second >= lim.export_per_second:
            msg = messages.export_rate_limited(pid, last_second + 1, lim.export_per_second, last_hour + 1,
                                               lim.export_per_hour)
            return Admission(False, msg, self._wait(hits, now, 1, lim.export_per_second))
        return None

    def _query(self, pid: int, lim: ServerLimits, hits: deque[float], now: float, running: int,
               last_hour: int) -> Admission | None:
        conc_full = lim.query_concurrent is not None and running >= lim.query_concurrent
        hour_full = lim.query_per_hour is not None and last_hour >= lim.query_per_hour
        if not (conc_full or hour_full):
            return None
        msg = messages.query_rate_limited(pid, running + (1 if conc_full else 0), lim.query_concurrent,
                                          last_hour + 1, lim.query_per_hour)
        wait = self._wait(hits, now, 3600, lim.query_per_hour or 0) if hour_full else 1
        return Admission(False, msg, wait)
