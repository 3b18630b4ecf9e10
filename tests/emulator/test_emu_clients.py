"""The emulator as other Mixpanel clients see it: trailing slashes, parameters in a JSON body, encodings it
cannot read (a 400, never ignored), OAuth Bearer tokens, data views (workspace_id) and /me's workspaces."""

from __future__ import annotations

import json

import httpx
import pytest
from emu_helpers import export_params

from mpsql.emulator import Emulator

ENGAGE = "/api/query/engage"


def _pid(emu: Emulator) -> dict[str, object]:
    return {"project_id": emu.credentials.project_id}


# ---------------------------------------------------------------- trailing slashes


@pytest.mark.parametrize("path", ["/api/query/engage/", "/api/2.0/engage/", "/api/query/events/names/",
                                  "/api/query/segmentation/"])
def test_query_paths_with_a_trailing_slash_are_served_as_without(emu: Emulator, client: httpx.Client,
                                                                 path: str) -> None:
    params = {**_pid(emu), "type": "general", "event": "Purchase", "from_date": "2024-03-25",
              "to_date": "2024-03-31"}
    with_slash = client.get(path, params=params)
    without = client.get(path.rstrip("/"), params=params)
    assert with_slash.status_code == 200, with_slash.text
    body, plain = with_slash.json(), without.json()
    for volatile in ("session_id", "computed_at"):
        if isinstance(body, dict):
            body.pop(volatile, None)
            plain.pop(volatile, None)
    assert body == plain


def test_export_with_a_trailing_slash_streams_the_same_events(emu: Emulator, client: httpx.Client) -> None:
    params = export_params(emu, from_date="2024-03-30", to_date="2024-03-30")
    with_slash = client.get("/api/2.0/export/", params=params)
    assert with_slash.status_code == 200, with_slash.text
    assert with_slash.text == client.get("/api/2.0/export", params=params).text
    assert with_slash.text.count("\n") > 0
    assert emu.requests[-2].path == "/api/2.0/export" and emu.requests[-2].days == "2024-03-30..2024-03-30"


def test_me_and_annotations_with_a_trailing_slash(emu: Emulator, client: httpx.Client) -> None:
    me = client.get("/api/app/me/")
    assert me.status_code == 200 and me.json() == client.get("/api/app/me").json()
    pid = emu.credentials.project_id
    base = f"/api/app/projects/{pid}/annotations"
    params = {"fromDate": "2024-03-01", "toDate": "2024-03-31"}
    listed = client.get(base + "/", params=params)
    assert listed.status_code == 200, listed.text
    assert listed.json() == client.get(base, params=params).json()
    tags = client.get(base + "/tags/")
    assert tags.status_code == 200 and tags.json() == client.get(base + "/tags").json()


def test_an_unknown_path_with_a_slash_is_still_unknown(emu: Emulator, client: httpx.Client) -> None:
    assert client.get("/api/query/nope/", params=_pid(emu)).status_code == 400
    assert client.get("/api/app/nope/").status_code == 404


# ---------------------------------------------------------------- parameter encodings


def test_engage_parameters_in_a_json_body_are_honoured(emu: Emulator, client: httpx.Client) -> None:
    where = 'properties["$city"] == "Berlin"'
    form = client.post(ENGAGE, params=_pid(emu), data={"where": where, "page_size": "5"})
    as_json = client.post(ENGAGE, params=_pid(emu), json={"where": where, "page_size": 5})
    assert form.status_code == as_json.status_code == 200, as_json.text
    a, b = form.json(), as_json.json()
    assert b["page_size"] == 5 and b["total"] == a["total"]
    assert [r["$distinct_id"] for r in b["results"]] == [r["$distinct_id"] for r in a["results"]]
    unfiltered = client.post(ENGAGE, params=_pid(emu), data={"page_size": "5"}).json()
    assert b["total"] < unfiltered["total"]  # the filter was applied, not dropped
    assert all(r["$properties"].get("$city") == "Berlin" for r in b["results"])


def test_engage_json_body_with_a_list_parameter(emu: Emulator, client: httpx.Client) -> None:
    some = sorted(emu.dataset.user_ids())[:3]
    r = client.post(ENGAGE, params=_pid(emu), json={"distinct_ids": some})
    assert r.status_code == 200, r.text
    assert sorted(x["$distinct_id"] for x in r.json()["results"]) == some


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"where": ', "application/json"),
    (b'["where"]', "application/json"),
    (b"where=x", "text/plain"),
    (b"--b\r\nContent-Disposition: form-data; name=\"where\"\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b"),
    (b"where=x", ""),
])
def test_a_body_the_emulator_cannot_read_is_a_400(emu: Emulator, client: httpx.Client, body: bytes,
                                                  content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post(ENGAGE, params=_pid(emu), content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert "error" in r.json()
    assert not any(log.path == ENGAGE and log.status == 200 for log in emu.requests)


@pytest.mark.parametrize("query", ["event=Purchase&event=Sign%20Up", "event[]=Purchase", "type=general&type=unique"])
def test_a_parameter_twice_or_in_array_form_is_a_400(emu: Emulator, client: httpx.Client, query: str) -> None:
    pid = emu.credentials.project_id
    r = client.get(f"/api/query/segmentation?project_id={pid}&from_date=2024-03-25&to_date=2024-03-31&{query}")
    assert r.status_code == 400, r.text
    form = client.post(ENGAGE, params=_pid(emu), content=b"where=a&where=b",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and "more than once" in form.json()["error"]


# ---------------------------------------------------------------- OAuth Bearer tokens


def test_a_bearer_token_authenticates_with_project_id(emu: Emulator) -> None:
    headers = {"Authorization": f"Bearer {emu.oauth_token}"}
    with httpx.Client(base_url=emu.url, headers=headers) as c:
        assert c.get("/api/query/events/names", params={**_pid(emu), "type": "general"}).status_code == 200
        assert c.get("/api/query/events/names", params={"type": "general"}).status_code == 401
    with httpx.Client(base_url=emu.url, headers={"Authorization": "Bearer wrong"}) as c:
        assert c.get("/api/query/events/names", params={**_pid(emu), "type": "general"}).status_code == 401


# ---------------------------------------------------------------- data views


def test_me_lists_the_projects_time_zone_and_data_views(emu: Emulator, client: httpx.Client) -> None:
    results = client.get("/api/app/me").json()["results"]
    pid = emu.credentials.project_id
    assert results["projects"][str(pid)]["timezone"] == "UTC"
    views = results["workspaces"]
    assert [v["name"] for v in views.values()] == ["All Project Data"]
    assert all(v["project_id"] == pid for v in views.values())


def test_data_views_accept_known_ids_and_refuse_unknown(emu: Emulator) -> None:
    with Emulator(seed=11, today=emu.today, days=3, users=50, data_views={501: "EU only"}) as dv:
        c = dv.credentials
        with httpx.Client(base_url=dv.url, auth=(c.username, c.secret)) as cl:
            me = cl.get("/api/app/me").json()["results"]
            assert {int(k) for k in me["workspaces"]} == set(dv.data_views) and 501 in dv.data_views
            assert me["projects"][str(c.project_id)]["has_workspaces"] is True
            params = {"project_id": c.project_id, "type": "general"}
            assert cl.get("/api/query/events/names", params={**params, "workspace_id": 501}).status_code == 200
            refused = cl.get("/api/query/events/names", params={**params, "workspace_id": 502})
            assert refused.status_code == 403 and "data view" in refused.json()["error"]
            assert cl.get("/api/query/events/names", params={**params, "workspace_id": "x"}).status_code == 400
            # export is project-wide: a data view does not apply there
            export = cl.get("/api/2.0/export", params={**export_params(dv, from_date=str(dv.today),
                                                                        to_date=str(dv.today)), "workspace_id": 502})
            assert export.status_code == 200
    assert json.dumps(me).count(c.secret) == 0


def test_the_command_line_adds_data_views() -> None:
    from mpsql.emulator.__main__ import build_parser

    args = build_parser().parse_args(["--data-view", "501=EU only", "--data-view", "502=Web"])
    assert dict(args.data_view) == {501: "EU only", 502: "Web"}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data-view", "x=EU"])
