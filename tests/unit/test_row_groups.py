"""mp_export hands DuckDB whole row groups across windows (partial ones are rewritten at checkpoint)."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsql.functions import export

SMALL_GROUP = 7


def batch(start: int, n: int) -> pa.RecordBatch:
    ids = [str(i) for i in range(start, start + n)]
    props = pa.ExtensionArray.from_storage(pa.json_(), pa.array(["{}"] * n, pa.string()))
    return pa.RecordBatch.from_arrays(
        [pa.array(["e"] * n), pa.array([0] * n, pa.timestamp("us", tz="UTC")), pa.array(ids), pa.array(ids), props],
        schema=export.SCHEMA)


@settings(deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=25), max_size=12))
def test_rows_keep_their_order_and_only_the_first_and_last_groups_are_partial(sizes):
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    out = list(export._row_groups(iter([batch(s, n) for s, n in zip(starts, sizes, strict=True)]), SMALL_GROUP))
    ids = [i for b in out for i in b.column(2).to_pylist()]
    assert ids == [str(i) for i in range(sum(sizes))]
    assert all(b.num_rows == SMALL_GROUP for b in out[1:-1])
    assert all(b.schema == export.SCHEMA for b in out)
