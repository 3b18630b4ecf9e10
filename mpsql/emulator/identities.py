"""Mixpanel's (simplified) ID merge, as the emulator's reports apply it (docs/report-semantics.md, "Identity").

An event that carries both ``$device_id`` and ``$user_id`` merges the device into the user: the first such
event (by time, then served order) decides the device's user; a later event pairing the device with another
user does not move it. Every ``distinct_id`` then resolves to one user:

1. the ``$user_id`` of its earliest event that carries one (identified events), else
2. the user its earliest merged ``$device_id`` belongs to (anonymous ``$device:...`` events), else
3. itself (a device never merged, or events without these properties).

The mapping is derived from the deduplicated events alone, so a client can derive the same one from
``/export`` output (``mp_identities`` in ``sql/twins.sql`` does). Export keeps serving the ids as sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventstore import Event, gc_paused, store_for
from mpsql.emulator.where import UNDEFINED

__all__ = ["identity_map", "identity_map_of", "resolve"]


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v != "" else None


def identity_map_of(events: Iterable[Event]) -> dict[str, str]:
    """``{distinct_id: user}`` for every distinct_id of ``events`` whose user is not the id itself. "Earliest"
    is by time, then the smallest user id (so the rule does not depend on the order events are served in)."""
    device_user: dict[str, tuple[int, str]] = {}
    own_user: dict[str, tuple[int, str]] = {}
    devices: dict[str, dict[str, int]] = {}  # distinct_id -> device -> first time seen with it
    ids: set[str] = set()
    for ev in events:
        ids.add(ev.distinct_id)
        user, device = _text(ev.props.get("$user_id")), _text(ev.props.get("$device_id"))
        if user is not None:
            _keep_min(own_user, ev.distinct_id, (ev.time, user))
            if device is not None:
                _keep_min(device_user, device, (ev.time, user))
        if device is not None:
            seen = devices.setdefault(ev.distinct_id, {})
            seen[device] = min(seen.get(device, ev.time), ev.time)
    out: dict[str, str] = {}
    for did in ids:
        if did in own_user:
            user = own_user[did][1]
        else:
            owned = [(t, device_user[d][1]) for d, t in devices.get(did, {}).items() if d in device_user]
            user = min(owned)[1] if owned else did
        if user != did:
            out[did] = user
    return out


def _keep_min(table: dict[str, tuple[int, str]], key: str, value: tuple[int, str]) -> None:
    old = table.get(key)
    if old is None or value < old:
        table[key] = value


def identity_map(dataset: Dataset) -> dict[str, str]:
    """The project's mapping over all of its data (computed once per dataset)."""
    def build(ds: Dataset) -> dict[str, str]:
        with gc_paused():
            return identity_map_of(_identifying_events(ds))

    return dataset.derived("identities", build)


def _identifying_events(ds: Dataset) -> Iterator[Event]:
    """The deduplicated events with just the properties the mapping reads (``$user_id``, ``$device_id``),
    straight from the event store's columns that the reports read too (no JSON is parsed twice)."""
    store = store_for(ds)
    for date in ds.dates(ds.first_date, ds.last_date):
        for block in store.day(date).values():
            users, devices = block.cols.get("$user_id"), block.cols.get("$device_id")
            if users is None and devices is None:
                continue
            users = users or [UNDEFINED] * len(block.pos)
            devices = devices or [UNDEFINED] * len(block.pos)
            for did, t, user, device in zip(block.distinct_ids, block.times, users, devices, strict=True):
                yield Event(block.name, did, t, {"$user_id": user, "$device_id": device})


def resolve(events: Iterable[Event], mapping: Mapping[str, str]) -> Iterator[Event]:
    """``events`` with each ``distinct_id`` replaced by its merged user (properties unchanged)."""
    for ev in events:
        user = mapping.get(ev.distinct_id)
        yield ev if user is None else ev._replace(distinct_id=user)
