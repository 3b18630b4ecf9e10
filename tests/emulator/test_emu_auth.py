"""Authentication forms and error bodies (docs/mixpanel-api.md, "Authentication")."""

from __future__ import annotations

import base64

import httpx
from emu_helpers import export_params

from mpsql.emulator import Emulator

EXPORT = "/api/2.0/export"


def get(emu: Emulator, path: str, params: dict | None = None, authorization: str | None = None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.get(emu.url + path, params=params or {}, headers=headers, timeout=10)


def b64(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_service_account_base64_and_plain(emu: Emulator) -> None:
    c = emu.credentials
    p = export_params(emu, limit=2)
    assert get(emu, EXPORT, p, b64(c.username, c.secret)).status_code == 200
    assert get(emu, EXPORT, p, f"Basic {c.username}:{c.secret}").status_code == 200


def test_project_secret_needs_no_project_id(emu: Emulator) -> None:
    p = export_params(emu, limit=2)
    del p["project_id"]
    r = get(emu, EXPORT, p, b64(emu.project_secret, ""))
    assert r.status_code == 200 and len(r.text.splitlines()) == 2


def test_bad_or_missing_credentials_401(emu: Emulator) -> None:
    c = emu.credentials
    p = export_params(emu)
    for auth in (
        None,
        b64(c.username, "wrong"),
        b64("nobody", c.secret),
        "Bearer abc",
        "Basic",
        "Basic !!!",
        b64(emu.project_secret, "x"),
        b64(c.secret, ""),
    ):
        r = get(emu, EXPORT, p, auth)
        assert r.status_code == 401, auth
        body = r.json()
        assert body["error"] == "Unable to authenticate request"
        assert body["request"] == "/api/2.0/export?" + str(r.request.url.query, "ascii")
        assert c.secret not in r.text and emu.project_secret not in r.text


def test_service_account_without_project_id_401_unknown_project_403(emu: Emulator) -> None:
    c = emu.credentials
    p = export_params(emu)
    del p["project_id"]
    r = get(emu, EXPORT, p, b64(c.username, c.secret))
    assert r.status_code == 401 and r.json()["error"] == "Unable to authenticate request"
    r = get(emu, EXPORT, export_params(emu, project_id=1), b64(c.username, c.secret))
    assert r.status_code == 403 and set(r.json()) == {"request", "error"}


def test_app_me(emu: Emulator) -> None:
    c = emu.credentials
    r = get(emu, "/api/app/me", None, b64(c.username, c.secret))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and str(c.project_id) in body["results"]["projects"]
    for auth in (None, b64(c.username, "nope"), b64(emu.project_secret, "")):
        r = get(emu, "/api/app/me", None, auth)
        assert r.status_code == 401
        assert r.json()["status"] == "error" and r.json()["error"]


def test_two_emulators_have_independent_state() -> None:
    with Emulator(seed=1, days=2, users=20) as a, Emulator(seed=2, days=2, users=20) as b:
        assert a.url != b.url and a.credentials != b.credentials
        ca = a.credentials
        r = get(b, "/api/app/me", None, b64(ca.username, ca.secret))
        assert r.status_code == 401
        assert get(a, "/api/app/me", None, b64(ca.username, ca.secret)).status_code == 200
        assert len(a.requests) == 1 and len(b.requests) == 1
