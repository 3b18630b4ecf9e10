"""Writing one query result to a stream as a table, CSV, JSON, JSON lines, Markdown or one value per line;
and the progress line long statements draw on the terminal.

Rows arrive in chunks from a result that is fetched exactly once; streaming formats write as they go, the
table formats keep the head and tail of long results and say how many rows there were. The table fits the
terminal: wide values are cut with "…", and when even that is too wide the middle columns are left out.

Control characters in the data (anyone with a project token can send an event named ``\\x1b]0;...``) never
reach a terminal raw: the table, markdown and line formats always show them escaped (``\\x1b``); csv and
json(l) escape them only when writing to a terminal, and stay byte-exact in a file or pipe.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import functools
import json
import math
import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("table", "csv", "json", "jsonl", "markdown", "line")

_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}


def _text(value: Any) -> str:
    """A value as DuckDB casts it to VARCHAR: NULL, true, [1, NULL], {'a': x}, \\x00 (never a Python repr)."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return "".join(chr(b) if 32 <= b < 127 and b not in (39, 92) else f"\\x{b:02X}" for b in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quoted(str(k))}: {_nested(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return str(value)


_SPECIAL = set("[]{}(),:='\"\\")

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LAYOUT = "\n\t"  # kept as is where a format lets a value span lines (csv quoted, line mode)


def _escape(ch: str) -> str:
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def visible(text: str, keep: str = "") -> str:
    """``text`` with every control character except those in ``keep`` written as an escape (``\\x1b``)."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def _json_visible(text: str) -> str:
    """JSON text with the controls ``json.dumps`` leaves raw (DEL, C1, bidi) as ``\\u`` escapes: still the same
    JSON, since outside strings its output is plain ASCII."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _nested(value: Any) -> str:
    """A value inside a LIST or STRUCT: strings are quoted where DuckDB quotes them (so NULL and 'NULL' differ)."""
    if isinstance(value, str) and (not value or value != value.strip() or value.upper() == "NULL"
                                   or any(c in _SPECIAL for c in value)):
        return _quoted(value)
    return _text(value)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unique(columns: Sequence[str]) -> list[str]:
    """Column names made unique as DuckDB's ``df()`` does (a, a_1), so no JSON key hides another."""
    seen: set[str] = set()
    names = []
    for c in columns:
        name, k = c, 0
        while name in seen:
            k += 1
            name = f"{c}_{k}"
        seen.add(name)
        names.append(name)
    return names


def _jsonable(value: Any, sql_type: str) -> Any:
    if value is None:
        return None
    if sql_type == "JSON" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v, "") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, "") for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")  # JSON has no NaN/Infinity literal
    return value


def write_result(out: TextIO, fmt: str, columns: Sequence[str], types: Sequence[str],
                 chunks: Iterable[Sequence[tuple]], max_rows: int = 40, width: int | None = None,
                 terminal: bool | None = None) -> int:
    """Write every row of ``chunks`` in ``fmt``; returns the number of rows.

    ``max_rows`` bounds the rows the table and markdown formats show; ``width`` is the table's width in
    terminal cells (default: the terminal's). ``terminal`` says whether ``out`` ends on a terminal (default:
    ``out.isatty()``); there csv and json escape control characters too.
    """
    if terminal is None:
        terminal = _isatty(out)
    if is_plan(columns):  # EXPLAIN: mpsql's internal filter hidden in every format
        chunks = ([(key, hide_args(value)) for key, value in chunk] for chunk in chunks)
        if fmt in ("table", "line"):
            return write_plan(out, chunks)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        cell = (lambda text: visible(text, keep=_LAYOUT)) if terminal else (lambda text: text)
        writer.writerow([cell(c) for c in columns])
        n = 0
        for chunk in chunks:
            writer.writerows([["" if v is None else cell(_text(v)) for v in row] for row in chunk])
            n += len(chunk)
        return n
    if fmt in ("json", "jsonl"):
        n = 0
        names = _unique(columns)
        if fmt == "json":
            out.write("[")
        for chunk in chunks:
            for row in chunk:
                doc = {c: _jsonable(v, t) for c, v, t in zip(names, row, types, strict=True)}
                text = json.dumps(doc, ensure_ascii=False)
                if terminal:
                    text = _json_visible(text)
                if fmt == "json":
                    out.write(("," if n else "") + "\n  " + text)
                else:
                    out.write(text + "\n")
                n += 1
        if fmt == "json":
            out.write("\n]\n" if n else "]\n")
        return n
    if fmt == "line":
        return _lines(out, columns, chunks)
    head: list[tuple] = []
    tail: list[tuple] = []
    n = 0
    keep = max(2, max_rows)
    for chunk in chunks:
        for row in chunk:
            n += 1
            if len(head) < keep // 2 + keep % 2:
                head.append(row)
            else:
                tail.append(row)
                if len(tail) > keep // 2:
                    tail.pop(0)
    if fmt == "markdown":
        _markdown(out, columns, head + tail)
        if n > keep:
            out.write(f"\n({n} rows, {n - len(head) - len(tail)} not shown)\n")
        return n
    if width is None:
        width = shutil.get_terminal_size((120, 24)).columns
    _box(out, columns, types, head, tail, n, width)
    return n


def _lines(out: TextIO, columns: Sequence[str], chunks: Iterable[Sequence[tuple]]) -> int:
    """DuckDB's ``line`` mode: one ``name = value`` line per column, a blank line between rows."""
    names = [visible(c) for c in columns]
    pad = max((cell_width(c) for c in names), default=0)
    n = 0
    for chunk in chunks:
        for row in chunk:
            out.write("\n" if n else "")
            for c, v in zip(names, row, strict=True):
                out.write(" " * (pad - cell_width(c)) + f"{c} = {visible(_text(v), keep=_LAYOUT)}\n")
            n += 1
    return n


def _markdown(out: TextIO, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    def cell(v: Any) -> str:
        return visible(_text(v).replace("|", "\\|").replace("\n", " "))

    out.write("| " + " | ".join(visible(c.replace("|", "\\|")) for c in columns) + " |\n")
    out.write("|" + "|".join("---" for _ in columns) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(cell(v) for v in row) + " |\n")


MAX_CELL = 60  # no column grows wider than this, as in DuckDB's duckbox
MIN_CELL = 8  # columns are cut down to this before any is left out


def _box(out: TextIO, columns: Sequence[str], types: Sequence[str], head: list[tuple], tail: list[tuple],
         n: int, width: int) -> None:
    """DuckDB-style box: names and types on top, head and tail of long results, row and column counts below."""
    shown = [[_clean(_text(v)) for v in row] for row in head + tail]
    natural = [min(MAX_CELL, max(cell_width(c), cell_width(t), *(cell_width(r[i]) for r in shown)))
               for i, (c, t) in enumerate(zip(columns, types, strict=True))]
    keep, widths = _fit(natural, width)
    hidden = n - len(head) - len(tail)
    rows_label = f"{n} row{'s' if n != 1 else ''}" + (f" ({len(head) + len(tail)} shown)" if hidden > 0 else "")
    columns_label = f"{len(columns)} columns ({len(keep) - 1} shown)" if None in keep else ""
    footer = cell_width(rows_label) + (cell_width(columns_label) + 1 if columns_label else 0)
    # The last column widens so the footer fits, as far as the terminal allows.
    widths[-1] += max(0, min(footer - (sum(widths) + 3 * len(widths) - 3), width - (sum(widths) + 3 * len(widths) + 1)))

    def pick(cells: Sequence[str]) -> list[str]:
        return ["…" if i is None else cells[i] for i in keep]

    numeric = [i is not None and types[i].split("(")[0] in _NUMERIC for i in keep]

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right + "\n"

    def row_text(cells: Sequence[str], align: bool = True) -> str:
        parts = []
        for c, w, r in zip(pick(cells), widths, numeric, strict=True):
            text = _cut(c, w)
            fill = " " * (w - cell_width(text))
            parts.append(f" {fill}{text} " if align and r else f" {text}{fill} ")
        return "│" + "│".join(parts) + "│\n"

    out.write(line("┌", "┬", "┐"))
    out.write(row_text([_clean(c) for c in columns], align=False))
    out.write(row_text([t.lower() for t in types], align=False))
    out.write(line("├", "┼", "┤"))
    for r in shown[:len(head)]:
        out.write(row_text(r))
    if hidden > 0:
        for _ in range(3):
            out.write(row_text(["·"] * len(columns)))
    for r in shown[len(head):]:
        out.write(row_text(r))
    out.write(line("├", "┴", "┤"))
    total = sum(widths) + 3 * len(widths) - 1
    label = rows_label
    if columns_label:
        label += " " * max(1, total - 2 - cell_width(label) - cell_width(columns_label)) + columns_label
    label = _cut(label, total - 2)
    out.write("│ " + label + " " * (total - 1 - cell_width(label)) + "│\n")
    out.write("└" + "─" * total + "┘\n")


def _fit(natural: list[int], width: int) -> tuple[list[int | None], list[int]]:
    """Which columns to show (None marks the "…" column standing for left-out ones) and how wide each is.

    Columns are first cut down evenly (the widest first); if even ``MIN_CELL`` each is too wide, columns are
    kept alternately from the left and the right edge, as DuckDB does.
    """
    def outer(ws: Sequence[int]) -> int:
        return sum(ws) + 3 * len(ws) + 1

    if outer(natural) <= width:
        return list(range(len(natural))), natural
    floor = [min(w, MIN_CELL) for w in natural]
    if outer(floor) <= width:
        cap = max(natural)
        while outer([min(w, cap) for w in natural]) > width:
            cap -= 1
        return list(range(len(natural))), [min(w, cap) for w in natural]
    left: list[int] = []
    right: list[int] = []
    for step in range(len(natural)):
        i = step // 2 if step % 2 == 0 else len(natural) - 1 - step // 2
        trial = sorted([*left, *right, i])
        if outer([floor[j] for j in trial] + [1]) > width and (left or right):
            break
        (left if step % 2 == 0 else right).append(i)
    keep: list[int | None] = [*left, None, *reversed(right)]
    return keep, [1 if i is None else floor[i] for i in keep]


def cell_width(text: str) -> int:
    """Terminal cells ``text`` takes: East Asian wide characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def _clean(text: str) -> str:
    """A table cell on one line: tabs as a space, every other control character escaped (``\\n``, ``\\x1b``)."""
    return visible(text.replace("\t", " "))


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells, ending in "…" when anything was cut."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


class ProgressLine:
    """One self-overwriting line on a terminal: a bar of windows done, rows, bytes and time of a long call.

    ``update`` is the ``on_progress`` callback of ``mpsql.connect`` (called from DuckDB's threads);
    ``notice`` prints a message above the line without garbling it.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last = 0.0
        self._started: float | None = None
        self._shown = False
        self._held = False

    def update(self, p: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if self._started is None:
                self._started = now
            if self._held or now - self._last < 0.1:
                return
            self._last = now
            parts = []
            if p.windows_total > 0:
                done = min(p.windows_done, p.windows_total)
                filled = round(20 * done / p.windows_total)
                parts.append("█" * filled + "░" * (20 - filled) + f" {done}/{p.windows_total} windows")
            parts += [f"{p.rows:,} rows", f"{p.bytes / 1e6:,.1f} MB"]
            requests = getattr(p, "requests", 0)
            if requests:
                parts.append(f"{requests} request{'s' if requests != 1 else ''}")
            parts.append(f"{now - self._started:.1f} s")
            text = f"{p.function}: " + " · ".join(parts) + "  (Ctrl-C cancels)"
            self._stream.write("\r" + _cut(text, _terminal_width(self._stream) - 1) + "\x1b[K")
            self._stream.flush()
            self._shown = True

    def notice(self, message: str) -> None:
        with self._lock:
            self._erase()
            self._stream.write(f"mpsql: {visible(message)}\n")
            self._stream.flush()

    def hold(self) -> None:
        """Erase the line and draw no more until ``clear``: the result is being written to the terminal."""
        with self._lock:
            self._erase()
            self._held = True

    def clear(self) -> None:
        """Erase the line (at the end of a statement) and start afresh for the next one."""
        with self._lock:
            self._erase()
            self._started = None
            self._last = 0.0
            self._held = False

    def _erase(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


def _terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


# ---------------------------------------------------------------------------------------------- EXPLAIN plans

PLAN_COLUMNS = ("explain_key", "explain_value")
_ARGS_FILTER = re.compile(r'"__args" = \'(?:[^\']|\'\')*\'')
_PLAN_TITLES = {"physical_plan": "Physical Plan", "logical_plan": "Logical Plan",
                "logical_opt": "Optimized Logical Plan", "analyzed_plan": "Query Profiling Information"}


def is_plan(columns: Sequence[str]) -> bool:
    """An ``EXPLAIN`` (or ``EXPLAIN ANALYZE``) result: DuckDB's two plan columns."""
    return tuple(columns) == PLAN_COLUMNS


def write_plan(out: TextIO, rows: Iterable[Sequence[tuple]]) -> int:
    """Write plans as DuckDB's CLI does: a titled header, then the plan drawing itself, not a table cell."""
    n = 0
    for chunk in rows:
        for key, value in chunk:
            title = _PLAN_TITLES.get(key, str(key).replace("_", " ").title())
            inner = max(len(title) + 8, 27)
            out.write(f"┌{'─' * (inner + 2)}┐\n│┌{'─' * inner}┐│\n││{title.center(inner)}││\n"
                      f"│└{'─' * inner}┘│\n└{'─' * (inner + 2)}┘\n")
            out.write(visible(str(value), keep="\n").rstrip("\n") + "\n")
            n += 1
    return n


@functools.cache
def _source_prefix() -> re.Pattern[str]:
    """``mp_export.`` before a column of the one source behind the mp_* functions (``mpsql.functions``)."""
    from mpsql.functions import TABLE_FUNCTIONS

    names = "|".join(sorted((re.escape(fn.name) for fn in TABLE_FUNCTIONS), key=len, reverse=True))
    return re.compile(rf'(?<![\w.])(?:{names})\.(?=[^\s,)"]*"?)')


def _own_names(text: str) -> str:
    """``text`` with the source's ``mp_export.event`` column names written as the function's own (``event``)."""
    return _source_prefix().sub("", text)


def _blank_cells(line: str) -> str:
    """One line of boxes side by side, the internal filter blanked and column names shortened in each box,
    every box keeping its width."""
    def cell(m: re.Match[str]) -> str:
        text = m.group(0)
        return _own_names(_ARGS_FILTER.sub(lambda a: " " * len(a.group(0)), text)).ljust(len(text))

    return re.sub(r"(?<=│)[^│]+(?=│)", cell, line)


def hide_args(plan: str) -> str:
    """The plan without mpsql's internal ``"__args" = '...'`` filter (the call's arguments as the source receives
    them): its line goes, with the comma it leaves dangling and a ``Filters:`` heading left empty; the source's
    column names (``mp_export.event``) read as the function's (``event``); a drawing of one box per line is then
    narrowed to what remains."""
    if "__args" not in plan:
        return plan
    lines = plan.split("\n")
    single = all(not ln or (ln[0] in "╭│╰" and ln[-1] in "╮│╯" and "╭" not in ln[1:]) for ln in lines)
    if not single:  # boxes side by side (joins): blank the text out, keep the drawing as it is
        return "\n".join(_blank_cells(ln) for ln in lines)
    boxes: list[tuple[str, str, list[str], str]] = []  # (title, top connector, content lines, bottom connector)
    content: list[str] = []
    title = top = ""
    for ln in lines:
        if not ln:
            continue
        if ln[0] == "╭":
            title, top, content = ln[1:-1].strip("─ ┴"), "┴" if "┴" in ln else "", []
        elif ln[0] == "╰":
            boxes.append((title, top, content, "┬" if "┬" in ln else ""))
        else:
            text = _own_names(ln[1:-1].strip())
            if _ARGS_FILTER.search(text) is None:
                content.append(text)
                continue
            rest = _ARGS_FILTER.sub("", text).strip()
            more = rest.endswith(",")  # other filters follow on the next lines
            rest = rest.rstrip(",").strip()
            if rest == "Filters:":
                if more:
                    content.append(rest)
            elif rest:
                content.append(rest)
            elif not more:  # it was the last filter: the one before loses its comma, a bare heading goes
                if content and content[-1].endswith(","):
                    content[-1] = content[-1][:-1]
                elif content and content[-1] == "Filters:":
                    content.pop()
    inner = max(max((len(t) for _, _, c, _ in boxes for t in c), default=0),
                max(2 * len(t) + 6 for t, _, _, _ in boxes))  # the connector stays clear of the title
    mid = (inner + 2) // 2
    drawn = []
    for title, top, content, bottom in boxes:
        head = f"─ {title} ".ljust(inner + 2, "─")
        if top:
            head = head[:mid] + "┴" + head[mid + 1:]
        drawn.append(f"╭{head}╮")
        drawn += [f"│ {t.ljust(inner)} │" for t in content]
        foot = "─" * (inner + 2)
        if bottom:
            foot = foot[:mid] + "┬" + foot[mid + 1:]
        drawn.append(f"╰{foot}╯")
    return "\n".join(drawn) + "\n"
