"""Dot commands (DuckDB's habits) and their backslash aliases (psql's): one registry, one help text.

A command is one line and needs no ``;``. Any unambiguous prefix of a dot command works (``.mo json``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mpsql.cli.render import FORMATS
from mpsql.functions import INTERNAL_VIEW, sql_string

if TYPE_CHECKING:
    from mpsql.repl.app import Repl



@dataclass(frozen=True)
class Command:
    """One command: its names (the first is the dot form), usage, a help line, and what it does."""

    names: tuple[str, ...]
    usage: str
    help: str
    run: Callable[[Repl, list[str]], None]


COMMANDS: list[Command] = []


def command(*names: str, usage: str = "", help: str = "") -> Callable[[Callable[[Repl, list[str]], None]],
                                                                   Callable[[Repl, list[str]], None]]:
    """Register the decorated function as the command ``names``."""
    def register(fn: Callable[[Repl, list[str]], None]) -> Callable[[Repl, list[str]], None]:
        COMMANDS.append(Command(names, usage, help, fn))
        return fn

    return register


def find(word: str) -> Command | None:
    """The command named ``word``, or the only dot command it is a prefix of."""
    for cmd in COMMANDS:
        if word in cmd.names:
            return cmd
    if word.startswith(".") and len(word) > 1:
        matches = [cmd for cmd in COMMANDS if cmd.names[0].startswith(word)]
        if len(matches) == 1:
            return matches[0]
    return None


def prefixed(word: str) -> list[str]:
    """The dot commands ``word`` is a prefix of."""
    if not word.startswith(".") or len(word) < 2:
        return []
    return [cmd.names[0] for cmd in COMMANDS if cmd.names[0].startswith(word)]


def dispatch(repl: Repl, line: str) -> None:
    """Run one command line (``.mode csv``, ``\\dt``, ``quit``)."""
    word, _, rest = line.strip().rstrip(";").partition(" ")
    if word.lower() in ("exit", "quit"):
        word = ".quit"
    cmd = find(word)
    if cmd is None:
        candidates = prefixed(word)
        if len(candidates) > 1:
            repl.error(f"ambiguous command {word}: {', '.join(candidates)}")
        else:
            repl.error(f"unknown command {word}; .help lists the commands")
        return
    try:
        args = shlex.split(rest)
    except ValueError:
        args = rest.split()
    cmd.run(repl, args)


def help_lines() -> dict[str, str]:
    """Every command name with its help line, for completion."""
    return {name: cmd.help for cmd in COMMANDS for name in cmd.names}


def _on_off(repl: Repl, args: list[str], current: bool, what: str) -> bool | None:
    if not args:
        return not current
    if args[0].lower() in ("on", "off"):
        return args[0].lower() == "on"
    repl.error(f"{what} takes on or off")
    return None


@command(".help", "\\?", help="list the commands")
def _help(repl: Repl, args: list[str]) -> None:
    width = max(len(f"{c.names[0]} {c.usage}".rstrip()) for c in COMMANDS)
    for cmd in COMMANDS:
        head = f"{cmd.names[0]} {cmd.usage}".rstrip()
        aliases = f"  (also {', '.join(cmd.names[1:])})" if len(cmd.names) > 1 else ""
        repl.say(f"{head:<{width}}  {cmd.help}{aliases}")
    repl.say("SQL runs when a statement ends with ';' (Esc Enter runs it anyway). Tab completes; Ctrl-R searches "
             "the history; Ctrl-C cancels a running statement or clears the line; Ctrl-D exits.")


@command(".tables", "\\dt", help="list the tables and views")
def _tables(repl: Repl, args: list[str]) -> None:
    repl.show_query(
        "SELECT table_name AS name, 'table' AS kind, column_count AS columns, estimated_size AS rows "
        "FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT view_name, 'view', column_count, NULL FROM duckdb_views() "
        f"WHERE NOT internal AND view_name <> {sql_string(INTERNAL_VIEW)} ORDER BY name",
        empty="no tables yet; e.g. CREATE TABLE events AS SELECT * FROM mp_export(current_date - 7, "
              "current_date - 1);")


@command(".schema", "\\d", usage="[NAME]", help="CREATE statements, or one table's, view's or mp_* function's shape")
def _schema(repl: Repl, args: list[str]) -> None:
    where = f"NOT internal AND name <> {sql_string(INTERNAL_VIEW)}"  # the view behind the mp_* macros
    if args:
        where += f" AND lower(name) = lower({sql_string(args[0])})"
    rows = repl.con.execute(
        "SELECT name, sql FROM (SELECT table_name AS name, sql, internal FROM duckdb_tables() "
        "UNION ALL SELECT view_name, sql, internal FROM duckdb_views()) "
        f"WHERE {where} ORDER BY name").fetchall()
    for _, sql in rows:
        repl.say(sql.strip().rstrip(";") + ";", result=True)
    if rows:
        return
    if args and args[0].lower() in repl.completer.catalog.mp:
        fn = repl.completer.catalog.mp[args[0].lower()]
        repl.say(fn.signature, result=True)
        repl.say("  -> " + ", ".join(f"{c} {t}" for c, t in fn.columns), result=True)
        repl.say("  " + fn.description, result=True)
    elif args:
        repl.error(f"no table, view or mp_* function named {args[0]}")
    else:
        repl.say("no tables or views yet")


@command(".functions", "\\df", help="the mp_* functions with their signatures and descriptions")
def _functions(repl: Repl, args: list[str]) -> None:
    repl.show_query("SELECT name, signature, description FROM mp_functions() ORDER BY name")


@command(".accounts", help="the configured Mixpanel accounts (never their secrets)")
def _accounts(repl: Repl, args: list[str]) -> None:
    repl.show_query("SELECT * FROM mp_accounts()",
                    empty="no accounts configured; add one with: mpsql auth add NAME --username USER "
                          "--project-id ID (or use .account demo)")


@command(".account", usage="[NAME]", help="switch to another account ('demo' for the demo project)")
def _account(repl: Repl, args: list[str]) -> None:
    if not args:
        repl.say(repl.describe_account())
        return
    repl.switch_account(args[0])


@command(".limits", help="the Mixpanel request budget: used and left this hour, waits")
def _limits(repl: Repl, args: list[str]) -> None:
    repl.show_query("SELECT * FROM mp_rate_limits()", empty="no Mixpanel requests yet")


@command(".read", "\\i", usage="FILE", help="run the SQL and commands in FILE")
def _read(repl: Repl, args: list[str]) -> None:
    if len(args) != 1:
        repl.error(".read takes one file name")
        return
    try:
        with open(args[0], encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        repl.error(f"cannot read {args[0]}: {exc.strerror}")
        return
    repl.run_script(text)


@command(".open", usage="[FILE]", help="close this database and open FILE (in memory without one)")
def _open(repl: Repl, args: list[str]) -> None:
    repl.open_database(args[0] if args else ":memory:")


@command(".mode", usage="[MODE]", help="how results are shown: " + ", ".join(FORMATS))
def _mode(repl: Repl, args: list[str]) -> None:
    if not args:
        repl.say(f"mode: {repl.mode}")
    elif args[0] in FORMATS:
        repl.mode = args[0]
        repl.say(f"mode {args[0]}")
    else:
        repl.error(f"unknown mode {args[0]}; choose one of {', '.join(FORMATS)}")


@command(".output", "\\o", usage="[FILE]", help="write results to FILE (the terminal without one)")
def _output(repl: Repl, args: list[str]) -> None:
    repl.set_output(args[0] if args else None)


@command(".timer", "\\timing", usage="[on|off]", help="show how long each statement took")
def _timer(repl: Repl, args: list[str]) -> None:
    value = _on_off(repl, args, repl.timer, ".timer")
    if value is not None:
        repl.timer = value
        repl.say(f"timer {'on' if value else 'off'}")


@command(".maxrows", usage="[N]", help="rows shown by the table and markdown modes (head and tail)")
def _maxrows(repl: Repl, args: list[str]) -> None:
    if not args:
        repl.say(f"maxrows: {repl.max_rows}")
    elif args[0].isdigit() and int(args[0]) > 0:
        repl.max_rows = int(args[0])
        repl.say(f"maxrows {repl.max_rows}")
    else:
        repl.error(".maxrows takes a positive number")


@command(".pager", usage="[on|off]", help="page results taller than the terminal (less -SRXF or $PAGER)")
def _pager(repl: Repl, args: list[str]) -> None:
    value = _on_off(repl, args, repl.pager, ".pager")
    if value is not None:
        repl.pager = value
        repl.say(f"pager {'on' if value else 'off'}")


@command(".chart", usage="[bar|line] [COLUMN]",
         help="draw the last result: x is its first column, y COLUMN or its first numeric one")
def _chart(repl: Repl, args: list[str]) -> None:
    from mpsql.repl.chart import ChartError, chart

    if repl.last_result is None:
        repl.error("nothing to draw yet: run a query first, e.g. SELECT date, value FROM mp_event_counts(...)")
        return
    kind = args[0].lower() if args and args[0].lower() in ("bar", "line") else None
    rest = args[1:] if kind else args
    columns, types, rows = repl.last_result
    try:
        text = chart(columns, types, rows, kind=kind, y=rest[0] if rest else None,
                     width=repl._terminal_width() or 80)
    except ChartError as exc:
        repl.error(f".chart: {exc}")
        return
    repl.out.write(text)
    repl.out.flush()


@command(".quit", ".exit", "\\q", help="leave mpsql (or Ctrl-D)")
def _quit(repl: Repl, args: list[str]) -> None:
    repl.running = False
