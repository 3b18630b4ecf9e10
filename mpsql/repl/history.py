"""The REPL's history file: 0600, under the user's data directory, and never a statement carrying a secret.

A statement is kept out of the file (it stays recallable for the running session only) when it mentions a
secret or password, creates a DuckDB secret, looks like an ``mpsql auth`` command, holds a long random-looking
token, or contains the secret of any configured account.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

_SENSITIVE = re.compile(
    r"secret|passw(or)?d|pwd\b|token|api[_-]?key|credential|authorization|mpsql\s+auth|MP_SECRET",
    re.IGNORECASE)
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
    folded = text.casefold()
    return any(form in folded for s in secrets if s and len(s) >= 4 for form in _forms(s))


def _forms(secret: str) -> set[str]:
    """How a secret may be typed, case-folded: as is, or base64-encoded (padded or not, URL-safe or not)."""
    raw = secret.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {secret.casefold()} | {e.casefold() for e in encoded} | {e.rstrip("=").casefold() for e in encoded}


def configured_secrets() -> set[str]:
    """The secrets of every configured account and of ``MP_SECRET``: kept in memory only, to filter history."""
    from mpsql.config import ConfigStore
    from mpsql.errors import ConfigError

    found = {os.environ.get("MP_SECRET", "").strip()}
    with contextlib.suppress(ConfigError, OSError):
        store = ConfigStore()
        if store.exists():
            found.update(a.secret.reveal() for a in store.list_accounts())
    return {s for s in found if s}


class SafeHistory(FileHistory):
    """A ``FileHistory`` that refuses secret-bearing statements and keeps its file private (mode 0600)."""

    def __init__(self, path: str | os.PathLike[str], secrets: Callable[[], Iterable[str]] = configured_secrets
                 ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        super().__init__(str(path))
        self.secrets = secrets  # called again after forget_secrets(); the values stay in memory only
        self._known: set[str] | None = None

    def forget_secrets(self) -> None:
        """Read the configured secrets again on the next store (after the account changed)."""
        self._known = None

    def store_string(self, string: str) -> None:
        if self._known is None:
            self._known = set(self.secrets())
        if not is_sensitive(string, self._known):
            super().store_string(string)
