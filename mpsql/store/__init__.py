"""The local event store: exported days kept as hive-partitioned Parquet, so a settled day is fetched once.

``mp_export`` reads through it, ``mp_sync`` / ``mpsql sync`` fill it ahead of time, ``mp_store()`` lists it and
``mp_events_local`` reads it without any request. Its layout is plain Parquet that other engines read directly::

    <root>/<project>/events/date=YYYY-MM-DD/data.parquet

Each day's file carries its own manifest in the Parquet key-value metadata (key ``mpsql``), so data and manifest
are written in one atomic rename: a day is whole or absent.
"""

from __future__ import annotations

from mpsql.store.days import (
    DayStore,
    HeldDay,
    Selection,
    StoreSettings,
    project_key,
    store_root,
)

__all__ = ["DayStore", "HeldDay", "Selection", "StoreSettings", "project_key", "store_root"]
