"""App API routes (``/api/app/...``): credential check ``/me``, and the project check the others share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpsql.emulator import messages
from mpsql.emulator.proto import HttpError, Request, Response, Route

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator


def me(emu: Emulator, req: Request) -> Response:
    """Describe the service account and the one project it can see ([E] shape, Mixpanel-like)."""
    c = emu.credentials
    pid = c.project_id
    project = {"id": pid, "name": "mpsql emulator demo", "organization_id": emu.organization_id,
               "timezone": "UTC", "domain": "mixpanel.com", "cluster_name": "us", "role": {"name": "Admin"},
               "has_workspaces": len(emu.data_views) > 1}
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


def routes() -> dict[str, Route]:
    """App API route table."""
    return {"/api/app/me": Route(me, "app", ("GET",))}
