"""Mixpanel's documented response examples for profiles and discovery, served as-is, parse to these rows."""

from __future__ import annotations

import datetime as dt
import json


def test_engage_example(con, serve_example):
    serve_example("query", "POST", "/engage")
    rows = con.execute("SELECT distinct_id, last_seen, properties FROM mp_profiles()").fetchall()
    # The spec's example types $distinct_id as a number; ids are text here.
    assert rows == [("4", dt.datetime(2008, 6, 9, 23, 8, 40, tzinfo=dt.UTC), json.dumps({
        "$created": "2008-12-12T11:20:47", "$email": "example@mixpanel.com", "$first_name": "Example",
        "$last_name": "Name", "$last_seen": "2008-06-09T23:08:40"}, separators=(",", ":")))]


def test_events_names_example(con, serve_example):
    serve_example("query", "GET", "/events/names")
    assert con.execute("SELECT event FROM mp_events()").fetchall() == [
        ("View homepage",), ("battle",), ("click signup button",)]


def test_events_top_example(con, serve_example):
    serve_example("query", "GET", "/events/top")
    assert con.execute("SELECT * FROM mp_top_events(type := 'unique')").fetchall() == [
        ("funnel", 2, -0.35635745999582824), ("pages", 75, -0.20209602478821687), ("projects", 2, 1.0)]


def test_events_properties_top_example(con, serve_example):
    serve_example("query", "GET", "/events/properties/top")
    assert con.execute("SELECT * FROM mp_properties(event := 'x')").fetchall() == [
        ("x", "ad version", 295), ("x", "user type", 91)]


def test_events_properties_values_example(con, serve_example):
    serve_example("query", "GET", "/events/properties/values")
    assert con.execute("SELECT * FROM mp_property_values('pet')").fetchall() == [
        ("pet", "cat"), ("pet", "dog"), ("pet", "rabbit"), ("pet", "gecko")]


def test_cohorts_list_example(con, serve_example):
    body = serve_example("query", "POST", "/cohorts/list")
    rows = con.execute("SELECT * FROM mp_cohorts()").fetchall()
    assert rows[0] == (1000, "Cohort One", 150, body[0]["description"], dt.datetime(2019, 3, 19, 23, 49, 51), True, 1)
    assert [(r[0], r[5]) for r in rows] == [(c["id"], bool(c["is_visible"])) for c in body]


def test_funnels_list_example(con, serve_example):
    serve_example("query", "GET", "/funnels/list")
    assert con.execute("SELECT * FROM mp_funnels()").fetchall() == [(7509, "Signup funnel"), (9070, "Funnel tutorial")]


def test_lexicon_and_annotation_shapes_from_the_fact_sheet(con, emulator, serve_example):
    """The Lexicon and Annotations specs carry no response examples; docs/mixpanel-api.md gives the shapes
    ("Lexicon schemas", "Annotations")."""
    from mpsql.emulator.proto import Response, Route

    pid = emulator.credentials.project_id
    schema = {"description": "Fired when an item goes into the basket.",
              "properties": {"item_price": {"type": "number", "description": "Current price"}},
              "metadata": {"com.mixpanel": {"displayName": "Add to cart", "tags": ["Shopping"]}}}
    lexicon = {"status": "ok", "results": [{"entityType": "event", "name": "Added To Cart", "schemaJson": schema}]}
    notes = {"status": "ok", "results": [{"id": 123, "date": "2022-02-15 12:00:00", "description": "Something happened",
                                          "user": {"id": 7, "first_name": "John", "last_name": "Smith"},
                                          "tags": [{"id": 1, "name": "release"}]}]}
    emulator.add_route(f"/api/app/projects/{pid}/schemas", Route(lambda e, r: Response(json=lexicon), "app"))
    emulator.add_route(f"/api/app/projects/{pid}/annotations", Route(lambda e, r: Response(json=notes), "app"))
    assert con.execute("SELECT entity_type, name, description, properties->'$.item_price'->>'$.type' "
                       "FROM mp_lexicon()").fetchall() == [("event", "Added To Cart", schema["description"], "number")]
    assert con.execute("SELECT * FROM mp_annotations('2022-01-01', '2022-12-31')").fetchall() == [
        (123, dt.datetime(2022, 2, 15, 12), "Something happened", 7, "John Smith", ["release"])]
