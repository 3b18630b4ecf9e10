"""The on-disk response cache: TTL, atomic private files, torn entries, clearing."""

from __future__ import annotations

import base64
import json
import os
import stat

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
