"""Arrow types as the DuckDB SQL type names users see."""

from __future__ import annotations

import pyarrow as pa


def sql_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a column of ``arrow_type`` has, e.g. ``TIMESTAMPTZ`` or ``JSON``."""
    if isinstance(arrow_type, pa.BaseExtensionType) and arrow_type.extension_name == "arrow.json":
        return "JSON"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return sql_type(arrow_type.value_type) + "[]"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_int32(arrow_type):
        return "INTEGER"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_date(arrow_type):
        return "DATE"
    return str(arrow_type).upper()
