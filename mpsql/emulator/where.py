"""Mixpanel segmentation-expression parser and evaluator (docs/mixpanel-api.md, "The expression language"),
pure and stdlib-only.

Used by the emulator to filter ``/export`` rows and Engage profiles by ``where``. ``compile_where(text)``
raises ``WhereSyntaxError`` on a malformed expression; ``Expr.matches(props)`` is true only when the
expression evaluates to boolean ``true`` (undefined, null and runtime type errors do not match).
``user[...]`` and ``behaviors[...]`` read the optional ``scopes`` mappings (Engage passes the profile and
its behaviour counts); without them they are undefined, as on ``/export``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["UNDEFINED", "DateTime", "Expr", "WhereError", "WhereSyntaxError", "compile_where", "evaluate"]


class _Undefined:
    """Mixpanel's internal ``undefined`` (a missing property, a failed cast, bad arithmetic)."""

    _inst: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


class WhereError(ValueError):
    """A ``where`` expression could not be parsed or evaluated."""


class WhereSyntaxError(WhereError):
    """The expression text is malformed; the server answers 400 with this message."""


@dataclass(frozen=True, order=True)
class DateTime:
    """A point in time produced by ``datetime(...)`` or ``event["$time"]`` (UTC epoch seconds)."""

    epoch: float


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    | (?P<op>==|!=|>=|<=|[-+*/%()<>\[\],.])
    )""",
    re.VERBOSE | re.DOTALL,
)

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "undefined"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | name | kw | op | end
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereSyntaxError(f"unexpected character {text[pos]!r} at position {pos}")
        start = m.start(m.lastgroup or 0)
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "num":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "str":
            value = _unquote(raw, start)
        elif kind == "name" and raw.lower() in _KEYWORDS:
            kind, value = "kw", raw.lower()
        else:
            value = raw
        toks.append(_Tok(kind, value, start))
        pos = m.end()
    toks.append(_Tok("end", None, n))
    return toks


def _unquote(raw: str, pos: int) -> str:
    body = raw[1:-1]
    if raw[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    try:
        return json.loads('"' + body + '"')
    except ValueError as e:
        raise WhereSyntaxError(f"bad string literal at position {pos}") from e


# ---------------------------------------------------------------- AST + parser

Node = tuple  # ("lit", v) | ("prop", scope, name, subkeys) | ("un", op, x) | ("bin", op, a, b)
#             | ("call", fname, arg) | ("list", items)

_FUNCS = {"defined", "datetime", "floor", "round", "ceil", "boolean", "number", "string"}
_SCOPES = {"properties", "event", "user", "behaviors"}
_CMP = {"==", "!=", ">", ">=", "<", "<="}


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        t = self.peek()
        return t.kind == "op" and t.value in ops

    def is_kw(self, kw: str) -> bool:
        t = self.peek()
        return t.kind == "kw" and t.value == kw

    def expect_op(self, op: str) -> None:
        t = self.take()
        if t.kind != "op" or t.value != op:
            raise WhereSyntaxError(f"expected {op!r} at position {t.pos}")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise WhereSyntaxError("empty expression")
        node = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise WhereSyntaxError(f"unexpected {t.value!r} at position {t.pos}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.is_kw("or"):
            self.take()
            node = ("bin", "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.is_kw("and"):
            self.take()
            node = ("bin", "and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.is_kw("not"):
            self.take()
            return ("un", "not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.add()
        while True:
            t = self.peek()
            if t.kind == "op" and t.value in _CMP:
                self.take()
                node = ("bin", t.value, node, self.add())
            elif t.kind == "kw" and t.value == "in":
                self.take()
                node = ("bin", "in", node, self.add())
            elif t.kind == "kw" and t.value == "not" and self.toks[self.i + 1].value == "in" \
                    and self.toks[self.i + 1].kind == "kw":
                self.i += 2
                node = ("un", "not", ("bin", "in", node, self.add()))
            else:
                return node

    def add(self) -> Node:
        node = self.mul()
        while self.is_op("+", "-"):
            op = self.take().value
            node = ("bin", op, node, self.mul())
        return node

    def mul(self) -> Node:
        node = self.unary()
        while self.is_op("*", "/", "%"):
            op = self.take().value
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.is_op("-"):
            self.take()
            return ("un", "-", self.unary())
        if self.is_op("+"):
            self.take()
            return self.unary()
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.is_op("["):
            if node[0] != "prop":
                raise WhereSyntaxError(f"cannot index a non-property at position {self.peek().pos}")
            self.take()
            key = self.take()
            if key.kind != "str":
                raise WhereSyntaxError(f"expected a quoted property name at position {key.pos}")
            self.expect_op("]")
            node = ("prop", node[1], node[2], (*node[3], key.value))
        return node

    def primary(self) -> Node:
        t = self.take()
        if t.kind in ("num", "str"):
            return ("lit", t.value)
        if t.kind == "kw":
            consts = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
            if t.value in consts:
                return ("lit", consts[t.value])
            raise WhereSyntaxError(f"unexpected {t.value!r} at position {t.pos}")
        if t.kind == "op" and t.value == "(":
            node = self.or_()
            self.expect_op(")")
            return node
        if t.kind == "op" and t.value == "[":
            items: list[Node] = []
            if not self.is_op("]"):
                items.append(self.or_())
                while self.is_op(","):
                    self.take()
                    items.append(self.or_())
            self.expect_op("]")
            return ("list", tuple(items))
        if t.kind == "name" and t.value in _SCOPES:
            self.expect_op("[")
            key = self.take()
            if key.kind != "str":
                raise WhereSyntaxError(f"expected a quoted property name at position {key.pos}")
            self.expect_op("]")
            return ("prop", t.value, key.value, ())
        if t.kind == "name" and t.value.lower() in _FUNCS:
            self.expect_op("(")
            arg = self.or_()
            self.expect_op(")")
            return ("call", t.value.lower(), arg)
        if t.kind == "end":
            raise WhereSyntaxError("unexpected end of expression")
        raise WhereSyntaxError(f"unexpected {t.value!r} at position {t.pos}")


# ---------------------------------------------------------------- semantics


def _kind(v: Any) -> str:
    if v is UNDEFINED:
        return "undefined"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, DateTime):
        return "datetime"
    if isinstance(v, list | tuple):
        return "list"
    return "object"


def _num(v: Any) -> Any:
    """Turn integral floats into ints so 3.0 prints as "3"; leave others."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _parse_iso(s: str) -> DateTime | None:
    try:
        d = _dt.datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.UTC)
    return DateTime(d.timestamp())


def _to_datetime(v: Any) -> Any:
    k = _kind(v)
    if k == "datetime":
        return v
    if k == "number":
        return DateTime(float(v))
    if k == "string":
        return _parse_iso(v) or UNDEFINED
    return UNDEFINED


def _cast_number(v: Any) -> Any:
    k = _kind(v)
    if k == "number":
        return v
    if k == "boolean":
        return 1.0 if v else 0.0
    if k == "datetime":
        return v.epoch
    if k == "string":
        try:
            f = float(v.strip())
        except ValueError:
            return UNDEFINED
        return f if math.isfinite(f) else UNDEFINED
    return UNDEFINED


def _cast_string(v: Any) -> Any:
    k = _kind(v)
    if k in ("undefined", "null", "string"):
        return v
    if k == "boolean":
        return "true" if v else "false"
    if k == "number":
        return repr(_num(v)) if isinstance(_num(v), float) else str(_num(v))
    if k == "datetime":
        return _dt.datetime.fromtimestamp(v.epoch, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _cast_boolean(v: Any) -> bool:
    k = _kind(v)
    if k in ("undefined", "null"):
        return False
    if k == "boolean":
        return v
    if k == "number":
        return v != 0
    if k == "string":
        return v not in ("", "false")
    if k == "list":
        return len(v) > 0
    return True


def _equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == "datetime" or kb == "datetime":
        da, db = _to_datetime(a), _to_datetime(b)
        return _kind(da) == "datetime" and da == db
    if ka != kb:
        return False
    if ka == "list":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _compare(op: str, a: Any, b: Any) -> Any:
    ka, kb = _kind(a), _kind(b)
    if ka == "datetime" or kb == "datetime":
        a, b = _to_datetime(a), _to_datetime(b)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        a, b = a.epoch, b.epoch
    elif not ((ka == kb == "number") or (ka == kb == "string")):
        return UNDEFINED
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    ka, kb = _kind(a), _kind(b)
    if op == "+" and ka == kb == "string":
        return a + b
    if ka != "number" or kb != "number":
        return UNDEFINED
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return UNDEFINED
    if op == "/":
        return a / b
    return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else int(math.fmod(a, b))


def _logic_operand(v: Any, op: str) -> bool:
    k = _kind(v)
    if k == "undefined":
        return False
    if k != "boolean":
        raise WhereError(f"'{op}' needs boolean operands, got {k}")
    return v


def _in(a: Any, b: Any) -> Any:
    ka, kb = _kind(a), _kind(b)
    if kb == "list":
        return any(_equal(a, x) for x in b)
    if ka == kb == "string":
        return a in b
    return UNDEFINED


def _lookup(props: Mapping[str, Any], scope: str, name: str, subkeys: tuple[str, ...],
            scopes: Mapping[str, Mapping[str, Any]] | None) -> Any:
    if scope in ("user", "behaviors"):
        if scopes is None or scope not in scopes:
            return UNDEFINED  # no profile context on /export
        props, scope = scopes[scope], "properties"
    if name == "$time" and not subkeys:
        t = props.get("time", UNDEFINED)
        if _kind(t) != "number":
            return UNDEFINED
        return DateTime(t / 1000.0 if t > 100_000_000_000 else float(t))
    v: Any = props.get(name, UNDEFINED) if isinstance(props, Mapping) else UNDEFINED
    for key in subkeys:
        v = v.get(key, UNDEFINED) if isinstance(v, dict) else UNDEFINED
    return v


def _math(fn: Callable[[float], float], v: Any) -> Any:
    return fn(v) if _kind(v) == "number" else UNDEFINED


def _round(x: float) -> float:
    return float(math.floor(x + 0.5))


def evaluate(node: Node, props: Mapping[str, Any], scopes: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    """Evaluate a parsed node against one event's (or profile's) ``properties`` mapping.

    ``scopes`` maps ``"user"`` / ``"behaviors"`` to the mappings ``user[...]`` / ``behaviors[...]`` read.
    """
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "prop":
        return _lookup(props, node[1], node[2], node[3], scopes)
    if tag == "list":
        return [evaluate(x, props, scopes) for x in node[1]]
    if tag == "un":
        v = evaluate(node[2], props, scopes)
        if node[1] == "-":
            return -v if _kind(v) == "number" else UNDEFINED
        k = _kind(v)
        if k == "undefined":
            return True
        return (not v) if k == "boolean" else UNDEFINED
    if tag == "call":
        fname = node[1]
        v = evaluate(node[2], props, scopes)
        if fname == "defined":
            return v is not UNDEFINED
        if fname == "datetime":
            return _to_datetime(v)
        if fname == "number":
            return _cast_number(v)
        if fname == "string":
            return _cast_string(v)
        if fname == "boolean":
            return _cast_boolean(v)
        return _math({"floor": math.floor, "ceil": math.ceil, "round": _round}[fname], v)
    op = node[1]
    if op == "and":
        return (_logic_operand(evaluate(node[2], props, scopes), op)
                and _logic_operand(evaluate(node[3], props, scopes), op))
    if op == "or":
        return (_logic_operand(evaluate(node[2], props, scopes), op)
                or _logic_operand(evaluate(node[3], props, scopes), op))
    a = evaluate(node[2], props, scopes)
    b = evaluate(node[3], props, scopes)
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in (">", ">=", "<", "<="):
        return _compare(op, a, b)
    if op == "in":
        return _in(a, b)
    return _arith(op, a, b)


@dataclass(frozen=True)
class Expr:
    """A compiled ``where`` expression."""

    text: str
    tree: Node

    def evaluate(self, props: Mapping[str, Any], scopes: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
        """Value of the expression for one event (may be ``UNDEFINED``); raises WhereError on type errors."""
        return evaluate(self.tree, props, scopes)

    def matches(self, props: Mapping[str, Any], scopes: Mapping[str, Mapping[str, Any]] | None = None) -> bool:
        """True only when the expression evaluates to boolean true; evaluation errors do not match."""
        try:
            return self.evaluate(props, scopes) is True
        except WhereError:
            return False


def compile_where(text: str) -> Expr:
    """Parse ``text``; raises WhereSyntaxError (a ValueError) when it is not a valid expression."""
    try:
        return Expr(text, _Parser(text).parse())
    except RecursionError as e:
        raise WhereSyntaxError("expression nested too deeply") from e
