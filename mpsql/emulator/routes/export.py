"""Raw event export ``GET /api/2.0/export`` (docs/mixpanel-api.md, "Export"): validation, filters, JSONL line stream."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mpsql.emulator import messages
from mpsql.emulator.datagen import Dataset
from mpsql.emulator.projecttime import ProjectTime
from mpsql.emulator.proto import HttpError, Request, Response, Route
from mpsql.emulator.where import Expr, WhereSyntaxError, compile_where

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

MAX_LIMIT = 100_000


def parse_date(params: dict[str, str], name: str) -> dt.date:
    """A required yyyy-mm-dd parameter, with Mixpanel's 400 texts."""
    raw = params.get(name)
    if raw is None or raw == "":
        raise HttpError(400, messages.missing_param(name))
    try:
        if len(raw) != 10 or raw[4] != "-" or raw[7] != "-":
            raise ValueError(raw)
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise HttpError(400, messages.bad_date(name)) from None
    if value.year < 2000:
        raise HttpError(400, messages.bad_year(name))
    return value


def parse_bool(raw: str | None, message: str) -> bool:
    """Mixpanel-ish boolean parameter."""
    if raw is None or raw == "":
        return False
    low = raw.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise HttpError(400, message)


def export(emu: Emulator, req: Request) -> Response:
    """Validate the parameters, then stream the matching JSONL lines."""
    p = req.params
    from_date = parse_date(p, "from_date")
    to_date = parse_date(p, "to_date")
    if to_date > emu.today:
        raise HttpError(400, messages.TO_DATE_FUTURE)
    if from_date > to_date:
        raise HttpError(400, messages.FROM_AFTER_TO)
    limit = None
    if p.get("limit", "") != "":
        try:
            limit = int(p["limit"])
        except ValueError:
            raise HttpError(400, messages.LIMIT_INVALID) from None
        if limit > MAX_LIMIT:
            raise HttpError(400, messages.LIMIT_TOO_LARGE)
        if limit < 1:
            raise HttpError(400, messages.LIMIT_INVALID)
    events = None
    if p.get("event", "") != "":
        try:
            parsed = json.loads(p["event"])
        except ValueError:
            raise HttpError(400, messages.EVENT_INVALID) from None
        if not isinstance(parsed, list) or not all(isinstance(e, str) for e in parsed):
            raise HttpError(400, messages.EVENT_INVALID)
        events = frozenset(parsed)
    where = None
    if p.get("where", "").strip() != "":
        try:
            where = compile_where(p["where"])
        except WhereSyntaxError as e:
            raise HttpError(400, messages.bad_where(str(e))) from None
    time_in_ms = parse_bool(p.get("time_in_ms"), messages.TIME_IN_MS_INVALID)
    lines = export_lines(emu.dataset, from_date, to_date, events, where, limit, time_in_ms, emu.project_time)
    return Response(200, stream=lines, content_type="text/plain; charset=utf-8")


def export_lines(ds: Dataset, from_date: dt.date, to_date: dt.date, events: frozenset[str] | None,
                 where: Expr | None, limit: int | None, time_in_ms: bool,
                 project_time: ProjectTime | None = None) -> Iterator[bytes]:
    """The served JSONL lines (each ending in newline), generated day by day: UTC days with true epochs, or for a
    legacy project its own days with wall-clock times (docs/mixpanel-api.md, "Time zones"); ``time`` in whole
    seconds, or in milliseconds with ``time_in_ms``."""
    n = 0
    for line, name, true_ms, served_ms in (project_time or ProjectTime()).export_days(ds, from_date, to_date):
        if events is not None and name not in events:
            continue
        out = line
        if time_in_ms or served_ms != true_ms:
            served = served_ms if time_in_ms else served_ms // 1000
            out = line.replace(b'"time":%d,' % (true_ms // 1000), b'"time":%d,' % served, 1)
        if where is not None and not where.matches(json.loads(out)["properties"]):
            continue
        yield out
        n += 1
        if limit is not None and n >= limit:
            return


def routes() -> dict[str, Route]:
    """Export route table (the data host's path)."""
    return {"/api/2.0/export": Route(export, "export", ("GET",))}
