"""A small, honest subset of JQL (docs/mixpanel-api.md, "JQL") for ``POST /api/query/jql``: no JavaScript engine.

JQL scripts are JavaScript. This module parses a JavaScript *subset* and runs it over the deduplicated
events (``eventstore``) and the user profiles; anything outside the subset is refused with the error body
Mixpanel uses for a failing script: HTTP 412, ``{"request": ..., "error": "UserVisiblePreconditionFailedError:
Uncaught exception <Kind>Error: ..."}`` [O: the status and prefix clients such as mixpanel_data parse]
(400 would be the obvious guess; 412 is what a real failing script gets, docs/mixpanel-api.md, "JQL").

Supported:

- The program: ``function main() { [var|let|const x = <expr>;]... return <expr>; }`` plus ``//`` and
  ``/* */`` comments; the global ``params`` (the ``params`` form field, a JSON object).
- Sources: ``Events({from_date, to_date, event_selectors: [{event, selector}]})`` (dates ``YYYY-MM-DD``
  or ISO datetimes, by UTC day, inclusive; ``selector`` is a segmentation expression, docs/mixpanel-api.md, "The
  expression language") and ``People()``. An event is ``{name, distinct_id, time (ms), sampling_factor, properties}``; a
  user is ``{distinct_id, time, last_seen (ms), properties}``.
- Collection methods: ``filter(f)``, ``map(f)``, ``groupBy(keys, reducer)``, ``groupByUser([keys,]
  reducer)``, ``reduce(reducer)``, ``sortAsc(key)``, ``sortDesc(key)``. A key is a function or a dotted
  path string (``"name"``, ``"properties.$browser"``); a reducer is ``mixpanel.reducer.count()``,
  ``sum(key)``, ``avg(key)``, ``min(key)``, ``max(key)``, ``null()``, or a list of them.
  ``groupBy`` yields ``[{"key": [...], "value": ...}]`` sorted by key; ``reduce`` yields ``[value]``.
- Functions: ``function (e) { [var ...;] return <expr>; }`` and arrows ``e => <expr>`` / ``(a, b) =>``.
- Expressions: literals (numbers, strings, true/false/null/undefined, arrays, objects), names, member
  access (``a.b``, ``a["b"]``, ``.length``), calls, ``! - +`` (unary), ``* / % + -``, ``< <= > >=``,
  ``== != === !==``, ``&& ||``, ``?:``, with JavaScript's truthiness and ``+`` concatenation.

Not supported (refused): loops, assignments after declaration, custom reducer functions, ``join``,
``flatten``, ``mixpanel.numeric_bucket`` and the other helpers, string/array methods.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventstore import Event, store_for
from mpsql.emulator.where import UNDEFINED, Expr, WhereSyntaxError, compile_where  # JavaScript's undefined

T = TypeVar("T")

__all__ = ["JQLError", "Source", "run"]


class JQLError(Exception):
    """The script cannot run; ``body`` is the text of the 412 error body."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    @property
    def body(self) -> str:
        """Mixpanel's wording for a failing script."""
        return f"UserVisiblePreconditionFailedError: Uncaught exception {self.kind}: {self.message}"


def _unsupported(what: str) -> JQLError:
    return JQLError("Error", f"{what} is not supported by this server's JQL subset")


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*|/\*.*?\*/)
    | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
    | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    | (?P<op>===|!==|==|!=|<=|>=|=>|&&|\|\||[-+*/%<>!?:.,;()\[\]{}=])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | name | op | end
    value: Any
    pos: int


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _tokenize(text: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise JQLError("SyntaxError", f"Unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "num":
            toks.append(_Tok(kind, float(raw) if any(c in raw for c in ".eE") else int(raw), pos))
        elif kind == "str":
            toks.append(_Tok(kind, _unescape(raw[1:-1]), pos))
        elif kind != "ws":
            toks.append(_Tok(kind, raw, pos))
        pos = m.end()
    toks.append(_Tok("end", None, len(text)))
    return toks


# ---------------------------------------------------------------- parser (AST = tuples)

_KEYWORDS = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
_REFUSED = {"for", "while", "do", "if", "switch", "new", "class", "this", "try", "throw", "delete", "typeof",
            "instanceof", "in", "of", "async", "await", "yield", "import", "export"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, value: str, ahead: int = 0) -> bool:
        t = self.peek(ahead)
        return t.kind in ("op", "name") and t.value == value

    def expect(self, value: str) -> _Tok:
        t = self.take()
        if t.kind not in ("op", "name") or t.value != value:
            found = "end of input" if t.kind == "end" else repr(t.value)
            raise JQLError("SyntaxError", f"Unexpected {found} at position {t.pos} (expected {value!r})")
        return t

    def name(self) -> str:
        t = self.take()
        if t.kind != "name" or t.value in _KEYWORDS:
            raise JQLError("SyntaxError", f"Unexpected {t.value!r} at position {t.pos} (expected a name)")
        return str(t.value)

    # program := "function" "main" "(" ")" body [";"]
    def program(self) -> tuple:
        self.expect("function")
        if self.name() != "main":
            raise JQLError("SyntaxError", "the script must define function main()")
        self.expect("(")
        self.expect(")")
        body = self.body()
        while self.at(";"):
            self.take()
        t = self.peek()
        if t.kind == "op":
            raise JQLError("SyntaxError", f"Unexpected token {t.value!r} at position {t.pos}")
        if t.kind != "end":
            raise _unsupported("Code outside main()")
        return body

    # body := "{" { ("var"|"let"|"const") name "=" expr ";" } "return" expr [";"] "}"
    def body(self) -> tuple:
        self.expect("{")
        decls: list[tuple[str, tuple]] = []
        while self.peek().kind == "name" and self.peek().value in ("var", "let", "const"):
            self.take()
            name = self.name()
            self.expect("=")
            decls.append((name, self.expr()))
            self.expect(";")
        if not self.at("return"):
            t = self.peek()
            raise _unsupported(f"Statement {t.value!r} at position {t.pos}" if t.kind != "end" else "A function "
                               "without return")
        self.take()
        result = self.expr()
        while self.at(";"):
            self.take()
        self.expect("}")
        return ("body", tuple(decls), result)

    def expr(self) -> tuple:
        if self.peek().kind == "name" and self.at("=>", 1):
            return self.arrow([self.name()])
        if self.at("(") and self._arrow_params_ahead():
            self.take()
            return self.arrow(self.listed(")", self.name))
        node = self.ternary()
        if self.at("="):
            raise _unsupported("Assignment")
        return node

    def listed(self, close: str, item: Callable[[], T]) -> list[T]:
        """Comma-separated ``item``s up to ``close`` (the opener already taken); consumes ``close``."""
        items = []
        while not self.at(close):
            items.append(item())
            if not self.at(close):
                self.expect(",")
        self.take()
        return items

    def _arrow_params_ahead(self) -> bool:
        j = 1
        while self.peek(j).kind == "name" or self.at(",", j):
            j += 1
        return self.at(")", j) and self.at("=>", j + 1)

    def arrow(self, params: list[str]) -> tuple:
        self.expect("=>")
        if self.at("{"):
            return ("func", tuple(params), self.body())
        return ("func", tuple(params), ("body", (), self.expr()))

    def ternary(self) -> tuple:
        node = self.binary(0)
        if self.at("?"):
            self.take()
            yes = self.expr()
            self.expect(":")
            return ("cond", node, yes, self.expr())
        return node

    _LEVELS = (("||",), ("&&",), ("==", "!=", "===", "!=="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> tuple:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().value in self._LEVELS[level]:
            op = self.take().value
            node = ("bin", op, node, self.binary(level + 1))
        return node

    def unary(self) -> tuple:
        if self.peek().kind == "op" and self.peek().value in ("!", "-", "+"):
            op = self.take().value
            return ("un", op, self.unary())
        return self.postfix()

    def postfix(self) -> tuple:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                t = self.take()
                if t.kind != "name":
                    raise JQLError("SyntaxError", f"Unexpected {t.value!r} at position {t.pos}")
                node = ("get", node, ("lit", t.value))
            elif self.at("["):
                self.take()
                key = self.expr()
                self.expect("]")
                node = ("get", node, key)
            elif self.at("("):
                self.take()
                node = ("call", node, tuple(self.listed(")", self.expr)))
            else:
                return node

    def primary(self) -> tuple:
        t = self.take()
        if t.kind in ("num", "str"):
            return ("lit", t.value)
        if t.kind == "name":
            if t.value in _KEYWORDS:
                return ("lit", _KEYWORDS[t.value])
            if t.value == "function":
                if self.peek().kind == "name":
                    self.take()
                self.expect("(")
                return ("func", tuple(self.listed(")", self.name)), self.body())
            if t.value in _REFUSED or t.value in ("var", "let", "const", "return"):
                raise _unsupported(f"{t.value!r} at position {t.pos}")
            return ("name", t.value)
        if t.kind == "op" and t.value == "(":
            node = self.expr()
            self.expect(")")
            return node
        if t.kind == "op" and t.value == "[":
            return ("array", tuple(self.listed("]", self.expr)))
        if t.kind == "op" and t.value == "{":
            pairs = []
            while not self.at("}"):
                k = self.take()
                if k.kind not in ("name", "str", "num"):
                    raise JQLError("SyntaxError", f"Unexpected {k.value!r} at position {k.pos}")
                key = str(k.value)
                if self.at(":"):
                    self.take()
                    pairs.append((key, self.expr()))
                else:
                    pairs.append((key, ("name", key)))  # shorthand {from_date}
                if not self.at("}"):
                    self.expect(",")
            self.take()
            return ("object", tuple(pairs))
        found = "end of input" if t.kind == "end" else repr(t.value)
        raise JQLError("SyntaxError", f"Unexpected {found} at position {t.pos}")


# ---------------------------------------------------------------- runtime values


@dataclass
class Source:
    """Where ``Events()`` and ``People()`` read from."""

    dataset: Dataset
    today: dt.date

    def events(self, from_date: dt.date, to_date: dt.date, names: Iterable[str] | None) -> Iterable[Event]:
        return store_for(self.dataset).events(from_date, min(to_date, self.today), names)

    def people(self) -> list[dict[str, Any]]:
        from mpsql.emulator import profiles  # the Engage profiles, so JQL and Engage agree

        out = []
        for did, props in profiles.profiles_for(self.dataset).items():
            seen = props.get("$last_seen")
            ms = int(dt.datetime.fromisoformat(seen).replace(tzinfo=dt.UTC).timestamp() * 1000) \
                if isinstance(seen, str) else None
            out.append({"distinct_id": did, "time": ms, "last_seen": ms, "properties": dict(props)})
        return out


@dataclass
class _Func:
    params: tuple[str, ...]
    body: tuple
    env: dict[str, Any]


@dataclass
class _Builtin:
    name: str
    fn: Callable[..., Any]


@dataclass
class _Reducer:
    kind: str  # count | sum | avg | min | max | null
    key: Any = None


@dataclass
class _Collection:
    items: list[Any]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Method:
    target: _Collection
    name: str


# ---------------------------------------------------------------- JavaScript semantics (the parts used)


def _truthy(v: Any) -> bool:
    if v is None or v is UNDEFINED or v is False:
        return False
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v != 0 and not (isinstance(v, float) and math.isnan(v))
    if isinstance(v, str):
        return v != ""
    return True


def _to_number(v: Any) -> float | int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int | float):
        return v
    if v is None:
        return 0
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0
        if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?Infinity", s):
            return math.nan
        value = float(s)
        return int(value) if value.is_integer() and re.fullmatch(r"[-+]?\d+", s) else value
    return math.nan


def _to_string(v: Any) -> str:
    if v is None:
        return "null"
    if v is UNDEFINED:
        return "undefined"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, list):
        return ",".join("" if x is None or x is UNDEFINED else _to_string(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    return str(v)


def _strict_eq(a: Any, b: Any) -> bool:
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, num) and isinstance(b, num):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is b


def _loose_eq(a: Any, b: Any) -> bool:
    if (a is None or a is UNDEFINED) and (b is None or b is UNDEFINED):
        return True
    if a is None or a is UNDEFINED or b is None or b is UNDEFINED:
        return False
    scalar = (int, float, str, bool)
    if isinstance(a, scalar) and isinstance(b, scalar) and type(a) is not type(b) \
            and not (isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool)
                     and not isinstance(b, bool)):
        if isinstance(a, str) and isinstance(b, str):
            return a == b
        return _to_number(a) == _to_number(b)
    return _strict_eq(a, b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x, y = a, b
    else:
        x, y = _to_number(a), _to_number(b)
        if (isinstance(x, float) and math.isnan(x)) or (isinstance(y, float) and math.isnan(y)):
            return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and (isinstance(a, str | list | dict) or isinstance(b, str | list | dict)):
        return _to_string(a) + _to_string(b)
    x, y = _to_number(a), _to_number(b)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        if op == "%" or x == 0 or (isinstance(x, float) and math.isnan(x)):
            return math.nan
        return math.inf if x > 0 else -math.inf
    if op == "/":
        q = x / y
        return int(q) if isinstance(q, float) and q.is_integer() and isinstance(x, int) and isinstance(y, int) else q
    rem = math.fmod(x, y)  # JavaScript's %: the dividend's sign
    return int(rem) if isinstance(x, int) and isinstance(y, int) else rem


def _member(obj: Any, key: Any) -> Any:
    if isinstance(obj, _Collection):
        name = _to_string(key)
        if name in _COLLECTION_METHODS:
            return _Method(obj, name)
        raise _unsupported(f"Collection method .{name}()")
    if isinstance(obj, dict):
        return obj.get(_to_string(key), UNDEFINED)
    if isinstance(obj, list | str):
        if key == "length":
            return len(obj)
        if isinstance(key, int | float) and not isinstance(key, bool) and float(key).is_integer():
            return obj[int(key)] if 0 <= int(key) < len(obj) else UNDEFINED
        if isinstance(obj, list) and isinstance(key, str) and key.isdigit():
            return obj[int(key)] if int(key) < len(obj) else UNDEFINED
        raise _unsupported(f"The {'string' if isinstance(obj, str) else 'array'} member .{_to_string(key)}")
    if obj is None or obj is UNDEFINED:
        raise JQLError("TypeError", f"Cannot read property '{_to_string(key)}' of {_to_string(obj)}")
    return UNDEFINED


# ---------------------------------------------------------------- interpreter


class _Interpreter:
    def __init__(self, source: Source, params: Any) -> None:
        self.source = source
        reducer = {name: _Builtin(f"mixpanel.reducer.{name}", self._reducer_factory(name))
                   for name in ("count", "sum", "avg", "min", "max", "null")}
        self.globals: dict[str, Any] = {
            "params": params,
            "Events": _Builtin("Events", self._events),
            "People": _Builtin("People", self._people),
            "mixpanel": {"reducer": reducer},
        }

    # ------------------------------------------------------------ evaluation

    def eval(self, node: tuple, env: dict[str, Any]) -> Any:
        tag = node[0]
        if tag == "lit":
            return node[1]
        if tag == "name":
            if node[1] in env:
                return env[node[1]]
            if node[1] in self.globals:
                return self.globals[node[1]]
            raise JQLError("ReferenceError", f"{node[1]} is not defined")
        if tag == "array":
            return [self.eval(x, env) for x in node[1]]
        if tag == "object":
            return {k: self.eval(v, env) for k, v in node[1]}
        if tag == "func":
            return _Func(node[1], node[2], env)
        if tag == "get":
            return _member(self.eval(node[1], env), self.eval(node[2], env))
        if tag == "call":
            return self.call(self.eval(node[1], env), [self.eval(a, env) for a in node[2]])
        if tag == "cond":
            return self.eval(node[2] if _truthy(self.eval(node[1], env)) else node[3], env)
        if tag == "un":
            v = self.eval(node[2], env)
            if node[1] == "!":
                return not _truthy(v)
            n = _to_number(v)
            return -n if node[1] == "-" else n
        op = node[1]
        if op == "&&":
            a = self.eval(node[2], env)
            return self.eval(node[3], env) if _truthy(a) else a
        if op == "||":
            a = self.eval(node[2], env)
            return a if _truthy(a) else self.eval(node[3], env)
        a, b = self.eval(node[2], env), self.eval(node[3], env)
        if op in ("==", "!="):
            return _loose_eq(a, b) == (op == "==")
        if op in ("===", "!=="):
            return _strict_eq(a, b) == (op == "===")
        if op in ("<", "<=", ">", ">="):
            return _compare(op, a, b)
        return _arith(op, a, b)

    def run_body(self, body: tuple, env: dict[str, Any]) -> Any:
        local = dict(env)
        for name, expr in body[1]:
            local[name] = self.eval(expr, local)
        return self.eval(body[2], local)

    def call(self, fn: Any, args: list[Any]) -> Any:
        if isinstance(fn, _Func):
            env = dict(fn.env)
            for i, name in enumerate(fn.params):
                env[name] = args[i] if i < len(args) else UNDEFINED
            return self.run_body(fn.body, env)
        if isinstance(fn, _Builtin):
            return fn.fn(*args)
        if isinstance(fn, _Method):
            return getattr(self, f"_m_{fn.name}")(fn.target, *args)
        raise JQLError("TypeError", f"{_to_string(fn)} is not a function")

    # ------------------------------------------------------------ sources

    def _events(self, spec: Any = UNDEFINED) -> _Collection:
        if not isinstance(spec, dict):
            raise JQLError("Error", "Events() needs an object with from_date and to_date")
        dates = []
        for name in ("from_date", "to_date"):
            raw = spec.get(name)
            try:
                dates.append(dt.date.fromisoformat(str(raw)[:10]))
            except ValueError:
                raise JQLError("Error", f"Events(): {name} must be a date like 2024-01-31, got "
                                        f"{_to_string(raw)}") from None
        selectors = spec.get("event_selectors", UNDEFINED)
        compiled: list[tuple[str | None, Expr | None]] | None = None
        if selectors is not UNDEFINED and selectors is not None:
            if not isinstance(selectors, list):
                raise JQLError("Error", "Events(): event_selectors must be an array")
            compiled = []
            for sel in selectors:
                if not isinstance(sel, dict):
                    raise JQLError("Error", "Events(): each event selector must be an object")
                name = sel.get("event", UNDEFINED)
                expr = sel.get("selector", UNDEFINED)
                try:
                    where = compile_where(expr) if isinstance(expr, str) and expr.strip() else None
                except WhereSyntaxError as e:
                    raise JQLError("Error", f"Events(): invalid selector {expr!r}: {e}") from None
                compiled.append((name if isinstance(name, str) else None, where))
        names = None
        if compiled and all(n is not None for n, _ in compiled):
            names = {n for n, _ in compiled if n is not None}
        items = []
        for ev in self.source.events(dates[0], dates[1], names):
            if compiled and not any((n is None or n == ev.name) and (w is None or w.matches(ev.props))
                                    for n, w in compiled):
                continue
            props = {k: v for k, v in ev.props.items() if k not in ("time", "distinct_id")}
            items.append({"name": ev.name, "distinct_id": ev.distinct_id, "time": ev.ms, "sampling_factor": 1.0,
                          "properties": props})
        return _Collection(items)

    def _people(self, spec: Any = UNDEFINED) -> _Collection:
        if spec is not UNDEFINED:
            raise _unsupported("People() with arguments")
        return _Collection(self.source.people())

    # ------------------------------------------------------------ reducers and keys

    def _reducer_factory(self, kind: str) -> Callable[..., _Reducer]:
        def make(key: Any = UNDEFINED) -> _Reducer:
            if kind in ("count", "null") and key is not UNDEFINED:
                raise _unsupported(f"mixpanel.reducer.{kind}() with arguments")
            if kind not in ("count", "null") and key is UNDEFINED:
                raise JQLError("Error", f"mixpanel.reducer.{kind}() needs a property or function")
            return _Reducer(kind, key)

        return make

    def key_of(self, spec: Any, item: Any) -> Any:
        if isinstance(spec, str):
            v: Any = item
            for part in spec.split("."):
                v = v.get(part, UNDEFINED) if isinstance(v, dict) else UNDEFINED
            return v
        if isinstance(spec, _Func | _Builtin):
            return self.call(spec, [item])
        raise JQLError("TypeError", f"{_to_string(spec)} is not a property path or function")

    def reduce(self, reducer: Any, items: list[Any]) -> Any:
        if isinstance(reducer, list):
            return [self.reduce(r, items) for r in reducer]
        if isinstance(reducer, _Func):
            raise _unsupported("A custom reducer function")
        if not isinstance(reducer, _Reducer):
            raise JQLError("TypeError", "the reducer must be a mixpanel.reducer.*() value")
        if reducer.kind == "count":
            return len(items)
        if reducer.kind == "null":
            return None
        nums = []
        for it in items:
            v = self.key_of(reducer.key, it)
            if isinstance(v, int | float) and not isinstance(v, bool):
                nums.append(v)
        if reducer.kind == "sum":
            total = math.fsum(nums)
            return int(total) if total.is_integer() and all(isinstance(x, int) for x in nums) else total
        if not nums:
            return None if reducer.kind != "avg" else 0
        if reducer.kind == "avg":
            return math.fsum(nums) / len(nums)
        return min(nums) if reducer.kind == "min" else max(nums)

    # ------------------------------------------------------------ collection methods

    def _m_filter(self, col: _Collection, fn: Any = UNDEFINED) -> _Collection:
        return _Collection([it for it in col.items if _truthy(self.call(fn, [it]))])

    def _m_map(self, col: _Collection, fn: Any = UNDEFINED) -> _Collection:
        return _Collection([self.call(fn, [it]) for it in col.items])

    def _group(self, col: _Collection, keys: list[Any], reducer: Any, by_user: bool) -> _Collection:
        groups: dict[str, tuple[list[Any], list[Any]]] = {}
        for it in col.items:
            key = [self.key_of(k, it) for k in keys]
            if by_user:
                key.insert(0, it.get("distinct_id") if isinstance(it, dict) else UNDEFINED)
            key = [None if k is UNDEFINED else k for k in key]
            sig = repr(key)
            if sig not in groups:
                groups[sig] = (key, [])
            groups[sig][1].append(it)
        ordered = sorted(groups.values(), key=lambda g: [_sort_key(k) for k in g[0]])
        return _Collection([{"key": key, "value": self.reduce(reducer, items)} for key, items in ordered])

    def _m_groupBy(self, col: _Collection, keys: Any = UNDEFINED, reducer: Any = UNDEFINED) -> _Collection:
        if reducer is UNDEFINED:
            raise JQLError("Error", "groupBy() needs keys and a reducer")
        return self._group(col, keys if isinstance(keys, list) else [keys], reducer, by_user=False)

    def _m_groupByUser(self, col: _Collection, keys: Any = UNDEFINED, reducer: Any = UNDEFINED) -> _Collection:
        if reducer is UNDEFINED:
            keys, reducer = [], keys
        return self._group(col, keys if isinstance(keys, list) else [keys], reducer, by_user=True)

    def _m_reduce(self, col: _Collection, reducer: Any = UNDEFINED) -> _Collection:
        return _Collection([self.reduce(reducer, col.items)])

    def _sorted(self, col: _Collection, spec: Any, reverse: bool) -> _Collection:
        if spec is UNDEFINED:
            return _Collection(sorted(col.items, key=_sort_key, reverse=reverse))
        return _Collection(sorted(col.items, key=lambda it: _sort_key(self.key_of(spec, it)), reverse=reverse))

    def _m_sortAsc(self, col: _Collection, spec: Any = UNDEFINED) -> _Collection:
        return self._sorted(col, spec, reverse=False)

    def _m_sortDesc(self, col: _Collection, spec: Any = UNDEFINED) -> _Collection:
        return self._sorted(col, spec, reverse=True)


_COLLECTION_METHODS = {"filter", "map", "groupBy", "groupByUser", "reduce", "sortAsc", "sortDesc"}


def _sort_key(v: Any) -> tuple[int, Any]:
    """A total order across types: undefined/null, booleans, numbers, strings, then anything else."""
    if v is None or v is UNDEFINED:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, int | float):
        return (2, -math.inf if isinstance(v, float) and math.isnan(v) else v)
    if isinstance(v, str):
        return (3, v)
    if isinstance(v, list):
        return (4, tuple(_sort_key(x) for x in v))
    return (5, repr(v))


def _to_json(v: Any) -> Any:
    if v is UNDEFINED:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_to_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items() if x is not UNDEFINED}
    if isinstance(v, _Func | _Builtin | _Reducer | _Method):
        return None
    return v


def run(script: str, params: Any, source: Source) -> list[Any]:
    """Run ``main()`` of ``script``; the result as Mixpanel returns it (always a JSON array)."""
    if not isinstance(params, dict):
        raise JQLError("TypeError", "params must be a JSON object")
    try:
        body = _Parser(script).program()
        interp = _Interpreter(source, params)
        result = interp.run_body(body, {})
    except RecursionError:
        raise JQLError("RangeError", "Maximum call stack size exceeded") from None
    if isinstance(result, _Collection):
        return [_to_json(x) for x in result.items]
    if isinstance(result, list):
        return [_to_json(x) for x in result]
    return [_to_json(result)]
