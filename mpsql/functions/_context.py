"""What the mp_* sources of one installation share: which account, one client per account, progress, errors."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from mpsql.api.client import MixpanelClient
from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, resolve_account
from mpsql.errors import ArgumentError, ConfigError


@dataclass
class Progress:
    """Counters a long statement updates as it goes; the CLI draws them on stderr."""

    function: str = ""
    windows_total: int = 0
    windows_done: int = 0
    rows: int = 0
    bytes: int = 0


@dataclass
class Context:
    """Per-installation settings and state; one per ``install()`` call."""

    account: Account | None = None
    limits: RateLimits = field(default_factory=RateLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_progress: Callable[[Progress], None] | None = None
    notice: Callable[[str], None] | None = None
    today: Callable[[], dt.date] = field(default=lambda: dt.datetime.now(dt.UTC).date())
    last_error: BaseException | None = None
    _clients: dict[str, MixpanelClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, function: str, account_name: str | None) -> MixpanelClient:
        """The client for ``account := name`` (or the installation's account); ``ArgumentError`` if unknown."""
        key = account_name or ""
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                account = self._resolve(function, account_name)
                kwargs = {"notice": self.notice} if self.notice else {}
                client = self._clients[key] = MixpanelClient(account, limits=self.limits, retry=self.retry, **kwargs)
            return client

    def _resolve(self, function: str, account_name: str | None) -> Account:
        if account_name is None and self.account is not None:
            return self.account
        try:
            return resolve_account(account_name)
        except ConfigError as exc:
            if account_name is not None:
                raise ArgumentError(function, "account", str(exc)) from None
            raise
