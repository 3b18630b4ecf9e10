"""A client-side rate budget per API family and project, shared by every connection in the process.

Mixpanel allows export 60 requests/hour, 3/second and 100 concurrent, and the Query API 60/hour and 5
concurrent, per project (FACTS.md §3). Waiting here, and saying so on stderr, is cheaper than running into a
429: a rejected request still counts against the hour.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from mpsql.api.regions import Family
from mpsql.errors import Cancelled

PER_SECOND_WINDOW = 1.1


class _Flag(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass(frozen=True)
class Limits:
    """One family's allowance; None means unlimited."""

    per_hour: int | None = None
    per_second: int | None = None
    concurrent: int | None = None


@dataclass(frozen=True)
class RateLimits:
    """The allowance per API family; defaults are Mixpanel's documented limits."""

    export: Limits = Limits(per_hour=60, per_second=3, concurrent=100)
    query: Limits = Limits(per_hour=60, concurrent=5)
    app: Limits = Limits()

    @classmethod
    def unlimited(cls) -> RateLimits:
        """No client-side pacing (for the emulator in tests and the demo, which enforce their own)."""
        return cls(export=Limits(), query=Limits(), app=Limits())

    def for_family(self, family: Family) -> Limits:
        return getattr(self, family)


class Budget:
    """Sliding-window request budget for one (base URL, project, family)."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._sent: deque[float] = deque()
        self._running = 0
        self.used = 0
        self.waits = 0
        self.waited_seconds = 0.0
        self.last_retry_after: float | None = None

    def _delay(self, now: float) -> float:
        """Seconds until one more request fits the hourly and per-second windows (0 when it fits now)."""
        while self._sent and now - self._sent[0] >= 3600:
            self._sent.popleft()
        delay = 0.0
        per_hour, per_second = self.limits.per_hour, self.limits.per_second
        if per_hour is not None and len(self._sent) >= per_hour:
            delay = max(delay, self._sent[-per_hour] + 3600 - now)
        if per_second is not None and len(self._sent) >= per_second:
            # A margin: the server counts arrivals, and two requests can arrive closer than they were sent.
            delay = max(delay, self._sent[-per_second] + PER_SECOND_WINDOW - now)
        return delay

    def remaining_this_hour(self) -> int | None:
        with self._cond:
            now = self._clock()
            if self.limits.per_hour is None:
                return None
            return self.limits.per_hour - sum(1 for t in self._sent if now - t < 3600)

    @contextmanager
    def slot(self, announce: Callable[[float, str], None] | None = None,
             cancel: _Flag | None = None) -> Iterator[None]:
        """Hold one request slot; blocks (announcing the wait) until the budget allows one.

        A wait can last up to an hour once the hourly budget is spent, so ``cancel`` ends it (``Cancelled``).
        """
        with self._cond:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled while waiting for the rate budget")
                concurrent = self.limits.concurrent
                if concurrent is not None and self._running >= concurrent:
                    self.waits += 1
                    self._cond.wait(timeout=0.2 if cancel is not None else 1.0)
                    continue
                delay = self._delay(self._clock())
                if delay <= 0:
                    break
                reason = self._reason()
                self.waits += 1
                self.waited_seconds += delay
                if announce is not None:
                    announce(delay, reason)
                self._cond.release()
                try:
                    if cancel is not None:
                        if cancel.wait(delay):
                            raise Cancelled("cancelled while waiting for the rate budget")
                    else:
                        self._sleep(delay)
                finally:
                    self._cond.acquire()
            self._sent.append(self._clock())
            self._running += 1
            self.used += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify()

    def _reason(self) -> str:
        parts = []
        if self.limits.per_hour is not None:
            parts.append(f"{self.limits.per_hour}/hour")
        if self.limits.per_second is not None:
            parts.append(f"{self.limits.per_second}/second")
        return "budget " + ", ".join(parts)


_budgets: dict[tuple[str, str, str], Budget] = {}
_budgets_lock = threading.Lock()


def budget_for(base_url: str, project: str, family: Family, limits: RateLimits) -> Budget:
    """The process-wide budget for one family of one project at one base URL (created on first use)."""
    key = (base_url, project, family)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None or budget.limits != limits.for_family(family):
            budget = _budgets[key] = Budget(limits.for_family(family))
        return budget


def all_budgets() -> dict[tuple[str, str, str], Budget]:
    """A snapshot of every budget in use, keyed by (base URL, project, family)."""
    with _budgets_lock:
        return dict(_budgets)
