"""When Enter runs the buffer: a ';' outside strings, comments and brackets; commands run at once."""

from __future__ import annotations

import pytest

from mpsql.repl.statements import is_complete, scan, should_run


@pytest.mark.parametrize("text", [
    "SELECT 1;",
    "SELECT 1;  ",
    "SELECT 1; -- trailing comment",
    "SELECT 1; /* trailing */",
    "SELECT\n  1\n;",
    "SELECT 'a;b';",
    "SELECT 'it''s';",
    "SELECT E'\\';';",
    "SELECT $$ ; $$;",
    "SELECT $tag$ a;b $tag$;",
    'SELECT 1 AS "odd;name";',
    "SELECT * FROM mp_export('2024-01-01', '2024-01-31',\n  events := ['Purchase']);",
    "SELECT 1; SELECT 2;",
    "SELECT /* a /* nested */ comment */ 1;",
])
def test_complete(text):
    assert is_complete(text)
    assert should_run(text)


@pytest.mark.parametrize("text", [
    "SELECT 1",
    "SELECT 'a;",
    "SELECT 'it''s;",
    "SELECT E'\\';",
    "SELECT $$ ;",
    'SELECT 1 AS "odd;',
    "SELECT 1 -- ;",
    "SELECT 1 /* ; */",
    "SELECT /* a /* nested */ ; still in the comment",
    "SELECT * FROM mp_export('2024-01-01', '2024-01-31';",
    "SELECT [1, 2;",
    "SELECT {'a': 1;",
    "SELECT 1; SELECT 2",
])
def test_incomplete(text):
    assert not is_complete(text)
    assert not should_run(text)


@pytest.mark.parametrize("text", ["", "   ", ".tables", "  .mode csv", "\\dt", "\\q", "exit", "quit", "QUIT;"])
def test_commands_and_empty_lines_run_at_once(text):
    assert should_run(text)


def test_scan_tracks_what_the_text_ends_inside():
    s = scan("SELECT * FROM mp_export('2024-01-01', '2024-01-31', events := ['Pur")
    assert s.open_quote == "'" and s.tokens[-1].text == "["
    assert [s.tokens[i].text for i in s.open_brackets] == ["(", "["]
    assert scan("SELECT 1 /* open").in_comment == "/*" and scan("SELECT 1 -- open").in_comment == "--"
    assert [t.text for t in scan("a := b => c ->> '$.x' :: int").tokens] == ["a", ":=", "b", "=>", "c", "->>",
                                                                              "'$.x'", "::", "int"]
