"""What the report families share: argument rules, Mixpanel's bucket keys, and the segmentation envelope.

Report functions (``segmentation``, ``funnels``, ``retention``, ``activity``, ``insights``, ``jql``, ``query``)
each validate their own arguments with the helpers here, so a rule such as "no hourly uniques" reads the same
wherever it applies, and every message names the argument and what is valid.

Types of the time column, decided once for every report:

- Functions whose endpoint offers sub-day units (``minute``/``hour``: the segmentation family, event and
  property counts, Insights) return ``date TIMESTAMP``: the bucket's start as wall-clock time in the project's
  time zone, midnight for day/week/month buckets. A fixed schema cannot switch between DATE and TIMESTAMP
  with ``unit``, and ``WHERE date = '2024-03-01'`` or a join on a DATE column still work as expected.
- Funnels, retention and frequency only bucket by day/week/month and return ``DATE``.

No column is TIMESTAMPTZ: Mixpanel buckets in the project's time zone and its keys carry no zone (Insights
keys carry the project's UTC offset, which is dropped so all reports read alike).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import check_date_range

SEPARATOR = " / "  # between the levels of a segment (a breakdown by two properties)
OVERALL = "$overall"  # Mixpanel's key for "all users" in segmented funnels/retention/frequency/Insights
SEGMENT_LIMIT = 10_000  # the documented maximum of ``limit`` (top segments) on every report endpoint
SUB_DAY = ("minute", "hour")

# A bare word is no expression: Mixpanel's operands are properties["..."], literals and function calls
# (docs/mixpanel-api.md, "The expression language").
_BARE_NAME = re.compile(r"^\$?[A-Za-z_][\w\- $.]*$")
_LITERAL_WORDS = {"true", "false", "null", "undefined"}


# ---------------------------------------------------------------------------------------------- arguments


def require_dates(function: str, from_date: dt.date | None, to_date: dt.date | None, today: dt.date) -> None:
    """Both dates given, ordered, not before 2000 and not after today (docs/mixpanel-api.md, "Report conventions")."""
    if from_date is None or to_date is None:
        missing = "from_date" if from_date is None else "to_date"
        raise ArgumentError(function, missing, "is required", "a DATE or 'YYYY-MM-DD' text")
    check_date_range(function, from_date, to_date, today)


def require_name(function: str, argument: str, value: str | None, example: str) -> str:
    """``value`` if it is a non-blank name; else an error saying what to pass."""
    if value is None:
        raise ArgumentError(function, argument, "is required", example)
    if not value.strip():
        raise ArgumentError(function, argument, "is empty", example)
    return value


def check_names(function: str, argument: str, names: list[str] | None, example: str) -> list[str]:
    """A non-empty list of non-blank names, duplicates removed (order kept)."""
    if names is None:
        raise ArgumentError(function, argument, "is required", example)
    if not names:
        raise ArgumentError(function, argument, "is an empty list", example)
    for name in names:
        if not name.strip():
            raise ArgumentError(function, argument, "contains an empty name", example)
    return list(dict.fromkeys(names))


def check_expression(function: str, argument: str, text: str | None) -> None:
    """A segmentation expression (docs/mixpanel-api.md, "The expression language") must not be blank or a bare
    property name."""
    if text is None:
        return
    if not text.strip():
        raise ArgumentError(function, argument, "is empty", "an expression such as 'properties[\"$browser\"]'")
    word = text.strip()
    if _BARE_NAME.match(word) and word.lower() not in _LITERAL_WORDS:
        raise ArgumentError(function, argument, f"{word!r} is a bare name, not an expression",
                            f"properties[\"{word}\"] to use the property {word!r}")


def check_top(function: str, top: int | None, by: str | None) -> None:
    """``top`` (Mixpanel's ``limit``) picks top segments, so it only means something with ``by``."""
    if top is not None and by is None:
        raise ArgumentError(function, "top", "only applies with by := (it keeps the top N segments)",
                            "add by := 'properties[\"...\"]', or drop top")


def check_kind_unit(function: str, kind: str | None, unit: str | None) -> None:
    """Mixpanel has no hourly uniques (docs/mixpanel-api.md, "Report conventions"), so no hourly average (events
    per unique user) either."""
    if kind in ("unique", "average") and unit in SUB_DAY:
        raise ArgumentError(function, "type", f"{kind!r} is not available with unit '{unit}': Mixpanel counts no "
                            "unique users per hour or minute", "type := 'general', or unit := 'day'")


# ---------------------------------------------------------------------------------------------- bucket keys


def bucket_time(function: str, key: Any) -> dt.datetime:
    """A bucket key as wall-clock time in the project's zone.

    Keys are ``YYYY-MM-DD`` (day, week, month), ``YYYY-MM-DD HH:MM:SS`` (hour, minute) or Insights'
    ``YYYY-MM-DDTHH:MM:SS-07:00``, whose offset is dropped (the wall clock is what Mixpanel's UI shows).
    """
    try:
        parsed = dt.datetime.fromisoformat(str(key).strip())
    except ValueError:
        raise MpsqlError(f"{function}: Mixpanel answered with a bucket key that is not a date: {key!r}") from None
    return parsed.replace(tzinfo=None)


def bucket_date(function: str, key: Any) -> dt.date:
    """A day/week/month bucket key (``YYYY-MM-DD``) as a date."""
    return bucket_time(function, key).date()


def is_time_key(key: Any) -> bool:
    """True when ``key`` reads as a date or a datetime (an Insights series leaf)."""
    if not isinstance(key, str) or len(key) < 10 or not key[:4].isdigit():
        return False
    try:
        dt.datetime.fromisoformat(key.strip())
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- bodies


def expect(function: str, body: Any, kind: type, what: str) -> Any:
    """``body`` if it has the documented JSON type; else a clear error rather than wrong rows."""
    if not isinstance(body, kind):
        expected = "an array" if kind is list else "an object"
        raise MpsqlError(f"{function}: Mixpanel answered {what} with a JSON {type(body).__name__}, "
                         f"expected {expected}: {str(body)[:200]}")
    return body


def series_rows(function: str, body: Any) -> Iterator[tuple[dt.datetime, str, Any]]:
    """Rows ``(bucket, key, value)`` of the ``{"data": {"series": [...], "values": {key: {bucket: n}}}}`` envelope
    that segmentation, numeric segmentation, ``/events`` and ``/events/properties`` share (docs/mixpanel-api.md,
    "Segmentation family", "Events and properties breakdowns").

    ``series`` is not guaranteed sorted, so buckets are sorted here. Every key gets a row for every bucket of
    ``series``: a bucket missing from a key's map is 0 (Mixpanel may omit zero buckets), so the result is a
    complete date x key grid. Keys keep Mixpanel's order (top segments first) within a bucket.
    """
    data = expect(function, body, dict, "the report").get("data")
    if not isinstance(data, dict) or not isinstance(data.get("values", {}), dict):
        raise MpsqlError(f"{function}: Mixpanel's answer has no data.values object: {str(body)[:200]}")
    values: dict[str, Any] = data.get("values") or {}
    buckets: list[Any] = list(data.get("series") or [])
    for inner in values.values():
        if not isinstance(inner, dict):
            raise MpsqlError(f"{function}: a value map in Mixpanel's answer is a JSON {type(inner).__name__}")
        buckets.extend(inner)
    ordered = sorted({bucket_time(function, k): k for k in dict.fromkeys(buckets)}.items())
    for when, key in ordered:
        for segment, inner in values.items():
            yield when, str(segment), inner.get(key, 0)


def number(value: Any) -> float | None:
    """A JSON number as a float (None stays None; booleans and text are refused, not guessed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MpsqlError(f"Mixpanel answered with {_shown(value)} where a number was expected")
    return float(value)


def count(value: Any) -> int | None:
    """A JSON count as an int; Mixpanel sends some counts as text (Flows' ``totalCount``)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    n = number(value)
    if n is not None and not -2**63 <= n < 2**63:  # also inf and nan: no count, and no BIGINT holds it
        raise MpsqlError(f"Mixpanel answered with {_shown(value)} where a count was expected")
    return None if n is None else round(n)


def _shown(value: Any) -> str:
    """``value`` for an error message, cut: a hostile answer may be megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def series_leaves(function: str, series: Any) -> list[tuple[dt.datetime | None, str, str, float | None]]:
    """``(date, metric, segment, value)`` of every number in an Insights ``series`` (also ``mp_insights``)."""
    series = expect(function, series or {}, dict, "/insights series")
    rows = []
    for metric, node in series.items():
        for path, key, value in _leaves(function, node, []):
            when = bucket_time(function, key) if key is not None else None
            rows.append((when, str(metric), _segment(path), number(value)))
    # By date (undated rows last); sorting is stable, so Mixpanel's metric and segment order stays within a date.
    rows.sort(key=lambda r: (r[0] is None, r[0] or dt.datetime.min))
    return rows


def _leaves(function: str, node: Any, path: list[str]) -> Iterator[tuple[list[str], str | None, Any]]:
    """``(segment path, date key or None, number)`` for every number under ``node``."""
    if isinstance(node, dict):
        if node and all(is_time_key(k) for k in node):
            for key, value in node.items():
                if isinstance(value, dict | list):
                    raise MpsqlError(f"{function}: this saved report's values are not numbers (a funnel or "
                                     "retention report?); mp_query('insights', params := {bookmark_id: ...}) "
                                     "returns its raw answer")
                yield path, key, value
            return
        for key, value in node.items():
            yield from _leaves(function, value, [*path, str(key)])
        return
    if isinstance(node, list):
        raise MpsqlError(f"{function}: this saved report's series hold lists, not numbers; "
                         "mp_query('insights', ...) returns its raw answer")
    yield path, None, node  # a number without a time axis: its keys are the segment


def _segment(path: list[str]) -> str:
    parts = list(path)
    while len(parts) > 1 and parts[-1] == OVERALL:
        parts.pop()
    return SEPARATOR.join(parts) if parts else OVERALL


def cohort_counts(function: str, key: str, cohort: dict[str, Any]) -> Iterator[tuple[int | None, int, int | None,
                                                                                  float | None]]:
    """``(size, period, returned, rate)`` of one retention cohort (``{"first": size, "counts": [...]}``)."""
    size = count(cohort.get("first"))
    counts = cohort.get("counts") or []
    if not isinstance(counts, list):
        raise MpsqlError(f"{function}: cohort {key} has counts that are not a list")
    for period, n in enumerate(counts):
        n = count(n)
        yield size, period, n, None if not size or n is None else n / size
