"""The emulator's day cache: every day generated once, kept in memory and on disk, identical to the generator's."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from mpsql.emulator.datagen import Dataset
from mpsql.emulator.daycache import CachedDataset

TODAY = dt.date(2024, 4, 1)


def small(folder=None) -> CachedDataset:
    return CachedDataset(5, TODAY, 6, 40, folder)


def test_cached_days_are_the_generators_days(tmp_path):
    plain, first, again = Dataset(5, TODAY, 6, 40), small(tmp_path), small(tmp_path)
    for date in plain.dates(plain.first_date, plain.last_date):
        assert first.day(date) == plain.day(date)
        assert again.day(date) == plain.day(date)  # read back from disk


def test_a_second_process_reads_the_days_instead_of_generating_them(tmp_path, monkeypatch):
    first = small(tmp_path)
    for date in first.dates(first.first_date, first.last_date):
        first.day(date)

    def refuse(self, date):
        raise AssertionError("generated again")

    monkeypatch.setattr(Dataset, "_generate_day", refuse)
    again = small(tmp_path)
    assert sum(len(again.day(d).lines) for d in again.dates(again.first_date, again.last_date)) > 0


def test_every_day_stays_in_memory():
    ds = small()
    days = ds.dates(ds.first_date, ds.last_date)
    held = [ds.day(d) for d in days]
    assert all(ds.day(d) is h for d, h in zip(days, held, strict=True))


def test_a_damaged_file_is_ignored_and_the_day_made_again(tmp_path):
    first = small(tmp_path)
    date = first.last_date
    expected = first.day(date)
    path = first.folder / f"{date.isoformat()}.day"
    path.write_bytes(path.read_bytes()[:50])
    assert small(tmp_path).day(date) == expected


def test_folder_private_files_private_and_other_datasets_days_removed(tmp_path):
    stale = tmp_path / "seed1-today2020-01-01-days6-users40-genx-v1"
    stale.mkdir()
    ds = small(tmp_path)
    ds.day(ds.last_date)
    assert not stale.exists()
    assert stat.S_IMODE(os.stat(ds.folder).st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in ds.folder.iterdir()} == {0o600}


def test_a_symlinked_folder_is_not_used(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    ds = small(tmp_path / "link")
    assert ds.folder is None
    ds.day(ds.last_date)
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("folder", [None, "days"])
def test_the_emulator_uses_it_when_asked(tmp_path, folder):
    from mpsql.emulator import Emulator

    emu = Emulator(seed=5, today=TODAY, days=6, users=40, keep_days=True,
                   day_folder=tmp_path / folder if folder else None)
    assert isinstance(emu.dataset, CachedDataset)
    assert (emu.dataset.folder is not None) == bool(folder)
    assert type(Emulator(seed=5, today=TODAY, days=6, users=40).dataset) is Dataset
