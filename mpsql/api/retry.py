"""The one retry policy: which failures are retried, and how long to wait before the next attempt.

Mixpanel asks clients to back off from about 2 s, doubling to 60 s with jitter, to treat 502/503 like 429, and
never to retry a 4xx other than 429 (docs/mixpanel-api.md, "Rate limits"). ``Retry-After`` is honoured when sent
(seconds or an HTTP date), capped so a hostile value cannot park a statement for hours. A deadline caps the whole of one
logical request (every attempt and every wait between them), so no server can keep a statement busy for ever.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import os
import random
import time
from dataclasses import dataclass, field

from mpsql.errors import ConfigError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
ENV_DEADLINE = "MPSQL_REQUEST_DEADLINE"
ENV_IDLE = "MPSQL_IDLE_TIMEOUT"
# An hour covers the largest export window mpsql sizes itself (about 50 MB) many times over.
DEFAULT_DEADLINE = 3600.0
# Mixpanel's query routes may think for up to about 488 s before the first byte (their nginx read timeout).
DEFAULT_IDLE_TIMEOUT = 600.0


def env_seconds(name: str, default: float, *, zero_means_off: bool) -> float:
    """``$name`` as a number of seconds, else ``default``; ``inf`` for 0 when ``zero_means_off``.

    A value that is not a positive number (or 0 where that turns the limit off) is a ``ConfigError`` naming
    the variable, raised before any request.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if seconds == 0 and zero_means_off:
        return math.inf
    if not (0 < seconds < math.inf):
        off = " (0 turns it off)" if zero_means_off else ""
        raise ConfigError(f"${name} must be a positive number of seconds{off}, not {raw!r}")
    return seconds


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, a cap per wait, a cap on attempts, and a deadline for the whole request.

    ``deadline`` is in seconds (``inf``: none); None means ``$MPSQL_REQUEST_DEADLINE``, else an hour, read when
    a client is made (``resolved()``).
    """

    max_attempts: int = 6
    base: float = 2.0
    cap: float = 60.0
    max_retry_after: float = 120.0
    jitter: float = 1.0
    deadline: float | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError(f"deadline must be a positive number of seconds (inf for none), not {self.deadline!r}")

    def resolved(self) -> RetryPolicy:
        """This policy with its deadline settled: as given, else from ``$MPSQL_REQUEST_DEADLINE``, else an hour."""
        if self.deadline is not None:
            return self
        return dataclasses.replace(self, deadline=env_seconds(ENV_DEADLINE, DEFAULT_DEADLINE, zero_means_off=True))

    def out_of_time(self, spent: float) -> bool:
        """Whether a request that has spent ``spent`` seconds has used up its deadline."""
        return self.deadline is not None and spent >= self.deadline

    def wait(self, attempt: int, status: int | None, retry_after: float | None = None) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``, or None to give up.

        ``attempt`` counts from 1; ``status`` is the HTTP status, or None for a transport failure (dropped
        connection, truncated body), which is always worth another try.
        """
        if attempt >= self.max_attempts:
            return None
        if status is not None and status not in RETRYABLE_STATUSES:
            return None
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.cap, self.base * (2 ** (attempt - 1)))
        return backoff + self.rng.uniform(0, self.jitter)
