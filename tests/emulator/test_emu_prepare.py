"""The emulator's derived data: one build per key, other keys never held up; the demo's report index prepared
in the background."""

from __future__ import annotations

import datetime as dt
import threading

from mpsql.demo import prepare_reports
from mpsql.emulator import Emulator, ServerLimits
from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventindex import index_for


def test_a_slow_build_does_not_hold_up_another_key_and_each_key_is_built_once():
    ds = Dataset(seed=1, today=dt.date(2024, 4, 1), days=2, users=5)
    release, started, builds = threading.Event(), threading.Event(), []

    def slow(_: Dataset) -> str:
        builds.append("slow")
        started.set()
        release.wait(5)
        return "slow"

    waiters = [threading.Thread(target=ds.derived, args=("slow", slow)) for _ in range(2)]
    for t in waiters:
        t.start()
    assert started.wait(5)
    assert ds.derived("quick", lambda _: "quick") == "quick"  # answered while "slow" is still building
    release.set()
    for t in waiters:
        t.join(5)
    assert ds.derived("slow", slow) == "slow" and builds == ["slow"]


def test_prepare_reports_builds_the_report_index_in_the_background():
    with Emulator(seed=3, today=dt.date(2024, 4, 1), days=3, users=30, rate_limits=ServerLimits.unlimited()) as emu:
        thread = prepare_reports(emu)
        thread.join(60)
        assert not thread.is_alive()
        assert index_for(emu.dataset)._users is not None  # the per-user table a report would otherwise build
