"""``.chart``: a bar or line chart of the last result, drawn with text in the terminal (no dependency).

The first column is the x axis (a label, date or number); the values are the first numeric column after it.
A result in long form — one text column besides x, as the report functions return (``date, segment, value``) —
draws one line per segment (at most six, the largest first). ``bar`` suits labels (one bar per row, longest
first as given); ``line`` suits dates and numbers, and is the default for them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

MARKS = "●○◆◇■□"
MAX_SERIES = len(MARKS)
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "FLOAT", "DOUBLE", "DECIMAL", "REAL")


class ChartError(ValueError):
    """The result cannot be charted (no rows, no numeric column, unknown kind)."""


def _numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(NUMERIC)


def _ordered(sql_type: str) -> bool:
    t = sql_type.upper()
    return _numeric(t) or t.startswith(("DATE", "TIMESTAMP", "TIME"))


def _label(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else f"{value:%Y-%m-%d}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return "NULL" if value is None else str(value)


def chart(columns: Sequence[str], types: Sequence[str], rows: Sequence[tuple], *, kind: str | None = None,
          y: str | None = None, width: int = 80, height: int = 15) -> str:
    """The chart as text lines; raises ChartError saying why a result cannot be drawn."""
    if not rows:
        raise ChartError("the last result has no rows")
    if len(columns) < 2:
        raise ChartError("a chart needs two columns: x, then a number")
    names = [c.lower() for c in columns]
    if y is not None:
        if y.lower() not in names[1:]:
            raise ChartError(f"no column {y} after the first")
        yi = names.index(y.lower(), 1)
    else:
        yi = next((i for i in range(1, len(columns)) if _numeric(types[i])), -1)
        if yi < 0:
            raise ChartError("the last result has no numeric column after the first")
    if kind is None:
        kind = "line" if _ordered(types[0]) else "bar"
    if kind not in ("bar", "line"):
        raise ChartError(f"unknown chart kind {kind}; choose bar or line")
    segment = next((i for i in range(1, len(columns)) if i != yi and not _numeric(types[i])), None)
    if kind == "bar":
        return _bars(rows, yi, columns[yi], width, height)
    return _lines(rows, yi, segment, columns[yi], width, height)


def _value(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _bars(rows: Sequence[tuple], yi: int, name: str, width: int, height: int) -> str:
    shown = [(_label(r[0]), _value(r[yi])) for r in rows[: max(height, 1)]]
    label_w = min(max(len(lbl) for lbl, _ in shown), width // 3)
    values = [v for _, v in shown if v is not None]
    top = max((abs(v) for v in values), default=0) or 1
    bar_w = max(width - label_w - 14, 10)
    out = [f"{name}"]
    for lbl, v in shown:
        cells = 0 if v is None else round(abs(v) / top * bar_w)
        bar = ("█" * cells) or ("▏" if v else "")
        out.append(f"{lbl[:label_w]:>{label_w}} │{bar} {_label(v)}")
    if len(rows) > len(shown):
        out.append(f"{'':>{label_w}}  ({len(rows) - len(shown)} more rows not drawn)")
    return "\n".join(out) + "\n"


def _lines(rows: Sequence[tuple], yi: int, segment: int | None, name: str, width: int, height: int) -> str:
    xs: list[Any] = list(dict.fromkeys(r[0] for r in rows))
    series: dict[str, dict[Any, float]] = {}
    for r in rows:
        key = _label(r[segment]) if segment is not None else name
        v = _value(r[yi])
        if v is not None:
            series.setdefault(key, {})[r[0]] = v
    if not series:
        raise ChartError(f"column {name} holds no numbers")
    ranked = sorted(series, key=lambda k: -sum(series[k].values()))[:MAX_SERIES]
    lo = min(min(series[k].values()) for k in ranked)
    hi = max(max(series[k].values()) for k in ranked)
    if hi == lo:
        hi, lo = hi + 1, lo - (1 if lo else 0)
    axis_w = max(len(_label(hi)), len(_label(lo)))
    plot_w = max(min(width - axis_w - 3, len(xs) * 3), len(xs) if len(xs) < width else 10, 10)
    plot_h = max(height - 3, 4)
    grid = [[" "] * plot_w for _ in range(plot_h)]
    for mark, key in zip(MARKS, ranked, strict=False):
        for i, x in enumerate(xs):
            if x not in series[key]:
                continue
            col = round(i * (plot_w - 1) / max(len(xs) - 1, 1))
            row = round((hi - series[key][x]) / (hi - lo) * (plot_h - 1))
            grid[row][col] = mark
    out = []
    for i, line in enumerate(grid):
        tick = _label(hi) if i == 0 else _label(lo) if i == plot_h - 1 else ""
        out.append(f"{tick:>{axis_w}} ┤{''.join(line)}")
    out.append(f"{'':>{axis_w}} └{'─' * plot_w}")
    first, last = _label(xs[0]), _label(xs[-1])
    out.append(f"{'':>{axis_w}}  {first}{last:>{max(plot_w - len(first), len(last) + 1)}}")
    out.append("  ".join(f"{mark} {key}" for mark, key in zip(MARKS, ranked, strict=False))
               + (f"  (+{len(series) - len(ranked)} more)" if len(series) > len(ranked) else ""))
    return "\n".join(out) + "\n"
