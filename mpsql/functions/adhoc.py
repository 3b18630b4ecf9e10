"""Ad-hoc reports: ``mp_insights``, and the report definitions ``mp_funnel(steps :=)``, ``mp_retention(buckets :=)``
and ``mp_flows(event :=)`` post instead of naming a saved report (docs/mixpanel-api.md, "Ad-hoc reports").

A report definition (Mixpanel's "bookmark params") is built from the typed arguments, or passed whole with
``definition := '<json>'``, and posted as a JSON body: ``POST /insights`` for Insights, funnels and retention
(one endpoint; the definition's behavior type picks the engine), ``POST /arb_funnels`` for Flows. These
endpoints are what Mixpanel's own client uses; they are not in Mixpanel's public API reference, so the
emulator is the contract tested against.

``mp_insights(events, from_date, to_date, ...)`` -> ``date TIMESTAMP, metric VARCHAR, segment VARCHAR,
value DOUBLE, compare_date TIMESTAMP, compare_value DOUBLE``: one row per date x metric x segment, like
``mp_insight``. ``metric`` is the event (or the formula's text; with a formula only the formula's rows come
back, as in Mixpanel's UI); ``segment`` is ``$overall`` or the breakdown values joined with ``' / '``. With
``compare :=``, ``compare_date``/``compare_value`` are the compared period's bucket in the same position
(NULL without a comparison).

Expressions become definition filters and breakdowns: ``filter :=`` takes comparisons of one property with a
literal (``properties["country"] == "US"``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``defined(...)``, ``not
defined(...)``) joined by ``and``; ``by :=`` names properties (``'$browser'`` or ``'properties["$browser"]'``).
Anything else is refused before any request, pointing at ``definition :=``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from math import isfinite
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import Day, Names, ProjectArgs
from mpsql.functions._reports import (
    OVERALL,
    bucket_date,
    check_names,
    cohort_counts,
    count,
    expect,
    is_time_key,
    number,
    require_dates,
    series_leaves,
)
from mpsql.functions._rows import Call, rows_function

QUERY_LIMIT = 50_000  # the most segments an ad-hoc query may ask for (queryLimits.limit)
INSIGHTS_MATHS = ("total", "unique", "dau", "wau", "mau", "sum", "average", "median", "min", "max", "p25", "p75",
                  "p90", "p99")
PROPERTY_MATHS = ("sum", "average", "median", "min", "max", "p25", "p75", "p90", "p99")
USER_MATHS = ("unique", "dau", "wau", "mau")
COMPARE = ("previous_period", "day", "week", "month", "quarter", "year")
MAX_STEPS = 100
MAX_BUCKETS = 730
WINDOW_MAX = {"second": 31_708_800, "minute": 528_480, "hour": 8808, "day": 367}  # per conversion-window unit
MAX_FLOW_STEPS = 5
DEFINITION_HINT = "a JSON object text: a report definition with sections and displayOptions"

# ---------------------------------------------------------------------------------------------- expressions

_STRING = r'"(?:[^"\\]|\\.)*"'
_PROPERTY = re.compile(r'\s*properties\s*\[\s*(' + _STRING + r')\s*\]\s*$')
_COMPARISON = re.compile(r'\s*properties\s*\[\s*(?P<prop>' + _STRING + r')\s*\]\s*(?P<op>==|!=|>=|<=|>|<)\s*'
                         r'(?P<value>' + _STRING + r'|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false)\s*')
_DEFINED = re.compile(r'\s*(?P<neg>not\s+)?defined\s*\(\s*properties\s*\[\s*(?P<prop>' + _STRING + r')\s*\]\s*\)\s*')
_AND = re.compile(r'and\b\s*')
_NUMBER_OPS = {">": "is greater than", "<": "is less than", ">=": "is at least", "<=": "is at most"}
FILTER_HINT = ('comparisons of a property with a literal joined by and, e.g. \'properties["country"] == "US" and '
               'properties["amount"] > 10\'; definition := \'<json>\' for anything else')


def property_name(function: str, argument: str, text: str, *, bare: bool = True) -> str:
    """The property a breakdown names: ``properties["x"]`` (or, with ``bare``, just ``x``)."""
    match = _PROPERTY.match(text)
    if match:
        return json.loads(match.group(1))
    if bare and text.strip() and "[" not in text and "(" not in text:
        return text.strip()
    raise ArgumentError(function, argument, f"{text!r} is not a property of the event",
                        "a property such as 'properties[\"$browser\"]'" + (" or '$browser'" if bare else ""))


def definition_filters(function: str, argument: str, text: str | None) -> list[dict[str, Any]]:
    """``text`` (a conjunction of property comparisons) as definition filter entries; else an error."""
    if text is None:
        return []
    out, pos = [], 0
    while True:
        m = _COMPARISON.match(text, pos) or _DEFINED.match(text, pos)
        if m is None:
            raise ArgumentError(function, argument, f"{text[pos:].strip()[:60]!r} cannot be turned into a report "
                                "definition's filter", FILTER_HINT)
        out.append(_filter_entry(function, argument, m))
        pos = m.end()
        if pos >= len(text):
            return out
        more = _AND.match(text, pos)
        if more is None:
            raise ArgumentError(function, argument, f"expected 'and' at {text[pos:].strip()[:30]!r}", FILTER_HINT)
        pos = more.end()


def _filter_entry(function: str, argument: str, m: re.Match[str]) -> dict[str, Any]:
    prop = json.loads(m.group("prop"))
    if "neg" in m.groupdict():
        return _entry(prop, "string", "is not set" if m.group("neg") else "is set", None)
    op, raw = m.group("op"), m.group("value")
    value = json.loads(raw)
    if isinstance(value, float) and not isfinite(value):
        raise ArgumentError(function, argument, f"{raw[:30]} is out of range for a number", FILTER_HINT)
    if isinstance(value, bool):
        if op not in ("==", "!="):
            raise ArgumentError(function, argument, f"{op} does not compare with {raw}", "== true, == false")
        return _entry(prop, "boolean", "true" if value == (op == "==") else "false", None)
    if isinstance(value, str):
        if op not in ("==", "!="):
            raise ArgumentError(function, argument, f"{op} compares numbers, not the text {raw}", "==, != for text")
        return _entry(prop, "string", "equals" if op == "==" else "does not equal", [value])
    if op == "==":
        return _entry(prop, "number", "is equal to", value)
    if op == "!=":
        return _entry(prop, "number", "does not equal", [value])
    return _entry(prop, "number", _NUMBER_OPS[op], value)


def _entry(prop: str, kind: str, op: str, value: Any) -> dict[str, Any]:
    return {"resourceType": "events", "filterType": kind, "defaultType": kind, "value": prop,
            "filterOperator": op, "filterValue": value}


def group_entries(names: list[str]) -> list[dict[str, Any]]:
    """Breakdown entries (``sections.group``) by event properties."""
    return [{"value": n, "propertyName": n, "resourceType": "events", "propertyType": "string",
             "propertyDefaultType": "string"} for n in names]


def time_section(from_date: dt.date, to_date: dt.date, unit: str) -> list[dict[str, Any]]:
    return [{"dateRangeType": "between", "unit": unit, "value": [from_date.isoformat(), to_date.isoformat()]}]


def behavior(event: str, filters: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "event", "id": None, "name": event, "resourceType": "events", "filtersDeterminer": "all",
            "filters": filters or [], **extra}


MAX_DEFINITION_DEPTH = 64  # a report definition is about ten levels deep


def _nesting(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_definition(function: str, text: str | None, *, flows: bool = False) -> dict[str, Any] | None:
    """``definition :=`` as a JSON object with the keys the engine needs (checked before any request)."""
    if text is None:
        return None
    # Checked before parsing: how deep Python's JSON parser may go before a RecursionError depends on the thread.
    if _nesting(text) > MAX_DEFINITION_DEPTH:
        raise ArgumentError(function, "definition", f"nests too deeply (more than {MAX_DEFINITION_DEPTH} levels)",
                            DEFINITION_HINT)
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except ValueError as e:
        raise ArgumentError(function, "definition", f"is not JSON: {e}", DEFINITION_HINT) from None
    if not isinstance(value, dict):
        raise ArgumentError(function, "definition", f"is a JSON {type(value).__name__}, not an object",
                            DEFINITION_HINT)
    if flows:
        if not isinstance(value.get("steps"), list) or not value["steps"]:
            raise ArgumentError(function, "definition", "has no steps list",
                                "a Flows definition: {\"steps\": [{\"event\": ..., \"forward\": 2}], ...}")
        return value
    sections, display = value.get("sections"), value.get("displayOptions")
    if not isinstance(sections, dict) or not isinstance(sections.get("show"), list) or not sections["show"]:
        raise ArgumentError(function, "definition", "needs sections.show, a non-empty list of metrics",
                            DEFINITION_HINT)
    if not isinstance(display, dict) or not isinstance(display.get("chartType"), str):
        raise ArgumentError(function, "definition", "needs displayOptions.chartType", DEFINITION_HINT)
    return value


def _no_constant(name: str) -> Any:
    """NaN and Infinity are no JSON, and no request body could carry them."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


def with_dates(definition: dict[str, Any], from_date: dt.date | None, to_date: dt.date | None) -> dict[str, Any]:
    """The definition over ``from_date``..``to_date`` when given (its own time section otherwise)."""
    if from_date is None or to_date is None:
        return definition
    sections = dict(definition["sections"])
    old = sections.get("time") or [{}]
    unit = old[0].get("unit", "day") if isinstance(old[0], dict) else "day"
    sections["time"] = time_section(from_date, to_date, unit)
    return {**definition, "sections": sections}


def refuse_with(function: str, given: dict[str, Any], reason: str, hint: str) -> None:
    """Each argument of ``given`` that is set is refused, naming it."""
    for name, value in given.items():
        if value is not None and value is not False:
            raise ArgumentError(function, name, reason, hint)


def check_dates_if_any(function: str, from_date: dt.date | None, to_date: dt.date | None, today: dt.date) -> None:
    if from_date is not None or to_date is not None:
        require_dates(function, from_date, to_date, today)


def post(call: Call[Any], endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST an ad-hoc query (a JSON body; cached like other reports) and return its answer object."""
    return expect(call.function, call.fetch("query", endpoint, {}, method="POST", ttl=cache_ttl(REPORT_TTL),
                                            json_body=body), dict, endpoint)


# ---------------------------------------------------------------------------------------------- mp_insights


_FORMULA = re.compile(r"\s*(?:(\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?)|([A-Z]+)|([-+*/^()]))")


def _letter(name: str) -> int:
    n = 0
    for ch in name:
        n = n * 26 + ord(ch) - ord("A")
    return n


def check_formula(function: str, text: str, metrics: int) -> None:
    """Letters name the events in order (A = the first); operators + - * / ^ and parentheses."""
    hint = f"letters A..{chr(ord('A') + metrics - 1)} for the events in order, numbers, + - * / ^ and parentheses"
    depth, pos = 0, 0
    operand = True  # an operand comes next (a number, a letter, '(' or a unary '-'), else an operator or ')'
    after_power = False  # only a number, a letter or '(' may follow '^'
    while pos < len(text.rstrip()):
        m = _FORMULA.match(text, pos)
        if m is None or m.end() == pos:
            raise ArgumentError(function, "formula", f"unexpected {text[pos:].strip()[:10]!r}", hint)
        if m.group(2) and _letter(m.group(2)) >= metrics:
            raise ArgumentError(function, "formula", f"{m.group(2)} names no event: there are {metrics}", hint)
        op = m.group(3) or ""
        fits = (op in ("", "(") or (op == "-" and not after_power)) if operand else op not in ("", "(")
        if not fits:
            token = m.group().strip()
            problem = (f"{token!r} needs an operator before it" if not (operand or op)
                       else f"unexpected {token!r} at position {m.end() - len(token) + 1}")
            raise ArgumentError(function, "formula", problem, hint)
        operand, after_power = op not in ("", ")"), op == "^"
        depth += {"(": 1, ")": -1}.get(op, 0)
        if depth < 0:
            raise ArgumentError(function, "formula", "has a ')' without its '('", hint)
        pos = m.end()
    if operand:
        raise ArgumentError(function, "formula", "ends without its last operand", hint)
    if depth:
        raise ArgumentError(function, "formula", "has a '(' that is not closed", hint)
    if not re.search(r"[A-Z]", text):
        raise ArgumentError(function, "formula", "names no event", hint)


class InsightsArgs(ProjectArgs):
    """The arguments of ``mp_insights``; the definition's names in comments where they differ."""

    events: Names = None  # one metric per event (sections.show)
    from_date: Day | None = None
    to_date: Day | None = None
    math: Literal[INSIGHTS_MATHS] | None = "total"  # type: ignore[valid-type]  # measurement.math ('sum': total)
    property: str | None = None  # measurement.property
    by: Names = None  # sections.group
    filter: str | None = None  # sections.filter
    formula: str | None = None  # a formula show clause; the events' own series are hidden
    unit: Literal["day", "week", "month"] | None = "day"  # sections.time[0].unit
    compare: Literal[COMPARE] | None = None  # type: ignore[valid-type]  # displayOptions.timeComparison
    top: int | None = Field(default=None, ge=1, le=QUERY_LIMIT)  # queryLimits.limit
    definition: str | None = None  # the whole definition, as JSON text
    account: str | None = None

    def sent_in_url(self) -> bool:
        return False  # a JSON body

    def check(self, function: str, today: dt.date) -> None:
        if self.definition is not None:
            refuse_with(function, {"events": self.events, "property": self.property, "by": self.by,
                                   "filter": self.filter, "formula": self.formula, "compare": self.compare},
                        "cannot be combined with definition := (the definition says it)",
                        "either the typed arguments or definition :=")
            if self.math != "total" or self.unit != "day":
                raise ArgumentError(function, "math" if self.math != "total" else "unit",
                                    "cannot be combined with definition := (the definition says it)",
                                    "either the typed arguments or definition :=")
            check_dates_if_any(function, self.from_date, self.to_date, today)
            parse_definition(function, self.definition)
            return
        events = check_names(function, "events", self.events, "an event name or a list such as ['Sign Up', "
                             "'Purchase']")
        require_dates(function, self.from_date, self.to_date, today)
        math = self.math or "total"
        if math in PROPERTY_MATHS and self.property is None:
            raise ArgumentError(function, "property", f"is required with math := '{math}'",
                                "the numeric event property to aggregate, e.g. property := 'amount'")
        if math in USER_MATHS and self.property is not None:
            raise ArgumentError(function, "property", f"does not apply to math := '{math}', which counts users",
                                "math := 'sum', 'average', 'median', 'min', 'max' or 'p90' (a property's values)")
        if math == "total" and self.property is not None:
            raise ArgumentError(function, "property", "does not apply to math := 'total', which counts events",
                                "math := 'sum' to add up the property")
        if math in ("dau", "wau", "mau") and self.unit not in (None, "day"):
            raise ArgumentError(function, "unit", f"math := '{math}' is a daily value: one per day",
                                "unit := 'day'")
        for name in self.by or []:
            property_name(function, "by", name)
        if self.top is not None and not self.by:
            raise ArgumentError(function, "top", "only applies with by := (it keeps the top N segments)",
                                "add by := ['$browser'], or drop top")
        definition_filters(function, "filter", self.filter)
        if self.formula is not None:
            if len(events) < 2:
                raise ArgumentError(function, "formula", "combines two or more events' metrics",
                                    "events := ['A event', 'B event'] with formula := 'B / A'")
            check_formula(function, self.formula, len(events))


def insights_definition(a: InsightsArgs) -> dict[str, Any]:
    """The Insights definition of the typed arguments (docs/mixpanel-api.md, "Ad-hoc reports")."""
    assert a.from_date is not None and a.to_date is not None
    math = a.math or "total"
    measurement: dict[str, Any] = {"math": "total" if math == "sum" else math}
    if a.property is not None:
        measurement["property"] = {"name": a.property, "resourceType": "events"}
    show: list[dict[str, Any]] = []
    for event in check_names("mp_insights", "events", a.events, ""):
        clause = {"type": "metric", "name": event, "behavior": behavior(event), "measurement": dict(measurement)}
        if a.formula is not None:
            clause["isHidden"] = True
        show.append(clause)
    if a.formula is not None:
        show.append({"type": "formula", "definition": a.formula, "measurement": {}, "referencedMetrics": [],
                     "name": a.formula})
    display: dict[str, Any] = {"chartType": "line", "analysis": "linear"}
    if a.compare == "previous_period":
        days = (a.to_date - a.from_date).days + 1
        display["timeComparison"] = {"type": "absolute-start", "value": (a.from_date - dt.timedelta(days=days))
                                     .isoformat()}
    elif a.compare is not None:
        display["timeComparison"] = {"type": "relative", "value": a.compare}
    by = [property_name("mp_insights", "by", n) for n in a.by or []]
    return {"sections": {"show": show, "time": time_section(a.from_date, a.to_date, a.unit or "day"),
                         "filter": definition_filters("mp_insights", "filter", a.filter),
                         "group": group_entries(by)},
            "displayOptions": display}


def _insights(call: Call[InsightsArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    if a.definition is not None:
        definition = with_dates(parse_definition(call.function, a.definition) or {}, a.from_date, a.to_date)
        limit = a.top or 3000
    else:
        definition, limit = insights_definition(a), a.top or 3000
    body = post(call, "/insights", {"bookmark": definition, "queryLimits": {"limit": limit}})
    if "series" not in body:
        raise MpsqlError(f"{call.function}: Mixpanel's answer has no series: {str(body)[:200]}")
    rows = series_leaves(call.function, body.get("series"))
    compared: dict[tuple[str, str], list[tuple[Any, Any]]] = defaultdict(list)
    comparison = body.get("comparison")
    if isinstance(comparison, dict):
        for when, metric, segment, value in series_leaves(call.function, comparison.get("series")):
            compared[(metric, segment)].append((when, value))
    position: dict[tuple[str, str], int] = defaultdict(int)
    for when, metric, segment, value in rows:
        pair = compared.get((metric, segment), [])
        i = position[(metric, segment)]
        position[(metric, segment)] += 1
        c_when, c_value = pair[i] if i < len(pair) else (None, None)
        yield when, metric, segment, value, c_when, c_value


MP_INSIGHTS = rows_function(
    name="mp_insights",
    schema=pa.schema([pa.field("date", pa.timestamp("us")), pa.field("metric", pa.string()),
                      pa.field("segment", pa.string()), pa.field("value", pa.float64()),
                      pa.field("compare_date", pa.timestamp("us")), pa.field("compare_value", pa.float64())]),
    model=InsightsArgs, positional=("events", "from_date", "to_date"),
    description="An ad-hoc Insights query (no saved report): totals, uniques, DAU/WAU/MAU or a property's "
                "sum/average/median/min/max/percentile per date, with breakdowns, filters, formulas over several "
                "events and a period comparison; one row per date, metric and segment.",
    example="SELECT date, value FROM mp_insights('Login', current_date - 14, current_date - 1, math := 'dau')",
    produce=_insights)


# ---------------------------------------------------------------------------------------------- funnels


def funnel_definition(steps: list[str], from_date: dt.date, to_date: dt.date, *, length: int, length_unit: str,
                      order: str, exclude: list[str], filters: list[dict[str, Any]], by: str | None
                      ) -> dict[str, Any]:
    """An ad-hoc funnel's definition: one funnel metric over the range as one bucket (``funnel-steps``)."""
    funnel = {"type": "funnel", "resourceType": "events",
              "behaviors": [behavior(s, funnelOrder=order) for s in steps],
              "conversionWindowDuration": length, "conversionWindowUnit": length_unit, "funnelOrder": order,
              "exclusions": [{"event": e, "steps": {"from": 1, "to": len(steps)}} for e in exclude],
              "aggregateBy": [], "filter": [], "funnelReentryMode": "default"}
    return {"sections": {"show": [{"type": "metric", "behavior": funnel,
                                   "measurement": {"math": "conversion_rate_unique", "property": None,
                                                   "stepIndex": None}}],
                         "time": time_section(from_date, to_date, "day"), "filter": filters,
                         "group": group_entries([by] if by else []), "formula": []},
            "displayOptions": {"chartType": "funnel-steps"}}


def funnel_rows(function: str, body: dict[str, Any], date: dt.date | None) -> Iterator[tuple[Any, ...]]:
    """Rows in ``mp_funnel``'s columns from a funnel answer: ``{name: {measure: {"n. step": {"all": v}}}}``, or
    ``{name: {segment: {measure: ...}}}`` with a breakdown (docs/mixpanel-api.md, "Ad-hoc reports")."""
    series = expect(function, body.get("series"), dict, "the funnel's series")
    for node in series.values():
        node = expect(function, node, dict, "a funnel series")
        segments = [(OVERALL, node)] if "count" in node else [(str(k), v) for k, v in node.items()]
        segments.sort(key=lambda pair: pair[0] != OVERALL)
        for segment, measures in segments:
            measures = expect(function, measures, dict, "a funnel segment")
            counts = expect(function, measures.get("count"), dict, "a funnel's counts")
            labels = sorted(counts, key=lambda k: int(str(k).split(".", 1)[0]))

            def value(measure: str, label: str, measures: dict[str, Any] = measures) -> Any:
                cell = (measures.get(measure) or {}).get(label)
                return cell.get("all") if isinstance(cell, dict) else cell
            for label in labels:
                step, _, event = str(label).partition(". ")
                yield (date, segment, int(step), event, count(value("count", label)),
                       number(value("step_conv_ratio", label)), number(value("overall_conv_ratio", label)),
                       number(value("avg_time", label)))


# ---------------------------------------------------------------------------------------------- retention


def retention_definition(born: str, returning: str, from_date: dt.date, to_date: dt.date, *, unit: str,
                         buckets: list[int], born_filters: list[dict[str, Any]],
                         return_filters: list[dict[str, Any]], by: str | None) -> dict[str, Any]:
    """An ad-hoc retention definition: born then return event, birth alignment, custom bucket ends."""
    retention = {"type": "retention", "resourceType": "events",
                 "behaviors": [behavior(born, born_filters), behavior(returning, return_filters)],
                 "retentionUnit": unit, "retentionAlignmentType": "birth", "retentionCustomBucketSizes": buckets,
                 "filter": [], "retentionUnboundedMode": "none"}
    return {"sections": {"show": [{"type": "metric", "behavior": retention,
                                   "measurement": {"math": "retention_rate", "retentionBucketIndex": 0}}],
                         "time": time_section(from_date, to_date, unit), "filter": [],
                         "group": group_entries([by] if by else []), "formula": []},
            "displayOptions": {"chartType": "retention-curve"}}


def retention_rows(function: str, body: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Rows in ``mp_retention``'s columns from ``{name: {cohort: {"first", "counts", "rates"}, "$average": ...}}``
    (or ``{name: {segment: {cohort: ...}}}`` with a breakdown); the synthetic ``$average`` is no cohort."""
    series = expect(function, body.get("series"), dict, "the retention series")
    out = []
    for node in series.values():
        node = expect(function, node, dict, "a retention series")
        segmented = not any(is_time_key(k) for k in node)
        segments = [(str(k), v) for k, v in node.items()] if segmented else [(OVERALL, node)]
        for segment, cohorts in segments:
            cohorts = expect(function, cohorts, dict, "a retention segment")
            for key, cohort in cohorts.items():
                if not is_time_key(key):
                    continue
                cohort = expect(function, cohort, dict, "a retention cohort")
                for size, period, n, rate in cohort_counts(function, key, cohort):
                    out.append((bucket_date(function, key), segment, size, period, n, rate))
    out.sort(key=lambda r: (r[0], r[1] != OVERALL, r[1], r[3]))
    return iter(out)


def check_buckets(function: str, buckets: list[int]) -> None:
    if not buckets or len(buckets) > MAX_BUCKETS:
        raise ArgumentError(function, "buckets", f"has {len(buckets)} values",
                            f"1 to {MAX_BUCKETS} bucket ends, e.g. [1, 3, 7]")
    if any(b < 1 for b in buckets) or any(b >= c for b, c in itertools.pairwise(buckets)):
        raise ArgumentError(function, "buckets", f"{buckets} is not strictly ascending positive integers",
                            "bucket ends in units of unit :=, e.g. [1, 3, 7]: [0, 1), [1, 3), [3, 7)")


# ---------------------------------------------------------------------------------------------- flows


def flows_definition(event: str, from_date: dt.date, to_date: dt.date, *, forward: int, reverse: int,
                     window_days: int) -> dict[str, Any]:
    """An ad-hoc Flows definition (the flat form ``POST /arb_funnels`` takes): one anchor event, Sankey."""
    return {"steps": [{"event": event, "step_label": event, "forward": forward, "reverse": reverse,
                       "bool_op": "and", "property_filter_params_list": []}],
            "date_range": {"type": "between", "from_date": from_date.isoformat(), "to_date": to_date.isoformat()},
            "chartType": "sankey", "flows_merge_type": "graph", "count_type": "unique", "cardinality_threshold": 3,
            "version": 2, "conversion_window": {"unit": "day", "value": window_days}, "anchor_position": 1,
            "collapse_repeated": False, "show_custom_events": True, "hidden_events": [], "exclusions": []}
