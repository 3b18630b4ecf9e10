"""The on-disk response cache: TTL, atomic private files, torn entries, clearing."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from mpsql.api.cache import ResponseCache, cache_dir


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_served_until_its_ttl_then_missed_but_still_peekable(tmp_path):
    clock = Clock()
    cache = ResponseCache(tmp_path, clock)
    key = cache.key("scope", "/events/names", "GET", {"type": "general"})
    cache.put(key, ["b", "a"], "/events/names")
    clock.now += 59
    assert cache.get(key, ttl=60).body == ["b", "a"]
    clock.now += 1
    assert cache.get(key, ttl=60) is None
    assert cache.peek(key).body == ["b", "a"]


def test_keys_differ_by_scope_endpoint_method_and_parameters_but_not_parameter_order():
    k = ResponseCache.key
    base = k("s", "/e", "GET", {"a": "1", "b": "2"})
    assert base == k("s", "/e", "GET", {"b": "2", "a": "1"})
    assert len({base, k("t", "/e", "GET", {"a": "1", "b": "2"}), k("s", "/f", "GET", {"a": "1", "b": "2"}),
                k("s", "/e", "POST", {"a": "1", "b": "2"}), k("s", "/e", "GET", {"a": "1", "b": "3"})}) == 5


def test_files_are_private_and_the_folder_is_0700(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    key = cache.key("s", "/e", "GET", {})
    cache.put(key, {"x": 1}, "/e")
    assert stat.S_IMODE(os.stat(tmp_path / "c").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "c" / f"{key}.json").st_mode) == 0o600
    assert [p.name for p in (tmp_path / "c").iterdir()] == [f"{key}.json"]  # no temp files left behind


def test_a_torn_entry_is_a_miss_and_is_removed(tmp_path):
    cache = ResponseCache(tmp_path)
    key = cache.key("s", "/e", "GET", {})
    (tmp_path / f"{key}.json").write_text('{"stored": 1, "body": [1, 2')
    assert cache.peek(key) is None
    assert not (tmp_path / f"{key}.json").exists()


def test_clear_removes_every_entry_and_says_how_many(tmp_path):
    cache = ResponseCache(tmp_path)
    for i in range(3):
        cache.put(cache.key("s", f"/e{i}", "GET", {}), i, "/e")
    assert cache.clear() == 3
    assert cache.clear() == 0
    assert ResponseCache(tmp_path / "never-made").clear() == 0


def test_the_folder_comes_from_the_environment():
    assert str(cache_dir({"MPSQL_CACHE_DIR": "/x/y"})) == "/x/y"
    assert str(cache_dir({"XDG_CACHE_HOME": "/xdg"})) == "/xdg/mpsql"


def test_two_legacy_project_secrets_under_one_account_name_never_share_a_cached_answer(tmp_path):
    """A legacy secret alone picks the project (no project_id), so the cache must tell two secrets apart."""
    import httpx

    from mpsql.api.client import MixpanelClient
    from mpsql.config import Account, Secret

    def answer(request: httpx.Request) -> httpx.Response:  # each project has its own events
        user = base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
        body = json.dumps(["Purchase A" if user.startswith("secret-of-project-a") else "Purchase B"]).encode()
        return httpx.Response(200, stream=httpx.ByteStream(body))

    cache = ResponseCache(tmp_path)
    bodies = []
    for secret in ("secret-of-project-a", "secret-of-project-b"):
        account = Account(name="env", username=None, secret=Secret(secret), source="environment")
        client = MixpanelClient(account, transport=httpx.MockTransport(answer), cache=cache)
        bodies.append(client.fetch_json("query", "/events/names", {"type": "general"}, cache_ttl=3600).body)
        client.close()
    assert bodies == [["Purchase A"], ["Purchase B"]]
    for path in tmp_path.iterdir():  # the cache tells them apart without holding either secret
        assert "secret-of-project" not in path.name + path.read_text()


# --- a folder or entry that cannot be trusted ---------------------------------------------------------------


def test_an_existing_open_folder_of_ours_is_tightened_to_0700(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    folder.chmod(0o777)
    cache = ResponseCache(folder, notice=[].append)
    cache.put(cache.key("s", "/e", "GET", {}), [1], "/e")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_symlinked_folder_is_not_followed_and_caching_is_off_with_a_notice(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o755)
    link = tmp_path / "c"
    link.symlink_to(target)
    told: list[str] = []
    cache = ResponseCache(link, notice=told.append)
    key = cache.key("s", "/e", "GET", {})
    cache.put(key, [1], "/e")
    cache.put(key, [1], "/e")
    assert list(target.iterdir()) == [] and stat.S_IMODE(target.stat().st_mode) == 0o755
    assert told == [f"the response cache in {link} was not written ({link} is a symbolic link; point "
                    "MPSQL_CACHE_DIR at a real folder); results are correct but not cached"]  # once
    (target / f"{key}.json").write_text(json.dumps({"stored": 1_000.0, "body": ["planted"]}))
    assert cache.peek(key) is None  # nothing is read through the link either


def test_a_folder_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "c"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(folder).st_uid + 1)
    told: list[str] = []
    cache = ResponseCache(folder, notice=told.append)
    cache.put(cache.key("s", "/e", "GET", {}), [1], "/e")
    assert list(folder.iterdir()) == []
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777  # not ours to change
    assert told and "belongs to another user" in told[0]


def test_a_symlinked_entry_is_not_read(tmp_path):
    cache = ResponseCache(tmp_path)
    key = cache.key("s", "/e", "GET", {})
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere.json"
    elsewhere.write_text(json.dumps({"stored": 1_000.0, "body": ["planted"]}))
    (tmp_path / f"{key}.json").symlink_to(elsewhere)
    assert cache.peek(key) is None
    assert elsewhere.exists()


@pytest.mark.parametrize("stored", ["NaN", "Infinity", "1e308", '"1000"', "true", "null"])
def test_an_entry_whose_stored_time_is_not_a_past_time_is_never_fresh(tmp_path, stored):
    clock = Clock()
    cache = ResponseCache(tmp_path, clock)
    key = cache.key("s", "/e", "GET", {})
    (tmp_path / f"{key}.json").write_text(f'{{"stored": {stored}, "body": ["stale"]}}')
    assert cache.get(key, ttl=60) is None


def test_an_entry_stored_in_the_future_is_a_miss_not_fresh_forever(tmp_path):
    clock = Clock()
    cache = ResponseCache(tmp_path, clock)
    key = cache.key("s", "/e", "GET", {})
    clock.now += 10_000
    cache.put(key, ["from the future"], "/e")
    clock.now -= 10_000
    assert cache.get(key, ttl=60) is None
    assert cache.peek(key).body == ["from the future"]  # completion may still show it


# --- a cache that cannot be written is a notice, never a failure --------------------------------------------


def test_a_folder_that_cannot_be_created_is_a_notice_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    told: list[str] = []
    cache = ResponseCache(blocker / "c", notice=told.append)
    cache.put(cache.key("s", "/e", "GET", {}), [1], "/e")  # does not raise
    assert len(told) == 1 and "was not written (Not a directory)" in told[0]


def test_the_folder_removed_mid_write_is_a_notice_not_an_error(tmp_path, monkeypatch):
    import shutil

    import mpsql.api.cache as cache_mod

    told: list[str] = []
    cache = ResponseCache(tmp_path / "c", notice=told.append)
    real_dump = json.dump

    def dump_then_remove_folder(*args, **kwargs):
        real_dump(*args, **kwargs)
        shutil.rmtree(tmp_path / "c")

    monkeypatch.setattr(cache_mod.json, "dump", dump_then_remove_folder)
    cache.put(cache.key("s", "/e", "GET", {}), [1], "/e")
    assert len(told) == 1 and "No such file or directory" in told[0]


def test_clear_in_another_process_leaves_a_write_in_progress_alone(tmp_path, monkeypatch):
    import subprocess
    import sys

    import mpsql.api.cache as cache_mod

    cache = ResponseCache(tmp_path, notice=[].append)
    real_dump = json.dump
    cleared: list[str] = []

    def dump_then_clear_elsewhere(*args, **kwargs):
        real_dump(*args, **kwargs)
        proc = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from mpsql.api.cache import ResponseCache; "
                               "print(ResponseCache(Path(sys.argv[1])).clear())", str(tmp_path)],
                              capture_output=True, text=True, timeout=60, check=True)
        cleared.append(proc.stdout.strip())

    old = cache.key("s", "/old", "GET", {})
    cache.put(old, [0], "/old")
    monkeypatch.setattr(cache_mod.json, "dump", dump_then_clear_elsewhere)
    key = cache.key("s", "/e", "GET", {})
    cache.put(key, [1], "/e")
    assert cleared == ["1"]  # the finished entry, not the temp file being written
    assert cache.peek(key).body == [1] and cache.peek(old) is None


def test_clear_removes_temp_files_only_once_their_writer_is_long_gone(tmp_path):
    import time

    fresh, stale = tmp_path / ".tmp-fresh.json", tmp_path / ".tmp-stale.json"
    fresh.write_text("{")
    stale.write_text("{")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "notes.txt").write_text("not ours")
    assert ResponseCache(tmp_path).clear() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-fresh.json", "notes.txt"]


def test_clear_never_deletes_through_a_symlinked_folder(tmp_path):
    from mpsql.errors import ConfigError

    target = tmp_path / "target"
    target.mkdir()
    (target / ("0" * 64 + ".json")).write_text("{}")
    (tmp_path / "c").symlink_to(target)
    with pytest.raises(ConfigError, match=r"was not cleared: .* is a symbolic link"):
        ResponseCache(tmp_path / "c").clear()
    assert [p.name for p in target.iterdir()] == ["0" * 64 + ".json"]
