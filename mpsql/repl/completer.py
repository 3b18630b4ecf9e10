"""Context-aware completion: keywords, functions, tables and columns, mp_* functions, Mixpanel names.

Two halves, as pgcli's: :func:`suggest` decides from the text around the cursor alone what kind of thing fits
(tests/repl/test_completion_rules.py states its rules as tables), and :class:`SqlCompleter` turns each suggestion
into prompt-toolkit completions from the catalog and the known names. Everything is read from memory: the
``Catalog`` is loaded from the connection at start and after DDL, and event and property names come from a
``NamesProvider`` the REPL refreshes (between statements, and when names load in the background). Nothing here
runs SQL or makes a request while the user types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from mpsql.repl.statements import Token, scan

# After these words the next word names a relation (a table, a view or a table function).
_RELATION_BEFORE = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "DESCRIBE", "SUMMARIZE"}
# Clause keywords: the last one seen tells what the cursor is in.
_CLAUSES = {"SELECT", "FROM", "JOIN", "WHERE", "GROUP", "ORDER", "HAVING", "QUALIFY", "ON", "USING", "SET",
            "LIMIT", "VALUES", "WINDOW", "RETURNING", "PIVOT", "UNPIVOT", *_RELATION_BEFORE}
_COLUMN_CLAUSES = {"SELECT", "WHERE", "GROUP", "ORDER", "HAVING", "QUALIFY", "ON", "USING", "SET", "RETURNING"}
_JSON_PATH_FUNCTIONS = {"json_extract", "json_extract_string", "json_extract_path", "json_extract_path_text",
                        "json_value", "json_exists", "json_type", "json_keys", "json_contains"}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_PARTIAL_WORD = re.compile(r"[A-Za-z0-9_$]*$")
_OPENERS = ("(", "[", "{")


class NamesProvider(Protocol):
    """Mixpanel event and property names known without a request (``mpsql.functions.discovery.KnownNames``)."""

    events: list[str]

    def properties(self, event: str | None = None) -> list[str]: ...


@dataclass
class NoNames:
    """A provider that knows no names (before the discovery cache has any)."""

    events: list[str] = field(default_factory=list)

    def properties(self, event: str | None = None) -> list[str]:
        return []


@dataclass(frozen=True)
class MpFunction:
    """One mp_* function as ``mp_functions()`` describes it, with its parameters and output columns parsed."""

    name: str
    signature: str
    description: str = ""
    positional: tuple[str, ...] = ()
    named: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, name: str, signature: str, returns: str, description: str = "") -> MpFunction:
        inner = signature[signature.find("(") + 1: signature.rfind(")")]
        positional, named = [], []
        for part in _split_top_level(inner):
            if ":=" in part:
                named.append(part.split(":=")[0].strip())
            elif part.strip():
                positional.append(part.strip())
        columns = [c.strip().partition(" ") for c in _split_top_level(returns) if c.strip()]
        return cls(name, signature, description, tuple(positional), tuple(named),
                   tuple((c[0], c[2]) for c in columns))

    @property
    def scalar(self) -> bool:
        """A scalar SQL macro (``mp_prop``): its returns are one type, not columns."""
        return len(self.columns) == 1 and not self.columns[0][1]

    def parameter(self, index: int, named: str | None) -> str | None:
        """The parameter an argument binds to: its ``name :=``, or the positional one at ``index``."""
        if named is not None:
            return named.lower()
        return self.positional[index] if index < len(self.positional) else None


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass
class Catalog:
    """The names completion offers, read from DuckDB (keywords, functions, tables and columns, mp_*)."""

    keywords: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    table_functions: list[str] = field(default_factory=list)
    tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # name -> [(column, type)]
    mp: dict[str, MpFunction] = field(default_factory=dict)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> Catalog:
        """Read the catalog of ``con``: a few milliseconds, done at start and after DDL, never per keystroke."""
        cat = cls()
        cat.keywords = sorted({r[0].upper() for r in con.execute("SELECT keyword_name FROM duckdb_keywords()")
                               .fetchall()})
        try:
            for name, signature, returns, description in con.execute(
                    "SELECT name, signature, returns, description FROM mp_functions()").fetchall():
                cat.mp[name] = MpFunction.parse(name, signature, returns, description)
        except duckdb.Error:
            pass  # a plain DuckDB connection: no mp_* functions
        functions, table_functions = set(), set()
        for name, kind in con.execute("SELECT DISTINCT function_name, function_type FROM duckdb_functions()"
                                      ).fetchall():
            if not _IDENTIFIER.fullmatch(name) or name.startswith(("__", "mp__")) or name in cat.mp:
                continue
            (table_functions if kind in ("table", "table_macro") else functions).add(name)
        cat.functions, cat.table_functions = sorted(functions), sorted(table_functions)
        for table, column, dtype in con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE NOT internal AND table_name NOT LIKE '\\_\\_%' ESCAPE '\\' "
                "ORDER BY table_name, column_index").fetchall():
            cat.tables.setdefault(table, []).append((column, dtype))
        return cat

    def columns_of(self, relation: str) -> list[tuple[str, str]]:
        """Columns of a table, view or mp_* function, by name (case-insensitive); [] if unknown."""
        name = relation.lower()
        if name in self.mp:
            return list(self.mp[name].columns)
        for table, columns in self.tables.items():
            if table.lower() == name:
                return columns
        return []


@dataclass(frozen=True)
class _Call:
    """The function call whose argument list the cursor is in."""

    function: str
    index: int  # the argument's position
    named: str | None  # its ``name :=``, if named


# -- what to suggest: a pure function of the text around the cursor -----------------------------------------------


@dataclass(frozen=True)
class Keyword:
    """SQL keywords, in the case the word is typed in."""

    word: str


@dataclass(frozen=True)
class Relation:
    """Table-valued things: mp_* table functions and macros, tables and views, DuckDB's table functions."""

    word: str


@dataclass(frozen=True)
class Column:
    """Columns of ``relations`` (names as written; every table's when empty), quoted where needed."""

    word: str
    relations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Function:
    """Value functions: mpsql's scalar macros (``mp_prop``), then DuckDB's functions."""

    word: str


@dataclass(frozen=True)
class CommandName:
    """Dot and backslash commands."""

    word: str


@dataclass(frozen=True)
class CommandArgument:
    """The argument of ``command`` (a table, a mode, on/off, an account, a path ...)."""

    command: str
    word: str


@dataclass(frozen=True)
class PropertyPath:
    """A property as a JSON path (``'$.name'``) or a bare key, inside a string; ``close`` ends the literal."""

    partial: str
    event: str | None
    close: str


@dataclass(frozen=True)
class StringArgument:
    """Inside a string that is argument ``index`` (or ``named :=``) of ``function``: which names fit depends on
    the parameter, which the matcher looks up in the function's signature."""

    function: str
    index: int
    named: str | None
    partial: str
    close: str
    event: str | None  # the one event the statement names, for its properties


Suggestion = (Keyword | Relation | Column | Function | CommandName | CommandArgument | PropertyPath
              | StringArgument)


def suggest(text_before: str, text_after: str = "") -> list[Suggestion]:
    """What fits at the cursor, given the buffer's text before and after it; no catalog, no I/O.

    The order is the order of the menu. Like pgcli's ``suggest_type``: the rules live here, and
    :class:`SqlCompleter` turns each suggestion into completions from the catalog and the known names.
    """
    text = text_before
    if text.lstrip().startswith((".", "\\")):
        line = text.lstrip()
        if " " not in line:
            return [CommandName(line)]
        command, _, arg = line.partition(" ")
        return [CommandArgument(command, arg.lstrip())]
    s = scan(text)
    if s.in_comment or s.open_quote == '"':
        return []
    tokens = _current_statement(s.tokens)
    if s.open_quote == "'":
        close = "" if text_after.startswith("'") else "'"
        # The whole statement, with the string under the cursor closed, for the names it mentions later.
        around = scan(_statement_around(text + close + text_after, len(text))).tokens
        return _in_string(tokens, _enclosing_call(s.tokens, s.open_brackets), text[s.quote_start:], close, around)
    if s.open_quote:
        return []
    word = _PARTIAL_WORD.search(text).group(0)  # type: ignore[union-attr]
    if tokens and tokens[-1].start + len(tokens[-1].text) == len(text) and tokens[-1].kind in ("word", "number"):
        tokens = tokens[:-1]
    before = text[: len(text) - len(word)]
    around = scan(_statement_around(text + text_after, len(before))).tokens
    return _in_code(tokens, word, before, around)


def _in_code(tokens: list[Token], word: str, before: str, around: list[Token]) -> list[Suggestion]:
    relations = _relations(around)
    if before.endswith("."):  # alias.col or table.col
        qualifier = _PARTIAL_WORD.search(before[:-1]).group(0)  # type: ignore[union-attr]
        return [Column(word, (relations.get(qualifier.lower(), qualifier),))]
    prev = tokens[-1] if tokens else None
    clause = _clause(tokens)
    if prev is None:
        return [Keyword(word)]
    if prev.upper in _RELATION_BEFORE or (prev.text == "," and clause in ("FROM", "JOIN")):
        return [Relation(word)]
    if clause in _COLUMN_CLAUSES or (clause is None and _cursor_depth(tokens) > 0):
        return [Column(word, tuple(dict.fromkeys(relations.values()))), Function(word), Keyword(word)]
    return [Keyword(word), Relation(word), Function(word)]


def _in_string(tokens: list[Token], call: _Call | None, partial: str, close: str,
               around: list[Token]) -> list[Suggestion]:
    event = _event_in(around)
    if tokens and tokens[-1].text in ("->", "->>"):  # properties->>'$.name' or properties->>'name'
        return [PropertyPath(partial, event, close)]
    if call is None:
        return []
    if call.function in _JSON_PATH_FUNCTIONS and call.index == 1 and call.named is None:
        return [PropertyPath(partial, event, close)]
    return [StringArgument(call.function, call.index, call.named, partial, close, event)]


# -- the matcher: suggestions to prompt-toolkit completions ---------------------------------------------------------


class SqlCompleter(Completer):
    """Completions for the REPL's buffer: :func:`suggest` says what fits, the catalog and names say which.

    ``commands`` maps each dot or backslash command to its help line; ``accounts`` lists account names for
    ``.account``; ``names`` is replaced by the REPL whenever the discovery cache may have changed.
    """

    def __init__(self, catalog: Catalog, names: NamesProvider | None = None,
                 commands: dict[str, str] | None = None, accounts: Callable[[], list[str]] | None = None) -> None:
        self.catalog = catalog
        self.names: NamesProvider = names or NoNames()
        self.commands = commands or {}
        self.accounts = accounts or (lambda: [])
        self._paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        if not complete_event.completion_requested and not document.current_line_before_cursor.strip():
            return  # a fresh (continuation) line: no menu pops up until a word is begun or Tab is pressed
        for suggestion in suggest(document.text_before_cursor, document.text_after_cursor):
            yield from self.complete(suggestion)

    def complete(self, s: Suggestion) -> Iterator[Completion]:
        """The completions one suggestion stands for."""
        cat = self.catalog
        if isinstance(s, Keyword):
            lower = s.word == s.word.lower() and s.word != ""
            yield from _matching(s.word, [(k.lower() if lower else k, "keyword") for k in cat.keywords])
        elif isinstance(s, Relation):
            yield from _matching(s.word, [(fn.name, fn.signature) for fn in cat.mp.values() if not fn.scalar])
            yield from _matching(s.word, [(t, "table") for t in cat.tables], quote=True)
            yield from _matching(s.word, [(f, "table function") for f in cat.table_functions])
        elif isinstance(s, Column):
            columns = [c for target in s.relations for c in cat.columns_of(target)]
            if not s.relations:
                columns = [c for cols in cat.tables.values() for c in cols]
            yield from _matching(s.word, list(dict.fromkeys(columns)), quote=True)
        elif isinstance(s, Function):
            yield from _matching(s.word, [(fn.name, fn.signature) for fn in cat.mp.values() if fn.scalar])
            yield from _matching(s.word, [(f, "function") for f in cat.functions])
        elif isinstance(s, CommandName):
            for name, help_text in self.commands.items():
                if name.startswith(s.word):
                    yield Completion(name, -len(s.word), display_meta=help_text)
        elif isinstance(s, CommandArgument):
            yield from self._command_argument(s.command, s.word)
        elif isinstance(s, PropertyPath):
            yield from self._property_path(s.partial, s.event, s.close)
        elif isinstance(s, StringArgument):
            yield from self._string_argument(s)

    def _command_argument(self, command: str, arg: str) -> Iterator[Completion]:
        choices: Iterable[tuple[str, str]] = ()
        if command in (".schema", "\\d"):
            choices = [(t, "table") for t in self.catalog.tables] + [(n, "mp function") for n in self.catalog.mp]
        elif command in (".mode",):
            from mpsql.cli.render import FORMATS

            choices = [(f, "mode") for f in FORMATS]
        elif command in (".timer", ".pager", "\\timing"):
            choices = [("on", ""), ("off", "")]
        elif command == ".account":
            choices = [(a, "account") for a in self.accounts()]
        elif command in (".read", ".open", ".output", "\\i", "\\o"):
            yield from self._paths.get_completions(Document(arg, len(arg)), CompleteEvent())
            return
        for value, meta in choices:
            if value.lower().startswith(arg.lower()):
                yield Completion(value, -len(arg), display_meta=meta)

    def _string_argument(self, s: StringArgument) -> Iterator[Completion]:
        mp = self.catalog.mp.get(s.function)
        param = mp.parameter(s.index, s.named) if mp else (s.named or None)
        if param in ("event", "events"):
            if not self.names.events:
                yield _hint("no event names cached yet", "SELECT * FROM mp_events(); loads them (one request)")
            yield from _names(s.partial, self.names.events, "event", s.close)
        elif param == "property" or (s.function.startswith("mp_prop") and s.index == 1):
            if not self.names.properties(s.event):
                yield _hint("no property names cached yet",
                            "SELECT * FROM mp_properties(event := '…'); loads them" if s.event else
                            "SELECT * FROM mp_properties(); loads them")
            yield from _names(s.partial, self.names.properties(s.event), "property", s.close)
        elif param == "filter":  # a Mixpanel expression: properties["name"]
            m = re.search(r'properties\["([^"]*)$', s.partial)
            if m:
                yield from _names(m.group(1), self.names.properties(s.event), "property", "", quote="")

    def _property_path(self, partial: str, event: str | None, close: str) -> Iterator[Completion]:
        """``'$.name'`` JSON paths (names that are not plain identifiers are quoted) or a bare ``'name'`` key."""
        properties = self.names.properties(event)
        if partial.startswith("$."):
            key = partial[2:]
            for name in sorted(properties):
                text = name if _IDENTIFIER.fullmatch(name.lower()) else '"' + name.replace('"', '\\"') + '"'
                if text.lower().startswith(key.lower()) or name.lower().startswith(key.lstrip('"').lower()):
                    yield Completion(text.replace("'", "''"), -len(key), display=name, display_meta="property")
        else:
            yield from _names(partial, properties, "property", close)


def _hint(display: str, meta: str) -> Completion:
    """A menu line that inserts nothing: says why no names are offered and how to get them (never a request)."""
    return Completion("", 0, display=f"({display})", display_meta=meta)


def _matching(word: str, items: Sequence[tuple[str, str]], quote: bool = False) -> Iterator[Completion]:
    """Completions for ``items`` (text, meta) starting with ``word``, case-insensitively."""
    w = word.lower()
    for text, meta in items:
        if text.lower().startswith(w):
            insert = text if not quote or _IDENTIFIER.fullmatch(text) else '"' + text.replace('"', '""') + '"'
            yield Completion(insert, -len(word), display=text, display_meta=meta)


def _names(partial: str, names: Iterable[str], meta: str, close: str, quote: str = "'") -> Iterator[Completion]:
    """Mixpanel names inside a string literal: escaped for the literal, the literal closed when it is the name."""
    p = partial.replace("''", "'").lower()
    for name in sorted(names):
        if name.lower().startswith(p):
            text = name.replace("'", "''") if quote else name
            yield Completion(text + close, -len(partial), display=name, display_meta=meta)


def _current_statement(tokens: list[Token]) -> list[Token]:
    """The tokens after the last top-level ``;``."""
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i].text == ";" and tokens[i].depth == 0:
            return tokens[i + 1:]
    return tokens


def _statement_around(text: str, position: int) -> str:
    """The statement of ``text`` that contains ``position`` (relations may be named after the cursor)."""
    start, end = 0, len(text)
    for t in scan(text).tokens:
        if t.text == ";" and t.depth == 0:
            if t.start < position:
                start = t.start + 1
            else:
                end = t.start
                break
    return text[start:end]


def _cursor_depth(tokens: list[Token]) -> int:
    """How many brackets are open after ``tokens``."""
    if not tokens:
        return 0
    last = tokens[-1]
    return last.depth + (1 if last.kind == "punct" and last.text in _OPENERS else 0)


def _clause(tokens: list[Token]) -> str | None:
    """The last clause keyword at the cursor's bracket depth; None when there is none inside the bracket."""
    depth = _cursor_depth(tokens)
    for t in reversed(tokens):
        if t.depth < depth and t.text in _OPENERS:
            return None
        if t.depth == depth and t.kind == "word" and t.upper in _CLAUSES:
            return t.upper
    return None



def _relations(tokens: list[Token]) -> dict[str, str]:
    """Relations a statement reads, as {alias or name (lower case): relation name}."""
    found: dict[str, str] = {}
    expect = False
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == "word" and t.upper in ("FROM", "JOIN"):
            expect = True
        elif expect and t.kind in ("word", "quoted"):
            name = t.text.strip('"')
            j = i + 1
            while j + 1 < len(tokens) and tokens[j].text == "." and tokens[j + 1].kind in ("word", "quoted"):
                name, j = tokens[j + 1].text.strip('"'), j + 2  # schema.table: keep the table
            if j < len(tokens) and tokens[j].text == "(":  # a table function: skip its arguments
                depth = tokens[j].depth
                j += 1
                while j < len(tokens) and not (tokens[j].text == ")" and tokens[j].depth == depth):
                    j += 1
                j += 1
            found[name.lower()] = name
            if j < len(tokens) and tokens[j].upper == "AS":
                j += 1
            if j < len(tokens) and tokens[j].kind in ("word", "quoted") and tokens[j].upper not in _CLAUSES \
                    and tokens[j].upper not in _JOIN_WORDS:
                found[tokens[j].text.strip('"').lower()] = name
                j += 1
            expect = j < len(tokens) and tokens[j].text == ","
            i = j + (1 if expect else 0)
            continue
        elif t.kind == "word" and t.upper in _CLAUSES:
            expect = False
        i += 1
    return found


_JOIN_WORDS = {"LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL", "ANTI", "SEMI", "POSITIONAL", "ASOF",
               "LATERAL", "UNION", "EXCEPT", "INTERSECT", "ORDER", "LIMIT", "WHERE", "GROUP"}


def _enclosing_call(tokens: list[Token], brackets: list[int]) -> _Call | None:
    """The innermost ``name(`` whose arguments the end of ``tokens`` is in, with the argument's position.

    ``brackets`` are the indices of the unclosed brackets (``Scan.open_brackets``).
    """
    for index in reversed(brackets):
        if tokens[index].text == "(" and index > 0 and tokens[index - 1].kind == "word":
            depth = tokens[index].depth + 1
            args = [t for t in tokens[index + 1:] if t.depth == depth]
            commas = [k for k, t in enumerate(args) if t.text == ","]
            segment = args[commas[-1] + 1:] if commas else args
            named = segment[0].text if len(segment) >= 2 and segment[1].text in (":=", "=>") else None
            return _Call(tokens[index - 1].text.lower(), len(commas), named)
    return None


def _event_in(tokens: list[Token]) -> str | None:
    """The one event a statement names (``events := ['X']``, ``event := 'X'``, ``event = 'X'``), or None."""
    seen: set[str] = set()
    for i, t in enumerate(tokens):
        if t.kind == "word" and t.text.lower() in ("event", "events") and i + 1 < len(tokens) \
                and tokens[i + 1].text in (":=", "=>", "=", "IN", "in"):
            j = i + 2
            while j < len(tokens) and tokens[j].text in _OPENERS:
                j += 1
            while j < len(tokens) and tokens[j].kind == "string":
                seen.add(tokens[j].text[1:-1].replace("''", "'"))
                j += 2 if j + 1 < len(tokens) and tokens[j + 1].text == "," else 1
    return next(iter(seen)) if len(seen) == 1 else None
