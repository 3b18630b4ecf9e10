"""``mpsql``: run SQL with the mp_* functions from -c, -f or stdin; ``mpsql auth ...``; ``mpsql emulator ...``.

Results go to stdout, messages to stderr. Every statement is executed exactly once and its result fetched
once (a DuckDB relation read twice would download twice).

Exit codes: 0 success; 1 a statement failed (SQL, Mixpanel or network error); 2 usage error; 3 no usable
credentials; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

FETCH_CHUNK = 10_000


def _parser() -> argparse.ArgumentParser:
    from mpsql.cli.render import FORMATS

    p = argparse.ArgumentParser(
        prog="mpsql",
        description="Mixpanel analytics as DuckDB SQL. Other commands: 'mpsql auth --help', "
                    "'mpsql emulator --help'.",
        epilog="Exit codes: 0 ok, 1 statement failed, 2 usage, 3 no credentials, 130 interrupted.")
    p.add_argument("database", nargs="?", default=":memory:", help="DuckDB database file (default: in memory)")
    p.add_argument("-c", "--command", action="append", default=[], metavar="SQL",
                   help="run SQL (repeatable; each may hold several statements)")
    p.add_argument("-f", "--file", action="append", default=[], metavar="FILE", help="run the SQL in FILE")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--demo", action="store_true", help="use the built-in demo project (a local emulator)")
    p.add_argument("--account", metavar="NAME", help="account from ~/.mp/config.toml")
    p.add_argument("--max-rows", type=int, default=40, metavar="N", help="rows shown by the table formats")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["auth"]:
        from mpsql.cli import auth

        return auth.main(argv[1:])
    if argv[:1] == ["emulator"]:
        from mpsql.emulator.__main__ import main as emulator_main

        return emulator_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.version:
        from mpsql import __version__

        print(f"mpsql {__version__}")
        return EXIT_OK
    scripts: list[str] = list(args.command)
    for path in args.file:
        try:
            with open(path, encoding="utf-8") as fh:
                scripts.append(fh.read())
        except OSError as exc:
            print(f"mpsql: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    if not scripts:
        if sys.stdin.isatty():
            print("mpsql: the interactive shell is not available yet; pass SQL with -c, -f or on stdin, "
                  "e.g. mpsql --demo -c \"SELECT * FROM mp_functions()\"", file=sys.stderr)
            return EXIT_USAGE
        scripts.append(sys.stdin.read())
    return run_scripts(args, scripts, sys.stdout, sys.stderr)


def run_scripts(args: argparse.Namespace, scripts: list[str], out: TextIO, err: TextIO) -> int:
    """Open the database, then run each script's statements in order, stopping at the first failure."""
    import duckdb

    import mpsql
    from mpsql.errors import ConfigError, MpsqlError

    progress = _ProgressLine(err) if err.isatty() else None
    try:
        con = mpsql.connect(args.database, account=args.account, demo=args.demo,
                            on_progress=progress.update if progress else None)
    except ConfigError as exc:
        print(f"mpsql: {exc}", file=err)
        return EXIT_CONFIG
    except (duckdb.Error, MpsqlError) as exc:
        print(f"mpsql: {exc}", file=err)
        return EXIT_FAILED
    if args.demo:
        print("mpsql: using the built-in demo project (synthetic data served by a local emulator)", file=err)
    try:
        for script in scripts:
            for statement in con.extract_statements(script):
                code = _run_one(con, statement, args, out, err, progress)
                if code != EXIT_OK:
                    return code
    except duckdb.Error as exc:  # a script that does not parse
        print(f"Error: {exc}", file=err)
        return EXIT_FAILED
    finally:
        con.close()
    return EXIT_OK


def _run_one(con, statement, args: argparse.Namespace, out: TextIO, err: TextIO,
             progress: _ProgressLine | None) -> int:
    import duckdb

    from mpsql.cli.render import write_result
    from mpsql.connection import context_of
    from mpsql.errors import ConfigError

    ctx = context_of(con)
    if ctx is not None:
        ctx.last_error = None
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum, frame):  # stop DuckDB (and with it the HTTP transfer), then raise in Python
        con.interrupt()
        raise KeyboardInterrupt

    in_main_thread = _is_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGINT, interrupt)
    try:
        cursor = con.execute(statement)
        if cursor.description is None:
            return EXIT_OK
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        write_result(out, args.format, columns, types, _chunks(cursor), max_rows=args.max_rows)
        out.flush()
        return EXIT_OK
    except KeyboardInterrupt:
        print("\nmpsql: interrupted", file=err)
        return EXIT_INTERRUPTED
    except duckdb.Error as exc:
        cause = ctx.last_error if ctx is not None else None
        if isinstance(cause, KeyboardInterrupt) or "Query interrupted" in str(exc):
            print("\nmpsql: interrupted", file=err)
            return EXIT_INTERRUPTED
        print(f"Error: {_message(exc, cause)}", file=err)
        if args.debug:
            import traceback

            traceback.print_exception(cause or exc, file=err)
        return EXIT_CONFIG if isinstance(cause, ConfigError) else EXIT_FAILED
    finally:
        if progress is not None:
            progress.clear()
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def _message(exc: BaseException, cause: BaseException | None) -> str:
    """mpsql's own error when a source raised one; DuckDB's message otherwise, without Python tracebacks."""
    from mpsql.functions._duckdb import unwrap

    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return unwrap(exc)


def _chunks(cursor) -> Iterator[list[tuple]]:
    while True:
        rows = cursor.fetchmany(FETCH_CHUNK)
        if not rows:
            return
        yield rows


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _ProgressLine:
    """One self-overwriting line on stderr: rows, bytes and windows of a long export."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._last = 0.0
        self._shown = False

    def update(self, p) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        text = (f"{p.function}: {p.rows:,} rows, {p.bytes / 1e6:,.1f} MB, "
                f"{p.windows_done}/{p.windows_total} windows")
        self._err.write("\r" + text[: _width() - 1] + "\x1b[K")
        self._err.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._err.write("\r\x1b[K")
            self._err.flush()
            self._shown = False


def _width() -> int:
    try:
        return os.get_terminal_size(2).columns
    except OSError:
        return 80


if __name__ == "__main__":
    raise SystemExit(main())
