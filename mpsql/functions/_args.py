"""The one argument-validation path: a call's JSON arguments -> a frozen pydantic model, or ``ArgumentError``.

Every mp_* function declares its arguments as a model; the macro packs the SQL call into JSON
(``to_json({...})``), and ``parse_call`` validates it before any HTTP request, naming the argument that is wrong.
Every model is strict where pydantic's lax mode would guess: a boolean is not a number (``max_events := true``
is not 1) and a number is not a boolean; text and names may not be blank (``account := ''`` does not mean
the default account, ``events := '  '`` does not ask for a blank event); dates are from 2000 on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import types
import typing
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from mpsql.api.client import URL_ARGUMENTS_LIMIT, url_size
from mpsql.errors import ArgumentError

M = TypeVar("M", bound=BaseModel)

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00:00(?:\.0+)?)?$")


class Invalid(ValueError):
    """A validator's verdict on one argument: the problem, and what would be valid."""

    def __init__(self, problem: str, allowed: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.allowed = allowed


FIRST_DAY = dt.date(2000, 1, 1)  # Mixpanel rejects earlier dates; date arithmetic on year 1 would overflow


def _as_date(value: Any) -> dt.date:
    """DATE values arrive as 'YYYY-MM-DD' (to_json of a DATE); a TIMESTAMP at midnight is accepted too."""
    day: dt.date | None = None
    if isinstance(value, dt.date):
        day = value
    elif isinstance(value, str):
        match = _DATE.match(value.strip())
        if match:
            with contextlib.suppress(ValueError):  # 2024-02-30
                day = dt.date(*(int(g) for g in match.groups()))
    if day is None:
        raise ValueError(f"{value!r} is not a date")
    if day < FIRST_DAY:
        raise Invalid(f"{day} is before 2000, which Mixpanel rejects", f"a date from {FIRST_DAY} on")
    return day


def _as_names(value: Any) -> Any:
    """A single event name is allowed where a list is expected: 'Purchase' means ['Purchase']."""
    if isinstance(value, str):
        return [value]
    return value


Day = Annotated[dt.date, BeforeValidator(_as_date)]
Names = Annotated[list[str] | None, BeforeValidator(_as_names)]


_BLANK_HINTS = {
    "account": "the name of a configured account (see mp_accounts()), or leave account out for the default",
}


class Args(BaseModel):
    """Base for argument models: frozen, no unknown fields, and the strict rules of the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict(cls, value: Any, info: ValidationInfo) -> Any:
        """Runs on the raw value of every field, before its own validators and pydantic's coercion."""
        name = info.field_name or ""
        kinds = _scalar_kinds(cls.model_fields[name].annotation)
        if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
            raise Invalid(f"{json.dumps(value)} is a boolean, not a number", "an integer such as 10")
        if isinstance(value, int | float) and not isinstance(value, bool) and bool in kinds \
                and not kinds & {int, float}:
            raise Invalid(f"{value} is a number, not true or false", "true or false")
        if isinstance(value, str) and not value.strip():
            raise Invalid("is empty", _BLANK_HINTS.get(name, "non-blank text, or leave the argument out"))
        if isinstance(value, list) and any(isinstance(v, str) and not v.strip() for v in value):
            raise Invalid("contains an empty name", "a list of non-blank names such as ['Purchase', 'Sign Up']")
        return value

    def check(self, function: str, today: dt.date) -> None:
        """Rules that need more than one argument or today's date; raise ``ArgumentError`` (default: none)."""

    def sent_in_url(self) -> bool:
        """Whether the call's arguments travel in the request URL (a GET), whose length is capped."""
        return True


class ProjectArgs(Args):
    """Arguments of a function answered by the Query API (and mp_bookmarks): ``workspace`` names the data view
    the request is scoped to (Mixpanel's ``workspace_id``; docs/mixpanel-api.md, "Data views"). Left out, the
    account's ``workspace_id`` setting or ``MP_WORKSPACE_ID`` applies, else none is sent."""

    workspace: int | None = Field(default=None, ge=1, le=2**63 - 1)


_ALLOWED_HINTS = {
    "date": "a DATE or 'YYYY-MM-DD' text",
    "int": "an integer",
    "bool": "true or false",
    "list": "a list of strings such as ['Purchase', 'Sign Up']",
    "string": "text",
}


def _scalar_kinds(annotation: Any) -> set[type]:
    """The plain types an annotation admits, through Optional/Union, Annotated and containers' items."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _scalar_kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_scalar_kinds(a) for a in typing.get_args(annotation)))
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation)}
    if origin is not None:  # list[str], dict[...]: the container, not its items
        return {origin}
    return {annotation} if isinstance(annotation, type) else set()


def parse_call(function: str, model: type[M], raw: dict[str, Any]) -> M:
    """Validate ``raw`` against ``model``; the first problem becomes an ``ArgumentError`` naming the argument."""
    try:
        args = model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        argument = str(err["loc"][0]) if err["loc"] else "?"
        kind = err["type"]
        verdict = (err.get("ctx") or {}).get("error")
        if isinstance(verdict, Invalid):
            raise ArgumentError(function, argument, verdict.problem, verdict.allowed) from None
        if kind == "value_error":
            problem = str(err["msg"]).removeprefix("Value error, ")
        else:
            problem = f"{err['input']!r} is not valid: {err['msg'].lower()}"
        allowed = None
        for key, hint in _ALLOWED_HINTS.items():
            if kind.startswith(key) or (key == "date" and "date" in problem):
                allowed = hint
                break
        raise ArgumentError(function, argument, problem, allowed) from None
    if isinstance(args, Args) and args.sent_in_url():
        _check_url_size(function, args)
    return args


def _check_url_size(function: str, args: Args) -> None:
    """Arguments too long for a request URL (5,000 event names, a 100 KB filter) are refused by name."""
    sizes = {name: url_size(value) for name, value in args if value is not None}
    if sum(sizes.values()) <= URL_ARGUMENTS_LIMIT:
        return
    name = max(sizes, key=lambda n: sizes[n])
    raise ArgumentError(function, name, f"is {sizes[name]:,} characters once URL-encoded, and this call's "
                        f"arguments travel in the request URL, which holds at most {URL_ARGUMENTS_LIMIT:,}",
                        "fewer names or a shorter expression: split the call, or filter the rows in SQL")


def sql_named(model: type[BaseModel], positional: tuple[str, ...]) -> dict[str, str]:
    """The SQL named arguments of a function, derived from its model: every field not positional, in the model's
    order (``workspace`` and ``account`` last), with the model's default as a SQL literal. So the SQL signature and
    the validation can never disagree about which arguments exist or what an omitted one means."""
    fields = model.model_fields
    unknown = [p for p in positional if p not in fields]
    if unknown:
        raise TypeError(f"{model.__name__}: positional {unknown} are not fields of the model")
    named: dict[str, str] = {}
    for name, info in fields.items():
        if name in positional:
            continue
        if info.is_required():
            raise TypeError(f"{model.__name__}.{name}: a named argument needs a default")
        named[name] = _sql_literal(info.default)
    for last in ("workspace", "account"):
        if last in named:
            named[last] = named.pop(last)
    return named


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for a default of type {type(value).__name__}")


def check_date_range(function: str, from_date: dt.date, to_date: dt.date, today: dt.date) -> None:
    """Mixpanel's rules for report and export ranges (docs/mixpanel-api.md, "Report conventions"): ordered,
    inclusive, not in the future."""
    if from_date.year < 2000:
        raise ArgumentError(function, "from_date", f"{from_date} is before 2000, which Mixpanel rejects")
    if from_date > to_date:
        raise ArgumentError(function, "from_date", f"{from_date} is after to_date {to_date}",
                            "from_date <= to_date; both are inclusive")
    if to_date > today:
        # ``today`` is the project's (functions/_clock.py ProjectDay, which names its zone) or UTC's.
        zone = getattr(today, "zone", "UTC")
        where = "UTC" if zone == "UTC" else f"in the project's time zone, {zone}"
        raise ArgumentError(function, "to_date", f"{to_date} is in the future (today is {today} {where})",
                            f"a date up to {today}")
