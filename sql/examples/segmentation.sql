-- Daily Page Views by browser, computed offline from exported events, then checked against Mixpanel's own
-- segmentation report.   Run:  mpsql --demo -f sql/examples/segmentation.sql
CREATE TEMP TABLE events AS
    SELECT * FROM mp_export(current_date - 14, current_date - 1, events := ['Page View']);

-- The local twin: same columns as mp_segmentation (date, segment, value), no request, no rate limit.
SELECT date, segment AS browser, value AS page_views
FROM mp_local_segmentation('events', 'Page View', current_date - 7, current_date - 1, by := '$browser')
ORDER BY date, page_views DESC
LIMIT 12;

-- Any SQL on top: each browser's share of unique users over the week.
SELECT segment AS browser, sum(value) AS user_days, round(100 * sum(value) / sum(sum(value)) OVER (), 1) AS pct
FROM mp_local_segmentation('events', 'Page View', current_date - 7, current_date - 1, by := '$browser',
                           type := 'unique')
GROUP BY ALL ORDER BY user_days DESC;

-- The two paths check each other: rows where the live report and the twin differ (expect none).
SELECT count(*) AS differing_rows FROM (
    (SELECT * FROM mp_segmentation('Page View', current_date - 7, current_date - 1,
                                   by := 'properties["$browser"]')
     EXCEPT
     SELECT * FROM mp_local_segmentation('events', 'Page View', current_date - 7, current_date - 1,
                                         by := '$browser'))
    UNION ALL
    (SELECT * FROM mp_local_segmentation('events', 'Page View', current_date - 7, current_date - 1,
                                         by := '$browser')
     EXCEPT
     SELECT * FROM mp_segmentation('Page View', current_date - 7, current_date - 1,
                                   by := 'properties["$browser"]'))
);
