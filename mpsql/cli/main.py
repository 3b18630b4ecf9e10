"""``mpsql``: run SQL with the mp_* functions from -c, -f or stdin, or interactively (the REPL, when stdin is a
terminal and no SQL is given); ``mpsql auth ...``; ``mpsql emulator ...``.

Results go to stdout, messages to stderr. Each statement runs through ``mpsql.cli.runner`` (as in the REPL),
which also defines the exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from mpsql.cli.runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Cancellation, open_or_explain, run_statement


def _parser() -> argparse.ArgumentParser:
    from mpsql.cli.render import FORMATS

    p = argparse.ArgumentParser(
        prog="mpsql",
        description="Mixpanel analytics as DuckDB SQL. Other commands: 'mpsql auth --help', "
                    "'mpsql sync --help', 'mpsql store --help', 'mpsql emulator --help'.",
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
    if argv[:1] == ["sync"]:
        from mpsql.cli.store import sync_main

        return sync_main(argv[1:])
    if argv[:1] == ["store"]:
        from mpsql.cli.store import store_main

        return store_main(argv[1:])
    if argv[:1] == ["emulator"]:
        from mpsql.emulator.__main__ import main as emulator_main

        return emulator_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.version:
        from mpsql import __version__

        print(f"mpsql {__version__}")
        return EXIT_OK
    scripts: list[str | Script] = list(args.command)
    for path in args.file:
        try:
            with open(path, encoding="utf-8") as fh:
                scripts.append(Script(fh.read(), path))
        except OSError as exc:
            print(f"mpsql: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    if not scripts:
        if sys.stdin.isatty():
            from mpsql.repl import run_repl

            return run_repl(args)
        scripts.append(sys.stdin.read())
    return run_scripts(args, scripts, sys.stdout, sys.stderr)


class Script(str):
    """The text of a script read from a file; ``name`` is its path, named with a failing statement's line."""

    name: str

    def __new__(cls, text: str, name: str) -> Script:
        self = super().__new__(cls, text)
        self.name = name
        return self


def statement_lines(script: str, statements: Sequence[Any]) -> list[int | None]:
    """The 1-based line of ``script`` on which each parsed statement's own text starts (comments and blank
    lines before it skipped); None for a statement whose text cannot be found in ``script``."""
    import re

    lines: list[int | None] = []
    pos = 0
    for statement in statements:
        text = statement.query
        at = script.find(text, pos)
        if at < 0:
            lines.append(None)
            continue
        lead = re.match(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", text, re.S)
        start = at + (lead.end() if lead else 0)
        lines.append(script.count("\n", 0, start) + 1)
        pos = at + len(text)
    return lines


def run_scripts(args: argparse.Namespace, scripts: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Open the database, then run each script's statements in order, stopping at the first failure.

    A failing statement of a script read from a file (a :class:`Script`) is named by file and line."""
    import duckdb

    from mpsql.cli.render import ProgressLine

    cancel = Cancellation(ProgressLine(err) if err.isatty() else None)
    con = open_or_explain(args.database, account=args.account, demo=args.demo, cancel=cancel, err=err)
    if isinstance(con, int):
        return con
    if args.demo:
        from mpsql.demo import describe_demo

        print(f"mpsql: using {describe_demo()}", file=err)
    try:
        for script in scripts:
            statements = con.extract_statements(script)
            name = getattr(script, "name", None)
            lines = statement_lines(script, statements) if name else [None] * len(statements)
            for statement, line in zip(statements, lines, strict=True):
                where = f"{name}:{line}" if name and line else name
                code = run_statement(con, statement, fmt=args.format, max_rows=args.max_rows, out=out, err=err,
                                     debug=args.debug, cancel=cancel, where=where)
                if code != EXIT_OK:
                    return code
    except duckdb.Error as exc:  # a script that does not parse
        print(f"Error: {exc}", file=err)
        return EXIT_FAILED
    finally:
        con.close()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
