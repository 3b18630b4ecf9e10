"""Annotations, read side: list (``fromDate``/``toDate``), one by id, and the tags (docs/mixpanel-api.md,
"Annotations").

App API: service accounts only, project id in the path, errors as ``{"status": "error", "error": ...}``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from mpsql.emulator import messages
from mpsql.emulator.catalog import annotation_tags, annotations
from mpsql.emulator.proto import HttpError, Request, Response, Route
from mpsql.emulator.routes.app import path_project

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

BASE = "/api/app/projects/{project_id}/annotations"


def _date(req: Request, name: str) -> dt.date | None:
    raw = req.params.get(name) or ""
    if raw == "":
        return None
    try:
        if len(raw) != 10 or raw[4] != "-" or raw[7] != "-":
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise HttpError(400, messages.bad_date(name)) from None


def list_annotations(emu: Emulator, req: Request) -> Response:
    """Annotations whose day lies in [fromDate, toDate] (both optional, inclusive), oldest first."""
    path_project(emu, req)
    lo, hi = _date(req, "fromDate"), _date(req, "toDate")
    rows = [a for a in annotations(emu.dataset)
            if (lo is None or lo.isoformat() <= a["date"][:10]) and (hi is None or a["date"][:10] <= hi.isoformat())]
    return Response(json={"status": "ok", "results": rows})


def get_annotation(emu: Emulator, req: Request) -> Response:
    """One annotation by id, or 404."""
    path_project(emu, req)
    raw = req.path_params["annotation_id"]
    for a in annotations(emu.dataset):
        if raw.isdigit() and a["id"] == int(raw):
            return Response(json={"status": "ok", "results": a})
    raise HttpError(404, messages.ANNOTATION_NOT_FOUND)


def tags(emu: Emulator, req: Request) -> Response:
    """The project's annotation tags, a bare array."""
    return Response(json=annotation_tags(path_project(emu, req)))


def routes() -> dict[str, Route]:
    """Annotation read routes (path-pattern keys)."""
    return {
        BASE: Route(list_annotations, "app", ("GET",)),
        BASE + "/tags": Route(tags, "app", ("GET",)),
        BASE + "/{annotation_id}": Route(get_annotation, "app", ("GET",)),
    }
