"""Control characters from Mixpanel data never reach a terminal raw; files and pipes get the exact bytes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mpsql.cli.render import write_result

# What anyone with a project token can send as an event name: set the window title, clear the screen, a CSI
# in its 8-bit form, a right-to-left override, a bell and DEL.
HOSTILE = "Sign\x1b]0;pwned\x07Up\x1b[2J\x9b31m\u202eevil\x7f"
SHOWN = "Sign\\x1b]0;pwned\\x07Up\\x1b[2J\\x9b31m\\u202eevil\\x7f"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\x7f")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def render(fmt: str, out: io.StringIO, value: str = HOSTILE, column: str = "event") -> str:
    write_result(out, fmt, [column], ["VARCHAR"], [[(value,)]], width=200)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["table", "markdown", "line", "csv"])
def test_on_a_terminal_every_control_character_is_shown_escaped(fmt):
    text = render(fmt, Terminal())
    assert SHOWN in text
    assert not any(ch in text for ch in RAW)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_on_a_terminal_escapes_them_and_stays_the_same_json(fmt):
    text = render(fmt, Terminal())
    assert not any(ch in text for ch in RAW)
    doc = json.loads(text)
    assert (doc[0] if fmt == "json" else doc) == {"event": HOSTILE}


@pytest.mark.parametrize("fmt", ["table", "markdown", "line"])
def test_display_formats_escape_them_in_a_file_too(fmt):
    text = render(fmt, io.StringIO())
    assert SHOWN in text and not any(ch in text for ch in RAW)


def test_csv_and_json_in_a_file_or_pipe_keep_the_exact_value():
    assert list(csv.reader(io.StringIO(render("csv", io.StringIO())))) == [["event"], [HOSTILE]]
    assert json.loads(render("json", io.StringIO())) == [{"event": HOSTILE}]
    assert json.loads(render("jsonl", io.StringIO())) == {"event": HOSTILE}


def test_a_column_name_from_the_data_is_escaped_on_a_terminal_too():
    for fmt in ("table", "markdown", "line", "csv"):
        text = render(fmt, Terminal(), value="x", column=HOSTILE)
        assert not any(ch in text for ch in RAW), fmt


def test_layout_characters_keep_their_meaning():
    assert "a\\nb\\rc d" in render("table", Terminal(), value="a\nb\rc\td")
    # csv on a terminal keeps newlines and tabs (quoted, as csv does): only the dangerous ones are escaped
    assert list(csv.reader(io.StringIO(render("csv", Terminal(), value="a\nb\tc\x1b")))) == [
        ["event"], ["a\nb\tc\\x1b"]]


def test_an_explicit_terminal_flag_wins_over_the_stream(tmp_path):
    text = io.StringIO()
    write_result(text, "csv", ["e"], ["VARCHAR"], [[(HOSTILE,)]], terminal=True)  # a pager's buffer
    assert SHOWN in text.getvalue()


def test_line_mode_keeps_a_multi_line_value_on_its_lines():
    assert render("line", Terminal(), value="a\nb\x1bc", column="s") == "s = a\nb\\x1bc\n"


def test_a_notice_on_the_progress_line_shows_control_characters_escaped():
    from mpsql.cli.render import ProgressLine

    out = Terminal()
    ProgressLine(out).notice("Mixpanel said: \x1b[2Jgone")
    assert "mpsql: Mixpanel said: \\x1b[2Jgone\n" in out.getvalue()
    assert "\x1b[2J" not in out.getvalue()
