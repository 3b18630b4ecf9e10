"""A small SQL scanner: when a buffer holds a complete statement, and the tokens the completer reads.

It knows DuckDB's lexical rules that matter for both: '…' strings (with '' and E'\\'' escapes), "…" identifiers,
$tag$…$tag$ strings, -- and nested /* */ comments, and ( [ { nesting. It never fails: unterminated input simply
ends inside a string, comment or bracket, which is what the REPL needs to know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_WORD = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_OPERATORS = (":=", "=>", "->>", "->", "::", "<=", ">=", "<>", "!=", "||", "**")
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is word, quoted (a "…" identifier), string, number, op or punct."""

    kind: str
    text: str
    start: int
    depth: int  # brackets open around the token (an opening bracket counts the brackets outside it)

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Scan:
    """The tokens of a text and the state it ends in."""

    tokens: list[Token] = field(default_factory=list)
    open_quote: str | None = None  # ', ", or a $tag$ when the text ends inside a string or identifier
    quote_start: int = -1  # where the unterminated string's content starts
    in_comment: str | None = None  # "--" or "/*" when the text ends inside a comment
    open_brackets: list[int] = field(default_factory=list)  # indices into tokens of the unclosed brackets


def scan(text: str) -> Scan:
    """Tokenize ``text``; comments and whitespace are dropped."""
    out = Scan()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            if end < 0:
                out.in_comment = "--"
                return out
            i = end + 1
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
            if i < 0:
                out.in_comment = "/*"
                return out
        elif ch in "'\"":
            escapes = ch == "'" and bool(out.tokens) and out.tokens[-1].start + 1 == i \
                and out.tokens[-1].upper == "E"
            if escapes:
                out.tokens.pop()
            end = _skip_quoted(text, i, ch, escapes)
            if end < 0:
                out.open_quote, out.quote_start = ch, i + 1
                return out
            _add(out, "string" if ch == "'" else "quoted", text[i:end], i)
            i = end
        elif ch == "$" and (m := _DOLLAR_TAG.match(text, i)):
            tag = m.group(0)
            end = text.find(tag, m.end())
            if end < 0:
                out.open_quote, out.quote_start = tag, m.end()
                return out
            _add(out, "string", text[i:end + len(tag)], i)
            i = end + len(tag)
        elif m := _WORD.match(text, i):
            _add(out, "word", m.group(0), i)
            i = m.end()
        elif (m := _NUMBER.match(text, i)) and m.group(0):
            _add(out, "number", m.group(0), i)
            i = m.end()
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), ch)
            _add(out, "op" if len(op) > 1 or ch not in _OPEN + _CLOSE + ",;." else "punct", op, i)
            i += len(op)
    return out


def _add(out: Scan, kind: str, text: str, start: int) -> None:
    depth = len(out.open_brackets)
    if kind == "punct" and text in _CLOSE:
        if out.open_brackets:
            out.open_brackets.pop()
        depth = len(out.open_brackets)
    out.tokens.append(Token(kind, text, start, depth))
    if kind == "punct" and text in _OPEN:
        out.open_brackets.append(len(out.tokens) - 1)


def _skip_block_comment(text: str, i: int) -> int:
    """The index after the comment opened at ``i`` (nested like PostgreSQL's), or -1 if it never closes."""
    depth, i = 0, i
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1


def _skip_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    """The index after the quoted run opened at ``i`` (a doubled quote is one quote), or -1 if it never closes."""
    j = i + 1
    while j < len(text):
        c = text[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if text.startswith(quote, j + 1):
                j += 2
                continue
            return j + 1
        j += 1
    return -1


def is_complete(text: str) -> bool:
    """True when ``text`` ends with a ``;`` that is outside strings, comments and brackets."""
    s = scan(text)
    if s.open_quote or s.in_comment == "/*" or s.open_brackets or not s.tokens:
        return False
    last = s.tokens[-1]
    return last.text == ";" and last.depth == 0


def is_command(text: str) -> bool:
    """A dot or backslash command (``.tables``, ``\\dt``) or a bare exit word: one line, no ``;`` needed."""
    stripped = text.strip()
    return stripped.startswith((".", "\\")) or stripped.rstrip(";").lower() in ("exit", "quit")


def should_run(text: str) -> bool:
    """Whether Enter runs the buffer (empty, a command, or a complete statement) instead of adding a line."""
    return not text.strip() or is_command(text) or is_complete(text)
