"""``mp_profiles``: user (or group) profiles from Engage, every page, streamed one page at a time.

Engage pages by ``session_id`` + ``page`` (docs/mixpanel-api.md, "Engage"): page 0 returns the session and ``total``;
further pages follow while a page is full (``page_size``, 1000), fetched a few at a time in order. Each page is one
request against the Query API budget and becomes one Arrow batch, so memory stays flat however many profiles match. A
page that fails is retried whole by the client, so rows are never duplicated; if the rows seen differ from Engage's
``total``, a notice says so. A server that does not page (it repeats a page, serves more than its total and one page
more, or announces a page size that is not a positive integer) stops the walk with an error instead of looping forever.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any

import pyarrow as pa
from pydantic import BeforeValidator, Field

from mpsql.api.client import Reply
from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import Names, ProjectArgs
from mpsql.functions._rows import Call, rows_function

NAME = "mp_profiles"

SCHEMA = pa.schema([
    pa.field("distinct_id", pa.string()),
    pa.field("last_seen", pa.timestamp("us", tz="UTC")),
    pa.field("properties", pa.json_()),
])


def _json_list(value: Any) -> Any:
    """``behaviors`` may arrive as JSON text (a SQL string) or as a list of structs."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(f"{value[:60]!r} is not JSON") from None
    return value


def _epoch(value: Any) -> Any:
    """``as_of`` as a TIMESTAMP/TIMESTAMPTZ (to_json gives ISO text) or epoch seconds."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        parsed = dt.datetime.fromisoformat(value.strip().replace(" ", "T"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp())
    return value


class ProfilesArgs(ProjectArgs):
    """The arguments of ``mp_profiles``; Mixpanel's names in comments where they differ."""

    filter: str | None = None  # where
    cohort: int | None = Field(default=None, ge=0)  # filter_by_cohort={"id": N}
    properties: Names = None  # output_properties
    distinct_id: str | None = None
    distinct_ids: Names = None
    group_id: str | None = None  # data_group_id: group profiles; ids can be huge negative numbers, kept as text
    behaviors: Annotated[list[dict[str, Any]] | None, BeforeValidator(_json_list)] = None
    as_of: Annotated[int | None, BeforeValidator(_epoch)] = None  # as_of_timestamp, epoch seconds
    include_all_users: bool | None = None
    account: str | None = None

    def sent_in_url(self) -> bool:
        return False  # Engage is asked by POST: the arguments travel in the body

    def check(self, function: str, today: dt.date) -> None:
        """The combinations Engage rejects, refused before any request (docs/mixpanel-api.md, "Engage")."""
        if self.distinct_id is not None and self.distinct_ids is not None:
            raise ArgumentError(function, "distinct_ids", "cannot be combined with distinct_id",
                                "either distinct_id := 'one id' or distinct_ids := ['id', ...]")
        if self.behaviors is not None and self.cohort is not None:
            raise ArgumentError(function, "behaviors", "cannot be combined with cohort (Mixpanel selects by one "
                                "or the other)", "behaviors := ... or cohort := id, not both")
        if self.include_all_users is not None and self.cohort is None:
            raise ArgumentError(function, "include_all_users", "only applies to a cohort",
                                "use it together with cohort := id")
        if self.as_of is not None:
            now = dt.datetime.now(dt.UTC).timestamp()
            if self.as_of > now:
                raise ArgumentError(function, "as_of", "is in the future", "a past timestamp or epoch seconds")


def _params(args: ProfilesArgs, ids: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "where": args.filter,
        "output_properties": args.properties,
        "distinct_id": args.distinct_id,
        "distinct_ids": ids,
        "data_group_id": args.group_id,
        "behaviors": args.behaviors,
        "as_of_timestamp": args.as_of,
    }
    if args.cohort is not None:
        params["filter_by_cohort"] = {"id": args.cohort}
        params["include_all_users"] = args.include_all_users  # unset: Mixpanel's default (true) applies
    return params


def _pages(call: Call[ProfilesArgs]) -> Iterator[tuple[Any, ...]]:
    """Page 0 first (it names the session and the total), then the rest ``AHEAD`` at a time, in order."""
    args = call.args
    ids = None
    if args.distinct_ids is not None:
        ids = list(dict.fromkeys(args.distinct_ids))  # duplicates removed, order kept
        if not ids:
            return  # an empty list selects nobody; no request
    base = _params(args, ids)
    first = _results(call.fetch("query", "/engage", base, method="POST"))
    body, results = first
    session, total = body.get("session_id"), body.get("total")
    page_size = _page_size(body.get("page_size"))
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        total = None  # not a count: page until a short page, guarded by the repeat check below
    if call.progress is not None and total is not None:
        call.progress.windows_total = max(1, -(-total // page_size))
    walk = _Walk(total, page_size)
    walk.add(results)
    yield from _emit(call, results)
    page, last = 1, len(results)
    while last >= page_size:
        if session is None:
            if total is not None and walk.seen >= total:
                break
            raise MpsqlError(f"{NAME}: Engage answered a full page of {last} profiles without a "
                             f"session_id, so the pages after it cannot be fetched (total: {total})")
        # Pages the total says exist are fetched ahead; past it (profiles added while paging), one at a time.
        known = max(page + 1, -(-total // page_size)) if total is not None else page + 1
        for results in _fetch_ahead(call, base, session, range(page, known)):
            walk.add(results)
            yield from _emit(call, results)
            page, last = page + 1, len(results)
            if last < page_size:
                break
    if total is not None and total != walk.seen:
        call.client.notice(f"{NAME}: Engage reported {total} matching profiles but served {walk.seen} "
                           "(profiles changed while paging?)")


def _page_size(value: Any) -> int:
    """Engage's announced page size: absent means Mixpanel's 1000; anything but a positive integer is refused,
    since the walk's end (a page shorter than this) could otherwise never come."""
    if value is None:
        return 1000
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MpsqlError(f"{NAME}: Engage announced a page_size of {str(value)[:40]!r}, not a positive whole "
                         "number, so its pages cannot be walked")
    return value


class _Walk:
    """What a walk has served, to stop a server that does not page: a page that repeats an earlier one (the
    server ignores ``page``), or more profiles than ``total`` plus one page (of profiles added while paging)."""

    def __init__(self, total: int | None, page_size: int) -> None:
        self.total, self.page_size, self.seen, self.pages = total, page_size, 0, 0
        self._fingerprints: set[int] = set()  # one hash per page: memory stays flat

    def add(self, results: list[Any]) -> None:
        self.pages += 1
        self.seen += len(results)
        if results:
            ids = tuple(str(r.get("$distinct_id")) if isinstance(r, dict) else repr(r) for r in results)
            fingerprint = hash(ids)
            if fingerprint in self._fingerprints:
                raise MpsqlError(f"{NAME}: Engage served page {self.pages - 1} with the same profiles as an "
                                 "earlier page (the server is not paging), so the walk stopped; the profiles "
                                 "cannot be read completely from this server")
            self._fingerprints.add(fingerprint)
        if self.total is not None and self.seen > self.total + self.page_size:
            raise MpsqlError(f"{NAME}: Engage served {self.seen} profiles after announcing a total of "
                             f"{self.total} (page size {self.page_size}), so the walk stopped; the server's "
                             "pages do not add up")


# Pages in flight at once: the Query API allows 5 concurrent requests per project (docs/mixpanel-api.md, "Rate limits").
AHEAD = 4


def _fetch_ahead(call: Call[ProfilesArgs], base: dict[str, Any], session: str,
                 pages: range) -> Iterator[list[dict[str, Any]]]:
    """The results of ``pages`` in order, up to ``AHEAD`` requests running at once (as mixpanel_data's parallel
    profile fetch did), so a long walk is not one round trip per page; at most ``AHEAD`` pages are held."""
    if len(pages) == 1:
        yield _results(call.fetch("query", "/engage", dict(base, page=pages[0], session_id=session),
                                  method="POST"))[1]
        return
    pool = ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix="mpsql-engage")
    pending: deque[Future[Reply]] = deque()
    todo = iter(pages)
    try:
        for n in itertools.islice(todo, AHEAD):
            pending.append(pool.submit(call.request, "query", "/engage", dict(base, page=n, session_id=session),
                                       method="POST"))
        while pending:
            reply = pending.popleft().result()
            n = next(todo, None)
            if n is not None:
                pending.append(pool.submit(call.request, "query", "/engage",
                                           dict(base, page=n, session_id=session), method="POST"))
            yield _results(call.accept(reply))[1]
    finally:
        # Stopped early (LIMIT, a short page, an error): abandon queued pages, stop the ones in flight.
        for future in pending:
            future.cancel()
        if pending and call.cancel is not None:
            call.cancel.set()
        pool.shutdown(wait=True)


def _results(body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise MpsqlError(f"{NAME}: Engage answered without a results list: {str(body)[:200]}")
    return body, body["results"]


def _emit(call: Call[ProfilesArgs], results: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    for item in results:
        yield _row(item)
    call.report(len(results))


def _row(item: dict[str, Any]) -> tuple[Any, ...]:
    props = item.get("$properties") or {}
    # The spec types $distinct_id as an integer; ids are strings in practice (docs/mixpanel-api.md, "Engage").
    distinct_id = item.get("$distinct_id")
    return (None if distinct_id is None else str(distinct_id), _last_seen(props.get("$last_seen")), props)


def _last_seen(text: Any) -> dt.datetime | None:
    """Engage dates are ISO text without a zone, in the project's time zone; read as UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


FUNCTION = rows_function(
    name=NAME, schema=SCHEMA, model=ProfilesArgs, positional=(),
    description="User (or group) profiles from Engage, every page, streamed.",
    example="SELECT distinct_id, mp_prop(properties, '$email') "
            "FROM mp_profiles(filter := 'properties[\"plan\"] == \"pro\"')",
    produce=_pages, progress=True)
