"""Path -> Route table of the emulator; one module per endpoint family, each exposing ``routes()``.

To add an endpoint family, write ``routes/<family>.py`` with ``def routes() -> dict[str, Route]`` (use
``proto.query_routes`` for Query API endpoints, which registers ``/api/query/<ep>`` and ``/api/2.0/<ep>``)
and list the module in ``_MODULES`` below. ``Emulator.add_route`` extends one running instance.
"""

from __future__ import annotations

from mpsql.emulator.proto import Route
from mpsql.emulator.routes import annotation, app, control, discovery, engage, export, lexicon, reports

__all__ = ["default_routes"]

_MODULES = (export, app, control, engage, discovery, lexicon, annotation, reports)


def default_routes() -> dict[str, Route]:
    """A fresh copy of the full route table."""
    table: dict[str, Route] = {}
    for mod in _MODULES:
        table.update(mod.routes())
    return table
