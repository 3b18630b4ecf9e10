"""End to end: the real ``mpsql --demo`` in a pseudo-terminal, typed at like a person would."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07|\x08")
PROMPT = "demo>"
LINES, COLUMNS = 40, 120


class Terminal:
    """A process on a pseudo-terminal it controls (so Ctrl-C is a SIGINT from the line discipline)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.fd, child = pty.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(args, stdin=child, stdout=child, stderr=child, env=env, close_fds=True,
                                     preexec_fn=controlling_terminal)
        os.close(child)
        self.raw = b""
        self.seen = 0  # how far expect() has read the screen text

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """Read until ``pattern`` shows up after what was already matched; fail with the transcript."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not select.select([self.fd], [], [], 0)[0]):
                pytest.fail(f"{pattern!r} did not appear; the terminal showed:\n{self.text}")
            if select.select([self.fd], [], [], min(left, 0.1))[0]:
                try:
                    self.raw += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    self.proc.wait(5)

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


@pytest.fixture
def terminal(tmp_path, demo_days):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_CONFIG_PATH=os.environ["MP_CONFIG_PATH"], MPSQL_HISTORY=str(tmp_path / "history"),
               TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1", PAGER="cat", LINES=str(LINES),
               COLUMNS=str(COLUMNS))
    term = Terminal([sys.executable, "-m", "mpsql", "--demo"], env)
    yield term
    term.close()


@pytest.mark.slow
def test_demo_session_query_cancel_and_exit(terminal):
    started = time.monotonic()
    terminal.expect(r"mpsql \S+ · the built-in demo project")
    terminal.expect(PROMPT)

    terminal.type("SELECT 6 * 7 AS answer;\r")
    terminal.expect(r"│ answer\s+│")
    terminal.expect(r"│\s+42 │")
    terminal.expect(r"1 row")
    terminal.expect(PROMPT)

    # A long export: its progress bar appears, then Ctrl-C cancels it and the prompt comes back.
    terminal.type("SELECT count(*) AS n FROM mp_export(current_date - 90, current_date - 1);\r")
    terminal.expect(r"mp_export: [█░]+ \d+/\d+ windows · [\d,]+ rows")
    time.sleep(0.3)
    terminal.type("\x03")
    cancelled = terminal.expect(r"mpsql: interrupted")
    terminal.expect(PROMPT)
    assert "│ n" not in terminal.text  # the count never printed
    assert terminal.proc.poll() is None

    terminal.type("SELECT upper('still' || ' alive') AS status;\r")
    terminal.expect(r"│ STILL ALIVE │")
    terminal.expect(PROMPT)

    terminal.type("\x04")  # Ctrl-D on the empty prompt
    assert terminal.proc.wait(30) == 0
    assert "Traceback" not in terminal.text
    assert cancelled.start() > 0 and time.monotonic() - started < 60
