-- Local twins: Mixpanel's reports computed in DuckDB from an events table that mp_export filled.
--
-- Each takes the NAME of a table (or view) with mp_export's columns (event, time, distinct_id, insert_id,
-- properties) and returns the same columns, with the same semantics, as its live counterpart:
--
--   mp_local_segmentation  ~ mp_segmentation (unit day/week/month, type general/unique/average, by a property)
--   mp_local_funnel        ~ mp_funnel        (ordered steps, conversion window from the first step)
--   mp_local_retention     ~ mp_retention     (birth retention, day/week/month buckets)
--   mp_identities          the ID-merge mapping the twins resolve users through (distinct_id -> user_id)
--
-- Users are counted after Mixpanel's ID merge, as its reports count them: every twin resolves distinct_id
-- through mp_identities(events_table) unless called with merge_ids := false. The rules and their sources:
-- docs/report-semantics.md.
--
-- So you can analyse offline with arbitrary SQL and no rate limit, and the live and local paths check each
-- other (tests/integration/test_local_twins.py compares them on the emulator). Runnable examples:
-- sql/examples/. Times are bucketed in UTC (the demo's project time zone); for a project in another zone they
-- bucket by UTC days where the live reports bucket by the project's.

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

-- distinct_id VARCHAR, user_id VARCHAR: one row per distinct_id of the table, user_id being the user Mixpanel's
-- (simplified) ID merge counts it as (docs/report-semantics.md, "Identity"). An event carrying both $device_id
-- and $user_id merges the device into that user (the earliest such event decides; on a tie, the smallest user
-- id). A distinct_id resolves to the $user_id of its earliest event that has one, else to the user of the
-- earliest merged $device_id seen on it (anonymous `$device:...` ids), else to itself.
-- example: SELECT user_id, count(*) AS ids FROM mp_identities('events') GROUP BY ALL ORDER BY ids DESC LIMIT 5
CREATE OR REPLACE TEMP MACRO mp_identities(events_table) AS TABLE
    WITH ev AS (
        SELECT e.distinct_id, e.time,
               CASE WHEN json_type(e.properties, '$."$user_id"') = 'VARCHAR'
                    THEN nullif(json_extract_string(e.properties, '$."$user_id"'), '') END AS uid,
               CASE WHEN json_type(e.properties, '$."$device_id"') = 'VARCHAR'
                    THEN nullif(json_extract_string(e.properties, '$."$device_id"'), '') END AS device
        FROM query_table(events_table) AS e
    ), owners AS (
        SELECT device, arg_min(uid, (time, uid)) AS owner FROM ev
        WHERE uid IS NOT NULL AND device IS NOT NULL GROUP BY device
    ), own AS (
        SELECT distinct_id, arg_min(uid, (time, uid)) AS own_user FROM ev WHERE uid IS NOT NULL GROUP BY distinct_id
    ), via AS (
        SELECT ev.distinct_id, arg_min(o.owner, (ev.time, o.owner)) AS device_user
        FROM ev JOIN owners AS o ON o.device = ev.device GROUP BY ev.distinct_id
    )
    SELECT d.distinct_id, coalesce(own.own_user, via.device_user, d.distinct_id) AS user_id
    FROM (SELECT DISTINCT distinct_id FROM ev) AS d
    LEFT JOIN own ON own.distinct_id = d.distinct_id LEFT JOIN via ON via.distinct_id = d.distinct_id;

-- The table's events with distinct_id replaced by the merged user (kept as is with merge_ids := false).
CREATE OR REPLACE TEMP MACRO mp__merged(events_table, merge_ids) AS TABLE
    SELECT e.event, e.time, coalesce(CASE WHEN merge_ids THEN m.user_id END, e.distinct_id) AS distinct_id,
           e.insert_id, e.properties
    FROM query_table(events_table) AS e
    LEFT JOIN (SELECT * FROM mp_identities(events_table) WHERE merge_ids) AS m ON m.distinct_id = e.distinct_id;

-- Start of the bucket holding day `d`: the day, the Monday of its week, or the 1st of its month.
CREATE OR REPLACE TEMP MACRO mp__bucket(d, bucket_unit) AS
    CAST(date_trunc(bucket_unit, CAST(d AS DATE)) AS DATE);

-- date TIMESTAMP, segment VARCHAR, value DOUBLE: every bucket x segment, zero-filled, like mp_segmentation.
-- Without `by` the one segment is the event name; `top` keeps the segments with the largest totals.
-- example: SELECT * FROM mp_local_segmentation('events', 'Purchase', current_date - 7, current_date - 1, by := '$browser')
CREATE OR REPLACE TEMP MACRO mp_local_segmentation(events_table, event_name, from_date, to_date,
        by := NULL, type := 'general', unit := 'day', top := 60, merge_ids := true) AS TABLE
    WITH picked AS (
        SELECT mp__bucket(e.time AT TIME ZONE 'UTC', unit) AS bucket, e.distinct_id,
               CASE WHEN "by" IS NULL THEN [e.event] ELSE mp_segment_keys(e.properties, coalesce(CAST("by" AS VARCHAR), '')) END AS keys
        FROM mp__merged(events_table, merge_ids) AS e
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
-- overall_conversion, avg_time_seconds — like mp_funnel over `steps` (event names, in order), counted as
-- Mixpanel's funnels count (docs/report-semantics.md, "Funnels"):
-- - reentry 'default': a user's one entry is their first first-step event whose day (UTC) is in
--   [from_date, to_date]; later first-step events neither restart its window nor enter again.
-- - reentry 'optimized': every such first-step event starts an entry; the user counts with the entry that got
--   furthest, the first to get there, and of entries reaching the same events the most recent start.
-- Each next step is the user's first later event of that name at most `window_seconds` after the entry (in
-- milliseconds, as mp_export's `time` holds them: events within one second keep their order; events
-- after to_date count, so export up to to_date plus the window). A user counts once over the whole range, under
-- the day of their entry, so the days add up; overall := true gives one row set dated from_date, the range's
-- funnel (as mp_funnel's overall := true). avg_time_seconds is the mean time from the previous step over the
-- users who reached the step, rounded half to even (NULL for step 1).
-- example: SELECT * FROM mp_local_funnel('events', ['View Item', 'Purchase'], current_date - 7, current_date - 1)
CREATE OR REPLACE TEMP MACRO mp_local_funnel(events_table, steps, from_date, to_date,
        window_seconds := 30 * 86400, reentry := 'default', overall := false, merge_ids := true) AS TABLE
    WITH RECURSIVE ev AS (
        SELECT e.distinct_id AS uid, e.event, epoch_ms(e.time) AS t,
               row_number() OVER (PARTITION BY e.distinct_id ORDER BY e.time, e.insert_id) AS pos
        FROM mp__merged(events_table, merge_ids) AS e
        WHERE list_contains(steps, e.event)
    ), entries AS (
        SELECT uid, pos, t FROM ev
        WHERE event = steps[1]
          AND CAST(epoch_ms(t) AS DATE) BETWEEN CAST(from_date AS DATE) AND CAST(to_date AS DATE)
        QUALIFY CASE reentry WHEN 'optimized' THEN true
                             WHEN 'default' THEN pos = min(pos) OVER (PARTITION BY uid)
                             ELSE error('mp_local_funnel: reentry must be default or optimized, not ' || reentry)
                END
    ), walk(uid, start_pos, t0, k, pos, t, times) AS (
        SELECT uid, pos, t, 1, pos, t, [t] FROM entries
        UNION ALL
        SELECT w.uid, w.start_pos, w.t0, w.k + 1, n.pos, n.t, list_append(w.times, n.t)
        FROM walk AS w,
             LATERAL (SELECT x.pos, x.t FROM ev AS x
                      WHERE x.uid = w.uid AND x.pos > w.pos AND x.event = steps[w.k + 1]
                      ORDER BY x.pos LIMIT 1) AS n
        WHERE w.k < len(steps) AND n.t - w.t0 <= CAST(window_seconds AS BIGINT) * 1000
    ), attempts AS (
        SELECT uid, start_pos, t0, max(k) AS reached, arg_max(times, k) AS times
        FROM walk GROUP BY uid, start_pos, t0
    ), best AS (
        SELECT uid, CASE WHEN overall THEN CAST(from_date AS DATE)
                         ELSE CAST(epoch_ms(t0) AS DATE) END AS day, times
        FROM attempts
        QUALIFY row_number() OVER (PARTITION BY uid ORDER BY reached DESC, times[len(times)], start_pos DESC) = 1
    ), days AS (
        SELECT CAST(d AS DATE) AS day
        FROM range(CAST(from_date AS TIMESTAMP),
                   CASE WHEN overall THEN CAST(from_date AS TIMESTAMP) ELSE CAST(to_date AS TIMESTAMP) END
                       + INTERVAL 1 DAY, INTERVAL 1 DAY) AS r(d)
    ), step_list AS (
        SELECT i AS step, steps[i] AS event FROM range(1, len(steps) + 1) AS r(i)
    ), per_step AS (
        SELECT d.day, s.step, s.event,
               count(b.uid) FILTER (WHERE len(b.times) >= s.step) AS n,
               avg((b.times[s.step] - b.times[s.step - 1]) / 1000) FILTER (WHERE len(b.times) >= s.step AND s.step > 1)
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

-- cohort_date DATE, segment VARCHAR ('$overall'), cohort_size, period INTEGER, count, rate — like
-- mp_retention with retention_type 'birth' (docs/report-semantics.md, "Retention"). A user is born at their
-- first `born_event` in the table (so the table must start where the project's data starts); cohorts are the
-- unit periods of [from_date, to_date] holding the birth. period i counts the cohort's users with a return
-- (`returning_event`, or any event when NULL) in [birth + i*w, birth + (i+1)*w): w = `interval` days for unit
-- 'day', 7 days for 'week', 30 days for 'month' (Mixpanel's rolling month: month 1 is days 30-60 after the
-- birth); the birth event itself is no return. unbounded := true is Mixpanel's "on or after": a user counts in
-- period i when they returned in period i or any time later. There are interval_count + 1 periods, cut at the
-- last one begun by `today`.
-- example: SELECT * FROM mp_local_retention('events', 'Sign Up', current_date - 28, current_date - 1, unit := 'week', interval_count := 3)
CREATE OR REPLACE TEMP MACRO mp_local_retention(events_table, born_event, from_date, to_date,
        returning_event := NULL, unit := 'day', "interval" := 1, interval_count := 1, today := current_date,
        unbounded := false, merge_ids := true) AS TABLE
    WITH ev AS (
        SELECT e.distinct_id AS uid, e.event, epoch_ms(e.time) AS t,
               row_number() OVER (PARTITION BY e.distinct_id ORDER BY e.time, e.insert_id) AS pos
        FROM mp__merged(events_table, merge_ids) AS e
    ), births AS (
        SELECT uid, arg_min(t, pos) AS t_born, min(pos) AS born_pos FROM ev WHERE event = born_event GROUP BY uid
    ), cohort AS (
        SELECT uid, t_born, born_pos,
               mp__bucket(CAST(epoch_ms(t_born) AS DATE), unit) AS cohort_date
        FROM births
        WHERE CAST(epoch_ms(t_born) AS DATE) BETWEEN CAST(from_date AS DATE) AND CAST(to_date AS DATE)
    ), width AS (
        SELECT CASE unit WHEN 'day' THEN "interval" WHEN 'week' THEN 7 ELSE 30 END * 86400 AS w
    ), returns AS (
        SELECT DISTINCT c.uid, c.cohort_date, CAST((x.t - c.t_born) // (CAST((SELECT w FROM width) AS BIGINT) * 1000) AS INTEGER) AS period
        FROM cohort AS c JOIN ev AS x ON x.uid = c.uid AND x.t >= c.t_born AND x.pos <> c.born_pos
        WHERE (returning_event IS NULL OR x.event = returning_event)
    ), tops AS (
        SELECT uid, cohort_date, max(period) AS top FROM returns GROUP BY uid, cohort_date
    ), hits AS (
        SELECT uid, cohort_date, period FROM returns WHERE NOT unbounded AND period <= interval_count
        UNION ALL
        SELECT uid, cohort_date, CAST(unnest(range(0, least(top, interval_count) + 1)) AS INTEGER) AS period
        FROM tops WHERE unbounded
    ), sizes AS (
        SELECT cohort_date, count(*) AS cohort_size FROM cohort GROUP BY ALL
    ), periods AS (
        SELECT s.cohort_date, s.cohort_size, CAST(p AS INTEGER) AS period
        FROM sizes AS s, range(0, interval_count + 1) AS r(p)
        WHERE s.cohort_date + CAST(p * (SELECT w FROM width) / 86400 AS INTEGER) <= CAST(today AS DATE)
    )
    SELECT p.cohort_date, '$overall' AS segment, p.cohort_size, p.period, count(r.uid) AS count,
           count(r.uid) / p.cohort_size AS rate
    FROM periods AS p LEFT JOIN hits AS r ON r.cohort_date = p.cohort_date AND r.period = p.period
    GROUP BY p.cohort_date, p.cohort_size, p.period
    ORDER BY p.cohort_date, p.period;
