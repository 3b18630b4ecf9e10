"""The interactive mpsql shell: ``mpsql`` on a terminal with no SQL to run.

``app`` is the session and prompt, ``commands`` the dot and backslash commands, ``completer`` the completion,
``statements`` when a buffer is a complete statement, ``history`` the secret-free history file.
"""

from __future__ import annotations

from mpsql.repl.app import Repl, run_repl

__all__ = ["Repl", "run_repl"]
