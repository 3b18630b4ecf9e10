"""The one argument-validation path: a call's JSON arguments -> a frozen pydantic model, or ``ArgumentError``.

Every mp_* function declares its arguments as a model; the macro packs the SQL call into JSON
(``to_json({...})``), and ``parse_call`` validates it before any HTTP request, naming the argument that is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from mpsql.api.client import URL_ARGUMENTS_LIMIT, url_size
from mpsql.errors import ArgumentError

M = TypeVar("M", bound=BaseModel)

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00:00(?:\.0+)?)?$")


def _as_date(value: Any) -> dt.date:
    """DATE values arrive as 'YYYY-MM-DD' (to_json of a DATE); a TIMESTAMP at midnight is accepted too."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        match = _DATE.match(value.strip())
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                pass
    raise ValueError(f"{value!r} is not a date")


def _as_names(value: Any) -> Any:
    """A single event name is allowed where a list is expected: 'Purchase' means ['Purchase']."""
    if isinstance(value, str):
        return [value]
    return value


Day = Annotated[dt.date, BeforeValidator(_as_date)]
Names = Annotated[list[str] | None, BeforeValidator(_as_names)]


class Args(BaseModel):
    """Base for argument models: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    def check(self, function: str, today: dt.date) -> None:
        """Rules that need more than one argument or today's date; raise ``ArgumentError`` (default: none)."""

    def sent_in_url(self) -> bool:
        """Whether the call's arguments travel in the request URL (a GET), whose length is capped."""
        return True


_ALLOWED_HINTS = {
    "date": "a DATE or 'YYYY-MM-DD' text",
    "int": "an integer",
    "bool": "true or false",
    "list": "a list of strings such as ['Purchase', 'Sign Up']",
    "string": "text",
}


def parse_call(function: str, model: type[M], raw: dict[str, Any]) -> M:
    """Validate ``raw`` against ``model``; the first problem becomes an ``ArgumentError`` naming the argument."""
    try:
        args = model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        argument = str(err["loc"][0]) if err["loc"] else "?"
        kind = err["type"]
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


def check_date_range(function: str, from_date: dt.date, to_date: dt.date, today: dt.date) -> None:
    """Mixpanel's rules for report and export ranges (FACTS.md §4): ordered, inclusive, not in the future."""
    if from_date.year < 2000:
        raise ArgumentError(function, "from_date", f"{from_date} is before 2000, which Mixpanel rejects")
    if from_date > to_date:
        raise ArgumentError(function, "from_date", f"{from_date} is after to_date {to_date}",
                            "from_date <= to_date; both are inclusive")
    if to_date > today:
        raise ArgumentError(function, "to_date", f"{to_date} is in the future (today is {today} UTC)",
                            f"a date up to {today}")
