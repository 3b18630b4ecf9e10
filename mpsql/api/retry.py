"""The one retry policy: which failures are retried, and how long to wait before the next attempt.

Mixpanel asks clients to back off from about 2 s, doubling to 60 s with jitter, to treat 502/503 like 429, and
never to retry a 4xx other than 429 (FACTS.md §3.2). ``Retry-After`` is honoured when sent (seconds or an HTTP
date), capped so a hostile value cannot park a statement for hours.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


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
    """Exponential backoff with jitter, a cap per wait, and a cap on attempts."""

    max_attempts: int = 6
    base: float = 2.0
    cap: float = 60.0
    max_retry_after: float = 120.0
    jitter: float = 1.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

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
