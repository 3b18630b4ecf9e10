"""Every mp_* function's SQL signature and its argument model agree: the same arguments, the same defaults."""

from __future__ import annotations

import duckdb
import pytest

from mpsql.functions import TABLE_FUNCTIONS, install_functions
from mpsql.functions._args import sql_named
from mpsql.functions._context import Context


@pytest.mark.parametrize("fn", TABLE_FUNCTIONS, ids=lambda fn: fn.name)
def test_the_sql_arguments_are_exactly_the_models_fields(fn):
    assert fn.model is not None
    assert sorted([*fn.positional, *fn.named]) == sorted(fn.model.model_fields)
    assert fn.named == sql_named(fn.model, fn.positional)


@pytest.mark.parametrize("fn", TABLE_FUNCTIONS, ids=lambda fn: fn.name)
def test_an_omitted_argument_means_the_models_default(fn):
    defaults = {name: info.default for name, info in fn.model.model_fields.items() if name in fn.named}
    literal = {None: "NULL", True: "true", False: "false"}
    for name, default in defaults.items():
        expected = literal.get(default) if default is None or isinstance(default, bool) else (
            f"'{default}'" if isinstance(default, str) else repr(default))
        assert fn.named[name] == expected, name


def test_the_installed_macros_take_exactly_those_arguments():
    con = duckdb.connect()
    install_functions(con, Context())
    rows = dict(con.execute("SELECT function_name, parameters FROM duckdb_functions() "
                            "WHERE function_name LIKE 'mp_%' AND function_type = 'table_macro'").fetchall())
    for fn in TABLE_FUNCTIONS:
        assert rows[fn.name] == [*fn.positional, *fn.named], fn.name
    con.close()


def test_mp_property_counts_takes_no_filter_since_its_endpoint_has_no_where():
    fn = next(f for f in TABLE_FUNCTIONS if f.name == "mp_property_counts")
    assert "filter" not in fn.named and "filter" not in fn.model.model_fields


def test_a_named_argument_without_a_default_is_refused_when_the_function_is_declared():
    from mpsql.functions._args import Args

    class Needs(Args):
        required: str

    with pytest.raises(TypeError, match="needs a default"):
        sql_named(Needs, ())
    with pytest.raises(TypeError, match="not fields of the model"):
        sql_named(Needs, ("nope",))
