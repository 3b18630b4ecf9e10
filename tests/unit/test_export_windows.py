"""How mp_export cuts a date range into requests: as few as the known density allows."""

from __future__ import annotations

import datetime as dt
import itertools

from mpsql.functions.export import TARGET_WINDOW_ROWS, Density, plan_windows

JAN1, DEC31 = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


def days(windows):
    return [(b - a).days + 1 for a, b in windows]


def test_nothing_known_means_a_one_day_probe():
    assert plan_windows(JAN1, DEC31, None) == [(JAN1, JAN1)]


def test_a_sparse_range_is_one_request():
    assert plan_windows(JAN1, DEC31, 100.0) == [(JAN1, DEC31)]


def test_a_dense_range_is_cut_into_even_windows_of_about_the_target():
    windows = plan_windows(JAN1, DEC31, 10_000.0)  # 3.66M events in the year
    assert len(windows) == 15  # not 366
    assert max(days(windows)) - min(days(windows)) <= 1
    assert all(d * 10_000 <= TARGET_WINDOW_ROWS * 1.1 for d in days(windows))
    assert windows[0][0] == JAN1 and windows[-1][1] == DEC31


def test_windows_are_contiguous_and_never_split_a_day():
    windows = plan_windows(JAN1, DEC31, 50_000.0)
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start == end + dt.timedelta(days=1)


def test_a_very_dense_project_gets_one_day_windows():
    assert days(plan_windows(JAN1, dt.date(2024, 1, 5), 2_000_000.0)) == [1, 1, 1, 1, 1]


def test_fixed_window_days():
    assert days(plan_windows(JAN1, dt.date(2024, 1, 10), None, fixed_days=4)) == [4, 4, 2]


def test_a_density_measured_on_few_rows_only_lets_the_next_windows_grow_32_fold():
    density = Density()
    density.saw(rows=12, days=1)  # a quiet first day
    assert density.horizon(dt.date(2024, 1, 2), DEC31) == dt.date(2024, 2, 2)
    density.saw(rows=5_000, days=32)
    assert density.horizon(dt.date(2024, 2, 3), DEC31) == DEC31


def test_the_stores_density_is_trusted_at_once():
    assert Density.known(3_000.0).horizon(JAN1, DEC31) == DEC31


def test_the_window_count_follows_the_rows_not_whole_days_per_window():
    # 29 days of 33,333 rows: 4 windows of 7-8 days (about the target each), so all four download at once.
    windows = plan_windows(JAN1, dt.date(2024, 1, 29), 33_333.0)
    assert days(windows) == [8, 7, 7, 7]
