"""Independent expectations for the report tests: plain Python over what /export serves, deduplicated.

Deliberately written without the emulator's analytics/eventstore code, so a report and its expectation
agree only if both follow the documented semantics.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from mpsql.emulator import Emulator


def deduped(emu: Emulator, from_date: dt.date, to_date: dt.date, merge: bool = True,
            ms: bool = False) -> list[dict[str, Any]]:
    """Export records of the range with Mixpanel's duplicates collapsed, in first-occurrence order: one copy
    per (event, distinct_id, time, $insert_id), the greatest mp_processing_time_ms winning and, on a tie, the
    copy served last; records without an $insert_id are never collapsed. ``time`` is compared in milliseconds
    (as /export serves it with ``time_in_ms``); the records come back with ``time`` in seconds, as /export
    serves it by default, or in milliseconds with ``ms`` (to order events within a second). With ``merge`` each
    record's
    ``distinct_id`` is its ID-merged user (``merged_users``)."""
    chosen: dict[tuple, dict[str, Any]] = {}
    for i, rec in enumerate(emu.dataset.export_records(from_date, to_date, time_in_ms=True)):
        p = rec["properties"]
        key_ms = p["time"]
        if not ms:
            rec = {**rec, "properties": {**p, "time": key_ms // 1000}}
        if "$insert_id" not in p:
            chosen[("no insert id", i)] = rec
            continue
        key = (rec["event"], p["distinct_id"], key_ms, p["$insert_id"])
        old = chosen.get(key)
        if old is None or p["mp_processing_time_ms"] >= old["properties"]["mp_processing_time_ms"]:
            chosen[key] = rec  # dict keeps the first insertion position on overwrite
    rows = list(chosen.values())
    if not merge:
        return rows
    users = merged_users(emu)
    return [{"event": r["event"], "properties": {**r["properties"],
                                                 "distinct_id": users.get(r["properties"]["distinct_id"],
                                                                          r["properties"]["distinct_id"])}}
            for r in rows]


def merged_users(emu: Emulator) -> dict[str, str]:
    """distinct_id -> user under Mixpanel's simplified ID merge, over all of the project's export: an event
    with both $device_id and $user_id merges the device into the user (the first such event decides); an id
    resolves to its own $user_id, else to the user of its merged device, else to itself."""
    rows = sorted(emu.dataset.export_records(emu.dataset.first_date, emu.dataset.last_date),
                  key=lambda r: r["properties"]["time"])
    device_owner: dict[str, str] = {}
    for r in rows:
        p = r["properties"]
        if p.get("$user_id") and p.get("$device_id"):
            device_owner.setdefault(p["$device_id"], p["$user_id"])
    out: dict[str, str] = {}
    for r in rows:
        p = r["properties"]
        did = p["distinct_id"]
        if p.get("$user_id"):
            out.setdefault(did, p["$user_id"])
    for r in rows:
        p = r["properties"]
        if p["distinct_id"] not in out and p.get("$device_id") in device_owner:
            out[p["distinct_id"]] = device_owner[p["$device_id"]]
    return out


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
