-- Quick looks at an events table that mp_export filled (pass the table's name as text). mixpanel_data
-- computed these with JQL or Python; here they are plain DuckDB over your own copy: no request, no rate limit.
--
--   CREATE TABLE events AS SELECT * FROM mp_export(current_date - 30, current_date - 1);
--   SELECT * FROM mp_event_breakdown('events');
--   SELECT * FROM mp_property_keys('events', event := 'Purchase');
--   SELECT * FROM mp_property_distribution('events', 'Page View', '$browser');
--   SELECT * FROM mp_numeric_summary('events', 'Purchase', 'amount');
--   SELECT * FROM mp_daily_counts('events', events := ['Sign Up', 'Purchase']);
--   SELECT * FROM mp_engagement_distribution('events');
--   SELECT * FROM mp_property_coverage('events', 'Purchase', ['amount', 'coupon', 'currency']);

-- Per event: events, distinct users, first and last time, share of all events.
-- example: SELECT * FROM mp_event_breakdown('events')
CREATE OR REPLACE TEMP MACRO mp_event_breakdown(events_table) AS TABLE
    SELECT e.event, count(*) AS count, count(DISTINCT e.distinct_id) AS unique_users,
           min(e.time) AS first_seen, max(e.time) AS last_seen,
           round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_of_total
    FROM query_table(events_table) AS e
    GROUP BY e.event
    ORDER BY count DESC, e.event;

-- Property names (of one event, or all) with how many events carry each.
-- example: SELECT * FROM mp_property_keys('events', event := 'Purchase')
CREATE OR REPLACE TEMP MACRO mp_property_keys(events_table, event := NULL) AS TABLE
    SELECT k AS property, count(*) AS events
    FROM (SELECT unnest(json_keys(e.properties)) AS k
          FROM query_table(events_table) AS e
          WHERE "event" IS NULL OR e.event = "event")
    GROUP BY k
    ORDER BY events DESC, property;

-- The most common values of one property of one event (as text; a missing property is NULL).
-- example: SELECT * FROM mp_property_distribution('events', 'Page View', '$browser')
CREATE OR REPLACE TEMP MACRO mp_property_distribution(events_table, event_name, property, top := 20) AS TABLE
    SELECT mp_prop(e.properties, property) AS value, count(*) AS count,
           round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct
    FROM query_table(events_table) AS e
    WHERE e.event = event_name
    GROUP BY value
    ORDER BY count DESC, value NULLS LAST
    LIMIT top;

-- Summary statistics of a numeric property of one event (values that are not numbers are left out).
-- example: SELECT * FROM mp_numeric_summary('events', 'Purchase', 'amount')
CREATE OR REPLACE TEMP MACRO mp_numeric_summary(events_table, event_name, property) AS TABLE
    WITH v AS (
        SELECT mp_prop_num(e.properties, property) AS x
        FROM query_table(events_table) AS e
        WHERE e.event = event_name
    )
    SELECT count(x) AS count, count(*) - count(x) AS missing, min(x) AS min, max(x) AS max, avg(x) AS avg,
           stddev_samp(x) AS stddev,
           quantile_cont(x, 0.25) AS p25, quantile_cont(x, 0.50) AS p50, quantile_cont(x, 0.75) AS p75,
           quantile_cont(x, 0.90) AS p90, quantile_cont(x, 0.95) AS p95, quantile_cont(x, 0.99) AS p99
    FROM v;

-- Events per UTC day and event name (optionally only `events`).
-- example: SELECT * FROM mp_daily_counts('events', events := ['Sign Up', 'Purchase'])
CREATE OR REPLACE TEMP MACRO mp_daily_counts(events_table, events := NULL) AS TABLE
    SELECT CAST(e.time AT TIME ZONE 'UTC' AS DATE) AS date, e.event, count(*) AS count
    FROM query_table(events_table) AS e
    WHERE "events" IS NULL OR list_contains("events", e.event)
    GROUP BY ALL
    ORDER BY date, e.event;

-- How many users did how many events: users per bucket [lower, next lower) of their event count.
-- example: SELECT * FROM mp_engagement_distribution('events')
CREATE OR REPLACE TEMP MACRO mp_engagement_distribution(events_table, buckets := [1, 2, 5, 10, 25, 50, 100])
        AS TABLE
    WITH per_user AS (
        SELECT count(*) AS n FROM query_table(events_table) AS e GROUP BY e.distinct_id
    ), edges AS (
        SELECT unnest(buckets) AS lower, unnest(list_concat(buckets[2:], [NULL])) AS upper
    )
    SELECT CASE WHEN upper IS NULL THEN lower || '+' WHEN upper = lower + 1 THEN CAST(lower AS VARCHAR)
                ELSE lower || '-' || (upper - 1) END AS events, lower, count(n) AS users,
           round(100.0 * count(n) / (SELECT count(*) FROM per_user), 2) AS pct
    FROM edges LEFT JOIN per_user ON n >= lower AND (upper IS NULL OR n < upper)
    GROUP BY ALL
    ORDER BY lower;

-- For each named property: how many of the event's rows define it (JSON null counts as defined).
-- example: SELECT * FROM mp_property_coverage('events', 'Purchase', ['amount', 'coupon'])
CREATE OR REPLACE TEMP MACRO mp_property_coverage(events_table, event_name, properties) AS TABLE
    WITH names AS (SELECT unnest(properties) AS property)
    SELECT n.property, count(*) FILTER (WHERE json_type(e.properties, mp_json_pointer(n.property)) IS NOT NULL)
               AS defined,
           count(*) AS total,
           round(100.0 * count(*) FILTER (WHERE json_type(e.properties, mp_json_pointer(n.property)) IS NOT NULL)
                 / count(*), 2) AS coverage_pct
    FROM names AS n CROSS JOIN query_table(events_table) AS e
    WHERE e.event = event_name
    GROUP BY n.property
    ORDER BY n.property;
