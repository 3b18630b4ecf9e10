"""Completion chooses by where the cursor is; Mixpanel names come from the provider, never a request."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from mpsql.repl.commands import help_lines
from mpsql.repl.completer import Catalog, SqlCompleter
from tests.repl.conftest import FakeNames

CURSOR = "|"


@pytest.fixture
def completer(con, emulator) -> SqlCompleter:
    con.execute("CREATE TABLE purchases (amount DOUBLE, user_id VARCHAR, \"Odd Name\" INTEGER)")
    con.execute("CREATE VIEW big_spenders AS SELECT user_id FROM purchases WHERE amount > 100")
    before = len(emulator.requests)
    catalog = Catalog.load(con)
    assert len(emulator.requests) == before  # reading the catalog asks Mixpanel nothing
    return SqlCompleter(catalog, FakeNames(), commands=help_lines(), accounts=lambda: ["prod", "staging"])


def complete(completer: SqlCompleter, text: str) -> dict[str, str]:
    """{inserted text: meta} for a buffer whose cursor is at '|' (or at the end)."""
    cursor = text.index(CURSOR) if CURSOR in text else len(text)
    doc = Document(text.replace(CURSOR, ""), cursor)
    return {c.text: c.display_meta_text for c in completer.get_completions(doc, CompleteEvent())}


def test_keywords_follow_the_case_typed(completer):
    assert complete(completer, "SEL")["SELECT"] == "keyword"
    assert "select" in complete(completer, "sel")
    assert "GROUP" in complete(completer, "SELECT 1 FROM t GR")


def test_tables_views_and_table_functions_after_from(completer):
    after_from = complete(completer, "SELECT * FROM ")
    assert after_from["purchases"] == "table" and after_from["big_spenders"] == "table"
    assert after_from["read_parquet"] == "table function"
    assert "SELECT" not in after_from
    assert set(complete(completer, "SELECT * FROM pur")) == {"purchases"}
    assert "purchases" in complete(completer, "SELECT * FROM big_spenders, pu")
    assert "purchases" in complete(completer, "SELECT * FROM big_spenders b JOIN pu")


def test_every_mp_function_with_its_signature(completer, con):
    listed = "SELECT name, signature FROM mp_functions() WHERE {} contains(returns, ' ')"  # columns, or one type
    tables, scalars = (dict(con.execute(listed.format(neg)).fetchall()) for neg in ("", "NOT"))
    assert {"mp_local_funnel", "mp_event_breakdown"} <= set(tables) and {"mp_prop", "mp_prop_list"} <= set(scalars)
    offered = complete(completer, "SELECT * FROM mp_")  # a table: table functions and table macros
    assert {k: v for k, v in offered.items() if k.startswith("mp_")} == tables
    assert offered["mp_export"].startswith("mp_export(from_date, to_date, events := NULL")
    offered = complete(completer, "SELECT mp_")  # a value: scalar macros
    assert {k: v for k, v in offered.items() if k.startswith("mp_")} == scalars


def test_columns_of_the_tables_the_statement_reads(completer):
    assert complete(completer, f"SELECT am{CURSOR} FROM purchases")["amount"] == "DOUBLE"
    assert "user_id" in complete(completer, "SELECT * FROM purchases WHERE us")
    assert set(complete(completer, f"SELECT p.{CURSOR} FROM purchases AS p")) == {"amount", "user_id", '"Odd Name"'}
    assert set(complete(completer, f"SELECT e.{CURSOR} FROM mp_export('2024-01-01', '2024-01-02') e")) == {
        "event", "time", "distinct_id", "insert_id", "properties"}
    in_call = complete(completer, f"SELECT count(dis{CURSOR}) FROM mp_export('2024-01-01', '2024-01-02')")
    assert in_call["distinct_id"] == "VARCHAR"


def test_duckdb_functions(completer):
    assert complete(completer, "SELECT date_tr")["date_trunc"] == "function"
    assert complete(completer, "SELECT mp_pro")["mp_prop"] == "mp_prop(props, name)"  # sql/ macros: signatures


def test_event_names_inside_mp_export_events(completer):
    buffer = "SELECT * FROM mp_export('2024-01-01', '2024-01-31', events := ['"
    assert complete(completer, buffer) == {"O''Brien''s Event'": "event", "Page View'": "event",
                                           "Purchase'": "event", "Sign Up'": "event"}
    assert complete(completer, buffer + "Pu") == {"Purchase'": "event"}
    assert complete(completer, buffer + "Purchase', 'Si") == {"Sign Up'": "event"}
    assert complete(completer, buffer + f"pu{CURSOR}']") == {"Purchase": "event"}  # the quote is already there
    assert "Purchase'" in complete(completer, "SELECT * FROM mp_properties(event := 'P")
    assert complete(completer, "SELECT * FROM mp_export('2024-01-") == {}  # a date, not a name


def test_property_names_in_property_helpers_json_paths_and_filters(completer):
    props = complete(completer, "SELECT mp_prop(properties, '")
    assert props == {"$browser'": "property", "$current_url'": "property", "amount'": "property",
                     "currency'": "property", "page'": "property"}
    # The event named later in the statement narrows the properties to that event's.
    narrowed = complete(completer, f"SELECT mp_prop(properties, '{CURSOR}') FROM mp_export('2024-01-01', "
                                   "'2024-01-31', events := ['Purchase'])")
    assert narrowed == {"$browser": "property", "amount": "property", "currency": "property"}
    assert complete(completer, "SELECT properties->>'$.am") == {"amount": "property"}
    assert complete(completer, "SELECT properties->>'$.$b") == {'"$browser"': "property"}
    assert complete(completer, "SELECT json_extract(properties, '$.pa") == {"page": "property"}
    in_filter = complete(completer, "SELECT * FROM mp_export('2024-01-01', '2024-01-31', filter := 'properties[\"cu")
    assert in_filter == {"currency": "property"}
    assert "amount" in complete(completer, "SELECT * FROM mp_export('2024-01-01', '2024-01-31', "
                                           "filter := 'properties[\"")


def test_commands_and_their_arguments(completer):
    assert complete(completer, ".ta") == {".tables": "list the tables and views"}
    assert set(complete(completer, ".mode j")) == {"json", "jsonl"}
    assert set(complete(completer, ".account ")) == {"prod", "staging"}
    assert "purchases" in complete(completer, "\\d pur")
    assert "mp_export" in complete(completer, ".schema mp_ex")
    assert set(complete(completer, ".timer o")) == {"on", "off"}


def test_nothing_inside_comments_or_identifiers(completer):
    assert complete(completer, "SELECT 1 -- sel") == {}
    assert complete(completer, 'SELECT "pur') == {}


def test_no_menu_pops_up_on_a_fresh_continuation_line_but_tab_still_lists(completer):
    doc = Document("SELECT *\n", len("SELECT *\n"))
    assert list(completer.get_completions(doc, CompleteEvent())) == []  # as typed: nothing pops up
    assert list(completer.get_completions(doc, CompleteEvent(text_inserted=True))) == []
    asked = {c.text for c in completer.get_completions(doc, CompleteEvent(completion_requested=True))}
    assert "FROM" in asked  # Tab on the blank line lists what may come next
    assert "FROM" in complete(completer, "SELECT *\nFR")  # and a word begun completes


def test_enter_with_the_menu_open_but_nothing_chosen_closes_the_menu(make_repl):
    from prompt_toolkit.buffer import Buffer, CompletionState
    from prompt_toolkit.completion import Completion as PtCompletion
    from prompt_toolkit.keys import Keys

    session = make_repl().session()
    enter = [b for b in session.key_bindings.bindings if b.keys == (Keys.ControlM,)]
    newline = next(b for b in enter if b.handler.__name__ == "_newline")
    buffer = Buffer(multiline=True)
    buffer.text = "SELECT *"
    buffer.cursor_position = len(buffer.text)
    buffer.complete_state = CompletionState(buffer.document, [PtCompletion("FROM")], complete_index=None)

    class Event:
        current_buffer = buffer

    newline.handler(Event())
    assert buffer.complete_state is None and buffer.text == "SELECT *\n"


def test_with_no_names_cached_a_hint_says_how_to_load_them(con):
    from mpsql.repl.completer import NoNames

    bare = SqlCompleter(Catalog.load(con), NoNames(), commands=help_lines())
    doc = Document("SELECT * FROM mp_export('2024-01-01', '2024-01-31', events := ['")
    offered = list(bare.get_completions(doc, CompleteEvent()))
    assert [(c.text, c.display_text, c.display_meta_text) for c in offered] == [
        ("", "(no event names cached yet)", "SELECT * FROM mp_events(); loads them (one request)")]
    doc = Document("SELECT mp_prop(properties, '")
    assert [c.display_text for c in bare.get_completions(doc, CompleteEvent())] == ["(no property names cached yet)"]
