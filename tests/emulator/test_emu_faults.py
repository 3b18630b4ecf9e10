"""Fault injection: status bursts, cut connection, trailing text, tiny chunks, drip, garbage, control."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
from emu_helpers import export_params, raw_get

from mpsql.emulator import Emulator, Fault, FaultPlan

EXPORT = "/api/2.0/export"


def test_429_burst_then_success(emu: Emulator, client: httpx.Client) -> None:
    emu.faults = FaultPlan.rate_limited(times=2, retry_after=3)
    p = export_params(emu, limit=1)
    for _ in range(2):
        r = client.get(EXPORT, params=p)
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        assert r.json()["request"].startswith(EXPORT + "?") and "rate limit" in r.json()["error"]
    assert client.get(EXPORT, params=p).status_code == 200
    emu.faults = FaultPlan.rate_limited(times=1, retry_after=None)
    r = client.get(EXPORT, params=p)
    assert r.status_code == 429 and "retry-after" not in r.headers


def test_5xx_json_and_text(emu: Emulator, client: httpx.Client) -> None:
    emu.faults = FaultPlan.server_error(503, times=1) + FaultPlan.server_error(502, times=1, text=True)
    p = export_params(emu, limit=1)
    r = client.get(EXPORT, params=p)
    assert r.status_code == 503 and r.json()["error"] == "Service Unavailable"
    r = client.get(EXPORT, params=p)
    assert r.status_code == 502 and r.text.startswith("502 Bad Gateway")
    assert client.get(EXPORT, params=p).status_code == 200
    emu.set_faults(kind="status", status=500, body="<html>oops</html>", times=1)
    r = client.get(EXPORT, params=p)
    assert r.status_code == 500 and r.text == "<html>oops</html>"


def test_faults_respect_path(emu: Emulator, client: httpx.Client) -> None:
    emu.faults = FaultPlan.server_error(500, times=-1, path="/api/app/")
    assert client.get(EXPORT, params=export_params(emu, limit=1)).status_code == 200
    assert client.get("/api/app/me").status_code == 500
    assert client.get("/api/app/me").status_code == 500


@pytest.mark.parametrize("use_gzip", [False, True])
def test_cut_connection_mid_stream(emu: Emulator, client: httpx.Client, use_gzip: bool) -> None:
    full = raw_get(emu, EXPORT, export_params(emu), gzip=use_gzip).body
    emu.faults = FaultPlan.cut(after_bytes=777)
    r = raw_get(emu, EXPORT, export_params(emu), gzip=use_gzip)
    assert r.status == 200 and not r.complete
    assert r.body == full[:777]
    emu.faults = FaultPlan.cut(after_bytes=5000)
    with pytest.raises(httpx.HTTPError):
        client.get(EXPORT, params=export_params(emu))
    assert emu.requests[-1].bytes_sent == 5000
    assert client.get(EXPORT, params=export_params(emu)).status_code == 200  # times=1 consumed


def test_cut_after_whole_body_still_omits_final_chunk(emu: Emulator) -> None:
    emu.faults = FaultPlan.cut(after_bytes=10**9)
    r = raw_get(emu, EXPORT, export_params(emu, limit=3))
    assert not r.complete and len(r.body.splitlines()) == 3


def test_terminated_early(emu: Emulator, client: httpx.Client) -> None:
    emu.faults = FaultPlan.terminated_early()
    text = client.get(EXPORT, params=export_params(emu, limit=5)).text
    lines = text.splitlines()
    assert lines[-1] == "terminated early" and len(lines) == 6
    assert all(json.loads(x) for x in lines[:-1])


@pytest.mark.parametrize("use_gzip", [False, True])
def test_split_into_tiny_odd_chunks(emu: Emulator, use_gzip: bool) -> None:
    p = export_params(emu, limit=40)
    normal = raw_get(emu, EXPORT, p, gzip=use_gzip)
    emu.faults = FaultPlan.split(chunk_sizes=(1, 7, 3, 13))
    r = raw_get(emu, EXPORT, p, gzip=use_gzip)
    assert r.complete and r.body == normal.body
    assert max(map(len, r.chunks)) <= 13 and len(r.chunks) > 100
    if use_gzip:
        assert r.headers["content-encoding"] == "gzip" and gzip.decompress(r.body)
    else:
        edges_in_char = 0
        for chunk in r.chunks:
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                edges_in_char += 1
        assert edges_in_char > 0  # some chunk edge falls inside a multi-byte character
        assert sum(1 for c in r.chunks if b"\n" not in c) > 10


def test_drip_is_slow_but_complete(emu: Emulator, client: httpx.Client) -> None:
    p = export_params(emu, limit=60)
    normal = client.get(EXPORT, params=p).content
    emu.faults = FaultPlan.drip(delay=0.03, chunk_size=1024)
    t = time.perf_counter()
    r = client.get(EXPORT, params=p)
    assert time.perf_counter() - t >= 0.1
    assert r.content == normal


def test_garbage_line(emu: Emulator, client: httpx.Client) -> None:
    emu.faults = FaultPlan.garbage(at_record=3)
    lines = client.get(EXPORT, params=export_params(emu, limit=6)).text.splitlines()
    assert len(lines) == 7
    with pytest.raises(ValueError):
        json.loads(lines[3])
    assert all(json.loads(x) for i, x in enumerate(lines) if i != 3)


def test_combined_faults_and_counts(emu: Emulator, client: httpx.Client) -> None:
    emu.faults = FaultPlan(Fault("terminated_early", times=2), Fault("garbage", at_record=0, times=1))
    p = export_params(emu, limit=2)
    assert client.get(EXPORT, params=p).text.splitlines()[0].startswith("<html>")
    second = client.get(EXPORT, params=p).text.splitlines()
    assert second[-1] == "terminated early" and json.loads(second[0])
    assert client.get(EXPORT, params=p).text.splitlines()[-1] != "terminated early"


def test_control_plane(emu: Emulator, client: httpx.Client) -> None:
    r = httpx.post(emu.url + "/_emulator/faults", json={"faults": [{"kind": "status", "status": 503, "times": 1}]})
    assert r.status_code == 200 and r.json()["faults"][0]["status"] == 503
    assert client.get(EXPORT, params=export_params(emu, limit=1)).status_code == 503
    assert client.get(EXPORT, params=export_params(emu, limit=1)).status_code == 200
    log = httpx.get(emu.url + "/_emulator/requests").json()["requests"]
    assert [x["status"] for x in log] == [503, 200]
    httpx.post(emu.url + "/_emulator/faults", json={"kind": "terminated_early", "times": -1})
    assert httpx.post(emu.url + "/_emulator/reset").json() == {"status": "ok"}
    assert emu.requests == [] and emu.faults.faults == []
    r = httpx.post(emu.url + "/_emulator/faults", json={"kind": "nope"})
    assert r.status_code == 400 and r.json()["status"] == "error"
    r = httpx.post(emu.url + "/_emulator/rate_limits", json={"export_per_hour": 1})
    assert r.json()["rate_limits"]["export_per_hour"] == 1
    httpx.post(emu.url + "/_emulator/rate_limits", json={"unlimited": True})
    assert emu.rate_limits.export_per_hour is None
    h = httpx.get(emu.url + "/_emulator/health").json()
    assert h["last_date"] == emu.dataset.last_date.isoformat()
