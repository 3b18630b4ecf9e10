"""The REPL's history file: 0600, under the user's data directory, and never a statement carrying a secret.

The file is opened without following a symlink and only when it is a regular file, so a planted link cannot
make mpsql write (or chmod) another file; permissions are only ever narrowed.

A statement is kept out of the file (it stays recallable for the running session only) when it mentions a
secret or password, creates a DuckDB secret, looks like an ``mpsql auth`` command, holds a long random-looking
token, or contains the secret of any configured account: in any case, URL-encoded (any mix of %XX escapes or
``+``), or inside base64 text (``base64(user:secret)`` as in a Basic header, ``base64(secret:)``, alone...).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import errno
import os
import re
import stat
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

_SENSITIVE = re.compile(
    r"secret|passw(or)?d|pwd\b|token|api[_-]?key|credential|authorization|mpsql\s+auth|MP_SECRET",
    re.IGNORECASE)
_PIECE = 8  # the shortest run of a secret's characters that counts as a piece of it (as api/client.py masks)
# Mixpanel's secrets are 32 letters and digits; a run that long mixing both is treated as one.
_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{32,}(?![A-Za-z0-9])")


def history_path(env: dict[str, str] | None = None) -> Path:
    """``$MPSQL_HISTORY``, else ``$XDG_DATA_HOME/mpsql/history``, else ``~/.local/share/mpsql/history``."""
    env = dict(os.environ) if env is None else env
    if env.get("MPSQL_HISTORY"):
        return Path(env["MPSQL_HISTORY"]).expanduser()
    base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path("~/.local/share").expanduser()
    return base / "mpsql" / "history"


def is_sensitive(text: str, secrets: Iterable[str] = ()) -> bool:
    """Whether ``text`` may carry a credential and so must not be written to the history file."""
    if _SENSITIVE.search(text) or _TOKEN.search(text):
        return True
    forms = {form for s in secrets if s and len(s) >= 4 for form in _forms(s)}
    if not forms:
        return False
    # The text as typed and URL-decoded, so every mix of %XX escapes (upper or lower hex) and '+' is covered.
    views = {v.casefold() for v in (text, urllib.parse.unquote(text), urllib.parse.unquote_plus(text))}
    return any(form in view for form in forms for view in views)


def _forms(secret: str) -> set[str]:
    """How a secret may appear, case-folded: as is, or inside base64 text (standard or URL-safe alphabet).

    Base64 turns each 3 bytes into 4 characters, so a secret inside encoded text (``user:secret``,
    ``secret:``) is encoded one of three ways depending on its offset. For each, the characters that depend
    on the secret's bytes alone are a fixed run, found whatever surrounds the secret.
    """
    raw = secret.encode()
    folded = secret.casefold()
    # Any run of _PIECE characters of it too, as the client masks in errors and logs: a pasted prefix is a leak.
    forms = {folded[i : i + _PIECE] for i in range(len(folded) - _PIECE + 1)} | {folded}
    for shift in range(3):
        first = 0 if shift == 0 else 1  # the 4-character group holding bytes before the secret is skipped
        last = (shift + len(raw)) // 3  # the group holding bytes after it is skipped too
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(b"\0" * shift + raw).decode()[4 * first:4 * last]
            if len(core) >= 8:  # a short run would match unrelated text
                forms.add(core.casefold())
    return forms


def configured_secrets() -> set[str]:
    """The secrets of every configured account and of ``MP_SECRET``/``MP_OAUTH_TOKEN``: kept in memory only, to
    filter history."""
    from mpsql.config import ConfigStore
    from mpsql.errors import ConfigError

    found = {os.environ.get("MP_SECRET", "").strip(), os.environ.get("MP_OAUTH_TOKEN", "").strip()}
    with contextlib.suppress(ConfigError, OSError):
        store = ConfigStore()
        if store.exists():
            found.update(a.secret.reveal() for a in store.list_accounts())
    return {s for s in found if s}


class SafeHistory(FileHistory):
    """A ``FileHistory`` that refuses secret-bearing statements and keeps its file private (mode 0600).

    Raises OSError (the REPL then keeps history in memory) when the file is a symlink or not a regular file.
    """

    def __init__(self, path: str | os.PathLike[str], secrets: Callable[[], Iterable[str]] = configured_secrets
                 ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = _open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY)
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if mode & 0o077:
                os.fchmod(fd, mode & 0o700)  # drop group/other access; never add any
        finally:
            os.close(fd)
        super().__init__(str(path))
        self.secrets = secrets  # called again after forget_secrets(); the values stay in memory only
        self._known: set[str] | None = None

    def forget_secrets(self) -> None:
        """Read the configured secrets again on the next store (after the account changed)."""
        self._known = None

    def load_history_strings(self) -> Iterable[str]:
        # prompt_toolkit's reader opens the path by name (following a link swapped in since): read our fd.
        try:
            fd = _open(Path(self.filename), os.O_RDONLY)
        except OSError:  # gone, or replaced by a link or a non-file: nothing to recall
            return []
        with os.fdopen(fd, "rb") as f:
            entries: list[str] = []
            lines: list[str] = []
            for raw in f:
                line = raw.decode("utf-8", errors="replace")
                if line.startswith("+"):
                    lines.append(line[1:])
                    continue
                if lines:
                    entries.append("".join(lines)[:-1])
                lines = []
            if lines:
                entries.append("".join(lines)[:-1])
        return list(reversed(entries))

    def store_string(self, string: str) -> None:
        if self._known is None:
            self._known = set(self.secrets())
        if is_sensitive(string, self._known):
            return
        # The same format as prompt_toolkit's FileHistory, written through a no-follow descriptor.
        text = f"\n# {datetime.datetime.now()}\n" + "".join(f"+{line}\n" for line in string.split("\n"))
        try:
            fd = _open(Path(self.filename), os.O_CREAT | os.O_APPEND | os.O_WRONLY)
        except OSError:
            return  # replaced by a link or a non-file mid-session: the statement stays in memory only
        with os.fdopen(fd, "ab") as f:
            f.write(text.encode("utf-8", errors="replace"))


def _open(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symlink at ``path`` and refuses anything but a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, f"{path} is a symbolic link; remove it or set MPSQL_HISTORY") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path} is not a regular file; remove it or set MPSQL_HISTORY")
    return fd
