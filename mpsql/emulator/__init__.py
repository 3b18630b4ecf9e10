"""A Mixpanel-compatible HTTP server on loopback, serving a seeded synthetic project.

``Emulator`` (server + dataset), ``FaultPlan``/``Fault`` (injected misbehaviour), ``ServerLimits`` (budgets).
Stdlib only; independent of ``mpsql.api`` by design so the client and its test peer share no model.
"""

from __future__ import annotations

from mpsql.emulator.faults import Fault, FaultPlan
from mpsql.emulator.proto import RequestLog, Response, Route
from mpsql.emulator.ratelimit import ServerLimits
from mpsql.emulator.server import Credentials, Emulator

__all__ = ["Credentials", "Emulator", "Fault", "FaultPlan", "RequestLog", "Response", "Route", "ServerLimits"]
