"""Engage ``/api/query/engage`` (docs/mixpanel-api.md, "Engage"): user and group profiles, filtered, paged by
``session_id``.

Parameters come from the query string or a form body (GET or POST). Page 0 runs the query, keeps its full
result in a session and answers with ``total``; later pages slice that snapshot, so paging is stable
whatever else the request repeats. Results are ordered by distinct id.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import random
import re
import threading
import weakref
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpsql.emulator import messages
from mpsql.emulator.catalog import Cohort, cohort, cohort_members
from mpsql.emulator.datagen import Dataset
from mpsql.emulator.profiles import GROUP_KEYS, group_profiles_for, profiles_for
from mpsql.emulator.proto import HttpError, Request, Response, Route, query_routes
from mpsql.emulator.routes.export import parse_bool
from mpsql.emulator.where import Expr, WhereSyntaxError, compile_where

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000  # [E] page_size is an undocumented client knob; larger asks are clamped to Mixpanel's 1000
SESSION_IDLE_S = 600.0  # [E] a session unused this long is gone ("invalid session")
MAX_SESSIONS = 256
_WINDOW = re.compile(r"(\d+)([dw])")


# ---------------------------------------------------------------- sessions


@dataclass
class _Session:
    results: list[dict[str, Any]]
    last_used: float


class _Sessions:
    """The open Engage sessions of one emulator (bounded, idle ones expire)."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, _Session] = OrderedDict()
        self._rng = random.Random(f"mpsql-emulator:{seed}:engage-sessions")

    def open(self, results: list[dict[str, Any]], now: float) -> str:
        with self._lock:
            sid = f"{1_700_000_000 + self._rng.randrange(10**8)}-" + "".join(
                self._rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=6))
            self._open[sid] = _Session(results, now)
            while len(self._open) > MAX_SESSIONS:
                self._open.popitem(last=False)
            return sid

    def get(self, sid: str, now: float) -> _Session | None:
        with self._lock:
            s = self._open.get(sid)
            if s is None or now - s.last_used > SESSION_IDLE_S:
                self._open.pop(sid, None)
                return None
            s.last_used = now
            self._open.move_to_end(sid)
            return s


_SESSIONS: weakref.WeakKeyDictionary[Emulator, _Sessions] = weakref.WeakKeyDictionary()
_SESSIONS_LOCK = threading.Lock()


def _sessions(emu: Emulator) -> _Sessions:
    with _SESSIONS_LOCK:
        store = _SESSIONS.get(emu)
        if store is None:
            store = _SESSIONS[emu] = _Sessions(emu.seed)
        return store


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class _Selector:
    event: str
    selector: Expr | None


@dataclass(frozen=True)
class _Behavior:
    name: str
    window_s: int
    selectors: tuple[_Selector, ...]


@dataclass(frozen=True)
class EngageQuery:
    """A validated Engage request (everything but paging)."""

    distinct_ids: list[str] | None = None  # distinct_id is folded in as a one-element list
    where: Expr | None = None
    output_properties: list[str] | None = None
    cohort: Cohort | None = None
    include_all_users: bool = True
    behaviors: tuple[_Behavior, ...] | None = None
    as_of: int | None = None
    data_group_id: str | None = None


def _given(params: dict[str, str], name: str) -> str | None:
    """A parameter's value, with an empty one treated as not sent."""
    v = params.get(name)
    return v if v is not None and v.strip() != "" else None


def _json(params: dict[str, str], name: str, expected: str) -> Any:
    raw = _given(params, name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise HttpError(400, messages.bad_param(name, expected)) from None


def _int(raw: str | None, name: str, default: int, minimum: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise HttpError(400, messages.bad_param(name, f"must be an integer >= {minimum}")) from None
    if value < minimum:
        raise HttpError(400, messages.bad_param(name, f"must be an integer >= {minimum}"))
    return value


def parse_query(emu: Emulator, params: dict[str, str]) -> EngageQuery:
    """Validate the selection parameters, rejecting the combinations Engage rejects (400)."""
    has = {n: _given(params, n) is not None for n in ("distinct_id", "distinct_ids", "behaviors",
                                                      "filter_by_cohort", "include_all_users")}
    if has["distinct_id"] and has["distinct_ids"]:
        raise HttpError(400, messages.ENGAGE_ID_AND_IDS)
    if has["behaviors"] and has["filter_by_cohort"]:
        raise HttpError(400, messages.ENGAGE_BEHAVIORS_AND_COHORT)
    if has["include_all_users"] and not has["filter_by_cohort"]:
        raise HttpError(400, messages.ENGAGE_INCLUDE_ALL_USERS)

    ids: list[str] | None = None
    if has["distinct_id"]:
        ids = [params["distinct_id"]]
    elif has["distinct_ids"]:
        expected = "must be a JSON-encoded array of distinct ids"
        parsed = _json(params, "distinct_ids", expected)
        if not isinstance(parsed, list) or not all(isinstance(x, str | int) and not isinstance(x, bool)
                                                   for x in parsed):
            raise HttpError(400, messages.bad_param("distinct_ids", expected))
        ids = [str(x) for x in parsed]

    where = None
    if _given(params, "where") is not None:
        try:
            where = compile_where(params["where"])
        except WhereSyntaxError as e:
            raise HttpError(400, messages.bad_where(str(e))) from None

    output = _json(params, "output_properties", "must be a JSON-encoded array of property names")
    if output is not None and (not isinstance(output, list) or not all(isinstance(x, str) for x in output)):
        raise HttpError(400, messages.bad_param("output_properties", "must be a JSON-encoded array of property names"))

    chosen = None
    if has["filter_by_cohort"]:
        expected = 'must be a JSON object like {"id": 12345}'
        spec = _json(params, "filter_by_cohort", expected)
        cid = spec.get("id") if isinstance(spec, dict) else None
        if isinstance(cid, str) and cid.strip().isdigit():
            cid = int(cid)
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise HttpError(400, messages.bad_param("filter_by_cohort", expected))
        try:
            chosen = cohort(cid)
        except KeyError:
            raise HttpError(400, messages.unknown_cohort(cid)) from None
    include_all = True
    if has["include_all_users"]:
        include_all = parse_bool(params["include_all_users"],
                                 messages.bad_param("include_all_users", "must be true or false"))

    behaviors = _behaviors(params) if has["behaviors"] else None
    as_of = None
    if _given(params, "as_of_timestamp") is not None:
        as_of = _int(params["as_of_timestamp"], "as_of_timestamp", 0, 0)
        if as_of > calendar.timegm(emu.today.timetuple()) + 86_400:
            raise HttpError(400, messages.ENGAGE_AS_OF_FUTURE)

    group = _given(params, "data_group_id")
    if group is not None and group.strip() not in GROUP_KEYS:
        raise HttpError(400, messages.ENGAGE_UNKNOWN_GROUP)
    return EngageQuery(ids, where, output, chosen, include_all, behaviors, as_of, group and group.strip())


def _behaviors(params: dict[str, str]) -> tuple[_Behavior, ...]:
    expected = "must be a JSON array of {window, name, event_selectors: [{event, selector}]} objects"
    parsed = _json(params, "behaviors", expected)
    if not isinstance(parsed, list) or not parsed:
        raise HttpError(400, messages.bad_param("behaviors", expected))
    out = []
    for b in parsed:
        if not isinstance(b, dict) or not isinstance(b.get("name"), str) or not b["name"]:
            raise HttpError(400, messages.bad_param("behaviors", expected))
        m = _WINDOW.fullmatch(str(b.get("window", "")).strip())
        sels = b.get("event_selectors")
        if m is None or not isinstance(sels, list) or not sels:
            raise HttpError(400, messages.bad_param("behaviors", expected))
        selectors = []
        for s in sels:
            if not isinstance(s, dict) or not isinstance(s.get("event"), str):
                raise HttpError(400, messages.bad_param("behaviors", expected))
            expr = None
            if isinstance(s.get("selector"), str) and s["selector"].strip():
                try:
                    expr = compile_where(s["selector"])
                except WhereSyntaxError as e:
                    raise HttpError(400, messages.bad_param("behaviors", f"invalid selector: {e}")) from None
            selectors.append(_Selector(s["event"], expr))
        days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        out.append(_Behavior(b["name"], days * 86_400, tuple(selectors)))
    return tuple(out)


# ---------------------------------------------------------------- selection


def select_profiles(ds: Dataset, q: EngageQuery, today_epoch: int) -> list[dict[str, Any]]:
    """Every matching ``{"$distinct_id", "$properties"}`` result, ordered by distinct id."""
    pool = group_profiles_for(ds, q.data_group_id) if q.data_group_id else profiles_for(ds)
    if q.cohort is not None:
        candidates = set(cohort_members(ds, q.cohort.id))
        if q.data_group_id or not q.include_all_users:
            candidates &= set(pool)  # cohorts hold users: no group is a member, nor any profile-less id here
    else:
        candidates = set(pool)
    if q.distinct_ids is not None:
        candidates &= set(q.distinct_ids)
    end = q.as_of if q.as_of is not None else today_epoch
    counts = _behavior_counts(ds, q.behaviors, end) if q.behaviors else {}
    zero = {b.name: 0 for b in q.behaviors or ()}
    results = []
    for did in sorted(candidates):
        props = pool.get(did, {})
        if q.where is not None and not q.where.matches(props, {"user": props, "behaviors": counts.get(did, zero)}):
            continue
        if q.output_properties is not None:
            props = {k: props[k] for k in q.output_properties if k in props}
        results.append({"$distinct_id": did, "$properties": dict(props)})
    return results


def _behavior_counts(ds: Dataset, behaviors: tuple[_Behavior, ...], end: int) -> dict[str, dict[str, int]]:
    """distinct_id -> behaviour name -> events in [end - window, end) matching one of its selectors."""
    start = end - max(b.window_s for b in behaviors)
    first = dt.datetime.fromtimestamp(start, dt.UTC).date()
    last = dt.datetime.fromtimestamp(end, dt.UTC).date()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {b.name: 0 for b in behaviors})
    for row in ds.records(first, last):
        p = row["properties"]
        t = p["time"]
        for b in behaviors:
            if end - b.window_s <= t < end and any(
                    s.event == row["event"] and (s.selector is None or s.selector.matches(p)) for s in b.selectors):
                counts[p["distinct_id"]][b.name] += 1
    return counts


# ---------------------------------------------------------------- handler


def engage(emu: Emulator, req: Request) -> Response:
    """One page of profiles; page 0 opens a session and reports ``total``."""
    p = req.params
    query = parse_query(emu, p)
    page = _int(_given(p, "page"), "page", 0, 0)
    page_size = min(_int(_given(p, "page_size"), "page_size", DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE)
    sid = _given(p, "session_id")
    if page > 0 and sid is None:
        raise HttpError(400, messages.ENGAGE_PAGE_WITHOUT_SESSION)
    if page > 0 and query.behaviors is not None and query.as_of is None:
        raise HttpError(400, messages.ENGAGE_UNCACHED_PAGE)
    store = _sessions(emu)
    now = emu.clock()
    if sid is not None:
        session = store.get(sid, now)
        if session is None:
            raise HttpError(400, messages.ENGAGE_INVALID_SESSION)
        results = session.results
    else:
        results = select_profiles(emu.dataset, query, calendar.timegm(emu.today.timetuple()))
        sid = store.open(results, now)
    body: dict[str, Any] = {"page": page, "page_size": page_size, "session_id": sid, "status": "ok"}
    if page == 0:
        body["total"] = len(results)  # [O] only the first page carries total
    body["results"] = results[page * page_size:(page + 1) * page_size]
    return Response(json=body)


def routes() -> dict[str, Route]:
    """Engage under ``/api/query/engage`` and ``/api/2.0/engage``, GET or POST."""
    return query_routes("engage", engage)
