"""Schema discovery: ``mp_events``, ``mp_top_events``, ``mp_properties``, ``mp_property_values``, ``mp_funnels``,
``mp_cohorts``, ``mp_lexicon``, ``mp_annotations``, ``mp_bookmarks`` — and ``known_names`` for completion.

Every result but top events (today's counts) is kept in the on-disk response cache for ``DISCOVERY_TTL``, so
repeated ``mpsql -c`` runs do not spend the 60-per-hour query budget. The request parameters are built by one
function per endpoint, so ``known_names`` finds the very entries the functions stored.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from mpsql.api.cache import DISCOVERY_TTL, cache_ttl
from mpsql.api.retry import RetryPolicy
from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import Args, Day, ProjectArgs
from mpsql.functions._context import Context
from mpsql.functions._reports import expect
from mpsql.functions._rows import Call, rows_function

# Mixpanel silently clamps /events/names at 5000; its default is 255 (docs/mixpanel-api.md, "Events and properties
# breakdowns")
EVENT_NAMES_LIMIT = 5000
PROPERTIES_LIMIT = 2000  # /events/properties/top returns only 10 unless asked for more
VALUES_LIMIT = 255  # Mixpanel's default for /events/properties/values


def events_params() -> dict[str, Any]:
    return {"type": "general", "limit": EVENT_NAMES_LIMIT}


def properties_params(event: str, top: int | None) -> dict[str, Any]:
    return {"event": event, "limit": top or PROPERTIES_LIMIT}


# ---------------------------------------------------------------------------------------------- mp_events


class EventsArgs(ProjectArgs):
    account: str | None = None


def _events(call: Call[EventsArgs]) -> Iterator[tuple[str]]:
    body = call.fetch("query", "/events/names", events_params(), ttl=cache_ttl(DISCOVERY_TTL))
    names = [_text(call.function, n, "/events/names", "an event name")
             for n in expect(call.function, body, list, "/events/names")]
    if None in names:  # a null is no event's name: nothing to list for it
        call.client.notice(f"{call.function}: Mixpanel's /events/names held {names.count(None)} null name(s); "
                           "they are not listed")
    return ((name,) for name in sorted({n for n in names if n is not None}))


MP_EVENTS = rows_function(
    name="mp_events", schema=pa.schema([pa.field("event", pa.string())]), model=EventsArgs,
    positional=(),
    description="Event names seen in the project in the last 31 days, sorted (cached).",
    example="SELECT event FROM mp_events()", produce=_events)


# ---------------------------------------------------------------------------------------------- mp_top_events


class TopEventsArgs(ProjectArgs):
    type: Literal["general", "unique", "average"] = "general"
    top: int | None = Field(default=None, ge=1)
    account: str | None = None


def _top_events(call: Call[TopEventsArgs]) -> Iterator[tuple[Any, ...]]:
    params = {"type": call.args.type, "limit": call.args.top}
    body = expect(call.function, call.fetch("query", "/events/top", params), dict, "/events/top")  # never cached
    for item in body.get("events", []):
        yield item.get("event"), item.get("amount"), item.get("percent_change")


MP_TOP_EVENTS = rows_function(
    name="mp_top_events",
    schema=pa.schema([pa.field("event", pa.string()), pa.field("count", pa.int64()),
                      pa.field("percent_change", pa.float64())]),
    model=TopEventsArgs, positional=(),
    description="Today's most common events with the change against yesterday (never cached).",
    example="SELECT * FROM mp_top_events(type := 'unique', top := 5)", produce=_top_events)


# ---------------------------------------------------------------------------------------------- mp_properties


class PropertiesArgs(ProjectArgs):
    event: str | None = None
    top: int | None = Field(default=None, ge=1)
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        if not self.event:
            raise ArgumentError(function, "event", "is required: Mixpanel lists properties one event at a time",
                                "an event name, e.g. event := 'Purchase' (see mp_events())")


def _properties(call: Call[PropertiesArgs]) -> Iterator[tuple[Any, ...]]:
    event = call.args.event or ""
    raw = call.fetch("query", "/events/properties/top", properties_params(event, call.args.top),
                     ttl=cache_ttl(DISCOVERY_TTL))
    body = expect(call.function, raw, dict, "/events/properties/top")
    for name in sorted(body):
        info = body[name]
        # Some keys come back as {} with no count (docs/mixpanel-api.md, "Events and properties breakdowns").
        count = info.get("count") if isinstance(info, dict) else None
        yield event, name, count


MP_PROPERTIES = rows_function(
    name="mp_properties",
    schema=pa.schema([pa.field("event", pa.string()), pa.field("property", pa.string()),
                      pa.field("count", pa.int64())]),
    model=PropertiesArgs, positional=(),
    description="Property names of one event with how often each occurs (cached).",
    example="SELECT property, count FROM mp_properties(event := 'Purchase') ORDER BY count DESC",
    produce=_properties)


# ---------------------------------------------------------------------------------------------- mp_property_values


class PropertyValuesArgs(ProjectArgs):
    property: str = Field(min_length=1)
    event: str | None = None
    top: int = Field(default=VALUES_LIMIT, ge=1, le=10_000)
    account: str | None = None


def _property_values(call: Call[PropertyValuesArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    params = {"name": a.property, "event": a.event, "limit": a.top}
    raw = call.fetch("query", "/events/properties/values", params, ttl=cache_ttl(DISCOVERY_TTL))
    body = expect(call.function, raw, list, "/events/properties/values")
    # Mixpanel returns values as strings whatever their type; keep them as text, null as NULL.
    return ((a.property, _text(call.function, v, "/events/properties/values", "a property value")) for v in body)


MP_PROPERTY_VALUES = rows_function(
    name="mp_property_values",
    schema=pa.schema([pa.field("property", pa.string()), pa.field("value", pa.string())]),
    model=PropertyValuesArgs, positional=("property",),
    description="Distinct values of a property (of one event, or all), as text (cached).",
    example="SELECT value FROM mp_property_values('$browser', event := 'Page View')",
    produce=_property_values)


# ---------------------------------------------------------------------------------------------- mp_funnels


class AccountOnly(ProjectArgs):
    account: str | None = None


def _funnels(call: Call[AccountOnly]) -> Iterator[tuple[Any, ...]]:
    body = expect(call.function, call.fetch("query", "/funnels/list", {}, ttl=cache_ttl(DISCOVERY_TTL)), list,
                  "/funnels/list")
    return ((f.get("funnel_id"), f.get("name")) for f in body)


MP_FUNNELS = rows_function(
    name="mp_funnels", schema=pa.schema([pa.field("funnel_id", pa.int64()), pa.field("name", pa.string())]),
    model=AccountOnly, positional=(),
    description="Saved funnels: their ids (for mp_funnel) and names (cached).",
    example="SELECT * FROM mp_funnels()", produce=_funnels)


# ---------------------------------------------------------------------------------------------- mp_cohorts


def _cohorts(call: Call[AccountOnly]) -> Iterator[tuple[Any, ...]]:
    raw = call.fetch("query", "/cohorts/list", {}, method="POST", ttl=cache_ttl(DISCOVERY_TTL))
    body = expect(call.function, raw, list, "/cohorts/list")
    for c in body:
        yield (c.get("id"), c.get("name"), c.get("count"), c.get("description"), _naive_time(c.get("created")),
               None if c.get("is_visible") is None else bool(c.get("is_visible")), c.get("project_id"))


MP_COHORTS = rows_function(
    name="mp_cohorts",
    schema=pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string()), pa.field("count", pa.int64()),
                      pa.field("description", pa.string()), pa.field("created", pa.timestamp("us")),
                      pa.field("is_visible", pa.bool_()), pa.field("project_id", pa.int64())]),
    model=AccountOnly, positional=(),
    description="Saved cohorts with their sizes; members via mp_profiles(cohort := id) (cached).",
    example="SELECT id, name, count FROM mp_cohorts() ORDER BY count DESC", produce=_cohorts)


# ---------------------------------------------------------------------------------------------- mp_lexicon


class LexiconArgs(Args):
    entity_type: Literal["event", "profile"] | None = None
    account: str | None = None


def _lexicon(call: Call[LexiconArgs]) -> Iterator[tuple[Any, ...]]:
    pid = call.client.account.project_id
    if pid is None:
        raise ArgumentError(call.function, "account", "Lexicon is an App API and needs a service account with a "
                            "project_id; a legacy project secret cannot read it")
    path = f"/projects/{pid}/schemas" + (f"/{call.args.entity_type}" if call.args.entity_type else "")
    body = expect(call.function, call.fetch("app", path, {}, ttl=cache_ttl(DISCOVERY_TTL)), dict, path)
    for entry in body.get("results") or []:
        schema = entry.get("schemaJson") or {}
        yield (entry.get("entityType"), entry.get("name"), schema.get("description"), schema.get("properties"),
               schema.get("metadata"), schema)


MP_LEXICON = rows_function(
    name="mp_lexicon",
    schema=pa.schema([pa.field("entity_type", pa.string()), pa.field("name", pa.string()),
                      pa.field("description", pa.string()), pa.field("properties", pa.json_()),
                      pa.field("metadata", pa.json_()), pa.field("schema", pa.json_())]),
    model=LexiconArgs, positional=(),
    description="Lexicon schemas: documented events and profile properties with descriptions (cached).",
    example="SELECT name, description FROM mp_lexicon(entity_type := 'event')", produce=_lexicon)


# ---------------------------------------------------------------------------------------------- mp_annotations


class AnnotationsArgs(Args):
    from_date: Day | None = None
    to_date: Day | None = None
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ArgumentError(function, "from_date", f"{self.from_date} is after to_date {self.to_date}",
                                "from_date <= to_date; both are inclusive")


def _annotations(call: Call[AnnotationsArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    pid = call.client.account.project_id
    if pid is None:
        raise ArgumentError(call.function, "account", "annotations are an App API and need a service account "
                            "with a project_id")
    # The App API spells these in camelCase (docs/mixpanel-api.md, "Annotations").
    params = {"fromDate": a.from_date and a.from_date.isoformat(), "toDate": a.to_date and a.to_date.isoformat()}
    raw = call.fetch("app", f"/projects/{pid}/annotations", params, ttl=cache_ttl(DISCOVERY_TTL))
    body = expect(call.function, raw, dict, "/annotations")
    for n in body.get("results") or []:
        user = n.get("user") or {}
        name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or None
        tags = [t.get("name") for t in n.get("tags") or [] if isinstance(t, dict)]
        yield n.get("id"), _naive_time(n.get("date")), n.get("description"), user.get("id"), name, tags


MP_ANNOTATIONS = rows_function(
    name="mp_annotations",
    schema=pa.schema([pa.field("id", pa.int64()), pa.field("date", pa.timestamp("us")),
                      pa.field("description", pa.string()), pa.field("user_id", pa.int64()),
                      pa.field("user_name", pa.string()), pa.field("tags", pa.list_(pa.string()))]),
    model=AnnotationsArgs, positional=("from_date", "to_date"),
    description="Annotations (release notes, campaigns) between two dates, inclusive (cached).",
    example="SELECT date, description FROM mp_annotations(current_date - 90, current_date)",
    produce=_annotations)


# ---------------------------------------------------------------------------------------------- mp_bookmarks


class BookmarksArgs(ProjectArgs):
    type: Literal["insights", "funnels", "retention", "flows", "launch-analysis"] | None = None
    account: str | None = None


def bookmarks_path(call: Call[BookmarksArgs]) -> str:
    """The App API's list of saved reports: the data view's (``/workspaces/{id}``) when one applies, else the
    project's (docs/mixpanel-api.md, "Saved reports")."""
    account = call.client.account
    if account.project_id is None:
        raise ArgumentError(call.function, "account", "saved reports are an App API and need a service account "
                            "or OAuth token with a project_id; a legacy project secret cannot read them")
    workspace = call.args.workspace or account.workspace_id
    return f"/workspaces/{workspace}/bookmarks" if workspace else f"/projects/{account.project_id}/bookmarks"


def _bookmarks(call: Call[BookmarksArgs]) -> Iterator[tuple[Any, ...]]:
    path = bookmarks_path(call)
    raw = call.fetch("app", path, {"v": 2, "type": call.args.type}, ttl=cache_ttl(DISCOVERY_TTL))
    body = expect(call.function, raw, dict, "/bookmarks")
    results = body.get("results")
    if isinstance(results, dict):  # the nested envelope; the flat one is a list here already
        results = results.get("results")
    if not isinstance(results, list):
        raise MpsqlError(f"{call.function}: Mixpanel's /bookmarks answer holds no list of reports: "
                         f"{json.dumps(body)[:200]}")
    for b in results:
        if not isinstance(b, dict):
            raise MpsqlError(f"{call.function}: Mixpanel's /bookmarks list holds a JSON {_json_type(b)} where a "
                             f"report was expected: {json.dumps(b)[:200]}")
        yield (b.get("id"), b.get("name"), b.get("type"), b.get("description") or None, b.get("creator_name"),
               _naive_time(b.get("modified")))


MP_BOOKMARKS = rows_function(
    name="mp_bookmarks",
    schema=pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string()), pa.field("type", pa.string()),
                      pa.field("description", pa.string()), pa.field("creator", pa.string()),
                      pa.field("modified", pa.timestamp("us"))]),
    model=BookmarksArgs, positional=(),
    description="Saved reports (bookmarks): ids for mp_insight, mp_flows and mp_funnel, with name, type, "
                "creator and last change (project time; cached).",
    example="SELECT id, name FROM mp_bookmarks(type := 'insights') ORDER BY modified DESC", produce=_bookmarks)


FUNCTIONS = (MP_EVENTS, MP_TOP_EVENTS, MP_PROPERTIES, MP_PROPERTY_VALUES, MP_FUNNELS, MP_COHORTS, MP_LEXICON,
             MP_ANNOTATIONS, MP_BOOKMARKS)


# ---------------------------------------------------------------------------------------------- shared parts


def _text(function: str, value: Any, endpoint: str, what: str) -> str | None:
    """A list item of a discovery answer as the text Mixpanel means: a string as is, a number or boolean as
    its JSON spelling (``5``, ``true``), null as None. An object or array is no name: a clear error, rather
    than a Python repr passed off as data."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise MpsqlError(f"{function}: Mixpanel's {endpoint} list holds a JSON {_json_type(value)} where {what} was "
                     f"expected: {json.dumps(value)[:200]}")


def _json_type(value: Any) -> str:
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else type(value).__name__


def _naive_time(text: Any) -> dt.datetime | None:
    """Mixpanel's 'YYYY-MM-DD HH:MM:SS' (project time, no zone) as a naive timestamp."""
    if not text:
        return None
    return dt.datetime.fromisoformat(str(text).replace("T", " "))


# ---------------------------------------------------------------------------------------------- completion


@dataclass
class KnownNames:
    """Event and property names from the discovery cache, for completion (never a request)."""

    events: list[str] = field(default_factory=list)
    by_event: dict[str, list[str]] = field(default_factory=dict)

    def properties(self, event: str | None = None) -> list[str]:
        """Property names of ``event``, or of every cached event."""
        if event is not None:
            return list(self.by_event.get(event, []))
        return sorted({p for names in self.by_event.values() for p in names})


NAMES_REFRESH = 86_400.0  # completion's own load of event names: at most once a day (unless $MPSQL_CACHE_TTL)


def load_event_names(ctx: Context) -> bool:
    """Make sure the cache holds the project's event names for completion: nothing when it holds some younger
    than a day (``$MPSQL_CACHE_TTL`` if set), else one request, one attempt, stored as ``mp_events()`` stores it.

    False, without a request, when there is no account or caching is off; an HTTP failure is raised."""
    ttl = cache_ttl(NAMES_REFRESH)
    if ttl is None:
        return False
    try:
        client = ctx.client("completion", None, retry=RetryPolicy(max_attempts=1))
    except MpsqlError:
        return False
    client.fetch_json("query", "/events/names", events_params(), cache_ttl=ttl)
    return True


def known_names(ctx: Context) -> KnownNames:
    """What earlier ``mp_events()`` / ``mp_properties()`` calls left in the cache for the account of ``ctx`` (a
    connection's ``mpsql.connection.context_of``)."""
    try:
        client = ctx.client("completion", None)
    except MpsqlError:
        return KnownNames()
    names = KnownNames()
    body = client.peek_json("query", "/events/names", events_params())
    if isinstance(body, list):
        names.events = sorted({n for n in body if isinstance(n, str)})  # completion offers real names only
    for event in names.events:
        props = client.peek_json("query", "/events/properties/top", properties_params(event, None))
        if isinstance(props, dict):
            names.by_event[event] = sorted(props)
    return names
