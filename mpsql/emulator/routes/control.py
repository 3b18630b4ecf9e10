"""Emulator control plane under ``/_emulator/`` (never on Mixpanel's paths; no auth; loopback only)."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from mpsql.emulator.faults import FaultPlan
from mpsql.emulator.proto import HttpError, Request, Response, Route
from mpsql.emulator.ratelimit import ServerLimits

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator


def _json_body(req: Request) -> object:
    try:
        return json.loads(req.body or b"null")
    except ValueError as e:
        raise HttpError(400, f"invalid JSON body: {e}") from e


def health(emu: Emulator, req: Request) -> Response:
    """Liveness plus the facts a client needs (today, data range, project id)."""
    ds = emu.dataset
    return Response(json={"status": "ok", "today": emu.today.isoformat(),
                          "first_date": ds.first_date.isoformat(), "last_date": ds.last_date.isoformat(),
                          "project_id": emu.credentials.project_id})


def reset(emu: Emulator, req: Request) -> Response:
    """Clear faults, rate-limit counters and the request log."""
    emu.reset()
    return Response(json={"status": "ok"})


def faults(emu: Emulator, req: Request) -> Response:
    """GET: current faults; POST: replace them (``{"faults": [...]}``, a list, or one fault object)."""
    if req.method == "POST":
        try:
            emu.faults = FaultPlan.from_json(_json_body(req))
        except (TypeError, ValueError) as e:
            raise HttpError(400, f"invalid fault plan: {e}") from e
    return Response(json={"status": "ok", "faults": emu.faults.to_json()})


def requests(emu: Emulator, req: Request) -> Response:
    """The request log."""
    rows = [{k: v for k, v in dataclasses.asdict(r).items() if k != "at"} for r in emu.requests]
    return Response(json={"status": "ok", "requests": rows})


def rate_limits(emu: Emulator, req: Request) -> Response:
    """GET: current limits; POST: replace them (``{"unlimited": true}`` or ServerLimits fields)."""
    if req.method == "POST":
        body = _json_body(req)
        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object")
        try:
            emu.rate_limits = ServerLimits.unlimited() if body.get("unlimited") else ServerLimits(**body)
        except TypeError as e:
            raise HttpError(400, f"invalid rate limits: {e}") from e
    return Response(json={"status": "ok", "rate_limits": dataclasses.asdict(emu.rate_limits)})


def routes() -> dict[str, Route]:
    """Control-plane route table."""
    both = ("GET", "POST")
    return {
        "/_emulator/health": Route(health, "control", ("GET",)),
        "/_emulator/reset": Route(reset, "control", ("POST",)),
        "/_emulator/faults": Route(faults, "control", both),
        "/_emulator/requests": Route(requests, "control", ("GET",)),
        "/_emulator/rate_limits": Route(rate_limits, "control", both),
    }
