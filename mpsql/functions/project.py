"""``mp_project()``: the project's id, name, time zone (and where it came from), time mode, today, region and data
views. The clock itself lives in ``_clock`` (docs/mixpanel-api.md, "Time zones")."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mpsql.functions._args import Args
from mpsql.functions._clock import clock, me, me_project, project_today
from mpsql.functions._rows import Call, rows_function

# ---------------------------------------------------------------------------------------------- mp_project


class ProjectArgs(Args):
    account: str | None = None


def _project(call: Call[ProjectArgs]) -> Iterator[tuple[Any, ...]]:
    client = call.client
    account = client.account
    info: dict[str, Any] = {}
    views: list[dict[str, Any]] | None = None
    if not account.is_legacy:
        answer = me(client)
        info = me_project(client, answer)
        workspaces = answer.get("workspaces")
        if isinstance(workspaces, dict):
            views = [{"id": w.get("id"), "name": w.get("name"), "is_global": w.get("is_global")}
                     for w in workspaces.values()
                     if isinstance(w, dict) and w.get("project_id") in (None, account.project_id)]
    found = clock(client)
    today = project_today(call.ctx, client)
    now = dt.datetime.fromtimestamp(call.ctx.now(), dt.UTC).astimezone(zoneinfo.ZoneInfo(found.timezone))
    offset = now.strftime("%z")
    yield (account.project_id, info.get("name"), found.timezone, f"{offset[:3]}:{offset[3:]}", found.source,
           found.legacy, dt.date(today.year, today.month, today.day), account.region,
           views)


MP_PROJECT = rows_function(
    name="mp_project",
    schema=pa.schema([pa.field("project_id", pa.int64()), pa.field("name", pa.string()),
                      pa.field("timezone", pa.string()), pa.field("utc_offset", pa.string()),
                      pa.field("timezone_source", pa.string()), pa.field("legacy_time", pa.bool_()),
                      pa.field("today", pa.date32()), pa.field("region", pa.string()),
                      pa.field("data_views", pa.json_())]),
    model=ProjectArgs, positional=(),
    description="The project: id, name, time zone (reports bucket by its days; today is its today), where the zone "
                "came from, whether it is in legacy (pre-2023 wall-clock) time mode, region and data views.",
    example="SELECT timezone, utc_offset, legacy_time, today FROM mp_project()", produce=_project)

FUNCTIONS = (MP_PROJECT,)
