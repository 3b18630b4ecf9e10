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
from mpsql.emulator.eventstore import Event, store_for

__all__ = ["identity_map", "identity_map_of", "resolve"]


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v != "" else None


def identity_map_of(events: Iterable[Event]) -> dict[str, str]:
    """``{distinct_id: user}`` for every distinct_id of ``events`` whose user is not the id itself."""
    ordered = sorted(events, key=lambda e: e.time)  # stable: ties keep served order
    device_user: dict[str, str] = {}
    own_user: dict[str, str] = {}
    devices: dict[str, list[str]] = {}
    for ev in ordered:
        user, device = _text(ev.props.get("$user_id")), _text(ev.props.get("$device_id"))
        if user is not None:
            own_user.setdefault(ev.distinct_id, user)
            if device is not None:
                device_user.setdefault(device, user)
        if device is not None:
            devices.setdefault(ev.distinct_id, []).append(device)
    out: dict[str, str] = {}
    for did in {e.distinct_id for e in ordered}:
        user = own_user.get(did)
        if user is None:
            user = next((device_user[d] for d in devices.get(did, ()) if d in device_user), None)
        if user is not None and user != did:
            out[did] = user
    return out


def identity_map(dataset: Dataset) -> dict[str, str]:
    """The project's mapping over all of its data (computed once per dataset)."""
    return dataset.derived("identities", lambda ds: identity_map_of(
        store_for(ds).events(ds.first_date, ds.last_date)))


def resolve(events: Iterable[Event], mapping: Mapping[str, str]) -> Iterator[Event]:
    """``events`` with each ``distinct_id`` replaced by its merged user (properties unchanged)."""
    for ev in events:
        user = mapping.get(ev.distinct_id)
        yield ev if user is None else ev._replace(distinct_id=user)
