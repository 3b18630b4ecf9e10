"""Translate a Mixpanel ``where`` expression into an exact DuckDB predicate over locally stored export rows.

When ``mp_export(..., filter := '...')`` covers days already held locally, the filter must select exactly the rows
Mixpanel's export would return for them. :func:`where_to_sql` turns the expression into a SQL boolean over the
stored columns (``properties`` JSON, ``time`` TIMESTAMPTZ); the result is TRUE for a row exactly when the
expression evaluates to boolean ``true`` for it, and FALSE otherwise (never NULL).

Mixpanel's rules give every value one of the types string, number, boolean, null or undefined (a missing property,
a failed cast, arithmetic on the wrong types); properties may also hold lists and objects. Each sub-expression is
translated into one SQL expression per type it can take at run time (see :class:`_Val`), and the operators combine
those per type, so the type rules are applied row by row without guessing.

Anything whose answer we cannot be sure matches Mixpanel's raises :class:`UnsupportedWhere`, so the caller asks
Mixpanel instead: syntax outside the documented language (``user[...]``, ``null``, single quotes, ``not in``,
nested keys, ...), and forms whose documented meaning is unclear or contradicted by practice:

* ``> >= < <=`` where both sides may be strings (documented as numbers-only, yet used on ISO date strings);
* ``==``/``in`` between two values that may both be lists or objects (no documented equality for them);
* ``and``/``or`` over an operand that may be something other than a boolean or undefined (documented as an error);
* ``boolean(x)`` of a value that may be a list (the documented casts disagree about an empty list);
* ``$time`` other than ``>=``/``<`` against a whole-second ``datetime(...)`` (the local copy keeps whole seconds,
  and only those two comparisons give the same answer at any sub-second precision Mixpanel may use);
* ``not``/comparison without parentheses where operator precedence is not documented (``not a == b``,
  ``a < b < c``).

Where the rules are silent this module reads them as follows: same-type equality makes null == null and
undefined == undefined true; ``x in <list property>`` tests membership (same type and value); ``string()`` of a list
or object is its compact JSON text; ``round`` takes halves up; numeric text for ``number()`` is a plain ASCII
decimal (``"0x10"``, ``"1_000"``, ``"Infinity"`` and ``""`` are not numbers). Numbers are IEEE doubles throughout,
so JSON integers beyond 2^53 compare and print as their nearest double.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field

from mpsql.functions._duckdb import sql_string

__all__ = ["UnsupportedWhere", "where_to_sql"]


class UnsupportedWhere(ValueError):
    """The expression is malformed or uses something that cannot be translated exactly; ask Mixpanel instead."""


# ---------------------------------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
      | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_$.])
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<op>==|!=|>=|<=|[-+*/%()<>\[\],])
    """,
    re.VERBOSE | re.DOTALL,
)

_KEYWORDS = {"and", "or", "not", "in", "true", "false"}
_FUNCTIONS = {"defined", "datetime", "floor", "round", "ceil", "boolean", "number", "string"}
_COMPARISONS = {"==", "!=", ">", ">=", "<", "<="}
_MAX_DEPTH = 100


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | name | kw | op | end
    value: object
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise UnsupportedWhere(f"unexpected character {text[pos]!r} at position {pos}")
        kind, raw = m.lastgroup or "", m.group()
        if kind == "num":
            value: object = float(raw) if any(c in raw for c in ".eE") else int(raw)
            if not math.isfinite(value) or (isinstance(value, int) and value > 2**53):
                raise UnsupportedWhere(f"number {raw} at position {pos} is not exactly representable")
            toks.append(_Tok("num", float(value), pos))
        elif kind == "str":
            toks.append(_Tok("str", _unquote(raw, pos), pos))
        elif kind == "name":
            toks.append(_Tok("kw" if raw in _KEYWORDS else "name", raw, pos))
        elif kind == "op":
            toks.append(_Tok("op", raw, pos))
        pos = m.end()
    toks.append(_Tok("end", None, len(text)))
    return toks


def _unquote(raw: str, pos: int) -> str:
    """A double-quoted literal with JSON escapes (``\\"``, ``\\\\``, ``\\n``, ``\\u00e9``...)."""
    try:
        value = json.loads(raw)
        value.encode("utf-8")  # a lone surrogate (``"\\ud800"``) cannot be a DuckDB string
    except (ValueError, UnicodeEncodeError) as e:
        raise UnsupportedWhere(f"bad string literal at position {pos}") from e
    return value


# ---------------------------------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class _Lit:
    value: str | float | bool


@dataclass(frozen=True)
class _Prop:
    name: str


@dataclass(frozen=True)
class _Time:
    """``event["$time"]`` / ``properties["$time"]``: the event's time."""


@dataclass(frozen=True)
class _DateLit:
    epoch: int  # whole UTC seconds


@dataclass(frozen=True)
class _ListLit:
    items: tuple[str | float | bool, ...]


@dataclass(frozen=True)
class _Call:
    fn: str
    arg: _Node


@dataclass(frozen=True)
class _Unary:
    op: str  # "-" | "not"
    arg: _Node


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node
    grouped: bool = field(default=False, compare=False)  # written inside parentheses


_Node = _Lit | _Prop | _Time | _DateLit | _ListLit | _Call | _Unary | _Binary

_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")


class _Parser:
    """Recursive descent; precedence from loosest: or, and, not, comparison/in, + -, * / %, unary minus."""

    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, *values: str) -> bool:
        t = self.peek()
        return t.kind == kind and (not values or t.value in values)

    def expect(self, op: str) -> None:
        t = self.take()
        if t.kind != "op" or t.value != op:
            raise UnsupportedWhere(f"expected {op!r} at position {t.pos}")

    def parse(self) -> _Node:
        if self.at("end"):
            raise UnsupportedWhere("empty expression")
        node = self.or_()
        if not self.at("end"):
            t = self.peek()
            raise UnsupportedWhere(f"unexpected {t.value!r} at position {t.pos}")
        return node

    def or_(self) -> _Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise UnsupportedWhere("expression nested too deeply")
        node = self.and_()
        while self.at("kw", "or"):
            self.take()
            node = _Binary("or", node, self.and_())
        self.depth -= 1
        return node

    def and_(self) -> _Node:
        node = self.not_()
        while self.at("kw", "and"):
            self.take()
            node = _Binary("and", node, self.not_())
        return node

    def not_(self) -> _Node:
        if not self.at("kw", "not"):
            return self.comparison()
        tok = self.take()
        if self.at("kw", "in"):
            raise UnsupportedWhere(f"'not in' at position {tok.pos} is not part of the documented language")
        arg = self.not_()
        if isinstance(arg, _Binary) and arg.op in (*_COMPARISONS, "in") and not arg.grouped:
            # Whether `not` binds tighter than a comparison is not documented: `not a == b` could mean either.
            raise UnsupportedWhere(f"ambiguous 'not' at position {tok.pos}: write not (...) around the comparison")
        return _Unary("not", arg)

    def comparison(self) -> _Node:
        left = self.additive()
        t = self.peek()
        if t.kind == "kw" and t.value == "not" and self.toks[self.i + 1].value == "in":
            raise UnsupportedWhere(f"'not in' at position {t.pos} is not part of the documented language")
        if not ((t.kind == "op" and t.value in _COMPARISONS) or (t.kind == "kw" and t.value == "in")):
            return left
        self.take()
        node = _Binary(str(t.value), left, self.additive())
        nxt = self.peek()
        if (nxt.kind == "op" and nxt.value in _COMPARISONS) or (nxt.kind == "kw" and nxt.value == "in"):
            raise UnsupportedWhere(f"chained comparison at position {nxt.pos}: add parentheses")
        return node

    def additive(self) -> _Node:
        node = self.multiplicative()
        while self.at("op", "+", "-"):
            op = str(self.take().value)
            node = _Binary(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> _Node:
        node = self.unary()
        while self.at("op", "*", "/", "%"):
            op = str(self.take().value)
            node = _Binary(op, node, self.unary())
        return node

    def unary(self) -> _Node:
        if self.at("op", "-"):
            self.take()
            arg = self.unary()
            if isinstance(arg, _Lit) and isinstance(arg.value, float):
                return _Lit(-arg.value)
            return _Unary("-", arg)
        return self.primary()

    def primary(self) -> _Node:
        t = self.take()
        if t.kind in ("num", "str"):
            return _Lit(t.value)  # type: ignore[arg-type]
        if t.kind == "kw" and t.value in ("true", "false"):
            return _Lit(t.value == "true")
        if t.kind == "op" and t.value == "(":
            node = self.or_()
            self.expect(")")
            if isinstance(node, _Binary):
                node = _Binary(node.op, node.left, node.right, grouped=True)
            return node
        if t.kind == "op" and t.value == "[":
            return self.list_literal()
        if t.kind == "name" and t.value in ("properties", "event", "user", "behaviors"):
            return self.reference(t)
        if t.kind == "name" and t.value in _FUNCTIONS:
            self.expect("(")
            arg = self.or_()
            self.expect(")")
            return self.call(str(t.value), arg, t.pos)
        if t.kind == "end":
            raise UnsupportedWhere("unexpected end of expression")
        raise UnsupportedWhere(f"unexpected {t.value!r} at position {t.pos}")

    def list_literal(self) -> _ListLit:
        items: list[str | float | bool] = []
        while not self.at("op", "]"):
            if items:
                self.expect(",")
            item = self.unary()
            if not isinstance(item, _Lit):
                raise UnsupportedWhere("list literals may hold only strings, numbers and true/false")
            items.append(item.value)
        self.expect("]")
        return _ListLit(tuple(items))

    def reference(self, scope: _Tok) -> _Node:
        if scope.value in ("user", "behaviors"):
            raise UnsupportedWhere(f"{scope.value}[...] reads profiles, which export rows do not carry")
        self.expect("[")
        key = self.take()
        if key.kind != "str":
            raise UnsupportedWhere(f"expected a quoted property name at position {key.pos}")
        self.expect("]")
        if self.at("op", "["):
            raise UnsupportedWhere(f"nested keys at position {self.peek().pos} are not supported")
        name = str(key.value)
        if name == "$time":
            return _Time()
        if scope.value == "event":
            raise UnsupportedWhere(f'event["{name}"]: only event["$time"] is supported')
        return _Prop(name)

    def call(self, fn: str, arg: _Node, pos: int) -> _Node:
        if fn == "defined" and not isinstance(arg, _Prop):
            raise UnsupportedWhere(f"defined(...) at position {pos} must name a property")
        if fn == "datetime":
            return _DateLit(_epoch_of(arg, pos))
        return _Call(fn, arg)


def _epoch_of(arg: _Node, pos: int) -> int:
    """The whole UTC second a ``datetime(...)`` literal names (ISO text without a zone is UTC)."""
    if isinstance(arg, _Lit) and isinstance(arg.value, float) and arg.value.is_integer():
        epoch = int(arg.value)
    elif isinstance(arg, _Lit) and isinstance(arg.value, str) and (m := _ISO.fullmatch(arg.value)):
        try:
            moment = dt.datetime(*map(int, m.groups()), tzinfo=dt.UTC)
        except ValueError as e:
            raise UnsupportedWhere(f"invalid date {arg.value!r} at position {pos}") from e
        epoch = int(moment.timestamp())
    else:
        raise UnsupportedWhere(
            f"datetime(...) at position {pos} must hold whole epoch seconds or \"YYYY-MM-DDTHH:MM:SS\"")
    if not -62135596800 <= epoch <= 253402300799:  # years 1 to 9999
        raise UnsupportedWhere(f"datetime(...) at position {pos} is out of range")
    return epoch


# ---------------------------------------------------------------------------------------------------- values

_NUMERIC_JSON = "('BIGINT', 'UBIGINT', 'DOUBLE')"
# Text number(...) accepts: a plain decimal, optionally signed, with an optional exponent, surrounded by ASCII
# whitespace. Other spellings ("0x10", "1_000", "Infinity", "") are not numbers.
_NUMERIC_TEXT = r"^[ \t\n\r\x0b\x0c]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\x0b\x0c]*$"
_VALUE_KINDS = ("string", "number", "boolean", "list", "object")


@dataclass(frozen=True)
class _Val:
    """The run-time values a sub-expression may take, one SQL expression per type.

    ``parts[kind]`` is non-NULL exactly on rows where the value has that type (and then holds it: VARCHAR, DOUBLE,
    BOOLEAN, or JSON for lists and objects). ``null`` is a never-NULL condition for Mixpanel's null, or None when
    null is impossible; ``undefined`` likewise. ``nan`` says the number may be NaN (arithmetic on infinities), where
    DuckDB's ordering (NaN equals itself and sorts above everything) differs from IEEE comparisons.
    """

    parts: dict[str, str]
    null: str | None = None
    undefined: str | None = None
    nan: bool = False

    def get(self, kind: str) -> str | None:
        return self.parts.get(kind)

    def may(self, kind: str) -> bool:
        if kind == "null":
            return self.null is not None
        if kind == "undefined":
            return self.undefined is not None
        return kind in self.parts

    def true(self) -> str:
        """A never-NULL condition: the value is boolean true."""
        b = self.parts.get("boolean")
        if b is None:
            return "FALSE"
        if len(self.parts) == 1 and self.null is None and self.undefined is None:
            return b  # a boolean that is never undefined is never NULL
        return f"coalesce({b}, FALSE)"

    def is_(self, kind: str) -> str:
        """A never-NULL condition: the value has this type."""
        if kind == "null":
            return self.null or "FALSE"
        if kind == "undefined":
            return self.undefined or "FALSE"
        part = self.parts.get(kind)
        return f"({part} IS NOT NULL)" if part is not None else "FALSE"


def _maybe(*parts: tuple[str, str | None], nan: bool = False) -> _Val:
    """A value of the given types or undefined, where a NULL in every part means undefined."""
    present = {k: v for k, v in parts if v is not None}
    if not present:
        return _UNDEFINED
    undefined = " AND ".join(f"{v} IS NULL" for v in present.values())
    return _Val(present, undefined=f"({undefined})", nan=nan)


def _boolean(sql: str) -> _Val:
    """A boolean that is never undefined (``sql`` is never NULL)."""
    return _Val({"boolean": sql})


_UNDEFINED = _Val({}, undefined="TRUE")


def _or(terms: list[str]) -> str:
    terms = [t for t in terms if t != "FALSE"]
    if not terms:
        return "FALSE"
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def _sql_number(x: float) -> str:
    # Through text: a bare 0.1 is a DECIMAL in DuckDB, and decimal arithmetic is not double arithmetic.
    return f"CAST('{x!r}' AS DOUBLE)"


def _literal(value: str | float | bool) -> _Val:
    if isinstance(value, bool):
        return _boolean("TRUE" if value else "FALSE")
    if isinstance(value, str):
        return _Val({"string": sql_string(value)})
    return _Val({"number": _sql_number(value)})


def _json_value(v: str) -> _Val:
    """A property's raw JSON value ``v`` (NULL when the property is absent)."""
    return _Val(
        {
            "string": f"CASE WHEN json_type({v}) = 'VARCHAR' THEN json_extract_string({v}, '$') END",
            "number": f"CASE WHEN json_type({v}) IN {_NUMERIC_JSON} THEN TRY_CAST({v} AS DOUBLE) END",
            "boolean": f"CASE WHEN json_type({v}) = 'BOOLEAN' THEN TRY_CAST({v} AS BOOLEAN) END",
            "list": f"CASE WHEN json_type({v}) = 'ARRAY' THEN {v} END",
            "object": f"CASE WHEN json_type({v}) = 'OBJECT' THEN {v} END",
        },
        null=f"coalesce(json_type({v}) = 'NULL', FALSE)",
        undefined=f"({v} IS NULL)",
    )


def _number_text(n: str) -> str:
    """string(number): whole numbers below 2^53 without a fraction ("12"), others as the shortest round-trip text
    ("0.5", "1e+20"), which is what DuckDB's DOUBLE to VARCHAR cast writes, except that it signs NaN ("-nan")."""
    return (f"CASE WHEN isnan({n}) THEN 'nan' WHEN {n} = trunc({n}) AND abs({n}) < 9007199254740992 "
            f"THEN CAST(TRY_CAST({n} AS BIGINT) AS VARCHAR) ELSE CAST({n} AS VARCHAR) END")


# ---------------------------------------------------------------------------------------------------- translation


_ROW = "__mpw_props"  # the lambda parameter holding a row's extracted property values (see where_to_sql)


class _Translator:
    """Syntax tree to :class:`_Val`, applying Mixpanel's rules per type; raises UnsupportedWhere where unsure."""

    def __init__(self, time: str) -> None:
        self.time = time
        self.paths: dict[str, int] = {}  # property name -> 1-based slot in the one json_extract of all of them
        self.lambdas = 0  # membership tests so far, to give each lambda its own parameter name

    def translate(self, node: _Node) -> _Val:
        if isinstance(node, _Lit):
            return _literal(node.value)
        if isinstance(node, _Prop):
            slot = self.paths.setdefault(node.name, len(self.paths) + 1)
            return _json_value(f"{_ROW}[{slot}]")
        if isinstance(node, _Time | _DateLit):
            raise UnsupportedWhere('event["$time"] and datetime(...) may only be compared with each other')
        if isinstance(node, _ListLit):
            raise UnsupportedWhere("a list literal may only appear on the right of 'in'")
        if isinstance(node, _Call):
            return self.call(node)
        if isinstance(node, _Unary):
            arg = self.translate(node.arg)
            if node.op == "-":
                return _maybe(("number", f"(- {arg.get('number')})" if arg.may("number") else None), nan=arg.nan)
            return self.not_(arg)
        if node.op in ("and", "or"):
            return self.logic(node)
        if _Time() in (node.left, node.right) or isinstance(node.left, _DateLit) or isinstance(node.right, _DateLit):
            return self.time_comparison(node)
        if node.op == "in" and isinstance(node.right, _ListLit):
            return self.in_list(self.translate(node.left), node.right)
        left, right = self.translate(node.left), self.translate(node.right)
        if node.op in ("==", "!="):
            eq = self.equal(left, right)
            return _boolean(eq if node.op == "==" else f"(NOT {eq})")
        if node.op in (">", ">=", "<", "<="):
            return self.order(node.op, left, right)
        if node.op == "in":
            return self.in_value(left, right)
        return self.arithmetic(node.op, left, right)

    # -- logic

    def not_(self, arg: _Val) -> _Val:
        """Mixpanel's rules: not boolean negates, not undefined is true, not anything else is undefined."""
        b = arg.get("boolean")
        if not any(arg.may(k) for k in ("string", "number", "list", "object", "null")):
            return _boolean(f"(NOT {arg.true()})")
        cases = []
        if b:
            cases.append(f"WHEN {b} IS NOT NULL THEN NOT {b}")
        if arg.undefined:
            cases.append(f"WHEN {arg.undefined} THEN TRUE")
        return _maybe(("boolean", f"CASE {' '.join(cases)} END" if cases else None))

    def logic(self, node: _Binary) -> _Val:
        """and/or: undefined counts as false; any other non-boolean operand is an error in Mixpanel's rules."""
        left, right = self.operand(node.left, node.op), self.operand(node.right, node.op)
        return _boolean(f"({left.true()} {node.op.upper()} {right.true()})")

    def operand(self, node: _Node, op: str) -> _Val:
        """An operand of and/or, which may only be a boolean or undefined."""
        val = self.translate(node)
        if any(val.may(k) for k in ("string", "number", "list", "object", "null")):
            raise UnsupportedWhere(f"an operand of '{op}' may be a non-boolean value, an error in Mixpanel's rules")
        return val

    # -- comparisons

    def equal(self, a: _Val, b: _Val) -> str:
        """== : false across types, otherwise equal values (null equals null, undefined equals undefined)."""
        if (a.may("list") or a.may("object")) and (b.may("list") or b.may("object")):
            raise UnsupportedWhere("'==' between two values that may both be lists or objects is not supported")
        terms = []
        for kind in ("string", "boolean"):
            if a.may(kind) and b.may(kind):
                terms.append(f"coalesce({a.get(kind)} = {b.get(kind)}, FALSE)")
        if a.may("number") and b.may("number"):
            x, y = a.get("number"), b.get("number")
            guard = f" AND NOT isnan({x})" if a.nan or b.nan else ""  # NaN never equals anything (IEEE)
            terms.append(f"coalesce({x} = {y}{guard}, FALSE)")
        for kind in ("null", "undefined"):
            if a.may(kind) and b.may(kind):
                terms.append(f"({a.is_(kind)} AND {b.is_(kind)})")
        return _or(terms)

    def order(self, op: str, a: _Val, b: _Val) -> _Val:
        """> >= < <= : numbers only, anything else undefined."""
        if a.may("string") and b.may("string"):
            raise UnsupportedWhere(f"'{op}' between values that may both be strings: Mixpanel documents ordering "
                                   "for numbers only, yet ISO date strings are compared in practice")
        if not (a.may("number") and b.may("number")):
            return _UNDEFINED
        x, y = a.get("number"), b.get("number")
        sql = f"({x} {op} {y})"
        if a.nan or b.nan:
            sql = f"CASE WHEN isnan({x}) OR isnan({y}) THEN FALSE ELSE {sql} END"
        return _maybe(("boolean", sql))

    def time_comparison(self, node: _Binary) -> _Val:
        """event["$time"] against datetime(...): the stored time column, at whole seconds."""
        op, left, right = node.op, node.left, node.right
        if op not in _COMPARISONS:
            raise UnsupportedWhere(f'event["$time"] and datetime(...) support no \'{op}\': compare them instead')
        if isinstance(left, _DateLit) and isinstance(right, _Time):
            left, right = right, left
            op = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}.get(op, op)
        if not (isinstance(left, _Time) and isinstance(right, _DateLit)):
            raise UnsupportedWhere('event["$time"] may only be compared with datetime(...)')
        if op not in (">=", "<"):
            # The local copy holds times truncated to whole seconds: t >= s and t < s agree with the full-precision
            # time for a whole second s; >, <=, == and != do not.
            raise UnsupportedWhere(f"'{op}' on event[\"$time\"] is not exact on whole-second times: use >= or <")
        moment = dt.datetime.fromtimestamp(right.epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        return _maybe(("boolean", f"({self.time} {op} TIMESTAMPTZ '{moment}+00')"))

    def in_list(self, a: _Val, items: _ListLit) -> _Val:
        """x in [literals]: true when x equals one of them (same type and value)."""
        terms = []
        for kind, typ in (("string", str), ("number", float), ("boolean", bool)):
            values = [v for v in items.items if type(v) is typ]
            if values and a.may(kind):
                sql_values = ", ".join(_literal(v).parts[kind] for v in values)
                terms.append(f"coalesce({a.get(kind)} IN ({sql_values}), FALSE)")
        return _boolean(_or(terms))

    def in_value(self, a: _Val, b: _Val) -> _Val:
        """x in y: substring when both are strings, membership when y is a list, otherwise undefined."""
        cases = []
        if b.may("string") and a.may("string"):
            cases.append(f"WHEN {b.get('string')} IS NOT NULL THEN contains({b.get('string')}, {a.get('string')})")
        if b.may("list"):
            if a.may("list") or a.may("object"):
                raise UnsupportedWhere("'in' between values that may both be lists or objects is not supported")
            self.lambdas += 1
            e = f"__mpw_item{self.lambdas}"
            element = _json_value(e)
            # `a` is no list or object here, so list and object elements can never equal it.
            matches = self.equal(a, _Val({k: v for k, v in element.parts.items() if k not in ("list", "object")},
                                         null=element.null))
            cases.append(f"WHEN {b.get('list')} IS NOT NULL THEN "
                         f"len(list_filter(json_extract({b.get('list')}, '$[*]'), lambda {e}: {matches})) > 0")
        return _maybe(("boolean", f"CASE {' '.join(cases)} END" if cases else None))

    # -- arithmetic and functions

    def arithmetic(self, op: str, a: _Val, b: _Val) -> _Val:
        """+ adds numbers or joins strings; - * / % need numbers; / and % by zero are undefined."""
        string = None
        if op == "+" and a.may("string") and b.may("string"):
            string = f"({a.get('string')} || {b.get('string')})"
        number = None
        if a.may("number") and b.may("number"):
            x, y = a.get("number"), b.get("number")
            # Division by zero is undefined. DuckDB's % on DOUBLE is fmod: the result takes the dividend's sign, as
            # Mixpanel's does.
            number = f"CASE WHEN {y} <> 0 THEN {x} {op} {y} END" if op in ("/", "%") else f"({x} {op} {y})"
        return _maybe(("string", string), ("number", number), nan=True)

    def call(self, node: _Call) -> _Val:
        if node.fn == "defined":
            return _boolean(f"(NOT {self.translate(node.arg).is_('undefined')})")
        arg = self.translate(node.arg)
        if node.fn in ("floor", "ceil", "round"):
            n = arg.get("number")
            if n is None:
                return _UNDEFINED
            # round is half-up (toward +infinity), unlike DuckDB's round, which rounds halves away from zero.
            sql = f"floor({n} + 0.5)" if node.fn == "round" else f"{node.fn}({n})"
            return _maybe(("number", sql), nan=arg.nan)
        if node.fn == "number":
            number = [p for p in (
                arg.get("number"),
                f"CASE {arg.get('boolean')} WHEN TRUE THEN CAST(1 AS DOUBLE) WHEN FALSE THEN CAST(0 AS DOUBLE) END"
                if arg.may("boolean") else None,
                self.parse_number(arg.get("string")) if arg.may("string") else None,
            ) if p is not None]
            sql = None if not number else number[0] if len(number) == 1 else f"coalesce({', '.join(number)})"
            return _maybe(("number", sql), nan=arg.nan)
        if node.fn == "string":
            text = [p for p in (
                arg.get("string"),
                _number_text(arg.get("number")) if arg.may("number") else None,
                f"CASE {arg.get('boolean')} WHEN TRUE THEN 'true' WHEN FALSE THEN 'false' END"
                if arg.may("boolean") else None,
                # Lists and objects as their compact JSON text.
                f"CAST({arg.get('list')} AS VARCHAR)" if arg.may("list") else None,
                f"CAST({arg.get('object')} AS VARCHAR)" if arg.may("object") else None,
            ) if p is not None]
            sql = None if not text else text[0] if len(text) == 1 else f"coalesce({', '.join(text)})"
            # string(null) stays null and string(undefined) undefined.
            return _Val({"string": sql} if sql else {}, null=arg.null, undefined=arg.undefined)
        # boolean(x): false for undefined, null, false, 0, "" and "false"; true for anything else.
        if arg.may("list"):
            raise UnsupportedWhere("boolean(...) of a value that may be a list: Mixpanel's rules disagree on []")
        terms = [p for p in (
            arg.get("boolean"),
            f"({arg.get('number')} <> 0)" if arg.may("number") else None,
            f"({arg.get('string')} NOT IN ('', 'false'))" if arg.may("string") else None,
            f"CASE WHEN {arg.get('object')} IS NOT NULL THEN TRUE END" if arg.may("object") else None,
        ) if p is not None]
        return _boolean(f"coalesce({', '.join(terms)}, FALSE)" if terms else "FALSE")

    @staticmethod
    def parse_number(s: str | None) -> str:
        """number(text): a finite plain decimal, else NULL (undefined)."""
        digits = f"TRY_CAST(nullif(regexp_extract({s}, '{_NUMERIC_TEXT}', 1), '') AS DOUBLE)"
        return f"CASE WHEN isfinite({digits}) THEN {digits} END"


def where_to_sql(expression: str, *, properties: str = "properties", event: str = "event",
                 time: str = "time") -> str:
    """A DuckDB boolean that is TRUE exactly for the rows Mixpanel's export keeps for ``where`` = ``expression``.

    ``properties`` (a JSON column holding the exported ``properties`` object) and ``time`` (the event's
    TIMESTAMPTZ) are SQL column references inserted as given. ``event`` is accepted for the caller's uniformity:
    no operand of the expression language reads the event name. The result is never NULL.

    Raises UnsupportedWhere, naming the problem, for malformed expressions and for anything that cannot be
    translated exactly (the caller then asks Mixpanel).
    """
    del event  # no operand reads the event name
    tree = _Parser(expression).parse()
    translator = _Translator(time)
    # Time bounds at the top level of an and-chain stay plain comparisons outside the per-row lambda below, so
    # DuckDB can use them to skip row groups. Both forms agree: and treats undefined as false either way.
    conjuncts = _conjuncts(tree)
    bounds = [c for c in conjuncts if _is_time_comparison(c)]
    rest = [c for c in conjuncts if not _is_time_comparison(c)]
    terms = [f"({time} IS NOT NULL AND {translator.time_comparison(c).get('boolean')})" for c in bounds]
    if rest:
        node = rest[0]
        for other in rest[1:]:
            node = _Binary("and", node, other)
        value = translator.operand(node, "and") if len(conjuncts) > 1 else translator.translate(node)
        if not value.may("boolean") and any(value.may(k) for k in (*_VALUE_KINDS, "null")):
            raise UnsupportedWhere("the expression can never be true or false, so it is not a filter")
        body = value.true()
        if translator.paths:
            # One json_extract of every referenced property, bound to a lambda parameter: the properties document
            # is parsed once per row however often the expression refers to it.
            paths = ", ".join(sql_string(_json_pointer(name)) for name in translator.paths)
            body = (f"coalesce(list_transform([json_extract({properties}, [{paths}])], "
                    f"lambda {_ROW}: {body})[1], FALSE)")
        terms.append(body)
    return terms[0] if len(terms) == 1 else "(" + " AND ".join(terms) + ")"


def _conjuncts(node: _Node) -> list[_Node]:
    """The operands of a top-level chain of and (the node itself when it is not an and)."""
    if isinstance(node, _Binary) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _is_time_comparison(node: _Node) -> bool:
    return (isinstance(node, _Binary) and node.op in _COMPARISONS
            and any(isinstance(side, _Time | _DateLit) for side in (node.left, node.right)))


def _json_pointer(name: str) -> str:
    """The JSON Pointer of a top-level key: only '~' and '/' are escaped, so '$', '.', quotes and spaces are safe."""
    return "/" + name.replace("~", "~0").replace("/", "~1")
