-- A purchase funnel computed offline with a one-day conversion window, checked against Mixpanel's saved
-- funnel report.   Run:  mpsql --demo -f sql/examples/funnel.sql
SELECT * FROM mp_funnels();

-- Completions may land after the last cohort day, up to the window: export one day further.
CREATE TEMP TABLE shop AS
    SELECT * FROM mp_export(current_date - 8, current_date - 1,
                            events := ['View Item', 'Add to Cart', 'Checkout', 'Purchase']);

-- Per step over the week: how many users reached it, the conversion from the first step and the average time
-- from the previous step. Mixpanel counts a user once per range, so overall := true is the week as one bucket
-- (the days' counts add up to it, their average times do not).
SELECT step, event, count AS users, round(100 * overall_conversion, 1) AS pct_of_start, avg_time_seconds
FROM mp_local_funnel('shop', ['View Item', 'Add to Cart', 'Checkout', 'Purchase'],
                     current_date - 8, current_date - 2, window_seconds := 86400, overall := true)
ORDER BY step;

-- The live report gives the same week-long answer.
SELECT step, event, count AS users, avg_time_seconds
FROM mp_funnel(7001, current_date - 8, current_date - 2, overall := true) ORDER BY step;

-- The saved funnel 7001 has the same steps and window: the live and local rows agree (expect 0).
SELECT count(*) AS differing_rows FROM (
    (SELECT * FROM mp_funnel(7001, current_date - 8, current_date - 2)
     EXCEPT
     SELECT * FROM mp_local_funnel('shop', ['View Item', 'Add to Cart', 'Checkout', 'Purchase'],
                                   current_date - 8, current_date - 2, window_seconds := 86400))
    UNION ALL
    (SELECT * FROM mp_local_funnel('shop', ['View Item', 'Add to Cart', 'Checkout', 'Purchase'],
                                   current_date - 8, current_date - 2, window_seconds := 86400)
     EXCEPT
     SELECT * FROM mp_funnel(7001, current_date - 8, current_date - 2))
);
