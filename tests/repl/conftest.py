"""Drive the REPL as prompt-toolkit's own tests do: keys through a pipe, a dummy screen, captured streams."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from mpsql.repl import Repl

CTRL_C, CTRL_D = "\x03", "\x04"


@dataclass
class FakeNames:
    """What the discovery cache might hold: a few events, properties per event."""

    events: list[str] = field(default_factory=lambda: ["Page View", "Purchase", "Sign Up", "O'Brien's Event"])
    by_event: dict[str, list[str]] = field(default_factory=lambda: {
        "Purchase": ["$browser", "amount", "currency"], "Page View": ["$browser", "$current_url", "page"]})

    def properties(self, event: str | None = None) -> list[str]:
        if event is not None:
            return self.by_event.get(event, [])
        return sorted({p for names in self.by_event.values() for p in names})


@dataclass
class Session:
    """A finished REPL session: what it wrote, and the Repl itself for inspection."""

    repl: Repl
    out: str
    err: str


@pytest.fixture
def make_repl(account) -> Iterator[Callable[..., Repl]]:
    """A Repl on an in-memory database using the test emulator's account, 80 columns wide, no pager."""
    made: list[Repl] = []

    def make(**options) -> Repl:
        options.setdefault("account", account)
        options.setdefault("names", lambda con: FakeNames())
        options.setdefault("history", InMemoryHistory())
        repl = Repl(out=io.StringIO(), err=io.StringIO(), width=80, pager=False, **options)
        made.append(repl)
        return repl

    yield make
    for repl in made:
        repl.close()


@pytest.fixture
def drive(make_repl) -> Callable[..., Session]:
    """Type ``keys`` into a fresh REPL (Ctrl-D is added to end the session) and return what it wrote."""
    def run(keys: str, repl: Repl | None = None, history: History | None = None, **options) -> Session:
        if history is not None:
            options["history"] = history
        repl = repl or make_repl(**options)
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            pipe.send_text(keys + CTRL_D)
            assert repl.run() == 0
        return Session(repl, repl.stdout.getvalue(), repl.err.getvalue())

    return run
