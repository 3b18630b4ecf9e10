"""On-disk cache of small JSON responses, so repeated ``mpsql -c`` runs do not spend the hourly query budget.

Mixpanel's Query API allows 60 requests an hour per project (FACTS.md §3); discovery results (event names,
property names, cohorts, ...) change slowly, so they are kept for a TTL. Entries are keyed by everything that
makes a response differ (base URL, project, account, endpoint, method, parameters) and hold only what the
request returned: never a credential. The folder is 0700 and each entry 0600, written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_DIR = "MPSQL_CACHE_DIR"


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$MPSQL_CACHE_DIR``, else ``$XDG_CACHE_HOME/mpsql``, else ``~/.cache/mpsql``."""
    env = os.environ if env is None else env
    if env.get(ENV_DIR):
        return Path(env[ENV_DIR]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mpsql"


@dataclass(frozen=True)
class Entry:
    """One cached response: its JSON body and when it was stored (seconds since the epoch)."""

    body: Any
    stored: float
    size: int


class ResponseCache:
    """JSON responses on disk, one file per request key; ``get`` honours a TTL, ``peek`` ignores it."""

    def __init__(self, directory: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory if directory is not None else cache_dir()
        self._clock = clock

    @staticmethod
    def key(scope: str, endpoint: str, method: str, params: Mapping[str, str]) -> str:
        """A stable name for one request (``scope`` says which project and account asked)."""
        text = json.dumps([scope, endpoint, method, sorted(params.items())], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str, ttl: float) -> Entry | None:
        """The entry stored less than ``ttl`` seconds ago, or None."""
        entry = self.peek(key)
        if entry is None or self._clock() - entry.stored >= ttl:
            return None
        return entry

    def peek(self, key: str) -> Entry | None:
        """The entry however old (for completion, which must never make a request), or None."""
        path = self.directory / f"{key}.json"
        try:
            raw = path.read_bytes()
            doc = json.loads(raw)
            return Entry(doc["body"], float(doc["stored"]), len(raw))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # A torn or foreign file is a miss, and is removed so it cannot mislead again.
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def put(self, key: str, body: Any, endpoint: str) -> None:
        """Store ``body`` atomically (a reader sees the old entry or the new one, never half of one)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        doc = {"stored": self._clock(), "endpoint": endpoint, "body": body}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.directory / f"{key}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed
