"""What the mp_* sources of one installation share: which account, one client per account, progress, errors."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mpsql.api.cache import ResponseCache
from mpsql.api.client import REQUEST_LOG, MixpanelClient
from mpsql.api.ratelimit import RateLimits, file_ledger
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, resolve_account
from mpsql.errors import ArgumentError, ConfigError
from mpsql.store.days import DayStore, StoreSettings, project_key, store_root

_CALLS = itertools.count(1)


@dataclass
class Progress:
    """Counters a long statement updates as it goes; the CLI draws them on stderr."""

    function: str = ""
    windows_total: int = 0
    windows_done: int = 0
    rows: int = 0
    bytes: int = 0
    requests: int = 0


class CancelScope:
    """One statement's cancel flag: set by the statement itself (LIMIT reached, an error) or, through its
    parent, by ``mpsql.interrupt(con)`` / Ctrl-C. Reads like a ``threading.Event``."""

    def __init__(self, parent: threading.Event, statement: int | None = None) -> None:
        self._own = threading.Event()
        self._parent = parent
        self.statement = statement  # the call's number in this process: mp_requests() groups requests by it

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or self._parent.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` seconds passed; True when set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            self._own.wait(left)
        return True


@dataclass
class Context:
    """Per-installation settings and state; one per ``install()`` call."""

    account: Account | None = None
    limits: RateLimits = field(default_factory=RateLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_progress: Callable[[Progress], None] | None = None
    notice: Callable[[str], None] | None = None
    today: Callable[[], dt.date] = field(default=lambda: dt.datetime.now(dt.UTC).date())
    now: Callable[[], float] = time.time  # seconds since the epoch: when days were fetched, whether still fresh
    store_root: Path | None = None  # None: $MPSQL_STORE_DIR or the user's data folder, read when first needed
    last_error: BaseException | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    _running: int = 0
    _clients: dict[str, MixpanelClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, progress: Progress) -> None:
        """Pass a statement's progress to the installation's ``on_progress`` (the CLI's progress line), if any."""
        if self.on_progress is not None:
            self.on_progress(progress)

    def scope(self) -> CancelScope:
        """A cancel flag for one call that ``interrupt`` also sets, numbered so its requests can be told apart."""
        return CancelScope(self.cancel, next(_CALLS))

    @property
    def running(self) -> int:
        """How many mp_* sources are producing rows right now."""
        return self._running

    def enter(self) -> None:
        """A source starts producing rows."""
        with self._lock:
            self._running += 1

    def leave(self) -> None:
        """A source is done; once none is running, an interrupt has done its work and is forgotten."""
        with self._lock:
            self._running -= 1
            if self._running <= 0:
                self._running = 0
                self.cancel.clear()

    def interrupt(self) -> None:
        """Stop the running sources at their next check: between chunks, in retry and rate-budget waits.

        The requests of this installation's accounts still in flight are marked ``cancelled`` in the request
        log, so ``mp_requests()`` tells them from answered ones."""
        with self._lock:
            if not self._running:
                return
            self.cancel.set()
            accounts = {client.account.name for client in self._clients.values()}
        for record in list(REQUEST_LOG):
            if record.account in accounts and not record.milliseconds and not record.cache_hit and not record.error:
                record.error = "cancelled"

    def client(self, function: str, account_name: str | None, *, retry: RetryPolicy | None = None) -> MixpanelClient:
        """The client for ``account := name`` (or the installation's account); ``ArgumentError`` if unknown.

        With ``retry``, a client of its own with that policy (the REPL's background load of names makes one
        attempt); it shares the rate ledger and the response cache's folder with the others."""
        key = account_name or ""
        with self._lock:
            client = self._clients.get(key) if retry is None else None
            if client is None:
                account = self._resolve(function, account_name)
                kwargs = {"notice": self.notice} if self.notice else {}
                client = MixpanelClient(account, limits=self.limits, retry=retry or self.retry,
                                        ledger=file_ledger(self.root()), cache=ResponseCache(notice=self.notice),
                                        **kwargs)
                if retry is None:
                    self._clients[key] = client
            return client

    def root(self) -> Path:
        """The event store's folder (the rate ledger lives there too)."""
        return self.store_root or store_root()

    def day_store(self, account: Account) -> DayStore:
        """The local event store of ``account``'s project (settings from the environment, read now)."""
        return DayStore(self.root(), project_key(account), StoreSettings.from_env())

    def _resolve(self, function: str, account_name: str | None) -> Account:
        if account_name is None and self.account is not None:
            return self.account
        try:
            return resolve_account(account_name)
        except ConfigError as exc:
            if account_name is not None:
                raise ArgumentError(function, "account", str(exc)) from None
            raise
