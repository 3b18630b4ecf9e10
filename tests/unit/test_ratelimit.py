"""The client-side budget waits instead of sending a request Mixpanel would refuse."""

from __future__ import annotations

import pytest

from mpsql.api.ratelimit import PER_SECOND_WINDOW, Budget, Limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_hourly_budget_waits_for_the_oldest_request_to_age_out():
    clock = FakeClock()
    budget = Budget(Limits(per_hour=3), clock=clock, sleep=clock.sleep)
    announced = []
    for _ in range(3):
        with budget.slot():
            clock.now += 10
    with budget.slot(lambda delay, reason: announced.append((delay, reason))):
        pass
    assert clock.slept == [3600 - 30]
    assert announced == [(3570, "budget 3/hour")]
    assert budget.used == 4 and budget.waits == 1


def test_per_second_budget():
    clock = FakeClock()
    budget = Budget(Limits(per_second=3), clock=clock, sleep=clock.sleep)
    for _ in range(4):
        with budget.slot():
            pass
    assert clock.slept == [pytest.approx(PER_SECOND_WINDOW)]


def test_remaining_this_hour():
    clock = FakeClock()
    budget = Budget(Limits(per_hour=60), clock=clock, sleep=clock.sleep)
    with budget.slot():
        pass
    assert budget.remaining_this_hour() == 59
    clock.now += 3600
    assert budget.remaining_this_hour() == 60
    assert Budget(Limits()).remaining_this_hour() is None
