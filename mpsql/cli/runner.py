"""Running one statement for ``mpsql -c/-f``, ``mpsql sync`` and the REPL alike: execute once, fetch once, render,
Ctrl-C, errors and exit codes.

Every statement is executed exactly once and its result fetched once (a DuckDB relation read twice would download
twice). Exit codes: 0 success; 1 a statement failed (SQL, Mixpanel or network error); 2 usage error; 3 no usable
credentials; 130 interrupted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import duckdb

    from mpsql.cli.render import ProgressLine
    from mpsql.config import Account
    from mpsql.functions import Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

FETCH_CHUNK = 10_000

# Statements that answer DuckDB's placeholder result (one Success or Count column) instead of rows.
_NO_RESULT = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRANSACTION", "SET", "VARIABLE_SET",
              "ATTACH", "DETACH", "LOAD", "COPY", "COPY_DATABASE", "VACUUM", "EXPORT", "PREPARE", "MERGE_INTO"}
_PLACEHOLDERS = ((["Success"], ["BOOLEAN"]), (["Count"], ["BIGINT"]))


class Cancellation:
    """Ctrl-C for the statements of one connection, and the progress line they draw.

    DuckDB's interrupt alone does not stop a scan of a Python source before the source ends: every remaining
    export window would still be downloaded. So Ctrl-C goes through ``mpsql.connection.interrupt``, which
    also cancels the sources' HTTP transfers and waits, and sets ``requested`` so that fetching stops too.
    """

    def __init__(self, progress: ProgressLine | None = None) -> None:
        self.progress = progress
        self.requested = threading.Event()

    def on_progress(self, p: Progress) -> None:
        """The connection's ``on_progress``: draws the line."""
        if self.progress is not None:
            self.progress.update(p)


def open_or_explain(database: str, *, account: str | None, demo: bool, cancel: Cancellation,
                    err: TextIO) -> duckdb.DuckDBPyConnection | int:
    """``open_connection``, or the exit code after saying on ``err`` why it could not be opened."""
    import duckdb

    from mpsql.errors import ConfigError, MpsqlError

    try:
        return open_connection(database, account=account, demo=demo, cancel=cancel)
    except ConfigError as exc:
        print(f"mpsql: {exc}", file=err)
        return EXIT_CONFIG
    except (duckdb.Error, MpsqlError) as exc:
        print(f"mpsql: {exc}", file=err)
        return EXIT_FAILED


def open_connection(database: str, *, account: str | Account | None, demo: bool,
                    cancel: Cancellation) -> duckdb.DuckDBPyConnection:
    """``mpsql.connect`` wired to ``cancel`` (progress, notices, Ctrl-C), as the CLI and the REPL use it."""
    import mpsql

    progress = cancel.progress
    con = mpsql.connect(database, account=account, demo=demo, on_progress=cancel.on_progress,
                        notice=progress.notice if progress else None)
    # DuckDB's own bar writes to stdout, where it would corrupt csv/json results (and draw over the progress line).
    con.execute("SET enable_progress_bar = false")
    return con


def run_statement(con: duckdb.DuckDBPyConnection, statement: Any, *, fmt: str, max_rows: int, out: TextIO,
                  err: TextIO, debug: bool = False, cancel: Cancellation | None = None,
                  width: int | None = None, terminal: bool | None = None, where: str | None = None,
                  keep: Callable[[list[str], list[str], list[tuple]], None] | None = None) -> int:
    """Execute one statement, fetch its result once and write it to ``out`` in ``fmt``; returns an exit code.

    Ctrl-C interrupts DuckDB and, through ``cancel``, the mp_* sources (and so their HTTP transfers), and
    returns ``EXIT_INTERRUPTED``; a failure is one ``Error: ...`` block on ``err`` (a traceback only with
    ``debug``), ``Error: FILE:LINE: ...`` when ``where`` names the statement's place; ``keep`` receives the
    columns, types and first ``KEEP_ROWS`` rows of a result written whole (the REPL's ``.chart``). Shared by
    ``mpsql -c/-f`` and the REPL. ``terminal`` says ``out`` ends on a terminal (a pager's buffer does;
    default: ``out.isatty()``), where control characters in the data are shown escaped.

    On the main thread the statement runs on a helper thread: Python runs signal handlers only on the main
    thread and only between bytecodes, so a main thread blocked inside DuckDB would see Ctrl-C late.
    """
    cancel = cancel or Cancellation()
    cancel.requested.clear()
    if not _is_main_thread():
        return _execute(con, statement, fmt, max_rows, out, err, debug, cancel, width, terminal, where, keep)

    def interrupt(signum: int, frame: Any) -> None:  # the statement stops where it next looks
        from mpsql.connection import interrupt as stop

        cancel.requested.set()
        stop(con)

    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(_execute(con, statement, fmt, max_rows, out, err, debug,
                                                                   cancel, width, terminal, where, keep)),
                              name="mpsql-statement", daemon=True)
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)
    return codes[0] if codes else EXIT_FAILED


def _execute(con: duckdb.DuckDBPyConnection, statement: Any, fmt: str, max_rows: int, out: TextIO, err: TextIO,
             debug: bool, cancel: Cancellation, width: int | None, terminal: bool | None = None,
             where: str | None = None,
             keep: Callable[[list[str], list[str], list[tuple]], None] | None = None) -> int:
    import duckdb

    from mpsql.cli.render import write_result
    from mpsql.connection import context_of

    progress = cancel.progress
    ctx = context_of(con)
    if ctx is not None:
        ctx.last_error = None
    try:
        cursor = con.execute(statement)
        if cursor.description is None:
            return EXIT_OK
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        if statement.type.name in _NO_RESULT and (columns, types) in _PLACEHOLDERS:
            return EXIT_OK  # DuckDB's stand-in for "no result" (the DuckDB CLI prints nothing either)
        if progress is not None and fmt not in ("table", "markdown"):  # these write while fetching
            progress.hold()
        kept: list[tuple] = []
        write_result(out, fmt, columns, types, _keeping(_chunks(cursor, cancel), kept if keep else None),
                     max_rows=max_rows, width=width, terminal=terminal)
        out.flush()
        if keep is not None:
            keep(columns, types, kept)
        return EXIT_OK
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        print("\nmpsql: interrupted", file=err)
        return EXIT_INTERRUPTED
    except duckdb.Error as exc:
        if progress is not None:
            progress.clear()
        return report_failure(con, exc, err, debug, where)
    except BrokenPipeError:  # the reader went away (mpsql -c ... | head): nothing more to say
        return EXIT_FAILED
    except OSError as exc:  # the output cannot be written (a full disk, a closed .output file)
        print(f"Error: cannot write the result: {exc.strerror or exc}", file=err)
        return EXIT_FAILED
    except Exception as exc:  # a bug: one line, not the worker thread's traceback
        print(f"Error: {type(exc).__name__}: {exc} (mpsql --debug shows the traceback)", file=err)
        if debug:
            import traceback

            traceback.print_exc(file=err)
        return EXIT_FAILED
    finally:
        if progress is not None:
            progress.clear()


def report_failure(con: duckdb.DuckDBPyConnection, exc: BaseException, err: TextIO, debug: bool = False,
                   where: str | None = None) -> int:
    """Write a failed statement's error as one block on ``err``; returns the exit code it means.

    mpsql's own error (kept in the connection's ``last_error`` because DuckDB re-raises it with its type lost)
    when a source raised one; DuckDB's message otherwise, without Python's traceback text.
    """
    import duckdb

    from mpsql.connection import context_of
    from mpsql.errors import Cancelled, ConfigError
    from mpsql.functions import error_message

    ctx = context_of(con)
    cause = ctx.last_error if ctx is not None else None
    if (isinstance(cause, KeyboardInterrupt | Cancelled) or isinstance(exc, duckdb.InterruptException)
            or "Query interrupted" in str(exc)):
        print("\nmpsql: interrupted", file=err)
        return EXIT_INTERRUPTED
    from mpsql.cli.render import visible

    message = f"{type(cause).__name__}: {cause}" if cause is not None else error_message(exc)
    place = f"{visible(where)}: " if where else ""
    print(f"Error: {place}{visible(message, keep=chr(10))}", file=err)  # messages may quote the data or a server
    if debug:
        import traceback

        traceback.print_exception(cause or exc, file=err)
    return EXIT_CONFIG if isinstance(cause, ConfigError) else EXIT_FAILED


def _chunks(cursor: duckdb.DuckDBPyConnection, cancel: Cancellation) -> Iterator[list[tuple]]:
    while True:
        if cancel.requested.is_set():
            raise KeyboardInterrupt
        rows = cursor.fetchmany(FETCH_CHUNK)
        if not rows:
            return
        yield rows


KEEP_ROWS = 10_000


def _keeping(chunks: Iterator[list[tuple]], kept: list[tuple] | None) -> Iterator[list[tuple]]:
    """``chunks`` as they are, copying the first ``KEEP_ROWS`` rows into ``kept``."""
    for chunk in chunks:
        if kept is not None and len(kept) < KEEP_ROWS:
            kept.extend(chunk[: KEEP_ROWS - len(kept)])
        yield chunk


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


