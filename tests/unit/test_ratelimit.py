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


def test_a_connection_with_other_limits_keeps_the_requests_already_counted():
    from mpsql.api.ratelimit import RateLimits, budget_for

    first = budget_for("http://ledger-test", "1", "export", RateLimits(export=Limits(per_hour=60)))
    for _ in range(3):
        with first.slot():
            pass
    again = budget_for("http://ledger-test", "1", "export", RateLimits(export=Limits(per_hour=100)))
    assert again is first
    assert (again.used, again.remaining_this_hour()) == (3, 97)


def test_two_processes_share_one_file_ledger(tmp_path):
    import multiprocessing
    import time

    from mpsql.api.ratelimit import FileLedger

    def take(path: str, results) -> None:
        ledger = FileLedger(path)
        for _ in range(30):
            results.put(ledger.reserve("k", Limits(per_hour=40), time.time()))

    path = tmp_path / "ledger.json"
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=take, args=(path, results)) for _ in range(2)]
    for p in procs:
        p.start()
    delays = [results.get(timeout=30) for _ in range(60)]
    for p in procs:
        p.join(timeout=30)
    assert sum(1 for d in delays if d <= 0) == 40  # the two together were allowed exactly the hour's 40
    assert FileLedger(path).count("k", time.time()) == 40
