"""``python -m mpsql.emulator``: serve the synthetic Mixpanel project (or a JSONL export file) until Ctrl-C."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from mpsql.emulator.ratelimit import ServerLimits
from mpsql.emulator.server import Emulator


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _data_view(text: str) -> tuple[int, str]:
    wid, sep, name = text.partition("=")
    if not sep or not wid.strip().isdigit() or int(wid) <= 0 or not name.strip():
        raise argparse.ArgumentTypeError(f"not ID=NAME with a positive integer ID: {text!r}")
    return int(wid), name.strip()


def build_parser() -> argparse.ArgumentParser:
    """The emulator's command-line options."""
    ap = argparse.ArgumentParser(
        prog="mpsql emulator",
        description="Run a local Mixpanel-compatible server over a synthetic shop project until Ctrl-C. It "
                    "prints 'export MP_...=...' lines: paste them into the shell where you run mpsql.")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    ap.add_argument("--seed", type=int, default=7,
                    help="seed of the synthetic data: the same seed and --today, the same events (default: 7)")
    ap.add_argument("--days", type=int, default=90, help="days of data, ending the day before --today (default: 90)")
    ap.add_argument("--users", type=int, default=3000, help="users in the synthetic project (default: 3000)")
    ap.add_argument("--today", type=_date, default=None, metavar="YYYY-MM-DD",
                    help="the emulator's today: its data ends the day before, and a to_date after it is in the "
                         "future (default: today in --timezone; with --events, the day after the file's last event)")
    ap.add_argument("--events", default=None, metavar="FILE",
                    help="serve this JSONL export file (one {event, properties} record a line) as the project "
                         "instead of synthetic data; --seed/--days/--users then do not apply (default: none)")
    ap.add_argument("--no-rate-limits", action="store_true",
                    help="disable Mixpanel's rate limits (default: on, export 60/hour and 3/second, query 60/hour)")
    ap.add_argument("--no-retry-after", action="store_true",
                    help="omit the Retry-After header from 429 answers (default: sent)")
    ap.add_argument("--throughput", type=float, default=None, metavar="BYTES_PER_SECOND",
                    help="stream each export response no faster than this (default: unlimited)")
    ap.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                    help="seconds every API request waits before it is answered (default: 0)")
    ap.add_argument("--data-view", type=_data_view, action="append", default=[], metavar="ID=NAME",
                    help="serve a data view (workspace) with this id besides the global one; repeatable (default: the "
                         "global one only)")
    ap.add_argument("--timezone", default="UTC", metavar="ZONE",
                    help="the project's time zone, an IANA name such as America/Los_Angeles: reports bucket by its "
                         "days, and --today defaults to its today (default: UTC)")
    ap.add_argument("--legacy-time", action="store_true",
                    help="serve a legacy project (created before 2023): export days are days of --timezone and "
                         "exported times are its wall-clock times written as epochs (default: off)")
    return ap


def settings_lines(emu: Emulator) -> list[str]:
    """``export MP_...=...`` lines for a POSIX shell that point mpsql at ``emu`` (values shell-quoted)."""
    import shlex

    c = emu.credentials
    values = {"MP_API_URL": emu.url, "MP_USERNAME": c.username, "MP_SECRET": c.secret,
              "MP_PROJECT_ID": str(c.project_id)}
    # A legacy project's times are read right only when mpsql is told; for any other project, what an earlier
    # legacy emulator's lines set must not linger in the shell.
    time_mode = {"MP_TIMEZONE": emu.project_time.name, "MP_LEGACY_TIME": "true"} if emu.project_time.legacy else {}
    lines = [f"export {name}={shlex.quote(value)}" for name, value in {**values, **time_mode}.items()]
    return lines if time_mode else [*lines, "unset MP_TIMEZONE MP_LEGACY_TIME"]


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, print MP_* lines to use it, and serve until interrupted."""
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        emu = Emulator(seed=args.seed, today=args.today, days=args.days, users=args.users,
                       rate_limits=ServerLimits.unlimited() if args.no_rate_limits else ServerLimits(),
                       host=args.host, port=args.port, retry_after=not args.no_retry_after,
                       throughput=args.throughput, latency=args.latency, events=args.events,
                       data_views=dict(args.data_view), timezone=args.timezone, legacy_time=args.legacy_time)
    except (OSError, ValueError) as exc:
        ap.error(str(exc))
    emu.start()
    for line in settings_lines(emu):
        print(line)
    print(f"# project secret (legacy auth): {emu.project_secret}", file=sys.stderr)
    print(f"# OAuth token (MP_OAUTH_TOKEN, with MP_PROJECT_ID): {emu.oauth_token}", file=sys.stderr)
    print(f"# data views (workspace ids): {', '.join(map(str, emu.data_views))}", file=sys.stderr)
    legacy = emu.project_time.legacy
    mode = ", legacy time (MP_LEGACY_TIME above; in a config file, legacy_time = true)" if legacy else ""
    print(f"# time zone: {emu.project_time.name}{mode}", file=sys.stderr)
    print(f"# data: {emu.dataset.first_date} .. {emu.dataset.last_date}; Ctrl-C to stop", file=sys.stderr)
    sys.stdout.flush()
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
