-- mp_events_local: the events the local store holds, read without any request (mp_export's columns).
--
-- Days not held for the selection are left out, with a notice naming them; fill them first with
-- mp_sync(from_date, to_date) or `mpsql sync`. The store itself is plain hive-partitioned Parquet that any
-- engine can read: see mp_store() for the files.
-- example: SELECT event, count(*) FROM mp_events_local(current_date - 7, current_date - 1) GROUP BY ALL
CREATE OR REPLACE TEMP MACRO mp_events_local(from_date, to_date, events := NULL, "filter" := NULL, dedupe := true,
                                             account := NULL) AS TABLE
    SELECT * FROM mp_export(from_date, to_date, events := events, "filter" := "filter", dedupe := dedupe,
                            account := account, store := 'local');
