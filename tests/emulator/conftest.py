"""Fixtures for the emulator tests: one small shared server and an httpx client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from mpsql.emulator import Emulator, ServerLimits

TODAY = dt.date(2024, 4, 1)


@pytest.fixture(scope="session")
def shared_emu() -> Iterator[Emulator]:
    with Emulator(seed=11, today=TODAY, days=10, users=400, rate_limits=ServerLimits.unlimited()) as emu:
        yield emu


@pytest.fixture
def emu(shared_emu: Emulator) -> Iterator[Emulator]:
    shared_emu.reset()
    shared_emu.rate_limits = ServerLimits.unlimited()
    yield shared_emu
    shared_emu.reset()


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    c = emu.credentials
    with httpx.Client(base_url=emu.url, auth=(c.username, c.secret), timeout=30) as cl:
        yield cl
