"""Saved cohorts, Lexicon schemas and annotations (docs/mixpanel-api.md), plus the path-pattern
routing the App API routes rely on."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from mpsql.emulator import Emulator
from mpsql.emulator.datagen import EVENT_NAMES
from mpsql.emulator.profiles import profiles_for
from mpsql.emulator.proto import Route, resolve

SCHEMA_TYPES = {"array", "boolean", "integer", "null", "number", "object", "string"}


def app(client: httpx.Client, emu: Emulator, rest: str, **params: object) -> httpx.Response:
    return client.get(f"/api/app/projects/{emu.credentials.project_id}/{rest}", params=params)


# ---------------------------------------------------------------- cohorts


def test_cohorts_list_shape_and_counts(emu: Emulator, client: httpx.Client) -> None:
    r = client.post("/api/query/cohorts/list", params={"project_id": emu.credentials.project_id})
    assert r.status_code == 200
    body = r.json()
    assert [c["id"] for c in body] == [1001, 1002, 1003, 1004]
    profiles = profiles_for(emu.dataset)
    expected_counts = {1001: sum(p["purchases"] > 0 for p in profiles.values()),
                       1002: sum(p["$city"] == "Berlin" for p in profiles.values()),
                       1003: sum(p["plan"] == "pro" for p in profiles.values())}
    for c in body:
        assert set(c) == {"count", "is_visible", "description", "created", "project_id", "id", "name"}
        assert c["project_id"] == emu.credentials.project_id and c["is_visible"] in (0, 1)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", c["created"])
        assert c["created"][:10] < emu.dataset.first_date.isoformat()
        if c["id"] in expected_counts:
            assert c["count"] == expected_counts[c["id"]] > 0
        engage = client.post("/api/query/engage", params={"project_id": emu.credentials.project_id},
                             data={"filter_by_cohort": f'{{"id": {c["id"]}}}'})
        assert engage.json()["total"] == c["count"]
    assert [c["is_visible"] for c in body] == [1, 1, 1, 0]
    assert client.get("/api/2.0/cohorts/list", params={"project_id": emu.credentials.project_id}).json() == body


# ---------------------------------------------------------------- Lexicon


def test_schemas_list_every_documented_entity(emu: Emulator, client: httpx.Client) -> None:
    r = app(client, emu, "schemas")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    entries = body["results"]
    for e in entries:
        assert set(e) == {"entityType", "name", "schemaJson"} and e["entityType"] in ("event", "profile")
        assert e["schemaJson"]["description"]
        for prop in e["schemaJson"]["properties"].values():
            assert prop["type"] in SCHEMA_TYPES and prop["description"]
            assert set(prop) <= {"type", "description", "metadata"}
    events = [e["name"] for e in entries if e["entityType"] == "event"]
    assert events == [n for n in EVENT_NAMES if n != "Share"]  # Lexicon is not a full catalogue
    assert [e["name"] for e in entries if e["entityType"] == "profile"] == ["$user"]
    purchase = next(e for e in entries if e["name"] == "Purchase")["schemaJson"]
    assert purchase["properties"]["amount"]["type"] == "number"
    assert purchase["metadata"]["com.mixpanel"]["tags"] == ["Revenue"]


def test_schemas_by_type_and_name(emu: Emulator, client: httpx.Client) -> None:
    everything = app(client, emu, "schemas").json()["results"]
    profile = app(client, emu, "schemas/profile").json()
    assert profile == {"status": "ok", "results": [e for e in everything if e["entityType"] == "profile"]}
    plan = profile["results"][0]["schemaJson"]["properties"]["plan"]
    assert plan["type"] == "string"
    one = app(client, emu, "schemas/event", entity_name="Add to Cart").json()["results"]
    assert [e["name"] for e in one] == ["Add to Cart"]
    direct = app(client, emu, "schemas/event/Add%20to%20Cart")
    assert direct.status_code == 200 and direct.json() == one[0]["schemaJson"]
    assert app(client, emu, "schemas/profile/%24user").json() == profile["results"][0]["schemaJson"]


@pytest.mark.parametrize(("rest", "status", "error"), [
    ("schemas/event/Share", 404, "Schema not found"),
    ("schemas/widget", 400, "Invalid entity type: must be one of event, profile"),
    ("annotations/424242", 404, "Annotation not found"),
    ("annotations", 400, "Error in fromDate: invalid date, expected yyyy-mm-dd"),
])
def test_app_api_errors_use_the_status_error_body(emu: Emulator, client: httpx.Client, rest: str, status: int,
                                                  error: str) -> None:
    params = {"fromDate": "03/01/2024"} if rest == "annotations" else {}
    r = app(client, emu, rest, **params)
    assert r.status_code == status
    assert r.json() == {"status": "error", "error": error}


def test_app_api_needs_this_project_and_a_service_account(emu: Emulator, client: httpx.Client) -> None:
    for path in ("schemas", "annotations", "annotations/tags", "schemas/event/Purchase"):
        r = client.get(f"/api/app/projects/1/{path}")
        assert r.status_code == 403
        assert r.json() == {"status": "error", "error": "You do not have permission to access this project"}
        assert client.get(f"/api/app/projects/abc/{path}").status_code == 404
        pid = emu.credentials.project_id
        for auth in ((emu.project_secret, ""), ("nobody", "x")):
            r = httpx.get(f"{emu.url}/api/app/projects/{pid}/{path}", auth=auth)
            assert r.status_code == 401 and r.json()["status"] == "error"
    r = client.post(f"/api/app/projects/{emu.credentials.project_id}/annotations", json={"description": "x"})
    assert r.status_code == 405


# ---------------------------------------------------------------- annotations


def test_annotations_inside_the_data_range_oldest_first(emu: Emulator, client: httpx.Client) -> None:
    body = app(client, emu, "annotations").json()
    assert body["status"] == "ok"
    notes = body["results"]
    assert len(notes) == 5
    ds = emu.dataset
    for n in notes:
        assert set(n) == {"id", "date", "description", "user", "tags"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", n["date"])
        assert ds.first_date.isoformat() <= n["date"][:10] <= ds.last_date.isoformat()
        assert set(n["user"]) == {"id", "first_name", "last_name"}
        assert n["tags"] and all(set(t) == {"id", "name"} for t in n["tags"])
    assert [n["date"] for n in notes] == sorted(n["date"] for n in notes)
    one = app(client, emu, f"annotations/{notes[2]['id']}").json()
    assert one == {"status": "ok", "results": notes[2]}


def test_annotations_from_and_to_dates_are_inclusive(emu: Emulator, client: httpx.Client) -> None:
    notes = app(client, emu, "annotations").json()["results"]
    lo, hi = notes[1]["date"][:10], notes[3]["date"][:10]
    got = app(client, emu, "annotations", fromDate=lo, toDate=hi).json()["results"]
    assert got == [n for n in notes if lo <= n["date"][:10] <= hi] and len(got) >= 3
    assert app(client, emu, "annotations", fromDate=hi).json()["results"] == [n for n in notes if n["date"][:10] >= hi]
    after = (emu.dataset.last_date + dt.timedelta(days=1)).isoformat()
    assert app(client, emu, "annotations", fromDate=after).json()["results"] == []


def test_annotation_tags_bare_array(emu: Emulator, client: httpx.Client) -> None:
    tags = app(client, emu, "annotations/tags").json()
    used = {t["id"] for n in app(client, emu, "annotations").json()["results"] for t in n["tags"]}
    assert isinstance(tags, list) and {t["name"] for t in tags} == {"release", "marketing", "incident"}
    for t in tags:
        assert t == {"id": t["id"], "name": t["name"], "project_id": emu.credentials.project_id,
                     "has_annotations": t["id"] in used}


# ---------------------------------------------------------------- routing


def _route(name: str) -> Route:
    return Route(lambda emu, req: None, "app", (name,))  # methods carry a label for the assertions


def test_pattern_routes_exact_first_then_most_literal_segments() -> None:
    table = {"/a/{x}/b": _route("X"), "/a/{x}/b/{y}": _route("XY"), "/a/{x}/b/tags": _route("TAGS"),
             "/a/1/b": _route("EXACT")}
    assert resolve(table, "/a/1/b") == (table["/a/1/b"], {})
    assert resolve(table, "/a/2/b") == (table["/a/{x}/b"], {"x": "2"})
    assert resolve(table, "/a/2/b/tags") == (table["/a/{x}/b/tags"], {"x": "2"})
    assert resolve(table, "/a/2/b/Add%20to%20Cart") == (table["/a/{x}/b/{y}"], {"x": "2", "y": "Add to Cart"})
    assert resolve(table, "/a/2/b/x%2Fy") == (table["/a/{x}/b/{y}"], {"x": "2", "y": "x/y"})
    for miss in ("/a//b", "/a/2/c", "/a/2/b/c/d", "/a/2"):
        assert resolve(table, miss) == (None, {}), miss
