"""``mpsql sync`` fills the local event store ahead of time; ``mpsql store list|drop`` looks after it.

Both run the SQL functions (``mp_sync``, ``mp_store``, ``mp_store_drop``) through the same statement runner as
``mpsql -c``, so Ctrl-C, progress, errors and exit codes behave the same. ``mpsql sync`` is incremental and safe
to run from cron while a REPL is open: days already held and settled cost nothing, each request's days are
written whole, and the hourly export budget is shared with every other mpsql process of the user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence

from mpsql.cli.runner import Cancellation, open_or_explain, report_failure, run_statement
from mpsql.functions import sql_string


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", metavar="NAME", help="account from ~/.mp/config.toml (default: the usual resolution)")
    p.add_argument("--demo", action="store_true", help="use the built-in demo project")
    p.add_argument("--format", default="table", choices=("table", "csv", "json", "jsonl", "markdown", "line"),
                   help="output format (default: table)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


def sync_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mpsql sync",
        description="Fetch the days the local event store lacks (not held, not yet settled, or held for fewer "
                    "events) and keep them. Safe to interrupt and to run again: it carries on where it stopped.")
    p.add_argument("--from", dest="from_date", type=_date, metavar="YYYY-MM-DD",
                   help="first day (default: the earliest day held, else the 30 days ending --to)")
    p.add_argument("--to", dest="to_date", type=_date, metavar="YYYY-MM-DD", help="last day (default: today, UTC)")
    p.add_argument("--events", nargs="+", metavar="EVENT", help="only these events (default: all)")
    p.add_argument("--refresh", action="store_true", help="fetch every day of the range again")
    p.add_argument("--days", action="store_true", help="one line per day instead of a summary")
    _common(p)
    return p


def store_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpsql store", description="List or drop the days the local event store holds.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ls = sub.add_parser("list", help="the held days of the account's project")
    _common(ls)
    drop = sub.add_parser("drop", help="forget the held days of a range (they are fetched again when needed)")
    drop.add_argument("--from", dest="from_date", type=_date, required=True, metavar="YYYY-MM-DD")
    drop.add_argument("--to", dest="to_date", type=_date, required=True, metavar="YYYY-MM-DD")
    _common(drop)
    return p


def sync_main(argv: Sequence[str]) -> int:
    args = sync_parser().parse_args(list(argv))
    to_date = args.to_date or dt.datetime.now(dt.UTC).date()
    options = []
    if args.events:
        options.append("events := [" + ", ".join(sql_string(e) for e in args.events) + "]")
    if args.refresh:
        options.append("refresh := true")

    def call(from_date: dt.date) -> str:
        rest = "".join(", " + o for o in options)
        return f"mp_sync(DATE '{from_date}', DATE '{to_date}'{rest})"

    def statement(con) -> str:
        from_date = args.from_date
        if from_date is None:
            held = con.execute("SELECT min(date) FROM mp_store()").fetchone()[0]
            from_date = held if held is not None and held <= to_date else to_date - dt.timedelta(days=29)
        if args.days:
            return f"SELECT * FROM {call(from_date)}"
        return (f"SELECT action, count(*) AS days, min(date) AS first_day, max(date) AS last_day, "
                f"sum(rows) AS rows, sum(bytes) AS bytes FROM {call(from_date)} GROUP BY action ORDER BY first_day")

    return _run(args, statement)


def store_main(argv: Sequence[str]) -> int:
    args = store_parser().parse_args(list(argv))
    if args.command == "list":
        return _run(args, lambda con: "SELECT * EXCLUDE (path) FROM mp_store() ORDER BY date")
    return _run(args, lambda con: f"SELECT date AS dropped FROM mp_store_drop(DATE '{args.from_date}', "
                                  f"DATE '{args.to_date}') ORDER BY date")


def _run(args: argparse.Namespace, build) -> int:
    import duckdb

    from mpsql.cli.render import ProgressLine

    cancel = Cancellation(ProgressLine(sys.stderr) if sys.stderr.isatty() else None)
    con = open_or_explain(":memory:", account=args.account, demo=args.demo, cancel=cancel, err=sys.stderr)
    if isinstance(con, int):
        return con
    try:
        try:
            sql = build(con)
        except duckdb.Error as exc:
            return report_failure(con, exc, sys.stderr, args.debug)
        statement = con.extract_statements(sql)[0]
        return run_statement(con, statement, fmt=args.format, max_rows=10_000, out=sys.stdout, err=sys.stderr,
                             debug=args.debug, cancel=cancel)
    finally:
        con.close()
