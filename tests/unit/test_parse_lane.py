"""The parse lane: one part at a time, the earliest window's parts first, queued parts called off on close."""

from __future__ import annotations

import threading

import pytest

from mpsql.functions.export import ParseLane


def test_parts_run_one_at_a_time_the_earliest_window_first():
    lane, order, gate, started = ParseLane(), [], threading.Event(), threading.Event()
    busy = lane.submit(5, lambda: (started.set(), gate.wait()))  # the lane is busy while the others queue up
    assert started.wait(5)
    futures = [lane.submit(w, lambda w=w, n=n: order.append((w, n))) for w, n in [(3, 0), (1, 0), (2, 0), (1, 1)]]
    gate.set()
    for f in [busy, *futures]:
        f.result(timeout=5)
    lane.close()
    assert order == [(1, 0), (1, 1), (2, 0), (3, 0)]


def test_a_failing_part_fails_its_future_only():
    lane = ParseLane()
    bad = lane.submit(0, lambda: 1 / 0)
    good = lane.submit(0, lambda: None)
    with pytest.raises(ZeroDivisionError):
        bad.result(timeout=5)
    assert good.result(timeout=5) is None
    lane.close()


def test_close_calls_off_the_parts_not_begun():
    lane, gate, ran, started = ParseLane(), threading.Event(), [], threading.Event()
    busy = lane.submit(0, lambda: (started.set(), gate.wait()))
    assert started.wait(5)
    queued = lane.submit(1, lambda: ran.append(1))
    threading.Timer(0.2, gate.set).start()
    lane.close()
    assert busy.done() and queued.cancelled() and ran == []
