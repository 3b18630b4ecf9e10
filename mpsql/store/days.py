"""One project's held days: where they live, what each holds, and writing a day whole or not at all.

A day is one Parquet file, ``events/date=YYYY-MM-DD/data.parquet``, holding every row Mixpanel exported for that
day and selection (duplicates included, marked by the ``duplicate`` column, so ``dedupe := false`` can still be
served). Its manifest (when and how it was fetched, which events and ``where`` it holds, the mpsql version) is
the file's Parquet key-value metadata, so the data and the manifest arrive in one ``rename``.

Days are settled once they are older than ``lookback`` days (late events stop arriving; Airbyte calls this the
attribution window). A day fetched after it settled is final; a newer one is fetched again when read, unless it
was fetched less than ``fresh`` seconds ago.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpsql.errors import ConfigError

if TYPE_CHECKING:
    from mpsql.config import Account

# Bumped when the file layout changes; days of another format count as not held. 3: ``time`` in milliseconds
# (export asks time_in_ms) and the manifest names the zone of the day; days of format 2 held whole seconds.
FORMAT = 3
META_KEY = b"mpsql"
DAY_FILE = "data.parquet"

ENV_DIR = "MPSQL_STORE_DIR"
ENV_LOOKBACK = "MPSQL_STORE_LOOKBACK_DAYS"
ENV_FRESH = "MPSQL_STORE_FRESH_SECONDS"
DEFAULT_LOOKBACK_DAYS = 5
DEFAULT_FRESH_SECONDS = 3600.0


def store_root(env: Mapping[str, str] | None = None) -> Path:
    """``$MPSQL_STORE_DIR``, else ``$XDG_DATA_HOME/mpsql/store``, else ``~/.local/share/mpsql/store``."""
    env = os.environ if env is None else env
    if env.get(ENV_DIR, "").strip():
        return Path(env[ENV_DIR].strip()).expanduser()
    base = env.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "mpsql" / "store"


@dataclass(frozen=True)
class StoreSettings:
    """When a held day may be served: ``lookback`` days to settle, ``fresh`` seconds for unsettled days."""

    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    fresh_seconds: float = DEFAULT_FRESH_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreSettings:
        env = os.environ if env is None else env
        return cls(lookback_days=int(_env_number(env, ENV_LOOKBACK, DEFAULT_LOOKBACK_DAYS, integer=True)),
                   fresh_seconds=_env_number(env, ENV_FRESH, DEFAULT_FRESH_SECONDS))


def _env_number(env: Mapping[str, str], name: str, default: float, integer: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = -1
    if value < 0 or value != value:  # negative or NaN
        kind = "a whole number of days" if integer else "a number of seconds"
        raise ConfigError(f"${name} must be {kind} (0 or more), not {raw!r}")
    return value


def project_key(account: Account) -> str:
    """The folder name of an account's project: the API host and project, never a secret.

    Mixpanel's own hosts are named by region (``us-12345``); another base URL (a proxy, the emulator) by its
    host and port, so two servers never share days. A legacy project secret picks the project itself, so its
    folder holds a one-way fingerprint of the secret.
    """
    if account.store_key:
        return account.store_key
    host = re.sub(r"^https?://", "", account.api_url).split("/", 1)[0] if account.api_url else account.region
    if account.project_id is not None:
        who = str(account.project_id)
    else:
        digest = hashlib.sha256(b"mpsql-store|" + account.secret.reveal().encode()).hexdigest()
        who = "legacy-" + digest[:16]
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{host}-{who}")


@dataclass(frozen=True)
class Selection:
    """Which of a day's events a fetch asked for: ``events`` None = all of them; ``where`` None = no filter;
    ``zone`` the zone of export's days (UTC, or a legacy project's: docs/mixpanel-api.md, "Time zones")."""

    events: tuple[str, ...] | None = None
    where: str | None = None
    zone: str = "UTC"

    @property
    def full(self) -> bool:
        return self.events is None and self.where is None

    def covers(self, want: Selection, *, where_applies_locally: bool) -> bool:
        """Whether rows held under this selection answer ``want`` exactly.

        A held ``where`` answers only the very same ``where``; a day held without one answers any ``where``
        that can be applied locally (``where_applies_locally``). A day of another zone is another day.
        """
        if self.zone != want.zone:
            return False
        if self.events is not None and (want.events is None or not set(want.events) <= set(self.events)):
            return False
        if self.where is None:
            return want.where is None or where_applies_locally
        return self.where == want.where

    def to_json(self) -> dict[str, Any]:
        return {"events": list(self.events) if self.events is not None else None, "where": self.where,
                "zone": self.zone}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Selection:
        events = doc.get("events")
        return cls(tuple(events) if events is not None else None, doc.get("where"), str(doc.get("zone") or "UTC"))


@dataclass(frozen=True)
class HeldDay:
    """One held day, as its file's manifest describes it."""

    date: dt.date
    path: Path
    rows: int
    bytes: int
    fetched_at: float  # seconds since the epoch
    selection: Selection
    request: str  # the request's date range, e.g. '2024-01-01..2024-01-31'
    version: str

    def settled(self, lookback_days: int) -> bool:
        """Fetched at least ``lookback_days`` after the day ended: late events can no longer arrive."""
        import zoneinfo

        ended = dt.datetime.combine(self.date + dt.timedelta(days=1), dt.time(), zoneinfo.ZoneInfo(self.selection.zone))
        return self.fetched_at >= (ended + dt.timedelta(days=lookback_days)).timestamp()

    def servable(self, settings: StoreSettings, now: float) -> bool:
        """Settled, or fetched recently enough to be served without asking again."""
        return self.settled(settings.lookback_days) or now - self.fetched_at < settings.fresh_seconds


@dataclass
class DayStore:
    """The held days of one project under ``root``. Folders are 0700 and files 0600; symlinks are refused."""

    root: Path
    key: str
    settings: StoreSettings = field(default_factory=StoreSettings)

    @property
    def project_dir(self) -> Path:
        return self.root / self.key

    @property
    def events_dir(self) -> Path:
        return self.project_dir / "events"

    def day_path(self, date: dt.date) -> Path:
        return self.events_dir / f"date={date.isoformat()}" / DAY_FILE

    # -- reading ------------------------------------------------------------------------------------------------

    def _readable(self) -> bool:
        """The project's folders are plain folders of this user (else nothing in them is read, listed or dropped)."""
        for folder in (self.project_dir, self.events_dir):
            try:
                st = os.lstat(folder)
            except OSError:
                return False
            if (stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode)
                    or (hasattr(os, "getuid") and st.st_uid != os.getuid())):
                return False
        return True

    def held(self, dates: Iterable[dt.date]) -> dict[dt.date, HeldDay]:
        """The held days among ``dates`` (a file that is unreadable or of another format is not held)."""
        out: dict[dt.date, HeldDay] = {}
        if not self._readable():
            return out
        for date in dates:
            day = self._read(date, self.day_path(date))
            if day is not None:
                out[date] = day
        return out

    def all_days(self) -> list[HeldDay]:
        """Every held day, oldest first."""
        if not self._readable():
            return []
        days = []
        for entry in sorted(self.events_dir.iterdir()):
            match = re.fullmatch(r"date=(\d{4}-\d{2}-\d{2})", entry.name)
            if not match:
                continue
            try:
                date = dt.date.fromisoformat(match.group(1))
            except ValueError:
                continue
            day = self._read(date, entry / DAY_FILE)
            if day is not None:
                days.append(day)
        return days

    def rows_per_day(self, limit: int = 30) -> float | None:
        """The project's recent density (rows a day over the latest held whole days), or None if none is held."""
        whole = [d for d in self.all_days() if d.selection.full][-limit:]
        return sum(d.rows for d in whole) / len(whole) if whole else None

    def _read(self, date: dt.date, path: Path, folder_checked: bool = False) -> HeldDay | None:
        import pyarrow.parquet as pq

        try:
            st = os.lstat(path)
            # Neither the file nor its day folder may be a link: the store is read only where it was written.
            if not stat.S_ISREG(st.st_mode) or (not folder_checked and stat.S_ISLNK(os.lstat(path.parent).st_mode)):
                return None
            meta = pq.read_metadata(path)
            doc = json.loads((meta.metadata or {}).get(META_KEY, b"{}"))
        except (OSError, ValueError):
            return None
        if doc.get("format") != FORMAT or doc.get("day") != date.isoformat():
            return None
        return HeldDay(date=date, path=path, rows=meta.num_rows, bytes=st.st_size, fetched_at=float(doc["fetched_at"]),
                       selection=Selection.from_json(doc.get("selection", {})), request=str(doc.get("request", "")),
                       version=str(doc.get("version", "")))

    # -- writing ------------------------------------------------------------------------------------------------

    def commit(self, date: dt.date, staged: Path) -> None:
        """Make ``staged`` (a whole day file on the store's filesystem) the held file of ``date``, atomically.

        The staged file stays where it is (a hard link is renamed into place), so the statement that fetched it
        can go on reading it whatever later happens to the held day.
        """
        target_dir = ensure_dir(self.day_path(date).parent, self.root)
        tmp = target_dir / f".{DAY_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            os.link(staged, tmp)
        except OSError:  # a filesystem without hard links: copy instead
            shutil.copyfile(staged, tmp)
        try:
            os.chmod(tmp, 0o600)
            os.replace(tmp, target_dir / DAY_FILE)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def drop(self, dates: Iterable[dt.date]) -> list[dt.date]:
        """Forget the held days among ``dates``; returns those that were held."""
        if not self._readable():
            if os.path.lexists(self.project_dir):
                raise ConfigError(f"refusing to drop days in {self.project_dir}: a folder there is a link or "
                                  "belongs to another user")
            return []
        dropped = []
        for date in dates:
            path = self.day_path(date)
            try:
                if stat.S_ISLNK(os.lstat(path.parent).st_mode):
                    continue  # a day folder put there as a link: nothing of ours to delete
                os.unlink(path)
            except FileNotFoundError:
                continue
            dropped.append(date)
            with contextlib.suppress(OSError):
                os.rmdir(path.parent)
        return dropped

    def pin(self, dates: Iterable[dt.date], scratch: Path) -> dict[dt.date, HeldDay]:
        """The held days among ``dates``, hard-linked into the statement's ``scratch`` and read from there: whatever
        replaces a held day meanwhile (another process's fetch), the statement reads what it planned with, whole."""
        pinned: dict[dt.date, HeldDay] = {}
        if not self._readable():
            return pinned
        for date in dates:
            path = self.day_path(date)
            try:
                if stat.S_ISLNK(os.lstat(path.parent).st_mode) or not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
            except OSError:
                continue  # not held
            link = scratch / f"held-{date.isoformat()}.parquet"
            try:
                os.link(path, link)
            except OSError:
                try:
                    shutil.copyfile(path, link, follow_symlinks=False)
                except OSError:
                    continue  # gone since it was listed: not held
            day = self._read(date, link, folder_checked=True)
            if day is not None:
                pinned[date] = day
        return pinned

    def scratch(self) -> Path:
        """A private folder for one statement's downloads, on the store's filesystem (so commits are renames);
        folders that dead processes left behind are removed first."""
        tmp = ensure_dir(self.project_dir / "tmp", self.root)
        remove_orphans(tmp)
        return make_scratch(tmp)


def manifest(day: dt.date, fetched_at: float, selection: Selection, request: str, version: str) -> str:
    """A day file's manifest, as stored in its Parquet key-value metadata (its day too: a file moved to another
    day's folder is not taken for that day)."""
    return json.dumps({"format": FORMAT, "day": day.isoformat(), "fetched_at": fetched_at,
                       "selection": selection.to_json(), "request": request, "version": version},
                      separators=(",", ":"))


# -- folders ----------------------------------------------------------------------------------------------------

def ensure_dir(path: Path, root: Path) -> Path:
    """``path`` as a real folder (created 0700), refusing a symlink or a folder of someone else under ``root``."""
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot use the event store folder {root} (${ENV_DIR}): {exc.strerror or exc}") from None
    rel = path.relative_to(root)
    current = root
    for part in rel.parts:
        current = current / part
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(current, 0o700)
            st = os.lstat(current)
        except OSError as exc:
            raise ConfigError(f"cannot use the event store folder {current}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"refusing to use the event store folder {current}: it is not a plain folder")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise ConfigError(f"refusing to use the event store folder {current}: it belongs to another user")
        if st.st_mode & 0o077:
            os.chmod(current, 0o700)  # only ever narrowed
    return path


SCRATCH_PREFIX = "mpsql-export-"


_LIVE: dict[str, int] = {}  # scratch folder -> the descriptor holding its lock while the statement runs
LOCK_FILE = ".live"


def make_scratch(parent: Path) -> Path:
    """A fresh 0700 folder, locked for as long as its statement runs (``release_scratch``), so a later start
    anywhere on this machine, in any PID namespace, can tell a live one from one a killed process left."""
    import fcntl
    import tempfile

    folder = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=parent)
    fd = os.open(os.path.join(folder, LOCK_FILE), os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _LIVE[folder] = fd
    return Path(folder)


def release_scratch(folder: Path) -> None:
    """Remove a statement's scratch folder and drop its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _LIVE.pop(str(folder), None)
    if fd is not None:
        os.close(fd)


def remove_orphans(parent: Path) -> int:
    """Remove scratch folders nobody holds the lock of any more (a killed export); returns how many."""
    import fcntl

    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        if entry.path in _LIVE:
            continue
        try:
            if hasattr(os, "getuid") and entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            fd = os.open(os.path.join(entry.path, LOCK_FILE), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:  # made by an older mpsql, or between mkdtemp and its lock: judge by the pid
            match = re.match(re.escape(SCRATCH_PREFIX) + r"(\d+)-", entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its statement is running
        finally:
            os.close(fd)
        shutil.rmtree(entry.path, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
