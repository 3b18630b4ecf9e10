"""On-disk cache of small JSON responses, so repeated ``mpsql -c`` runs do not spend the hourly query budget.

Mixpanel's Query API allows 60 requests an hour per project (docs/mixpanel-api.md, "Rate limits"); discovery results
(event names, property names, cohorts, ...) change slowly, so they are kept for a TTL. Entries are keyed by everything
that makes a response differ (base URL, project, account, endpoint, method, parameters) and hold only what the request
returned: never a credential. The folder is 0700 and each entry 0600, written atomically.

The folder is checked before each use: a symlink, a non-directory or a folder another user owns is not used
(no caching, with a notice); a folder we own that is open to others is tightened to 0700. An entry is fresh
only if its stored time is a real time in the past within the TTL. The cache is an optimisation: a write that
fails is a notice, never a failed statement.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpsql.errors import ConfigError

ENV_DIR = "MPSQL_CACHE_DIR"

_ENTRY = re.compile(r"^[0-9a-f]{64}\.json$")  # what ``key`` names; temp files (".tmp-...") never match
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_S = 3600.0  # a temp file this old belongs to a writer that died; clear() removes it


ENV_TTL = "MPSQL_CACHE_TTL"
DISCOVERY_TTL = 3600.0  # event and property names change slowly; an hour spares the 60/hour query budget
REPORT_TTL = 300.0  # identical report requests within five minutes are answered from the cache


def cache_ttl(default: float) -> float | None:
    """The TTL to use: ``$MPSQL_CACHE_TTL`` seconds if set (0 turns caching off), else ``default``."""
    raw = os.environ.get(ENV_TTL, "").strip()
    try:
        seconds = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"${ENV_TTL} must be a number of seconds (0 turns caching off), not {raw!r}") from None
    return seconds if seconds > 0 else None


def _stderr_notice(message: str) -> None:
    print(f"mpsql: {message}", file=sys.stderr, flush=True)


class _Unsafe(OSError):
    """The cache folder is not one we can trust (a symlink, not a folder, someone else's)."""


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
    """JSON responses on disk, one file per request key; ``get`` honours a TTL, ``peek`` ignores it.

    ``notice`` hears why an entry could not be written (once per reason), so caching stays best-effort.
    """

    def __init__(self, directory: Path | None = None, clock: Callable[[], float] = time.time,
                 notice: Callable[[str], None] | None = None) -> None:
        self.directory = directory if directory is not None else cache_dir()
        self._clock = clock
        self.notice = notice or _stderr_notice
        self._told: set[str] = set()

    @staticmethod
    def key(scope: str, endpoint: str, method: str, params: Mapping[str, str]) -> str:
        """A stable name for one request (``scope`` says which project and account asked)."""
        text = json.dumps([scope, endpoint, method, sorted(params.items())], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str, ttl: float) -> Entry | None:
        """The entry stored less than ``ttl`` seconds ago, or None (also for a stored time in the future)."""
        entry = self.peek(key)
        if entry is None or not 0 <= self._clock() - entry.stored < ttl:
            return None
        return entry

    def peek(self, key: str) -> Entry | None:
        """The entry however old (for completion, which must never make a request), or None."""
        try:
            self._check_dir(create=False)
        except OSError:  # missing or untrusted: nothing to read
            return None
        path = self.directory / f"{key}.json"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError:
            return None  # a link or something unreadable planted under an entry's name: not ours, left alone
        try:
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    return None
                raw = f.read()
            doc = json.loads(raw)
            stored = doc["stored"]
            if isinstance(stored, bool) or not isinstance(stored, int | float) or not math.isfinite(stored):
                raise ValueError("the stored time is not a time")
            return Entry(doc["body"], float(stored), len(raw))
        except (OSError, ValueError, KeyError, TypeError):
            # A torn or foreign file is a miss, and is removed so it cannot mislead again.
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def put(self, key: str, body: Any, endpoint: str) -> None:
        """Store ``body`` atomically (a reader sees the old entry or the new one, never half of one).

        Never raises for the disk's sake: a failure is a notice, and the response is used all the same.
        """
        tmp = ""
        try:
            self._check_dir(create=True)
            doc = {"stored": self._clock(), "endpoint": endpoint, "body": body}
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=_TEMP_PREFIX, suffix=".json")  # mode 0600
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, self.directory / f"{key}.json")
        except (OSError, ValueError, TypeError) as e:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self._tell(f"the response cache in {self.directory} was not written ({_reason(e)}); "
                       "results are correct but not cached")
        except BaseException:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise

    def clear(self) -> int:
        """Remove every entry; returns how many there were. Other processes' writes in progress are left.

        A folder that is not ours to trust (a symlink, someone else's) is not touched: ConfigError says why.
        """
        try:
            self._check_dir(create=False)
        except FileNotFoundError:
            return 0
        except OSError as e:
            raise ConfigError(f"the response cache in {self.directory} was not cleared: {_reason(e)}") from None
        removed = 0
        now = time.time()
        with os.scandir(self.directory) as it:
            for item in it:
                if _ENTRY.match(item.name):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(item.path)
                        removed += 1
                elif item.name.startswith(_TEMP_PREFIX):
                    with contextlib.suppress(OSError):
                        if now - item.stat(follow_symlinks=False).st_mtime > _STALE_TEMP_S:
                            os.unlink(item.path)  # left by a writer that died mid-write
        return removed

    def _check_dir(self, create: bool) -> None:
        """Make sure the folder is ours, private and really a folder; create it (0700) when asked."""
        path = self.directory
        if create and not os.path.lexists(path):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:  # checked through a descriptor, so a link swapped in after the check is not what gets chmod-ed
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):  # Linux says ENOTDIR for a link
                raise _Unsafe(f"{path} is a symbolic link; point {ENV_DIR} at a real folder") from None
            if e.errno == errno.ENOTDIR:
                raise _Unsafe(f"{path} is not a folder") from None
            raise
        try:
            st = os.fstat(fd)
            if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
                raise _Unsafe(f"{path} belongs to another user")
            mode = stat.S_IMODE(st.st_mode)
            if mode & 0o077:
                os.fchmod(fd, mode & 0o700)  # ours: only we may read it or plant entries in it
        finally:
            os.close(fd)

    def _tell(self, message: str) -> None:
        if message not in self._told:
            self._told.add(message)
            self.notice(message)


def _reason(e: BaseException) -> str:
    """An error as a short reason (no traceback, no repr)."""
    if isinstance(e, OSError) and not isinstance(e, _Unsafe) and e.strerror:
        return e.strerror
    return str(e)
