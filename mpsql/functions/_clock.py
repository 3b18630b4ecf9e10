"""The project's clock: its time zone and time mode (docs/mixpanel-api.md, "Time zones"); ``mp_project()`` shows it
(functions/project.py).

Reports bucket by days of the project's time zone, and "to_date is in the future" is judged against the project's
today. A legacy project (created before 2023) also exports its events' local wall-clock times written as epochs,
over days of its zone; ``mp_export`` turns them back into true UTC instants.

Where the answers come from:

- the time zone: the account's ``timezone`` setting; else ``GET /api/app/me`` (the project's ``timezone``), kept in
  the response cache like discovery answers and asked only when the zone matters (a ``to_date`` of today in
  UTC, ``mp_project()``, a legacy project without a ``timezone`` setting; ``project_today``). A project secret cannot
  call the App API, so without the setting its project is taken to be in UTC;
- legacy time mode: the account's ``legacy_time`` setting (default false). Mixpanel documents no field of
  ``/me`` that tells a legacy project, so it is never guessed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from mpsql.api.cache import DISCOVERY_TTL, cache_ttl
from mpsql.api.client import MixpanelClient
from mpsql.errors import MpsqlError
from mpsql.functions._context import Context

UTC = "UTC"


@dataclass(frozen=True)
class ProjectClock:
    """A project's time zone and time mode, and where mpsql learned them."""

    timezone: str = UTC
    legacy: bool = False
    source: str = "assumed"  # 'account' (its settings), '/api/app/me', or 'assumed' (UTC: nothing says otherwise)

    @property
    def export_zone(self) -> str:
        """The zone whose days export's ``from_date``/``to_date`` name, and whose wall clock a legacy ``time`` is."""
        return self.timezone if self.legacy else UTC


class ProjectDay(dt.date):
    """A date that is "today" in the project's time zone, carrying the zone's name for error messages."""

    zone: str = UTC

    @classmethod
    def of(cls, day: dt.date, zone: str) -> ProjectDay:
        out = cls(day.year, day.month, day.day)
        out.zone = zone
        return out


def me(client: MixpanelClient) -> dict[str, Any]:
    """``GET /api/app/me`` from the response cache when it holds a fresh answer (``DISCOVERY_TTL``)."""
    body = client.fetch_json("app", "/me", cache_ttl=cache_ttl(DISCOVERY_TTL)).body
    results = body.get("results") if isinstance(body, dict) else None
    return results if isinstance(results, dict) else {}


def me_project(client: MixpanelClient, answer: dict[str, Any]) -> dict[str, Any]:
    """The account's project in a ``/me`` answer (``projects`` is keyed by project id), or {}."""
    projects = answer.get("projects")
    if not isinstance(projects, dict):
        return {}
    project = projects.get(str(client.account.project_id))
    return project if isinstance(project, dict) else {}


def clock(client: MixpanelClient, *, ask: bool = True, cached: bool = False) -> ProjectClock:
    """The project's clock: from the account's settings, else from ``/me`` (with ``ask``; with ``cached`` only
    an answer the response cache already holds, however old, so no request), else UTC."""
    account = client.account
    legacy = bool(account.legacy_time)
    if account.timezone is not None:
        return ProjectClock(account.timezone, legacy, "account")
    if not (ask or cached) or account.is_legacy:  # a project secret cannot call the App API
        return ProjectClock(UTC, legacy, "assumed")
    try:
        if ask:
            answer = me(client)
        else:
            body = client.peek_json("app", "/me")
            answer = body.get("results") if isinstance(body, dict) else None
            if not isinstance(answer, dict):
                return ProjectClock(UTC, legacy, "assumed")
        zone = me_project(client, answer).get("timezone")
    except MpsqlError as exc:
        client.notice(f"the project's time zone could not be read from /api/app/me ({exc}); taking UTC. Set "
                      "timezone = \"<IANA name>\" on the account to say it")
        return ProjectClock(UTC, legacy, "assumed")
    if not isinstance(zone, str) or not _known(zone):
        shown = repr(zone[:60] + "..." if isinstance(zone, str) and len(zone) > 60 else zone)[:80]
        client.notice(f"/api/app/me names no time zone mpsql knows ({shown}); taking UTC")
        return ProjectClock(UTC, legacy, "assumed")
    return ProjectClock(zone, legacy, "/api/app/me")


def project_today(ctx: Context, client: MixpanelClient | None, to_date: dt.date | None = None) -> dt.date:
    """Today in the project's time zone (a ``ProjectDay``), as the "not in the future" rule needs it.

    Every zone's today is UTC's today, the day before or the day after, so the zone is looked up only when
    ``to_date`` is today or tomorrow in UTC: for today (valid in UTC, perhaps not yet in the project's zone)
    ``/me`` may be asked; for tomorrow (in the future for most projects) only the account's setting or a cached
    ``/me`` answer count, so such a date is refused before any request unless the zone is known to allow it.
    Otherwise UTC's today gives the same verdict. The UTC today is ``ctx.today()`` (the clock tests pin); the
    zone's offset from it is read at ``ctx.now()``.
    """
    utc = ctx.today()
    if client is None:
        return ProjectDay.of(utc, UTC)
    found = clock(client, ask=to_date == utc, cached=to_date == utc + dt.timedelta(days=1))
    if found.timezone == UTC:
        return ProjectDay.of(utc, UTC)
    now = dt.datetime.fromtimestamp(ctx.now(), dt.UTC)
    shift = now.astimezone(zoneinfo.ZoneInfo(found.timezone)).date() - now.date()
    return ProjectDay.of(utc + shift, found.timezone)


def today_for(ctx: Context, function: str, account_name: str | None, to_date: dt.date | None) -> dt.date:
    """The today a call's dates are checked against: the project's when ``to_date`` is today or tomorrow in UTC
    (where zones disagree; the account resolves first), else UTC's, which gives the same verdict."""
    utc = ctx.today()
    if isinstance(to_date, dt.date) and utc <= to_date <= utc + dt.timedelta(days=1):
        return project_today(ctx, ctx.client(function, account_name), to_date)
    return ProjectDay.of(utc, UTC)


def _known(name: str) -> bool:
    """Whether the zone database has ``name``; a folder of it ("America") or an overlong name is OSError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
