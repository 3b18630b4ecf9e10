"""A client-side rate budget per API family and project, shared by every process of the user on this machine.

Mixpanel allows export 60 requests/hour, 3/second and 100 concurrent, and the Query API 60/hour and 5
concurrent, per project (docs/mixpanel-api.md, rate limits). Waiting here, and saying so on stderr, is cheaper
than running into a 429: a rejected request still counts against the hour.

The hourly and per-second windows are kept in a ledger. ``FileLedger`` is a small JSON file under an exclusive
lock (beside the event store), so a REPL, a notebook and a cron ``mpsql sync`` together stay within one
allowance; ``MemoryLedger`` keeps them for this process only. Concurrency is counted per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mpsql.api.regions import Family
from mpsql.errors import Cancelled

# Mixpanel counts requests per second by their arrival; a request can arrive well after it was allowed here (a
# new connection, a busy machine, another process), so consecutive requests are spread over two seconds, not one.
# Pacing costs nothing that matters: the hourly allowance runs out long before this does.
PER_SECOND_WINDOW = 2.0
HOUR = 3600.0
MAX_ENTRIES = 10_000  # per key: an unlimited family is still counted, but the ledger stays small


class CancelFlag(Protocol):
    """What stops a request early: a ``threading.Event`` or anything with its ``is_set`` and ``wait``."""

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


def _delay(sent: list[float], limits: Limits, now: float) -> float:
    """Seconds until one more request fits the hourly and per-second windows of ``sent`` (0 when it fits now)."""
    delay = 0.0
    per_hour, per_second = limits.per_hour, limits.per_second
    if per_hour is not None and len(sent) >= per_hour:
        delay = max(delay, sent[-per_hour] + HOUR - now)
    if per_second is not None and len(sent) >= per_second:
        delay = max(delay, sent[-per_second] + PER_SECOND_WINDOW - now)
    return delay


def _recent(sent: list[float], now: float) -> list[float]:
    # A time ahead of now (a clock stepped back, another machine's skew) would block for as long: it is dropped.
    return [t for t in sent if 0 <= now - t < HOUR or 0 < t - now < 5][-MAX_ENTRIES:]


class Ledger(Protocol):
    """Where the request times of the last hour are kept, per budget key."""

    def reserve(self, key: str, limits: Limits, now: float) -> float:
        """Record a request at ``now`` and return 0 if ``limits`` allow one; else the seconds to wait."""
        ...

    def count(self, key: str, now: float) -> int:
        """Requests recorded under ``key`` in the hour before ``now``."""
        ...


class MemoryLedger:
    """Request times kept in this process only."""

    def __init__(self) -> None:
        self._sent: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, limits: Limits, now: float) -> float:
        with self._lock:
            sent = self._sent[key] = _recent(self._sent.get(key, []), now)
            delay = _delay(sent, limits, now)
            if delay <= 0:
                sent.append(now)
            return delay

    def count(self, key: str, now: float) -> int:
        with self._lock:
            return len(_recent(self._sent.get(key, []), now))


class FileLedger:
    """Request times in a JSON file shared by the user's processes, read and written under ``flock``.

    The file only paces requests: if it is unreadable or corrupt it starts afresh rather than fail a statement.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # flock is per open file; threads of one process take turns first
        self._fallback = MemoryLedger()  # if the file stops being usable (removed folder, a link put in place)

    def __repr__(self) -> str:
        return f"FileLedger({str(self.path)!r})"

    @contextmanager
    def _locked(self) -> Iterator[tuple[int, dict[str, Any]]]:
        import fcntl

        with self._lock:
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(self.path, flags, 0o600)
            try:
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)  # only ever narrowed
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw = b""
                while chunk := os.read(fd, 1 << 16):
                    raw += chunk
                try:
                    doc = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    doc = {}
                yield fd, doc if isinstance(doc, dict) else {}
            finally:
                os.close(fd)  # closing releases the lock

    def _write(self, fd: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, separators=(",", ":")).encode()
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, data)

    def reserve(self, key: str, limits: Limits, now: float) -> float:
        try:
            with self._locked() as (fd, doc):
                sent = _recent([t for t in doc.get(key, []) if isinstance(t, int | float)], now)
                delay = _delay(sent, limits, now)
                if delay <= 0:
                    sent.append(now)
                doc[key] = sent
                self._write(fd, {k: v for k, v in doc.items() if isinstance(v, list) and _recent(v, now)})
                return delay
        except OSError:  # O_NOFOLLOW refused a link, or the folder went: pace this process on its own
            return self._fallback.reserve(key, limits, now)

    def count(self, key: str, now: float) -> int:
        try:
            with self._locked() as (_, doc):
                return len(_recent([t for t in doc.get(key, []) if isinstance(t, int | float)], now))
        except OSError:
            return self._fallback.count(key, now)


def file_ledger(folder: Path) -> Ledger:
    """The ledger shared by the user's processes in ``folder``; this process's own if that cannot be used."""
    try:
        import fcntl  # noqa: F401 - POSIX only
    except ImportError:
        return MemoryLedger()
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        ledger = FileLedger(folder / "ratelimit-ledger.json")
        ledger.count("", time.time())  # can it be opened and locked?
        return ledger
    return MemoryLedger()


class Budget:
    """Sliding-window request budget for one (base URL, project, family), over a shared ledger."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, ledger: Ledger | None = None, key: str = "") -> None:
        self.limits = limits
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self.key = key
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._running = 0
        self.used = 0  # by this process
        self.waits = 0
        self.waited_seconds = 0.0
        self.last_retry_after: float | None = None

    def remaining_this_hour(self) -> int | None:
        if self.limits.per_hour is None:
            return None
        return max(0, self.limits.per_hour - self.ledger.count(self.key, self._clock()))

    def used_this_hour(self) -> int:
        """Requests of every process sharing the ledger in the last hour."""
        return self.ledger.count(self.key, self._clock())

    @contextmanager
    def slot(self, announce: Callable[[float, str], None] | None = None,
             cancel: CancelFlag | None = None) -> Iterator[None]:
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
                delay = self.ledger.reserve(self.key, self.limits, self._clock())
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


def budget_for(base_url: str, project: str, family: Family, limits: RateLimits,
               ledger: Ledger | None = None) -> Budget:
    """The process-wide budget for one family of one project at one base URL (created on first use).

    A later caller with other limits or another ledger changes them in place: the requests already counted
    still count.
    """
    key = (base_url, project, family)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = Budget(limits.for_family(family), ledger=ledger, key="|".join(key))
        else:
            budget.limits = limits.for_family(family)
            if ledger is not None:
                budget.ledger = ledger
        return budget


def all_budgets() -> dict[tuple[str, str, str], Budget]:
    """A snapshot of every budget in use, keyed by (base URL, project, family)."""
    with _budgets_lock:
        return dict(_budgets)
