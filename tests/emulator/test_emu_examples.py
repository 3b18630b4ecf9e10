"""The committed OpenAPI example fixtures are complete and well-formed, and the emulator's answers have the
shape of Mixpanel's documented examples for the endpoints it serves from the synthetic project."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from mpsql.emulator import Emulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"


def example(spec: str, method: str, path: str) -> object:
    index = json.loads((FIXTURES / "index.json").read_text(encoding="utf-8"))
    row = next(r for r in index["examples"] if (r["spec"], r["method"], r["path"]) == (spec, method, path))
    return json.loads((FIXTURES / row["file"]).read_text(encoding="utf-8"))["body"]


def test_index_lists_every_fixture_file_once() -> None:
    index = json.loads((FIXTURES / "index.json").read_text(encoding="utf-8"))
    assert "commit" in index["source"]
    files = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.json"))
    assert sorted(r["file"] for r in index["examples"]) == files
    for row in index["examples"]:
        doc = json.loads((FIXTURES / row["file"]).read_text(encoding="utf-8"))
        assert {k: doc[k] for k in ("spec", "path", "method", "status", "example_name", "content_type")} == \
            {k: row[k] for k in ("spec", "path", "method", "status", "example_name", "content_type")}
        assert "body" in doc
    assert {r["spec"] for r in index["examples"]} >= {"query", "export"}


def test_emulator_answers_have_the_documented_shapes(emu: Emulator, client: httpx.Client) -> None:
    pid = {"project_id": emu.credentials.project_id}
    engage = client.post("/api/query/engage", params=pid, data={"page_size": "2"}).json()
    doc = example("query", "POST", "/engage")
    assert set(engage) == set(doc)
    assert set(engage["results"][0]) == set(doc["results"][0])
    with_email = client.post("/api/query/engage", params=pid,
                             data={"where": 'defined(properties["$email"])', "page_size": "1"}).json()
    assert set(doc["results"][0]["$properties"]) <= set(with_email["results"][0]["$properties"])
    cohorts = client.post("/api/query/cohorts/list", params=pid).json()
    assert all(set(c) == set(example("query", "POST", "/cohorts/list")[0]) for c in cohorts)
    top = client.get("/api/query/events/top", params={**pid, "type": "unique"}).json()
    doc_top = example("query", "GET", "/events/top")
    assert set(top) == set(doc_top) and set(top["events"][0]) == set(doc_top["events"][0])
    props = client.get("/api/query/events/properties/top", params={**pid, "event": "Purchase"}).json()
    assert all(set(v) == {"count"} for v in props.values())
    names = client.get("/api/query/events/names", params={**pid, "type": "general"}).json()
    values = client.get("/api/query/events/properties/values", params={**pid, "name": "currency"}).json()
    for body, path in ((names, "/events/names"), (values, "/events/properties/values")):
        assert isinstance(body, list) and all(isinstance(x, str) for x in body)
        assert isinstance(example("query", "GET", path), list)
