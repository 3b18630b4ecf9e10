"""Generated days kept whole in memory and on disk, so the emulator makes each day of a dataset once.

A report over the demo's 90 days reads every day; with the generator's default in-memory window (40 days) a
whole-range scan evicted and regenerated days on every call (8-18 s for a retention or Engage call). A
:class:`CachedDataset` holds every day in memory, and with a folder also writes each generated day there and
reads it back in later processes (``mpsql --demo -c`` starts a fresh one each time).

The generator is untouched: a file is keyed by the dataset's parameters and a hash of the generator's source
(``datagen.py``), so a changed generator never reads days another version made. Files are zlib-compressed
(about 15 MB for the demo's 120 MB of JSONL), written to a scratch name and renamed into place; a file that
does not read back whole is ignored and regenerated. The folder is created 0700 and refused when it is a
symlink or belongs to another user; files are 0600.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import threading
import zlib
from functools import cache
from pathlib import Path

from mpsql.emulator import datagen
from mpsql.emulator.datagen import Dataset, DayData

FORMAT = 2


@cache
def generator_hash() -> str:
    """A short hash of the generator's source: days made by another version are never read."""
    return hashlib.sha256(Path(datagen.__file__).read_bytes()).hexdigest()[:16]


class CachedDataset(Dataset):
    """A :class:`Dataset` that keeps every day in memory and, with ``folder``, on disk across processes."""

    def __init__(self, seed: int, today: dt.date, days: int, users: int, folder: Path | None = None) -> None:
        super().__init__(seed, today, days, users, cache_days=days)
        self.folder: Path | None = None
        if folder is not None:
            key = f"seed{seed}-today{today.isoformat()}-days{days}-users{users}-gen{generator_hash()}-v{FORMAT}"
            self.folder = _private_dir(folder, key)

    def _generate_day(self, date: dt.date) -> DayData:
        path = self.folder / f"{date.isoformat()}.day" if self.folder is not None else None
        if path is not None:
            held = _read(path)
            if held is not None:
                return held
        data = super()._generate_day(date)
        if path is not None:
            _write(path, data)
        return data


def _private_dir(root: Path, key: str) -> Path | None:
    """``root/key``, created private; None (no disk cache) when the folder cannot be trusted or made."""
    try:
        for folder in (root, root / key):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.lstat(folder)
            if folder.is_symlink() or st.st_uid != os.getuid():
                return None
        for entry in root.iterdir():  # days of other dates, versions or generators are of no more use
            if entry.name != key and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
        return root / key
    except OSError:
        return None


def _read(path: Path) -> DayData | None:
    try:
        with open(path, "rb") as f:
            raw = zlib.decompress(f.read())
        head, _, body = raw.partition(b"\n")
        meta = json.loads(head)
        lines, at = [], 0
        for n in meta["lengths"]:
            lines.append(body[at:at + n])
            at += n
        if at != len(body) or not len(lines) == len(meta["events"]) == len(meta["times_ms"]):
            return None
        return DayData(lines, meta["events"], meta["times_ms"])
    except (OSError, ValueError, KeyError, zlib.error):
        return None


def _write(path: Path, data: DayData) -> None:
    head = json.dumps({"events": data.events, "times_ms": data.times_ms,
                       "lengths": [len(line) for line in data.lines]}).encode()
    blob = zlib.compress(head + b"\n" + b"".join(data.lines), 1)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # per thread: two may write
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(scratch, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
