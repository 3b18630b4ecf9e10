"""Lexicon Schemas, read side: ``GET /api/app/projects/{project_id}/schemas[/{entityType}[/{name}]]``
(docs/mixpanel-api.md, "Lexicon schemas").

App API: service accounts only, project id in the path, errors as ``{"status": "error", "error": ...}``.
Only entities that have a schema are listed (the generator's ``Share`` event has none, like a real project
whose Lexicon is incomplete).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpsql.emulator import messages
from mpsql.emulator.catalog import schema_entries
from mpsql.emulator.proto import HttpError, Request, Response, Route
from mpsql.emulator.routes.app import path_project

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

ENTITY_TYPES = ("event", "profile")
BASE = "/api/app/projects/{project_id}/schemas"


def _entity_type(req: Request) -> str:
    kind = req.path_params["entity_type"]
    if kind not in ENTITY_TYPES:
        raise HttpError(400, messages.ENTITY_TYPE_INVALID)
    return kind


def list_all(emu: Emulator, req: Request) -> Response:
    """Every schema entry of the project."""
    path_project(emu, req)
    return Response(json={"status": "ok", "results": schema_entries()})


def list_type(emu: Emulator, req: Request) -> Response:
    """The entries of one entity type, optionally only the one named by ``entity_name``."""
    path_project(emu, req)
    kind = _entity_type(req)
    name = req.params.get("entity_name") or None
    rows = [e for e in schema_entries() if e["entityType"] == kind and (name is None or e["name"] == name)]
    return Response(json={"status": "ok", "results": rows})


def one(emu: Emulator, req: Request) -> Response:
    """The ``Schema`` object itself (not wrapped), or 404."""
    path_project(emu, req)
    kind = _entity_type(req)
    for e in schema_entries():
        if e["entityType"] == kind and e["name"] == req.path_params["name"]:
            return Response(json=e["schemaJson"])
    raise HttpError(404, messages.SCHEMA_NOT_FOUND)


def routes() -> dict[str, Route]:
    """Lexicon read routes (path-pattern keys)."""
    return {
        BASE: Route(list_all, "app", ("GET",)),
        BASE + "/{entity_type}": Route(list_type, "app", ("GET",)),
        BASE + "/{entity_type}/{name}": Route(one, "app", ("GET",)),
    }
