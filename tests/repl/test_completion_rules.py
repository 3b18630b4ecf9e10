"""Completion rules as tables: the text around the cursor in, what fits there out (no DuckDB, no emulator).

``suggest(before, after)`` is pure; the REPL's matcher fills each suggestion from the catalog and known names
(tests/repl/test_repl_completion.py checks that half against a real connection).
"""

from __future__ import annotations

import pytest

from mpsql.repl.completer import (
    Column,
    CommandArgument,
    CommandName,
    Function,
    Keyword,
    PropertyPath,
    Relation,
    StringArgument,
    suggest,
)

CURSOR = "|"


def at(text: str) -> list:
    """``suggest`` for a buffer whose cursor is at '|' (or at the end)."""
    before, _, after = text.partition(CURSOR)
    return suggest(before, after)


@pytest.mark.parametrize(("text", "expected"), [
    # the first word of a statement: a keyword
    ("", [Keyword("")]),
    ("SEL", [Keyword("SEL")]),
    ("SELECT 1; upd", [Keyword("upd")]),
    # after FROM / JOIN / a comma in FROM: something to read from
    ("SELECT * FROM ", [Relation("")]),
    ("SELECT * FROM pur", [Relation("pur")]),
    ("SELECT * FROM a, b", [Relation("b")]),
    ("SELECT * FROM a x JOIN pu", [Relation("pu")]),
    ("DESCRIBE ev", [Relation("ev")]),
    ("INSERT INTO t", [Relation("t")]),
    # in a clause that takes values: columns of what the statement reads (named after the cursor too)
    ("SELECT am| FROM purchases", [Column("am", ("purchases",)), Function("am"), Keyword("am")]),
    ("SELECT * FROM purchases p WHERE p.am", [Column("am", ("purchases",))]),
    ("SELECT p.| FROM purchases AS p", [Column("", ("purchases",))]),
    ("SELECT * FROM mp_export('2024-01-01', '2024-01-02') e WHERE e.ev", [Column("ev", ("mp_export",))]),
    ("SELECT * FROM a JOIN b ON a.x = b.y WHERE z", [Column("z", ("a", "b")), Function("z"), Keyword("z")]),
    ("SELECT x", [Column("x", ()), Function("x"), Keyword("x")]),  # nothing read yet: every table's columns
    ("SELECT count(am| FROM t", [Column("am", ("t",)), Function("am"), Keyword("am")]),
    # elsewhere: keywords first, then relations and functions
    ("SELECT * FROM t GR", [Keyword("GR"), Relation("GR"), Function("GR")]),
    # comments and quoted identifiers: nothing
    ("SELECT 1 -- a comm", []),
    ("SELECT /* open", []),
    ('SELECT "Odd Na', []),
])
def test_outside_strings(text, expected):
    assert at(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # an argument of a call: which names fit depends on the parameter (the matcher reads the signature)
    ("SELECT * FROM mp_export('2024-01-01', '2024-01-02', events := ['Pur",
     [StringArgument("mp_export", 2, "events", "Pur", "'", "Pur")]),
    ("SELECT * FROM mp_event_counts(['Sign",
     [StringArgument("mp_event_counts", 0, None, "Sign", "'", None)]),
    ("SELECT mp_prop(properties, '$bro",
     [StringArgument("mp_prop", 1, None, "$bro", "'", None)]),
    # the string is closed only when it is not closed already
    ("SELECT mp_prop(properties, '$bro|')", [StringArgument("mp_prop", 1, None, "$bro", "", None)]),
    # the one event the statement names (before or after the cursor) scopes the properties
    ("SELECT mp_prop(properties, '|') FROM events WHERE event = 'Purchase'",
     [StringArgument("mp_prop", 1, None, "", "", "Purchase")]),
    ("SELECT * FROM mp_properties(event := 'Purchase') WHERE x = mp_prop(p, 'a",
     [StringArgument("mp_prop", 1, None, "a", "'", "Purchase")]),
    ("SELECT mp_prop(p, 'a') FROM e WHERE event IN ('A', 'B') AND mp_prop(p, 'b",
     [StringArgument("mp_prop", 1, None, "b", "'", None)]),  # two events: no one event's properties
    # JSON paths: after -> / ->>, and the path argument of DuckDB's JSON functions
    ("SELECT properties->>'$.bro", [PropertyPath("$.bro", None, "'")]),
    ("SELECT json_extract_string(properties, '$.", [PropertyPath("$.", None, "'")]),
    # a string that is no call's argument: nothing
    ("SELECT 'hello", []),
])
def test_inside_strings(text, expected):
    assert at(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    (".mo", [CommandName(".mo")]),
    ("\\d", [CommandName("\\d")]),
    (".mode cs", [CommandArgument(".mode", "cs")]),
    (".account  pr", [CommandArgument(".account", "pr")]),
    (".read ./sq", [CommandArgument(".read", "./sq")]),
])
def test_commands(text, expected):
    assert at(text) == expected
