"""The REPL session: a connection, how results are shown, the prompt, and what a submitted buffer does.

Statements run through ``mpsql.cli.runner.run_statement``, the same path as ``mpsql -c``: Ctrl-C while one runs
stops DuckDB and the mp_* source (and with it the HTTP transfer), and the REPL returns to the prompt. At the
prompt, Ctrl-C clears the line and Ctrl-D exits.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import duckdb
from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.filters import Condition, completion_is_selected, has_completions
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer
from pygments.lexers.sql import PostgresLexer

from mpsql.cli.render import ProgressLine, write_result
from mpsql.cli.runner import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Cancellation,
    open_connection,
    report_failure,
    run_statement,
)
from mpsql.config import Account
from mpsql.connection import context_of
from mpsql.errors import ConfigError, MpsqlError
from mpsql.repl import commands
from mpsql.repl.completer import Catalog, NamesProvider, SqlCompleter
from mpsql.repl.history import SafeHistory, configured_secrets, history_path
from mpsql.repl.statements import is_command, is_complete, scan, should_run

# Statement types after which the tables, columns or functions may have changed.
_DDL = {"CREATE", "DROP", "ALTER", "ATTACH", "DETACH", "LOAD", "IMPORT", "COPY_DATABASE", "MULTI"}
# The functions that fill the discovery cache completion reads event and property names from.
_DISCOVERY = ("mp_events", "mp_properties")


def cached_names(con: duckdb.DuckDBPyConnection) -> NamesProvider:
    """The event and property names completion offers: what mp_events()/mp_properties() cached, no request."""
    from mpsql.functions.discovery import KnownNames, known_names

    ctx = context_of(con)
    return known_names(ctx) if ctx is not None else KnownNames()


class Repl:
    """One interactive session. ``out``/``err`` default to the terminal; tests pass their own streams."""

    def __init__(self, *, database: str = ":memory:", account: str | Account | None = None, demo: bool = False,
                 debug: bool = False, out: TextIO | None = None, err: TextIO | None = None,
                 history: History | None = None,
                 names: Callable[[duckdb.DuckDBPyConnection], NamesProvider] = cached_names,
                 width: int | None = None, pager: bool | None = None) -> None:
        self.stdout = out or sys.stdout
        self.err = err or sys.stderr
        self.out: TextIO = self.stdout  # where results go; .output FILE changes it
        self.mode = "table"
        self.max_rows = 40
        self.timer = False
        self.last_result: tuple[list[str], list[str], list[tuple]] | None = None  # what .chart draws
        self.pager = self.stdout.isatty() if pager is None else pager
        self.width = width
        self.debug = debug
        self.running = True
        self.history = history if history is not None else InMemoryHistory()
        self.cancel = Cancellation(ProgressLine(self.err) if self.err.isatty() else None)
        self._names = names
        self.names_loader: threading.Thread | None = None  # the background load of event names, if one ran
        self._account, self._demo = account, demo
        self.database = database
        self.con = self._connect(database)
        self.completer = SqlCompleter(Catalog(), commands=commands.help_lines(), accounts=_account_names)
        self.refresh(names=True)

    # -- the connection -----------------------------------------------------------------------------------------

    def _connect(self, database: str) -> duckdb.DuckDBPyConnection:
        return open_connection(database, account=self._account, demo=self._demo, cancel=self.cancel)

    def refresh(self, names: bool = False) -> None:
        """Reload the completion catalog (after DDL) and, if asked, the Mixpanel names (after discovery).

        In an aborted transaction the catalog cannot be read: the one the completer has is kept.
        """
        with contextlib.suppress(duckdb.Error):
            self.completer.catalog = Catalog.load(self.con)
        if names:
            self.completer.names = self._names(self.con)
            self._load_names()

    def _load_names(self) -> None:
        """With no event names cached, load them on a thread (typing never waits): at most one request, and at
        most once a day (``load_event_names``); none without an account. Completion offers them once there."""
        if self.completer.names.events or (self.names_loader is not None and self.names_loader.is_alive()):
            return
        ctx = context_of(self.con)
        if ctx is None or self.account() is None:
            return
        con = self.con

        def load() -> None:
            from mpsql.functions.discovery import load_event_names

            try:
                if load_event_names(ctx) and self.con is con:
                    self.completer.names = self._names(con)
            except Exception:  # offline, no access, closed meanwhile: completion keeps its hint
                pass

        self.names_loader = threading.Thread(target=load, name="mpsql-names", daemon=True)
        self.names_loader.start()

    def switch_account(self, name: str) -> None:
        """``.account NAME``: reinstall the mp_* functions on this connection with another account."""
        from mpsql.connection import install

        demo = name == "demo" and "demo" not in _account_names()
        try:
            progress = self.cancel.progress
            install(self.con, account=None if demo else name, demo=demo, on_progress=self.cancel.on_progress,
                    notice=progress.notice if progress else None)
        except MpsqlError as exc:
            self.error(str(exc))
            return
        self._account, self._demo = (None if demo else name), demo
        if isinstance(self.history, SafeHistory):
            self.history.forget_secrets()
        self.refresh(names=True)
        self.say(self.describe_account())

    def open_database(self, database: str) -> None:
        """``.open FILE``: close this database and open another with the same account."""
        try:
            con = self._connect(database)
        except (duckdb.Error, MpsqlError) as exc:
            self.error(f"cannot open {database}: {exc}")
            return
        self.con.close()
        self.con, self.database = con, database
        self.refresh(names=True)
        self.say(f"opened {database}")

    def account(self) -> Account | None:
        """The account the mp_* functions use, or None while it is left to the environment and config."""
        ctx = context_of(self.con)
        if ctx is not None and ctx.account is not None:
            return ctx.account
        from mpsql.config import resolve_account

        try:
            return resolve_account()
        except ConfigError:
            return None

    def describe_account(self) -> str:
        """Which project the mp_* functions reach, in one secret-free line (or how to configure one)."""
        if self._demo:
            from mpsql.demo import describe_demo

            return describe_demo()
        account = self.account()
        if account is None:
            return ("no Mixpanel account configured: add one with 'mpsql auth add NAME --username USER "
                    "--project-id ID', or try the built-in demo with 'mpsql --demo' (or .account demo)")
        return f"account {account.name}: {account.describe()}"

    def secrets(self) -> set[str]:
        """Secrets the history must never hold: the configured ones and the session's own account's."""
        found = configured_secrets()
        account = self.account()
        if account is not None:
            found.add(account.secret.reveal())
        return found

    # -- output -------------------------------------------------------------------------------------------------

    def say(self, text: str, result: bool = False) -> None:
        """A message on the terminal; with ``result``, output that ``.output`` redirects."""
        print(text, file=self.out if result else self.err, flush=True)

    def error(self, text: str) -> None:
        """A failed command, in the same ``Error: ...`` form as a failed statement."""
        self.say(f"Error: {text}")

    def set_output(self, path: str | None) -> None:
        """``.output``: send results to ``path`` from now on (back to the terminal with None)."""
        if self.out is not self.stdout:
            self.out.close()
            self.out = self.stdout
        if path is not None:
            try:
                self.out = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the next .output
            except OSError as exc:
                self.error(f"cannot write {path}: {exc.strerror}")

    def _terminal_width(self) -> int:
        return self.width or shutil.get_terminal_size((120, 24)).columns

    def _paging(self) -> bool:
        return self.pager and self.out is self.stdout and self.stdout.isatty()

    def _emit(self, text: str) -> None:
        """Write rendered output, through the pager when it is taller or wider than the terminal."""
        size = shutil.get_terminal_size((120, 24))
        lines = text.splitlines()
        if len(lines) < size.lines - 1 and all(len(line) <= size.columns for line in lines):
            self.out.write(text)
            self.out.flush()
            return
        command = os.environ.get("PAGER") or "less"
        env = {**os.environ, "LESS": os.environ.get("LESS", "-SRXF")}
        try:
            subprocess.run(shlex.split(command), input=text, text=True, env=env, check=False)
        except KeyboardInterrupt:  # left the pager with Ctrl-C
            pass
        except OSError:  # no such pager
            self.out.write(text)

    def show(self, columns: list[str], types: list[str], rows: list[tuple]) -> None:
        """Render rows in the current mode (for the commands' own results)."""
        target = io.StringIO() if self._paging() else self.out
        write_result(target, self.mode, columns, types, [rows], max_rows=self.max_rows,
                     width=self._terminal_width(), terminal=True if target is not self.out else None)
        if target is not self.out:
            self._emit(target.getvalue())

    def show_query(self, sql: str, empty: str | None = None) -> None:
        """Run an introspection query (no Mixpanel request) and show its rows, or ``empty`` when there are none."""
        try:
            cursor = self.con.execute(sql)
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            report_failure(self.con, exc, self.err, self.debug)
            return
        if not rows and empty:
            self.say(empty)
            return
        self.show([d[0] for d in cursor.description], [str(d[1]) for d in cursor.description], rows)

    # -- running what the user typed ----------------------------------------------------------------------------

    def submit(self, text: str) -> int:
        """Run one submitted buffer: a command or SQL statements. Never raises; returns an exit code."""
        if not text.strip():
            return EXIT_OK
        try:
            if is_command(text):
                commands.dispatch(self, text)
                return EXIT_OK
            return self.run_sql(text)
        except KeyboardInterrupt:
            self.say("\nmpsql: interrupted")
            return EXIT_INTERRUPTED
        except Exception as exc:  # a bug must not end the session
            self.error(f"{type(exc).__name__}: {exc} (mpsql --debug shows the traceback)")
            if self.debug:
                import traceback

                traceback.print_exc(file=self.err)
            return EXIT_FAILED

    def run_sql(self, text: str) -> int:
        """Run each statement of ``text`` in turn, stopping at the first that fails or is cancelled."""
        try:
            statements = self.con.extract_statements(text)
        except duckdb.Error as exc:
            return report_failure(self.con, exc, self.err, self.debug)
        for statement in statements:
            code = self._run_statement(statement)
            if code != EXIT_OK:
                return code
        return EXIT_OK

    def _run_statement(self, statement: Any) -> int:
        target = io.StringIO() if self._paging() else self.out
        started = time.perf_counter()
        try:
            code = run_statement(self.con, statement, fmt=self.mode, max_rows=self.max_rows, out=target,
                                 err=self.err, debug=self.debug, cancel=self.cancel,
                                 width=self._terminal_width(), keep=self._keep_result,
                                 terminal=True if target is not self.out else None)  # a pager's buffer
        finally:
            elapsed = time.perf_counter() - started
            if statement.type.name in _DDL:
                self.refresh()
        if target is not self.out:
            self._emit(target.getvalue())
        if self.timer:
            self.say(f"Run Time (s): real {elapsed:.3f}")
        if code == EXIT_OK and any(name in statement.query.lower() for name in _DISCOVERY):
            self.completer.names = self._names(self.con)
        return code

    def _keep_result(self, columns: list[str], types: list[str], rows: list[tuple]) -> None:
        if rows:  # DDL and empty results leave the last chartable result in place
            self.last_result = (columns, types, rows)

    def run_script(self, text: str) -> int:
        """Run a script as if typed: command lines, and SQL statements however they are split across lines."""
        pending = ""
        for line in text.splitlines(keepends=True):
            if is_command(line) and _only_comments(pending):
                code, pending = self.submit(line), ""
            else:
                pending += line
                if not is_complete(pending):
                    continue
                code, pending = self.submit(pending), ""
            if code != EXIT_OK or not self.running:
                return code
        return self.submit(pending)

    # -- the prompt ---------------------------------------------------------------------------------------------

    def prompt_text(self) -> str:
        """``demo> ``, ``<account>> `` or ``mpsql> ``: the project the next statement reaches."""
        if self._demo:
            return "demo> "
        ctx = context_of(self.con)
        account = ctx.account if ctx is not None else None
        return f"{account.name}> " if account is not None else "mpsql> "

    def session(self) -> PromptSession[str]:
        """The prompt: multi-line SQL that runs once complete, highlighting, completion, history search."""
        keys = KeyBindings()

        @keys.add("enter", filter=has_completions & completion_is_selected)
        def _take_completion(event: KeyPressEvent) -> None:
            event.current_buffer.complete_state = None  # the completion is already in the buffer

        @keys.add("enter", filter=Condition(lambda: should_run(get_app().current_buffer.text)))
        def _run(event: KeyPressEvent) -> None:
            event.current_buffer.validate_and_handle()

        @keys.add("enter", filter=has_completions & ~completion_is_selected
                  & ~Condition(lambda: should_run(get_app().current_buffer.text)))
        def _newline(event: KeyPressEvent) -> None:  # a new line closes the menu instead of keeping it open
            event.current_buffer.cancel_completion()
            event.current_buffer.newline(copy_margin=False)

        @keys.add("escape", "enter")
        def _run_anyway(event: KeyPressEvent) -> None:
            event.current_buffer.validate_and_handle()

        def continuation(width: int, line_number: int, wrap_count: int) -> str:
            return " " * max(0, width - 5) + "...> "

        return PromptSession(
            multiline=True, key_bindings=keys, prompt_continuation=continuation,
            lexer=PygmentsLexer(PostgresLexer), completer=ThreadedCompleter(self.completer),
            complete_while_typing=True, auto_suggest=AutoSuggestFromHistory(), history=self.history,
            search_ignore_case=True, enable_open_in_editor=True)

    def run(self) -> int:
        """Prompt and run until Ctrl-D, ``.quit`` or the end of input; returns the exit code."""
        session = self.session()
        try:
            while self.running:
                try:
                    text = session.prompt(self.prompt_text())
                except KeyboardInterrupt:  # Ctrl-C at the prompt: the line is dropped
                    continue
                except EOFError:
                    break
                self.submit(text)
        finally:
            self.close()
        return EXIT_OK

    def close(self) -> None:
        """Close the ``.output`` file and the database."""
        self.set_output(None)
        self.con.close()


def _only_comments(text: str) -> bool:
    """Whether ``text`` holds no SQL yet: whitespace and finished comments only."""
    s = scan(text)
    return not s.tokens and not s.open_quote and s.in_comment != "/*"


def _account_names() -> list[str]:
    """Names of the configured accounts (none when the config file is missing or broken)."""
    from mpsql.config import ConfigStore

    try:
        return ConfigStore().names()
    except ConfigError:
        return []


def run_repl(args: argparse.Namespace) -> int:
    """``mpsql`` on a terminal with no SQL: open the database and run the REPL until Ctrl-D."""
    from mpsql import __version__

    try:
        history: History = SafeHistory(history_path())
    except OSError as exc:
        print(f"mpsql: history is not kept ({exc})", file=sys.stderr)
        history = InMemoryHistory()
    try:
        repl = Repl(database=args.database, account=args.account, demo=args.demo, debug=args.debug,
                    history=history)
    except ConfigError as exc:
        print(f"mpsql: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (duckdb.Error, MpsqlError) as exc:
        print(f"mpsql: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(history, SafeHistory):
        history.secrets = repl.secrets
    if args.demo:  # while the user types, the demo's emulator prepares its reports
        from mpsql.demo import prepare_reports

        prepare_reports()
    repl.mode, repl.max_rows = args.format, args.max_rows
    print(f"mpsql {__version__} · {repl.describe_account()}. .help lists commands; Ctrl-D exits.", file=sys.stderr)
    return repl.run()

