-- Local twins: Mixpanel's reports computed in DuckDB from an events table that mp_export filled.
--
-- Each takes the NAME of a table (or view) with mp_export's columns (event, time, distinct_id, insert_id,
-- properties) and returns the same columns, with the same semantics, as its live counterpart:
--
--   mp_local_segmentation  ~ mp_segmentation (unit day/week/month, type general/unique/average, by a property)
--   mp_local_funnel        ~ mp_funnel        (ordered steps, conversion window from the first step)
--   mp_local_retention     ~ mp_retention     (birth retention, day/week/month buckets)
--
-- So you can analyse offline with arbitrary SQL and no rate limit, and the live and local paths check each
-- other (tests/integration/test_local_twins.py compares them on the emulator). Runnable examples:
-- sql/examples/. Times are bucketed in UTC (the project time zone of the demo and emulator).

-- The segment key(s) one property value falls under, as Mixpanel writes them: text as is, `undefined` when
-- the property is missing, `null`, `true`/`false`, whole numbers without `.0`, a list once under each
-- distinct element (an empty list under none), objects as compact JSON.
-- example: SELECT segment, count(*) FROM events, unnest(mp_segment_keys(properties, '$browser')) AS t(segment) GROUP BY ALL
CREATE OR REPLACE TEMP MACRO mp_segment_keys(props, name) AS
    CASE json_type(props, mp_json_pointer(name))
        WHEN 'ARRAY' THEN list_distinct(list_transform(
            json_extract(json_extract(props, mp_json_pointer(name)), '$[*]'), lambda x: mp__scalar_key(x)))
        ELSE [mp__scalar_key(json_extract(props, mp_json_pointer(name)))]
    END;

CREATE OR REPLACE TEMP MACRO mp__scalar_key(v) AS
    CASE
        WHEN v IS NULL THEN 'undefined'
        WHEN json_type(v) = 'NULL' THEN 'null'
        WHEN json_type(v) = 'DOUBLE' AND CAST(v AS DOUBLE) = trunc(CAST(v AS DOUBLE))
             AND abs(CAST(v AS DOUBLE)) < 9007199254740992
            THEN CAST(CAST(CAST(v AS DOUBLE) AS BIGINT) AS VARCHAR)
        WHEN json_type(v) IN ('OBJECT', 'ARRAY') THEN CAST(v AS VARCHAR)
        ELSE json_extract_string(v, '$')
    END;

-- Start of the bucket holding day `d`: the day, the Monday of its week, or the 1st of its month.
CREATE OR REPLACE TEMP MACRO mp__bucket(d, bucket_unit) AS
    CAST(date_trunc(bucket_unit, CAST(d AS DATE)) AS DATE);

-- date TIMESTAMP, segment VARCHAR, value DOUBLE: every bucket x segment, zero-filled, like mp_segmentation.
-- Without `by` the one segment is the event name; `top` keeps the segments with the largest totals.
-- example: SELECT * FROM mp_local_segmentation('events', 'Purchase', current_date - 7, current_date - 1, by := '$browser')
CREATE OR REPLACE TEMP MACRO mp_local_segmentation(events_table, event_name, from_date, to_date,
        by := NULL, type := 'general', unit := 'day', top := 60) AS TABLE
    WITH picked AS (
        SELECT mp__bucket(e.time AT TIME ZONE 'UTC', unit) AS bucket, e.distinct_id,
               CASE WHEN "by" IS NULL THEN [e.event] ELSE mp_segment_keys(e.properties, coalesce(CAST("by" AS VARCHAR), '')) END AS keys
        FROM query_table(events_table) AS e
        WHERE e.event = event_name
          AND CAST(e.time AT TIME ZONE 'UTC' AS DATE) BETWEEN CAST(from_date AS DATE) AND CAST(to_date AS DATE)
    ), hits AS (
        SELECT bucket, unnest(keys) AS segment, distinct_id FROM picked
    ), measured AS (
        SELECT bucket, segment,
               CASE type WHEN 'general' THEN count(*)
                         WHEN 'unique' THEN count(DISTINCT distinct_id)
                         ELSE count(*) / count(DISTINCT distinct_id) END AS value
        FROM hits GROUP BY ALL
    ), ranked AS (
        SELECT segment FROM measured GROUP BY segment
        ORDER BY sum(value) DESC, segment LIMIT (CASE WHEN "by" IS NULL THEN 1 ELSE top END)
    ), buckets AS (
        SELECT DISTINCT mp__bucket(d, unit) AS bucket
        FROM range(CAST(from_date AS TIMESTAMP), CAST(to_date AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) AS r(d)
    ), segments AS (
        SELECT segment FROM ranked
        UNION SELECT event_name WHERE "by" IS NULL
    )
    SELECT CAST(b.bucket AS TIMESTAMP) AS date, s.segment, CAST(coalesce(m.value, 0) AS DOUBLE) AS value
    FROM buckets AS b CROSS JOIN segments AS s
    LEFT JOIN measured AS m ON m.bucket = b.bucket AND m.segment = s.segment
    ORDER BY date, s.segment;

-- date DATE, segment VARCHAR ('$overall'), step INTEGER (from 1), event, count, step_conversion,
-- overall_conversion, avg_time_seconds — like mp_funnel over `steps` (event names, in order).
-- A user's attempt starts at a first-step event whose day (UTC) is in [from_date, to_date]; each next step is
-- the user's first later event of that name at most `window_seconds` after the attempt's start (events after
-- to_date count, so export up to to_date plus the window). Per day a user counts once, with the attempt that
-- got furthest (the earliest of equals). avg_time_seconds is the mean time from the previous step over the
-- users who reached the step, rounded half to even (NULL for step 1).
-- example: SELECT * FROM mp_local_funnel('events', ['View Item', 'Purchase'], current_date - 7, current_date - 1)
CREATE OR REPLACE TEMP MACRO mp_local_funnel(events_table, steps, from_date, to_date,
        window_seconds := 30 * 86400) AS TABLE
    WITH RECURSIVE ev AS (
        SELECT e.distinct_id AS uid, e.event, CAST(epoch(e.time) AS BIGINT) AS t,
               row_number() OVER (PARTITION BY e.distinct_id ORDER BY e.time, e.insert_id) AS pos
        FROM query_table(events_table) AS e
        WHERE list_contains(steps, e.event)
    ), walk(uid, start_pos, t0, k, pos, t, times) AS (
        SELECT uid, pos, t, 1, pos, t, [t] FROM ev
        WHERE event = steps[1]
          AND CAST(to_timestamp(t) AT TIME ZONE 'UTC' AS DATE) BETWEEN CAST(from_date AS DATE)
                                                                   AND CAST(to_date AS DATE)
        UNION ALL
        SELECT w.uid, w.start_pos, w.t0, w.k + 1, n.pos, n.t, list_append(w.times, n.t)
        FROM walk AS w,
             LATERAL (SELECT x.pos, x.t FROM ev AS x
                      WHERE x.uid = w.uid AND x.pos > w.pos AND x.event = steps[w.k + 1]
                      ORDER BY x.pos LIMIT 1) AS n
        WHERE w.k < len(steps) AND n.t - w.t0 <= window_seconds
    ), attempts AS (
        SELECT uid, start_pos, CAST(to_timestamp(t0) AT TIME ZONE 'UTC' AS DATE) AS day, max(k) AS reached,
               arg_max(times, k) AS times
        FROM walk GROUP BY uid, start_pos, t0
    ), best AS (
        SELECT uid, day, arg_max(times, reached * 1e9 - start_pos) AS times
        FROM attempts GROUP BY uid, day
    ), days AS (
        SELECT CAST(d AS DATE) AS day
        FROM range(CAST(from_date AS TIMESTAMP), CAST(to_date AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) AS r(d)
    ), step_list AS (
        SELECT i AS step, steps[i] AS event FROM range(1, len(steps) + 1) AS r(i)
    ), per_step AS (
        SELECT d.day, s.step, s.event,
               count(b.uid) FILTER (WHERE len(b.times) >= s.step) AS n,
               avg(b.times[s.step] - b.times[s.step - 1]) FILTER (WHERE len(b.times) >= s.step AND s.step > 1)
                   AS avg_gap
        FROM days AS d CROSS JOIN step_list AS s LEFT JOIN best AS b ON b.day = d.day
        GROUP BY ALL
    )
    SELECT day AS date, '$overall' AS segment, CAST(step AS INTEGER) AS step, event, n AS count,
           CASE WHEN step = 1 THEN 1.0
                ELSE coalesce(n / nullif(lag(n) OVER (PARTITION BY day ORDER BY step), 0), 0.0) END
               AS step_conversion,
           CASE WHEN step = 1 THEN 1.0
                ELSE coalesce(n / nullif(first_value(n) OVER (PARTITION BY day ORDER BY step), 0), 0.0) END
               AS overall_conversion,
           CASE WHEN step = 1 THEN NULL ELSE coalesce(round_even(avg_gap, 0), 0.0) END AS avg_time_seconds
    FROM per_step
    ORDER BY date, step;

-- Whole calendar months from epoch second `t0` to `t` (UTC): n such that t0 + n months <= t < t0 + n+1 months.
CREATE OR REPLACE TEMP MACRO mp__whole_months(t0, t) AS
    CAST(date_diff('month', to_timestamp(t0) AT TIME ZONE 'UTC', to_timestamp(t) AT TIME ZONE 'UTC')
         - CASE WHEN (to_timestamp(t0) AT TIME ZONE 'UTC')
                     + to_months(CAST(date_diff('month', to_timestamp(t0) AT TIME ZONE 'UTC',
                                                to_timestamp(t) AT TIME ZONE 'UTC') AS INTEGER))
                     > to_timestamp(t) AT TIME ZONE 'UTC' THEN 1 ELSE 0 END AS INTEGER);

-- cohort_date DATE, segment VARCHAR ('$overall'), cohort_size, period INTEGER, count, rate — like
-- mp_retention with retention_type 'birth'. A user is born at their first `born_event` in the table (so the
-- table must start where the project's data starts); cohorts are the unit periods of [from_date, to_date]
-- holding the birth. period i counts the cohort's users with a return (`returning_event`, or any event when
-- NULL) in [birth + i*w, birth + (i+1)*w), w = `interval` days for unit 'day', a week for 'week', a calendar
-- month for 'month' (the day clamped to the month's length); the birth event itself is no return. There are interval_count + 1 periods, cut at the last one begun by `today`.
-- example: SELECT * FROM mp_local_retention('events', 'Sign Up', current_date - 28, current_date - 1, unit := 'week', interval_count := 3)
CREATE OR REPLACE TEMP MACRO mp_local_retention(events_table, born_event, from_date, to_date,
        returning_event := NULL, unit := 'day', "interval" := 1, interval_count := 1, today := current_date)
        AS TABLE
    WITH ev AS (
        SELECT e.distinct_id AS uid, e.event, CAST(epoch(e.time) AS BIGINT) AS t,
               row_number() OVER (PARTITION BY e.distinct_id ORDER BY e.time, e.insert_id) AS pos
        FROM query_table(events_table) AS e
    ), births AS (
        SELECT uid, arg_min(t, pos) AS t_born, min(pos) AS born_pos FROM ev WHERE event = born_event GROUP BY uid
    ), cohort AS (
        SELECT uid, t_born, born_pos,
               mp__bucket(CAST(to_timestamp(t_born) AT TIME ZONE 'UTC' AS DATE), unit) AS cohort_date
        FROM births
        WHERE CAST(to_timestamp(t_born) AT TIME ZONE 'UTC' AS DATE) BETWEEN CAST(from_date AS DATE)
                                                                      AND CAST(to_date AS DATE)
    ), width AS (
        SELECT CASE unit WHEN 'day' THEN "interval" ELSE 7 END * 86400 AS w
    ), returns AS (
        SELECT DISTINCT uid, cohort_date, period FROM (
            SELECT c.uid, c.cohort_date,
                   CASE WHEN unit = 'month' THEN mp__whole_months(c.t_born, x.t)
                        ELSE CAST((x.t - c.t_born) // (SELECT w FROM width) AS INTEGER) END AS period
            FROM cohort AS c JOIN ev AS x ON x.uid = c.uid AND x.t >= c.t_born AND x.pos <> c.born_pos
            WHERE (returning_event IS NULL OR x.event = returning_event))
        WHERE period <= interval_count
    ), sizes AS (
        SELECT cohort_date, count(*) AS cohort_size FROM cohort GROUP BY ALL
    ), periods AS (
        SELECT s.cohort_date, s.cohort_size, CAST(p AS INTEGER) AS period
        FROM sizes AS s, range(0, interval_count + 1) AS r(p)
        WHERE CASE WHEN unit = 'month' THEN CAST(s.cohort_date + to_months(CAST(p AS INTEGER)) AS DATE)
                   ELSE s.cohort_date + CAST(p * (SELECT w FROM width) / 86400 AS INTEGER) END <= CAST(today AS DATE)
    )
    SELECT p.cohort_date, '$overall' AS segment, p.cohort_size, p.period, count(r.uid) AS count,
           count(r.uid) / p.cohort_size AS rate
    FROM periods AS p LEFT JOIN returns AS r ON r.cohort_date = p.cohort_date AND r.period = p.period
    GROUP BY p.cohort_date, p.cohort_size, p.period
    ORDER BY p.cohort_date, p.period;
