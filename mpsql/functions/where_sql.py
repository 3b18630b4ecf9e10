"""Mixpanel's ``where`` expressions as DuckDB SQL over stored events (placeholder until the translator lands)."""

from __future__ import annotations


class UnsupportedWhere(ValueError):
    """The expression cannot be translated exactly; the caller asks Mixpanel instead."""


def where_to_sql(expression: str, *, properties: str = "properties", event: str = "event", time: str = "time") -> str:
    """A SQL predicate equal to ``expression`` under Mixpanel's rules, or ``UnsupportedWhere``."""
    raise UnsupportedWhere("expressions are not translated yet")
