-- Local twin of mp_insights: event counts, users and DAU/WAU/MAU computed in DuckDB from an events table that
-- mp_export filled, returning mp_insights' rows (docs/report-semantics.md, "Ad-hoc reports"). Users are counted
-- after Mixpanel's ID merge (mp_identities, sql/twins.sql) unless merge_ids := false; days are UTC days, the
-- project time zone of the demo and emulator. Formulas over several events are plain SQL over these rows (a
-- PIVOT, see the README). tests/integration/test_adhoc_reports.py compares it with the live function.

-- date TIMESTAMP, metric VARCHAR, segment VARCHAR, value DOUBLE — like mp_insights(events, from_date, to_date,
-- math := ...) without breakdowns: one row per bucket and event, segment '$overall', zero-filled. math 'total'
-- counts events, 'unique' distinct users per bucket (unit day, week from Monday, month), 'dau'/'wau'/'mau' the
-- distinct users of the 1/7/28 days ending each day (unit day), so the table must hold the 27 days before
-- from_date for 'mau'.
-- example: SELECT * FROM mp_local_insights('events', ['Login', 'Purchase'], current_date - 7, current_date - 1, math := 'dau')
CREATE OR REPLACE TEMP MACRO mp_local_insights(events_table, events, from_date, to_date,
        math := 'total', unit := 'day', merge_ids := true) AS TABLE
    WITH width AS (
        SELECT CASE WHEN math NOT IN ('total', 'unique', 'dau', 'wau', 'mau')
                        THEN error('mp_local_insights: math must be total, unique, dau, wau or mau')
                    WHEN math IN ('dau', 'wau', 'mau') AND unit <> 'day'
                        THEN error('mp_local_insights: dau, wau and mau are daily values: unit := ''day''')
                    WHEN math = 'wau' THEN 7 WHEN math = 'mau' THEN 28 ELSE 1 END AS w,
               math IN ('dau', 'wau', 'mau') AS active
    ), picked AS (
        SELECT e.event, CAST(e.time AT TIME ZONE 'UTC' AS DATE) AS day, e.distinct_id
        FROM mp__merged(events_table, merge_ids) AS e, width
        WHERE list_contains(events, e.event)
          AND CAST(e.time AT TIME ZONE 'UTC' AS DATE)
              BETWEEN CAST(from_date AS DATE) - (width.w - 1) AND CAST(to_date AS DATE)
    ), days AS (
        SELECT CAST(d AS DATE) AS day
        FROM range(CAST(from_date AS TIMESTAMP), CAST(to_date AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) AS r(d)
    ), grid AS (
        SELECT DISTINCT CASE WHEN width.active THEN days.day ELSE mp__bucket(days.day, unit) END AS bucket,
               m.metric
        FROM days, width, (SELECT DISTINCT unnest(events) AS metric) AS m
    ), measured AS (
        SELECT g.bucket, g.metric,
               CASE WHEN width.active THEN count(DISTINCT p.distinct_id)
                    WHEN math = 'unique' THEN count(DISTINCT p.distinct_id)
                    ELSE count(p.event) END AS value
        FROM grid AS g CROSS JOIN width
        LEFT JOIN picked AS p ON p.event = g.metric AND CASE
            WHEN width.active THEN p.day BETWEEN g.bucket - (width.w - 1) AND g.bucket
            ELSE p.day BETWEEN CAST(from_date AS DATE) AND CAST(to_date AS DATE)
                 AND mp__bucket(p.day, unit) = g.bucket END
        GROUP BY g.bucket, g.metric, width.active
    )
    SELECT CAST(bucket AS TIMESTAMP) AS date, metric, '$overall' AS segment, CAST(value AS DOUBLE) AS value
    FROM measured
    ORDER BY date, list_position(events, metric);
