"""App API routes (``/api/app/...``): credential check ``/me``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpsql.emulator.proto import Request, Response, Route

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator


def me(emu: Emulator, req: Request) -> Response:
    """Describe the service account and the one project it can see ([E] shape, Mixpanel-like)."""
    c = emu.credentials
    pid = c.project_id
    project = {"id": pid, "name": "mpsql emulator demo", "organization_id": emu.organization_id,
               "timezone": "UTC", "domain": "mixpanel.com", "cluster_name": "us", "role": {"name": "Admin"},
               "has_workspaces": False}
    results = {
        "user_id": emu.organization_id + 1,
        "user_name": c.username,
        "user_email": c.username,
        "projects": {str(pid): project},
        "workspaces": {},
        "organizations": {str(emu.organization_id): {"id": emu.organization_id, "name": "Emulator Org",
                                                     "role": "admin"}},
    }
    return Response(json={"status": "ok", "results": results})


def routes() -> dict[str, Route]:
    """App API route table."""
    return {"/api/app/me": Route(me, "app", ("GET",))}
