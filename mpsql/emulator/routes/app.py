"""App API routes (``/api/app/...``): credential check ``/me``, and the project check the others share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpsql.emulator import messages
from mpsql.emulator.proto import HttpError, Request, Response, Route
from mpsql.emulator.saved_reports import BOOKMARK_TYPES, bookmark_list

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator


def me(emu: Emulator, req: Request) -> Response:
    """Describe the service account and the one project it can see ([E] shape, Mixpanel-like)."""
    c = emu.credentials
    pid = c.project_id
    project = {"id": pid, "name": "mpsql emulator demo", "organization_id": emu.organization_id,
               "timezone": emu.project_time.name, "domain": "mixpanel.com", "cluster_name": "us",
               "role": {"name": "Admin"}, "has_workspaces": len(emu.data_views) > 1}
    # Data views (workspaces) by id, each naming its project; the first is the global one [E shape].
    workspaces = {str(wid): {"id": wid, "name": name, "project_id": pid, "is_global": i == 0}
                  for i, (wid, name) in enumerate(emu.data_views.items())}
    results = {
        "user_id": emu.organization_id + 1,
        "user_name": c.username,
        "user_email": c.username,
        "projects": {str(pid): project},
        "workspaces": workspaces,
        "organizations": {str(emu.organization_id): {"id": emu.organization_id, "name": "Emulator Org",
                                                     "role": "admin"}},
    }
    return Response(json={"status": "ok", "results": results})


def path_project(emu: Emulator, req: Request) -> int:
    """The ``{project_id}`` path segment of an App API route: 404 unless a number, 403 unless this project."""
    raw = req.path_params.get("project_id", "")
    if not raw.isdigit():
        raise HttpError(404, messages.NOT_FOUND)
    if int(raw) != emu.credentials.project_id:
        raise HttpError(403, messages.PROJECT_FORBIDDEN)
    return int(raw)


def bookmarks(emu: Emulator, req: Request) -> Response:
    """``GET /api/app/projects/{pid}/bookmarks?v=2[&type=T]`` or ``/api/app/workspaces/{wid}/bookmarks``: the saved
    reports, in the nested ``{"results": {"results": [...]}}`` envelope (docs/mixpanel-api.md, "Saved reports")."""
    workspace: int | None = None
    if "workspace_id" in req.path_params:
        raw = req.path_params["workspace_id"]
        if not raw.isdigit():
            raise HttpError(404, messages.NOT_FOUND)
        if int(raw) not in emu.data_views:
            raise HttpError(403, messages.WORKSPACE_FORBIDDEN)
        workspace = int(raw)
    else:
        path_project(emu, req)
    kind = req.params.get("type") or None
    if kind is not None and kind not in BOOKMARK_TYPES:
        raise HttpError(400, f"type must be one of {', '.join(BOOKMARK_TYPES)}")
    rows = bookmark_list(emu.today, emu.credentials.project_id, workspace, kind)
    return Response(json={"status": "ok", "results": {"results": rows}})


def routes() -> dict[str, Route]:
    """App API route table."""
    return {"/api/app/me": Route(me, "app", ("GET",)),
            "/api/app/projects/{project_id}/bookmarks": Route(bookmarks, "app", ("GET",)),
            "/api/app/workspaces/{workspace_id}/bookmarks": Route(bookmarks, "app", ("GET",))}
