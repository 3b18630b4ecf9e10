"""Writing one query result to a stream as a table, CSV, JSON, JSON lines or Markdown.

Rows arrive in chunks from a result that is fetched exactly once; streaming formats write as they go, the
table formats keep the head and tail of long results and say how many rows there were.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import shutil
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("table", "csv", "json", "jsonl", "markdown")

_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    return value


def write_result(out: TextIO, fmt: str, columns: Sequence[str], types: Sequence[str],
                 chunks: Iterable[Sequence[tuple]], max_rows: int = 40) -> int:
    """Write every row of ``chunks`` in ``fmt``; returns the number of rows."""
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        n = 0
        for chunk in chunks:
            writer.writerows([["" if v is None else _text(v) for v in row] for row in chunk])
            n += len(chunk)
        return n
    if fmt in ("json", "jsonl"):
        n = 0
        if fmt == "json":
            out.write("[")
        for chunk in chunks:
            for row in chunk:
                doc = {c: _jsonable(v, t) for c, v, t in zip(columns, row, types, strict=True)}
                text = json.dumps(doc, ensure_ascii=False)
                if fmt == "json":
                    out.write(("," if n else "") + "\n  " + text)
                else:
                    out.write(text + "\n")
                n += 1
        if fmt == "json":
            out.write("\n]\n" if n else "]\n")
        return n
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
    _box(out, columns, types, head, tail, n)
    return n


def _markdown(out: TextIO, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    def cell(v: Any) -> str:
        return _text(v).replace("|", "\\|").replace("\n", " ")

    out.write("| " + " | ".join(columns) + " |\n")
    out.write("|" + "|".join("---" for _ in columns) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(cell(v) for v in row) + " |\n")


def _box(out: TextIO, columns: Sequence[str], types: Sequence[str], head: list[tuple], tail: list[tuple],
         n: int) -> None:
    """DuckDB-style box: names and types on top, head and tail of long results, row count below."""
    width = shutil.get_terminal_size((120, 24)).columns
    cap = max(12, min(60, (width - 4) // max(1, len(columns)) - 3))
    body = [[_cut(_text(v), cap) for v in row] for row in head]
    rest = [[_cut(_text(v), cap) for v in row] for row in tail]
    widths = [max(len(c), len(t), *(len(r[i]) for r in body + rest)) if body or rest else max(len(c), len(t))
              for i, (c, t) in enumerate(zip(columns, types, strict=True))]
    widths = [min(w, cap) for w in widths]

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right + "\n"

    right = [t.split("(")[0] in _NUMERIC for t in types]

    def row_text(cells: Sequence[str], align: bool = True) -> str:
        return "│" + "│".join(f" {_cut(c, w):>{w}} " if align and r else f" {_cut(c, w):<{w}} "
                              for c, w, r in zip(cells, widths, right, strict=True)) + "│\n"

    out.write(line("┌", "┬", "┐"))
    out.write(row_text(list(columns), align=False))
    out.write(row_text([t.lower() for t in types], align=False))
    out.write(line("├", "┼", "┤"))
    for r in body:
        out.write(row_text(r))
    hidden = n - len(head) - len(tail)
    if hidden > 0:
        for _ in range(3):
            out.write(row_text(["·"] * len(columns)))
    for r in rest:
        out.write(row_text(r))
    out.write(line("├", "┴", "┤") if n else line("└", "┴", "┘"))
    if n:
        label = f"{n} row{'s' if n != 1 else ''}" + (f" ({len(head) + len(tail)} shown)" if hidden > 0 else "")
        total = sum(widths) + 3 * len(widths) - 1
        out.write("│" + f" {label:<{total - 1}}" + "│\n")
        out.write("└" + "─" * total + "┘\n")


def _cut(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"
