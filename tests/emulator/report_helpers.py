"""Independent expectations for the report tests: plain Python over what /export serves, deduplicated.

Deliberately written without the emulator's analytics/eventstore code, so a report and its expectation
agree only if both follow the documented semantics.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from mpsql.emulator import Emulator


def deduped(emu: Emulator, from_date: dt.date, to_date: dt.date) -> list[dict[str, Any]]:
    """Export records of the range with Mixpanel's duplicates collapsed (latest processing time wins),
    in first-occurrence order."""
    chosen: dict[tuple, dict[str, Any]] = {}
    for rec in emu.dataset.export_records(from_date, to_date):
        p = rec["properties"]
        key = (rec["event"], p["distinct_id"], p["time"], p["$insert_id"])
        old = chosen.get(key)
        if old is None or p["mp_processing_time_ms"] > old["properties"]["mp_processing_time_ms"]:
            chosen[key] = rec  # dict keeps the first insertion position on overwrite
    return list(chosen.values())


def day(ts: int) -> str:
    """UTC day of epoch second ``ts``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()


def days(from_date: dt.date, to_date: dt.date) -> list[str]:
    """Every day of the inclusive range."""
    return [(from_date + dt.timedelta(days=i)).isoformat() for i in range((to_date - from_date).days + 1)]


def get(client: httpx.Client, emu: Emulator, path: str, **params: Any) -> httpx.Response:
    """GET a Query API path with the project id."""
    return client.get(path, params={"project_id": emu.credentials.project_id, **params})


def assert_error(resp: httpx.Response, status: int, text: str, path: str) -> None:
    """The query family's error body: status, ``request`` echoing the path, ``error`` holding ``text``."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"request", "error"}
    assert body["request"].startswith(path)
    assert text in body["error"]
